"""``hanoi ledger``: verify, show and checkpoint the tamper-evident ledger."""

from __future__ import annotations

from typing import Annotated

import typer

from hanoi.cli.common import JsonFlag, actor, console, open_node, print_json, print_table, progress, styled, table
from hanoi.core.bounds import BIGINT_MAX, BIGINT_MIN
from hanoi.node import ledger, witness

app = typer.Typer(help="The append-only, hash-chained ledger.", no_args_is_help=True)


@app.command("verify")
def verify(
    workers: Annotated[int, typer.Option(help="Processes to use (0: one per core)")] = 0,
    witnesses: Annotated[bool, typer.Option(
        "--witnesses", help="Also ask every peer for the newest head of this ledger it witnessed, "
                            "and report a tail that was cut or rewritten")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Recompute every hash and link, check signed checkpoints; exit 1 on the first break (with
    --witnesses, also on a witness that saw what the ledger lost or changed, or did not answer)."""
    node = open_node()
    if witnesses:
        report = witness.verify(node)
        if as_json:
            print_json(report)
        else:
            ok = report["ledger"]["ok"]
            console.print(styled(report["ledger"]["message"] if ok else (report["ledger"]["message"], "bold red")))
            for w in report["witnesses"]:
                bad = w["outcome"] not in ("consistent", "nothing witnessed")
                line = f"{w['outcome']}: {w['detail']}"
                console.print(styled((line, "bold red") if bad else line))
            if not report["witnesses"]:
                console.print(styled(("no peers to ask: nothing witnessed this ledger", "bold red")))
        raise typer.Exit(0 if report["ok"] else 1)
    with progress("verifying", as_json=as_json) as bar:
        result = ledger.verify(node, workers=workers or None,
                               progress=lambda done, total: bar.update(done, total=total))
    if as_json:
        print_json(result.as_dict())
    else:
        console.print(result.message(), style=None if result.ok else "bold red")
    raise typer.Exit(0 if result.ok else 1)


@app.command("show")
def show(
    after: Annotated[int | None, typer.Option(help="Show entries after this sequence number "
                                                   "(default: from the first)", min=BIGINT_MIN,
                                               max=BIGINT_MAX)] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many entries")] = 50,
    subject: Annotated[str | None, typer.Option(help="Only entries about this subject, e.g. member:fr-pharos")] = None,
    action: Annotated[str | None, typer.Option(help="Only entries of this action, e.g. request.submit")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Entries in order."""
    page = ledger.page(open_node(), after=after, limit=limit, subject=subject, action=action)
    if as_json:
        print_json(page)
        return
    t = table("seq", "time", "actor", "action", "subject", "decision", "hash", whole=("seq", "subject"))
    for e in page["items"]:
        t.add_row(str(e["seq"]), e["ts"], e["actor"], e["action"], e["subject"],
                  e["decision"] or "", e["hash"][:16])
    print_table(t)
    if page["next_after"] is not None:
        console.print(f"more: hanoi ledger show --after {page['next_after']}")


@app.command("checkpoint")
def checkpoint(as_json: JsonFlag = False) -> None:
    """Sign the current head now."""
    node = open_node()
    cp = ledger.checkpoint(node, actor())
    if as_json:
        print_json(cp)
        return
    console.print(f"checkpoint at entry {cp['seq']}, head {cp['head_hash']}")
    announced = witness.announce(node, actor())
    if announced:
        console.print(f"sent to {len(announced)} peer(s) to witness: {', '.join(sorted(announced))}")
