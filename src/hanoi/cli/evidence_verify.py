"""``hanoi evidence verify``: check an evidence package offline, naming every file that fails.

The Typer app ``app`` is mounted as ``hanoi evidence``; ``export`` (which needs the node) is
added beside ``verify``, which needs nothing but the zip and, better, the sender's key.
Exit codes: 0 the package verifies, 1 it does not, 2 the input is not a package at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hanoi.cli.common import console, print_json, report
from hanoi.core.errors import HanoiError
from hanoi.requests.packages import verify_package

app = typer.Typer(help="Evidence packages: export and verify.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Evidence packages: export and verify."""
    # A callback keeps ``verify`` a subcommand even while it is the app's only command.


@app.command("verify")
def verify(
    package: Annotated[Path, typer.Argument(help="The evidence package (.zip)")],
    key: Annotated[
        str | None,
        typer.Option(help="The sender's public key, obtained out of band (base64url, hex or "
                     "PEM): the package must be signed by it"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Check the signature, every file's SHA-256 and size, and that nothing was added."""
    try:
        result = verify_package(package, expected_key_b64=key)
    except HanoiError as err:
        report(err)
        raise typer.Exit(2) from None
    if as_json:
        print_json(result.as_dict())
        raise typer.Exit(0 if result.ok else 1)
    for f in result.files:
        line = f"ok      {f.path}  sha256 {f.sha256}" if f.ok else f"FAILED  {f.path}: {f.reason}"
        console.print(line, style=None if f.ok else "bold red")
    for problem in result.problems:
        console.print(f"FAILED  {problem}", style="bold red")
    if result.ok and key is None:
        console.print("note: no --key given; confirm the fingerprint with the sender out of band")
    console.print(result.summary(), style="bold green" if result.ok else "bold red")
    raise typer.Exit(0 if result.ok else 1)
