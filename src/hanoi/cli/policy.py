"""``hanoi policy``: the node policy the safeguards gate applies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from hanoi.cli.common import JsonFlag, actor, console, load_file, open_node, print_json, print_table, table
from hanoi.node import policy

app = typer.Typer(help="The node policy: the gate's choices and deadline profiles.", no_args_is_help=True)


@app.command("show")
def show(as_json: JsonFlag = False) -> None:
    """The policy in force and the gate's rule table."""
    shown = policy.show(open_node())
    if as_json:
        print_json(shown)
        return
    console.print(yaml.safe_dump(shown["policy"], sort_keys=False))
    console.print(f"digest {shown['digest']}  file {shown['file']}")
    t = table("rule", "citation", "what it means", title="Rules of the safeguards gate", whole=("rule",))
    for r in shown["rules"]:
        t.add_row(r["code"], r["citation"], r["text"])
    print_table(t)


@app.command("set")
def set_(
    path: Annotated[Path, typer.Argument(help="The new policy (YAML or JSON; `hanoi policy show` "
                                               "prints the current one)")],
    as_json: JsonFlag = False,
) -> None:
    """Replace the policy with a YAML or JSON file (validated, then ledgered)."""
    shown = policy.update(open_node(), actor(), load_file(path))
    if as_json:
        print_json(shown)
        return
    console.print(f"policy updated: digest {shown['digest']}")
