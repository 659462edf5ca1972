"""``hanoi users``: the people who sign in to the console, their roles and passwords."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hanoi.cli.common import JsonFlag, actor, console, open_node, print_json, print_table, table
from hanoi.node import users

app = typer.Typer(help="Console users: add, list, disable, set a password.", no_args_is_help=True)

Username = Annotated[str, typer.Argument(help="The name the user signs in with")]
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
    username: Username,
    role: Annotated[str, typer.Option(help="admin, caseworker, analyst, auditor or platform")],
    password_stdin: PasswordStdin = False,
    language: Annotated[str | None, typer.Option(help="Console language, e.g. en or fr")] = None,
    time_zone: Annotated[str | None, typer.Option("--time-zone", help="IANA zone, e.g. Europe/Paris")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a user who signs in to the console with a password (asked for, never an argument)."""
    user = users.add_user(open_node(), actor(), username=username, role=role,
                          password=_password(password_stdin), language=language, time_zone=time_zone)
    if as_json:
        print_json(user)
    else:
        console.print(f"user {user['username']} ({user['role']}) added")


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """Every console user with their role, language, time zone and whether they are disabled."""
    rows = users.list_users(open_node())
    if as_json:
        print_json(rows)
        return
    t = table("username", "role", "language", "time zone", "created", "disabled", whole=("username",))
    for u in rows:
        t.add_row(u["username"], u["role"], u["language"] or "", u["time_zone"] or "", u["created_at"],
                  u["disabled_at"] or "")
    print_table(t)


@app.command("disable")
def disable(username: Username, as_json: JsonFlag = False) -> None:
    """Disable a user: their sessions end at once and they can no longer sign in."""
    user = users.disable_user(open_node(), actor(), username)
    if as_json:
        print_json(user)
    else:
        console.print(f"user {user['username']} disabled at {user['disabled_at']}")


@app.command("passwd")
def passwd(username: Username, password_stdin: PasswordStdin = False, as_json: JsonFlag = False) -> None:
    """Set a user's password; their open sessions end."""
    user = users.set_password(open_node(), actor(), username, _password(password_stdin))
    if as_json:
        print_json(user)
    else:
        console.print(f"password of {user['username']} changed")
