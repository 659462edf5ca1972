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

import httpx
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
from hanoi.config import DEFAULT_MAX_IMPORT_BYTES, home_from, import_too_large, load_config
from hanoi.core.citations import RULES
from hanoi.core.errors import HanoiError, InvalidInput, Problem, invalid
from hanoi.core.members import MemberKind
from hanoi.core.nesting import MAX_DEPTH, check_json_depth, check_value_depth
from hanoi.node.runtime import Node
from hanoi.private_lookup import PrivateLookup

console = Console(soft_wrap=True, markup=False, highlight=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
KINDS_HELP = ", ".join(k.value for k in MemberKind)
DEBUG_ENV = "HANOI_DEBUG"
# Tables written to a pipe or a file are as wide as their rows: nothing is folded or cut for
# lack of a terminal's width.
PIPE_WIDTH = 10_000

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of text (for scripts)")]
T = TypeVar("T")
NodeUrl = Annotated[str | None, typer.Option("--url", envvar="HANOI_URL",
                                             help="The node's base URL, e.g. https://node.example (or HANOI_URL)")]
NodeToken = Annotated[str | None, typer.Option("--token", envvar="HANOI_TOKEN", show_envvar=False,
                                               help="An API token of that node with the match permission "
                                                    "(or HANOI_TOKEN)")]


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


@contextmanager
def node_client(url: str | None, token: str | None) -> Iterator[PrivateLookup]:
    """The private-lookup client for the node at ``url`` (``--url``/``--token``, both required:
    exit 2 without); what goes wrong over HTTP, or an answer it cannot read, is one line, exit 1."""
    client = PrivateLookup(required(url, "--url", "the node to ask"), required(token, "--token", "an API token"))
    try:
        yield client
    except httpx.HTTPStatusError as err:
        raise fail(f"the node at {url} answered {err}") from None
    except httpx.HTTPError as err:
        raise fail(f"cannot reach the node at {url}: {err}") from None
    except (ValueError, KeyError) as err:
        raise fail(f"the node at {url} gave an answer this client cannot use: {err}") from None
    finally:
        client.close()
