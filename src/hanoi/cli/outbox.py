"""``hanoi outbox``: what is waiting to leave this node, what failed and why; deliver now."""

from __future__ import annotations

from typing import Annotated

import typer

from hanoi.cli.common import (
    JsonFlag,
    UsageProblem,
    actor,
    cell,
    console,
    open_node,
    print_json,
    print_table,
    renamed,
    table,
)
from hanoi.node import outbox

app = typer.Typer(help="The outbox: items queued for peers, delivered, held or failed.",
                  invoke_without_command=True)

STYLE = {"pending": "yellow", "held": "magenta", "delivered": "green", "rejected": "red",
         "refused": "bold red", "failed": "red"}


@app.callback()
def show(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(
        help="pending, held, delivered, rejected, refused, failed (everything that will not "
             "arrive), open, all (default: everything not delivered)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Only rows to this peer")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows")] = 200,
    peer: Annotated[str | None, typer.Option("--peer", hidden=True, help="The old name of --to")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List outbox rows with why they wait or failed."""
    if ctx.invoked_subcommand is not None:
        return
    peer = renamed(to, peer, "--to", "--peer")
    node = open_node()
    rows = outbox.list_rows(node, state=state, recipient=peer, limit=limit) if state else [
        r for r in outbox.list_rows(node, state="all", recipient=peer, limit=limit)
        if r["state"] != "delivered"]
    if as_json:
        print_json({"counts": outbox.counts(node), "items": rows})
        return
    counts = outbox.counts(node)
    console.print(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "the outbox is empty")
    if not rows:
        return
    t = table("id", "peer", "type", "state", "tries", "next / done", "why", whole=("id", "peer"))
    for r in rows:
        when = r["delivered_at"] or (r["next_attempt_at"] if r["state"] in ("pending", "held")
                                     else r["updated_at"])
        why = r["last_error"] or ""
        if r["rule"]:
            why = f"{r['rule']}: {why}"
        t.add_row(r["id"], r["recipient"], r["type"], cell(r["state"], STYLE[r["state"]]),
                  str(r["attempts"]), when, why)
    print_table(t)


@app.command("deliver")
def deliver(
    watch: Annotated[bool, typer.Option("--watch", help="Keep delivering, a round whenever rows are due, "
                                                        "until stopped (Ctrl-C)")] = False,
    limit: Annotated[int, typer.Option(help="Rows per round")] = 200,
    once: Annotated[bool, typer.Option("--once", hidden=True, help="One round (the default now)")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Deliver the rows due now, one round, and say what became of them (`hanoi serve`, or
    --watch, keeps delivering in the background)."""
    import threading

    if watch and (once or as_json):
        raise UsageProblem("--watch runs until stopped: it takes neither --once nor --json")
    node = open_node()
    if not watch:
        with outbox.make_client() as client:
            n = outbox.deliver_due(node, limit=limit, client=client)
        if as_json:
            print_json({"handled": n, "counts": outbox.counts(node)})
            return
        console.print(f"{n} row(s) handled; " +
                      (", ".join(f"{c} {s}" for s, c in outbox.counts(node).items() if c) or "the outbox is empty"))
        return
    stop = threading.Event()
    console.print("delivering until stopped (Ctrl-C)")
    try:
        outbox.run_worker(node, stop, limit=limit)
    except KeyboardInterrupt:
        stop.set()


@app.command("retry")
def retry(
    envelope_id: Annotated[str, typer.Argument(help="The outbox row's id (`hanoi outbox` lists them)")],
    as_json: JsonFlag = False,
) -> None:
    """Make a pending or held row due now (a held row's gate runs again)."""
    row = outbox.retry(open_node(), actor(), envelope_id)
    if as_json:
        print_json(row)
    else:
        console.print(f"{row['id']} is due now ({row['state']})")
