"""``hanoi policy``: the node policy the safeguards gate applies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from hanoi.cli.common import actor, console, load_file, open_node, print_json
from hanoi.node import policy

app = typer.Typer(help="The node policy: the gate's choices and deadline profiles.", no_args_is_help=True)


@app.command("show")
def show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The policy in force and the gate's rule table."""
    shown = policy.show(open_node())
    if as_json:
        print_json(shown)
        return
    console.print(yaml.safe_dump(shown["policy"], sort_keys=False), highlight=False, markup=False)
    console.print(f"digest {shown['digest']}  file {shown['file']}")
    table = Table("rule", "citation", "what it means", title="Rules of the safeguards gate")
    for r in shown["rules"]:
        table.add_row(r["code"], r["citation"], r["text"])
    console.print(table)


@app.command("set")
def set_(path: Path) -> None:
    """Replace the policy with a YAML or JSON file (validated, then ledgered)."""
    shown = policy.update(open_node(), actor(), load_file(path))
    console.print(f"policy updated: digest {shown['digest']}")
