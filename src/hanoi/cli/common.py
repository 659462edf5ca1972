"""What every CLI command shares: the home, the node, the actor, output and errors.

Output never reads data as Rich markup: both consoles have markup (and highlighting) off, so a
value such as ``[/]`` or ``[red]`` prints as written instead of crashing or vanishing. Our own
styling is built as ``Text`` (``styled``, ``cell``), never by formatting data into markup.
Tables come from ``table`` and go out through ``print_table`` (ids are never cut); long jobs
show ``progress`` on a terminal only.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from hanoi import bootstrap
from hanoi.config import home_from
from hanoi.core.citations import RULES
from hanoi.core.errors import HanoiError, InvalidInput, Problem
from hanoi.core.members import MemberKind
from hanoi.node.runtime import Node

console = Console(soft_wrap=True, markup=False, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
KINDS_HELP = ", ".join(k.value for k in MemberKind)
DEBUG_ENV = "HANOI_DEBUG"
# Tables written to a pipe or a file are as wide as their rows: nothing is folded or cut for
# lack of a terminal's width.
PIPE_WIDTH = 10_000

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text (for scripts)")]
T = TypeVar("T")


class State:
    """What the root options set for one invocation."""

    home: Path | None = None
    debug: bool = False

    def reset(self) -> None:
        self.home = None
        self.debug = False


state = State()


class UsageProblem(Exception):
    """A usage error found once the options are parsed (an option missing that only the
    command can tell, or an option and its old name disagreeing): one line, exit 2."""


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


# --- text, never markup ----------------------------------------------------------------------


def one_line(text: object) -> str:
    """``text`` on one line: an error is one line, whatever the message it carries."""
    return " ".join(str(text).split())


def styled(*parts: str | tuple[str, str]) -> Text:
    """Plain strings and ``(text, style)`` pairs, none of them parsed as markup."""
    return Text.assemble(*parts)


def cell(value: object, style: str = "") -> Text:
    """A table cell: the value as written (``None`` is empty), in a style."""
    return Text("" if value is None else str(value), style=style)


def error_line(message: object) -> Text:
    return styled(("error:", "bold red"), " ", one_line(message))


def table(*columns: str, title: str | None = None, whole: Collection[str] = ("id",)) -> Table:
    """A table whose ``whole`` columns (ids: what one copies into the next command) never wrap
    or shrink; the others fold long values onto more lines rather than cutting them."""
    t = Table(title=title)
    for name in columns:
        if name in whole:
            t.add_column(name, no_wrap=True)
        else:
            t.add_column(name, overflow="fold")
    return t


def print_table(t: Table) -> None:
    if console.is_terminal:
        console.print(t)
    else:
        Console(file=sys.stdout, width=PIPE_WIDTH, markup=False, highlight=False,
                color_system=None).print(t)


# --- progress of long jobs -------------------------------------------------------------------


class Bar:
    """One task of a progress display (a no-op when the display is off)."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, steps: int = 1) -> None:
        self._progress.advance(self._task, steps)

    def update(self, completed: int | None = None, *, total: int | None = None,
               description: str | None = None) -> None:
        self._progress.update(self._task, completed=completed, total=total, description=description)


def progress_shown(as_json: bool = False) -> bool:
    """A progress bar only for a person at a terminal: not with --json, not when the output
    goes to a pipe or a file, not when standard error does."""
    return not as_json and console.is_terminal and err_console.is_terminal


@contextmanager
def progress(description: str, total: int | None = None, *, as_json: bool = False,
             minimum: int = 0) -> Iterator[Bar]:
    """A progress bar on standard error while the block runs, cleared when it ends. ``total``
    None is a job of unknown length (the bar pulses, the time runs); a job of fewer than
    ``minimum`` steps shows none."""
    shown = progress_shown(as_json) and (total is None or total >= minimum)
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                  transient=True, disable=not shown) as display:
        yield Bar(display, display.add_task(description, total=total))


# --- errors ----------------------------------------------------------------------------------


def report(error: HanoiError) -> None:
    """One line for the error, then one line per problem with its field and article."""
    err_console.print(error_line(error.detail))
    for p in error.problems:
        err_console.print(f"  - {p}")
    if error.rule and not any(p.rule == error.rule for p in error.problems):
        r = RULES.get(error.rule)
        if r:
            err_console.print(f"  rule {r.code} ({r.citation}): {r.text}")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(error_line(message))
    return typer.Exit(code)


def renamed(value: T | None, old_value: T | None, name: str, old_name: str) -> T | None:
    """The value of an option given under its name or its old, hidden one; both given and
    different is a usage error."""
    if old_value is None:
        return value
    if value is not None and value != old_value:
        raise UsageProblem(f"{name} and {old_name} (its old name) disagree: give {name} only")
    return old_value


def required(value: T | None, name: str, what: str) -> T:
    if value is None:
        raise UsageProblem(f"missing option {name} ({what})")
    return value


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
