"""``hanoi tokens``: API tokens, shown once, stored hashed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hanoi.cli.common import actor, console, open_node, print_json
from hanoi.node import tokens

app = typer.Typer(help="API tokens and their roles.", no_args_is_help=True)


@app.command("create")
def create(
    role: Annotated[str, typer.Option(help="admin, caseworker, analyst, auditor or platform")],
    name: Annotated[str, typer.Option(help="Who or what will use it")],
    member: Annotated[str | None, typer.Option(help="The partner member this token acts for")] = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime: 30m, 12h, 7d, 2w")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a token. Its secret is printed once and cannot be shown again."""
    secret, record = tokens.create(open_node(), actor(), name=name, role=role, member_id=member, expires=expires)
    if as_json:
        print_json({**record, "token": secret})
        return
    console.print(f"token {record['id']} ({record['role']}) for {record['name']}:")
    console.print(secret, highlight=False, markup=False)
    console.print("[dim]store it now: it is not shown again[/]")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    rows = tokens.list_tokens(open_node())
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "role", "member", "created", "expires", "revoked")
    for t in rows:
        table.add_row(t["id"], t["name"], t["role"], t["member_id"] or "", t["created_at"],
                      t["expires_at"] or "", t["revoked_at"] or "")
    console.print(table)


@app.command("revoke")
def revoke(token_id: str) -> None:
    t = tokens.revoke(open_node(), actor(), token_id)
    console.print(f"token {t['id']} revoked at {t['revoked_at']}")
