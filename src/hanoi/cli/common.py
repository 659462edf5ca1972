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

from hanoi.config import DEFAULT_MAX_IMPORT_BYTES, home_from, import_too_large, load_config
from hanoi.core.errors import HanoiError, InvalidInput, Problem, invalid
from hanoi.core.members import MemberKind
from hanoi.core.nesting import MAX_DEPTH, check_json_depth, check_value_depth
from hanoi.services.node import Node

console = Console(soft_wrap=True)
KINDS_HELP = ", ".join(k.value for k in MemberKind)
err_console = Console(stderr=True, soft_wrap=True)


class State:
    home: Path | None = None


state = State()


def home() -> Path:
    return home_from(state.home)


def open_node() -> Node:
    return Node.open(home())


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
        from hanoi.core.citations import RULES

        r = RULES.get(error.rule)
        if r:
            err_console.print(f"  rule {r.code} ({r.citation}): {r.text}", highlight=False, markup=False)


def import_limit() -> int:
    """``max_import_bytes`` of this node's config (the API's limit on imports too); the default
    when there is no node yet (e.g. validating a request file before ``hanoi init``)."""
    try:
        return load_config(home()).max_import_bytes
    except (HanoiError, OSError, ValueError):
        return DEFAULT_MAX_IMPORT_BYTES


def read_input(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a file (``-``: standard input), refused before reading when larger than
    ``limit`` (default: ``import_limit()``), so an import never holds more than that."""
    limit = import_limit() if limit is None else limit
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(limit + 1)
            if len(data) > limit:
                raise import_too_large(len(data), limit, "standard input (at least)")
            return data
        size = path.stat().st_size
        if size > limit:
            raise import_too_large(size, limit, str(path))
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", [Problem("file", str(exc))]) from None


def load_file(path: Path) -> Any:
    """A YAML or JSON document from a file (or ``-`` for standard input), at most
    ``import_limit()`` bytes and ``MAX_DEPTH`` levels deep."""
    try:
        text = read_input(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text", [Problem("file", str(exc))]) from None
    if path.suffix.lower() not in (".yaml", ".yml"):
        check_json_depth(text, "file")
    try:
        doc = _yaml(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        try:
            doc = _yaml(text)  # JSON is YAML; a .txt or stdin may hold either
        except yaml.YAMLError:
            raise InvalidInput(f"{path} is neither valid JSON nor YAML",
                               [Problem("file", str(exc).splitlines()[0])]) from None
    check_value_depth(doc, "file")
    return doc


def _yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except RecursionError:  # the reader recurses once per level
        raise invalid("file", f"nested more than {MAX_DEPTH} levels deep; at most {MAX_DEPTH} "
                              "accepted") from None


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
