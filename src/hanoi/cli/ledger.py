"""``hanoi ledger``: verify, show and checkpoint the tamper-evident ledger."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hanoi.cli.common import actor, console, open_node, print_json
from hanoi.core.bounds import BIGINT_MAX, BIGINT_MIN
from hanoi.services import ledger

app = typer.Typer(help="The append-only, hash-chained ledger.", no_args_is_help=True)


@app.command("verify")
def verify(
    workers: Annotated[int, typer.Option(help="Processes to use (0: one per core)")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute every hash and link, check signed checkpoints; exit 1 on the first break."""
    result = ledger.verify(open_node(), workers=workers or None)
    if as_json:
        print_json(result.as_dict())
    else:
        console.print(result.message(), style=None if result.ok else "bold red", highlight=False)
    raise typer.Exit(0 if result.ok else 1)


@app.command("show")
def show(
    after: Annotated[int | None, typer.Option(help="Show entries after this sequence number "
                                                   "(default: from the first)", min=BIGINT_MIN,
                                               max=BIGINT_MAX)] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    subject: Annotated[str | None, typer.Option(help="Only entries about this subject, e.g. member:fr-pharos")] = None,
    action: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Entries in order."""
    page = ledger.page(open_node(), after=after, limit=limit, subject=subject, action=action)
    if as_json:
        print_json(page)
        return
    table = Table("seq", "time", "actor", "action", "subject", "decision", "hash")
    for e in page["items"]:
        table.add_row(str(e["seq"]), e["ts"], e["actor"], e["action"], e["subject"],
                      e["decision"] or "", e["hash"][:16])
    console.print(table)
    if page["next_after"] is not None:
        console.print(f"more: hanoi ledger show --after {page['next_after']}")


@app.command("checkpoint")
def checkpoint() -> None:
    """Sign the current head now."""
    cp = ledger.checkpoint(open_node(), actor())
    console.print(f"checkpoint at entry {cp['seq']}, head {cp['head_hash']}")
