"""``hanoi tokens``: API tokens, shown once, stored hashed."""

from __future__ import annotations

from typing import Annotated

import typer

from hanoi.cli.common import JsonFlag, actor, console, open_node, print_json, print_table, table
from hanoi.node import tokens

app = typer.Typer(help="API tokens and their roles.", no_args_is_help=True)


@app.command("create")
def create(
    role: Annotated[str, typer.Option(help="admin, caseworker, analyst, auditor or platform")],
    name: Annotated[str, typer.Option(help="Who or what will use it")],
    member: Annotated[str | None, typer.Option(help="The partner member this token acts for")] = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime: 30m, 12h, 7d, 2w")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a token. Its secret is printed once and cannot be shown again."""
    secret, record = tokens.create(open_node(), actor(), name=name, role=role, member_id=member, expires=expires)
    if as_json:
        print_json({**record, "token": secret})
        return
    console.print(f"token {record['id']} ({record['role']}) for {record['name']}:")
    console.print(secret)
    console.print("store it now: it is not shown again", style="dim")


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """The API tokens (never their secrets), with role, member and validity."""
    rows = tokens.list_tokens(open_node())
    if as_json:
        print_json(rows)
        return
    out = table("id", "name", "role", "member", "created", "expires", "revoked", whole=("id", "member"))
    for t in rows:
        out.add_row(t["id"], t["name"], t["role"], t["member_id"] or "", t["created_at"],
                    t["expires_at"] or "", t["revoked_at"] or "")
    print_table(out)


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (`hanoi tokens list` shows them)")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a token: the API refuses it from now on."""
    t = tokens.revoke(open_node(), actor(), token_id)
    if as_json:
        print_json(t)
        return
    console.print(f"token {t['id']} revoked at {t['revoked_at']}")
