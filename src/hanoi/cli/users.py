"""``hanoi users``: the people who sign in to the console, their roles and passwords."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from hanoi.cli.common import actor, console, open_node, print_json
from hanoi.node import users

app = typer.Typer(help="Console users: add, list, disable, set a password.", no_args_is_help=True)

PasswordStdin = Annotated[bool, typer.Option("--password-stdin",
                                             help="Read the password from the first line of standard input")]


def _password(from_stdin: bool) -> str:
    """The new password: the first line of standard input, or typed twice without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


@app.command("add")
def add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, caseworker, analyst, auditor or platform")],
    password_stdin: PasswordStdin = False,
    language: Annotated[str | None, typer.Option(help="Console language, e.g. en or fr")] = None,
    time_zone: Annotated[str | None, typer.Option("--time-zone", help="IANA zone, e.g. Europe/Paris")] = None,
) -> None:
    """Add a user who signs in to the console with a password (asked for, never an argument)."""
    user = users.add_user(open_node(), actor(), username=username, role=role,
                          password=_password(password_stdin), language=language, time_zone=time_zone)
    console.print(f"user {user['username']} ({user['role']}) added")


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    rows = users.list_users(open_node())
    if as_json:
        print_json(rows)
        return
    table = Table("username", "role", "language", "time zone", "created", "disabled")
    for u in rows:
        table.add_row(u["username"], u["role"], u["language"] or "", u["time_zone"] or "", u["created_at"],
                      u["disabled_at"] or "")
    console.print(table)


@app.command("disable")
def disable(username: str) -> None:
    """Disable a user: their sessions end at once and they can no longer sign in."""
    user = users.disable_user(open_node(), actor(), username)
    console.print(f"user {user['username']} disabled at {user['disabled_at']}")


@app.command("passwd")
def passwd(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password; their open sessions end."""
    user = users.set_password(open_node(), actor(), username, _password(password_stdin))
    console.print(f"password of {user['username']} changed")
