"""What every CLI command shares: the home, the node, the actor, output and errors."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from hanoi import bootstrap
from hanoi.config import home_from
from hanoi.core.citations import RULES
from hanoi.core.errors import HanoiError, InvalidInput, Problem
from hanoi.core.members import MemberKind
from hanoi.node.runtime import Node

console = Console(soft_wrap=True)
KINDS_HELP = ", ".join(k.value for k in MemberKind)
err_console = Console(stderr=True, soft_wrap=True)


class State:
    home: Path | None = None


state = State()


def home() -> Path:
    return home_from(state.home)


def open_node() -> Node:
    return bootstrap.open_node(home())


def actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def report(error: HanoiError) -> None:
    """One line for the error, then one line per problem with its field and article."""
    err_console.print(f"[bold red]error:[/] {error.detail}", highlight=False)
    for p in error.problems:
        err_console.print(f"  - {p}", highlight=False, markup=False)
    if error.rule and not any(p.rule == error.rule for p in error.problems):
        r = RULES.get(error.rule)
        if r:
            err_console.print(f"  rule {r.code} ({r.citation}): {r.text}", highlight=False, markup=False)


def load_file(path: Path) -> Any:
    """A YAML or JSON document from a file (or ``-`` for standard input)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", [Problem("file", str(exc))]) from None
    try:
        return yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        try:
            return yaml.safe_load(text)  # JSON is YAML; a .txt or stdin may hold either
        except yaml.YAMLError:
            raise InvalidInput(f"{path} is neither valid JSON nor YAML",
                               [Problem("file", str(exc).splitlines()[0])]) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
