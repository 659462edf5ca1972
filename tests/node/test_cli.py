"""The command line as a whole, walked programmatically so that every command added later is
checked too: a usage error is one line and exit 2, never a traceback; an internal error is one
line and exit 1; every command has help; every command that prints data has --json; data is
never read as Rich markup; ids are never cut; old option names still work, hidden."""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from hanoi.cli import common
from hanoi.cli import tokens as tokens_cli
from hanoi.cli.main import app, run
from hanoi.demo import sample_partners
from hanoi.node import ledger, members, tokens
from hanoi.node.runtime import Node
from hanoi.requests.samples import PRESERVATION_FIELDS
from tests.node.helpers import serving
from tests.paths import PDQ_FIXTURES

ROOT = get_command(app)
COMPLETION = {"install_completion", "show_completion"}  # Typer's own options
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def walk(cmd: Any = ROOT, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every group and command, the root first, each with its path of names."""
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from walk(sub, (*path, name))


def is_group(cmd: Any) -> bool:
    return hasattr(cmd, "commands")


def params(cmd: Any) -> list[Any]:
    return [p for p in cmd.params if p.name not in COMPLETION]


def python_type(cmd: Any, param: Any) -> Any:
    """The annotation of the Python parameter behind a CLI parameter (``int``, ``list[int]``...)."""
    hints = typing.get_type_hints(cmd.callback)
    t = hints[param.name]
    args = [a for a in typing.get_args(t) if a is not type(None)]
    if typing.get_origin(t) in (typing.Union, types.UnionType) and args:
        t = args[0]
    if typing.get_origin(t) is list:
        t = typing.get_args(t)[0]
    return t


def typed(cmd: Any, param: Any) -> bool:
    """A parameter a wrong value can be given to: a number (a string takes anything)."""
    return not getattr(param, "is_flag", False) and python_type(cmd, param) in (int, float)


def valid(cmd: Any, param: Any) -> list[str]:
    """Arguments that satisfy a required parameter."""
    if getattr(param, "is_flag", False):
        return [param.opts[0]]
    value = "1" if typed(cmd, param) else "x"
    return [value] if param.param_type_name == "argument" else [param.opts[0], value]


def argv_with(cmd: Any, path: tuple[str, ...], bad: Any = None) -> list[str]:
    """The command with every required parameter given, and ``bad`` given a wrong value."""
    positional: list[str] = []
    options: list[str] = []
    for p in params(cmd):
        if p is bad:
            wrong = "not-a-number"
            (positional if p.param_type_name == "argument" else options).extend(
                [wrong] if p.param_type_name == "argument" else [p.opts[0], wrong])
        elif p.required:
            (positional if p.param_type_name == "argument" else options).extend(valid(cmd, p))
    return [*path, *positional, *options]


def cases() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for path, cmd in walk():
        name = " ".join(("hanoi", *path))
        out.append((f"{name}: wrong flag", [*path, "--no-such-flag"]))
        if is_group(cmd):
            out.append((f"{name}: unknown command", [*path, "no-such-command"]))
            continue
        if any(p.required for p in params(cmd)):
            out.append((f"{name}: missing argument", list(path)))
        for p in params(cmd):
            if typed(cmd, p):
                out.append((f"{name}: bad value for {p.name}", argv_with(cmd, path, bad=p)))
    return out


CASES = cases()


def test_the_walk_covers_every_command_and_kind_of_mistake() -> None:
    names = {" ".join(path) for path, _ in walk()}
    assert {"requests list", "signals add", "hash", "media match", "outbox retry"} <= names
    kinds = {label.split(": ")[1].split(" for ")[0] for label, _ in CASES}
    assert kinds == {"wrong flag", "unknown command", "missing argument", "bad value"}
    assert len(CASES) > 150


@pytest.mark.parametrize(("label", "argv"), CASES, ids=[c[0] for c in CASES])
def test_a_usage_error_is_one_line_and_exit_2(label: str, argv: list[str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["--home", str(tmp_path / "no-node"), *argv])
    out, err = capsys.readouterr()
    assert code == 2, (label, code, out, err)
    assert "Traceback" not in out + err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")


def test_the_usage_errors_of_the_issue_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = ["--home", str(tmp_path)]
    for argv, says in ((["requests", "list", "--bogus"], "No such option: --bogus (see 'hanoi requests list --help')"),
                       (["hash", "x.jpg", "--bogus"], "No such option: --bogus (see 'hanoi hash --help')"),
                       (["bogus"], "No such command 'bogus' (see 'hanoi --help')"),
                       (["requests", "show"], "Missing argument"),
                       (["ledger", "show", "--limit", "many"], "Invalid value for '--limit'")):
        assert run([*home, *argv]) == 2
        err = capsys.readouterr().err
        assert says in err, err


def test_a_bare_group_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["requests"]) == 0
    out, err = capsys.readouterr()
    assert "validate" in out and "Traceback" not in out + err


# --- internal errors -------------------------------------------------------------------------


def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("the disk caught fire\nsecond line")


def test_an_internal_error_is_one_line_exit_1_and_names_how_to_see_more(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(tokens_cli, "open_node", lambda: None)
    monkeypatch.setattr(tokens_cli.tokens, "list_tokens", _boom)
    assert run(["tokens", "list"]) == 1
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in out + err
    assert "internal error (RuntimeError: the disk caught fire second line)" in err
    assert "--debug" in err and common.DEBUG_ENV in err


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_cli, "open_node", lambda: None)
    monkeypatch.setattr(tokens_cli.tokens, "list_tokens", _boom)
    with pytest.raises(RuntimeError, match="disk caught fire"):
        run(["--debug", "tokens", "list"])
    monkeypatch.setenv(common.DEBUG_ENV, "1")
    with pytest.raises(RuntimeError, match="disk caught fire"):
        run(["tokens", "list"])


def test_a_file_that_cannot_be_written_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "missing-folder" / "hashes.jsonl"
    assert run(["hash", str(PDQ_FIXTURES / "wee.jpg"), "-o", str(out_file)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: No such file or directory: {out_file}\n"


# --- a populated node ------------------------------------------------------------------------


@pytest.fixture
def busy(node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """A node with partners, an incoming preservation request preserved (its deadline 'ok'
    within 70 days), a signal, a hash list, a token, and a member whose name is markup."""
    for spec in sample_partners():
        members.add(node, "setup", spec)
    h = ["--home", str(node.home)]
    f = tmp_path / "incoming.yaml"
    f.write_text(yaml.safe_dump({"type": "preservation", "fields": {
        **PRESERVATION_FIELDS, "custodian": "[/] Example Mail [red]SAS[/red] [bold"}}))
    assert run([*h, "requests", "new", "--from", str(f), "--partner", "fr-pharos", "--incoming",
                "--via", "24/7 e-mail", "--json"]) == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    for ev in ("acknowledge", "start", "preserve"):
        assert run([*h, "requests", "event", rid, ev]) == 0
    assert run([*h, "signals", "add", "https://scam.example/login", "--tlp", "GREEN", "--offence",
                "UNCC-13", "--related", "phone:+442071234567"]) == 0
    assert run([*h, "media", "create-list", "--name", "NCII", "--category", "ncii"]) == 0
    assert run([*h, "tokens", "create", "--role", "auditor", "--name", "[/]Inspectorate[red"]) == 0
    assert run([*h, "members", "add", "--name", "[/] Odd [red]Name", "--kind", "contact-point",
                "--country", "DE", "--id", "de-odd"]) == 0
    values = tmp_path / "values.txt"
    values.write_text("https://scam.example/login\n+44 20 7123 4567\nhttps://fine.example/\n")
    hashes = tmp_path / "hashes.jsonl"
    assert run(["hash", str(PDQ_FIXTURES / "wee.jpg"), "-o", str(hashes)]) == 0
    filter_file = tmp_path / "fr-pharos.filter"
    assert run([*h, "signals", "filter", "--to", "fr-pharos", "--out", str(filter_file)]) == 0
    capsys.readouterr()
    platform, _ = tokens.create(node, "setup", name="platform", role="platform", member_id="fr-pharos")
    return {"home": h, "rid": rid, "values": str(values), "hashes": str(hashes), "filter": str(filter_file),
            "value": "https://scam.example/login", "image": str(PDQ_FIXTURES / "wee.jpg"),
            "token": platform, "node_home": node.home}


def test_requests_due_prints_an_ok_deadline(busy: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's MarkupError: a deadline in state 'ok' has no style, and '[]ok[/]' crashed."""
    assert run([*busy["home"], "requests", "due", "--within", "70d"]) == 0
    out, err = capsys.readouterr()
    assert busy["rid"] in out and " ok " in out and err == ""


def test_data_is_never_read_as_markup(busy: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    h = busy["home"]
    assert run([*h, "members", "list"]) == 0
    assert "[/] Odd [red]Name" in capsys.readouterr().out
    assert run([*h, "members", "show", "de-odd"]) == 0
    assert "[/] Odd [red]Name" in capsys.readouterr().out
    assert run([*h, "tokens", "list"]) == 0
    assert "[/]Inspectorate[red" in capsys.readouterr().out
    assert run([*h, "requests", "show", busy["rid"]]) == 0
    assert "[/] Example Mail [red]SAS[/red] [bold" in capsys.readouterr().out


def _terminal(monkeypatch: pytest.MonkeyPatch, width: int = 80) -> None:
    for con in (common.console, common.err_console):
        monkeypatch.setattr(con, "_force_terminal", True)
        monkeypatch.setattr(con, "_width", width)


def test_ids_are_never_cut(busy: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    h, rid = busy["home"], busy["rid"]
    assert run([*h, "requests", "list"]) == 0  # to a pipe: as wide as the rows
    out = capsys.readouterr().out
    assert rid in out and "fr-pharos" in out and "…" not in out
    _terminal(monkeypatch, 80)
    for argv in (["requests", "list"], ["requests", "due", "--within", "70d"], ["tokens", "list"],
                 ["members", "list"]):
        assert run([*h, *argv]) == 0
        out = ANSI.sub("", capsys.readouterr().out)
        assert max(len(line) for line in out.splitlines()) <= 80
        assert "…" not in out, argv
        if argv[0] == "requests":
            assert rid in out and "fr-pharos" in out


# --- help and --json on every command --------------------------------------------------------


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, cmd in walk():
        if not (cmd.help or "").strip():
            missing.append(" ".join(("hanoi", *path)))
        for p in params(cmd):
            if not (getattr(p, "help", None) or "").strip():
                missing.append(f"{' '.join(('hanoi', *path))} {p.opts[0] if p.opts else p.name}")
    assert missing == []


def test_every_help_page_renders(capsys: pytest.CaptureFixture[str]) -> None:
    """Help text goes through Typer's Rich formatter: none of it may break it."""
    for path, _ in walk():
        assert run([*path, "--help"]) == 0, path
        out, err = capsys.readouterr()
        assert "Usage: hanoi" in out and "Traceback" not in out + err and err == "", path


NO_JSON = {
    ("serve",): "runs the API until stopped",
    ("demo",): "plays the demo and explains it",
    ("signals", "export"): "prints the format --format names (STIX, MISP or CSV)",
    ("media", "hashes"): "prints JSON always",
    ("media", "index"): "prints JSON always",
}


def _has_json(cmd: Any) -> bool:
    return any("--json" in p.opts for p in params(cmd))


def test_every_command_that_prints_data_has_json() -> None:
    leaves = [(path, cmd) for path, cmd in walk() if not is_group(cmd)]
    without = [" ".join(path) for path, cmd in leaves if not _has_json(cmd) and path not in NO_JSON]
    assert without == []
    assert all(not _has_json(cmd) for path, cmd in leaves if path in NO_JSON)  # the list stays true
    # a group that prints (``hanoi outbox``) has it too
    assert _has_json(ROOT.commands["outbox"])


def _prints_a_table(cmd: Any) -> bool:
    return cmd.callback is not None and re.search(r"\btable\(", inspect.getsource(cmd.callback), re.I) is not None


# How to run each command that prints a table, in the ``busy`` node.
TABLE_ARGS: dict[tuple[str, ...], list[str]] = {
    ("requests", "show"): ["{rid}"],
    ("requests", "list"): [],
    ("users", "list"): [],
    ("requests", "timeline"): ["{rid}"],
    ("requests", "due"): ["--within", "70d"],
    ("signals", "lookup"): ["{values}"],
    ("signals", "check"): ["{values}", "--filter", "{filter}"],
    ("signals", "campaign"): ["{value}"],
    ("signals", "list"): [],
    ("signals", "feedback"): [],
    ("signals", "classification"): [],
    ("media", "lists"): [],
    ("media", "match"): ["--hashes", "{hashes}"],
    ("media", "check"): ["{image}", "--private", "--url", "{url}", "--token", "{token}"],
    ("media", "feedback-log"): [],
    ("members", "list"): [],
    ("ledger", "show"): [],
    ("outbox",): ["--state", "all"],
    ("peers", "list"): [],
    ("policy", "show"): [],
    ("tokens", "list"): [],
    ("feeds", "list"): [],
    ("alerts", "list"): [],
    ("offences",): [],
}


def test_every_table_has_a_json_twin_that_parses(busy: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    tables = [path for path, cmd in walk() if _prints_a_table(cmd)]
    assert sorted(tables) == sorted(TABLE_ARGS), "a command prints a table: add how to run it here"
    for path in tables:
        if "{url}" in TABLE_ARGS[path]:  # a command that asks a node over its API: serve this one
            with serving(busy["node_home"]) as url:
                args = [a.format(**busy, url=url) for a in TABLE_ARGS[path]]
                assert run([*busy["home"], *path, *args, "--json"]) == 0, path
        else:
            args = [a.format(**busy) for a in TABLE_ARGS[path]]
            assert run([*busy["home"], *path, *args, "--json"]) == 0, path
        out = capsys.readouterr().out
        lines = out.splitlines()
        if path in (("signals", "lookup"), ("signals", "check")):  # one object per line
            parsed: Any = [json.loads(line) for line in lines]
            assert len(parsed) == 3
        else:
            parsed = json.loads(out)
        assert isinstance(parsed, (list, dict)), path


# --- one name per concept; old names hidden ----------------------------------------------------


def test_old_option_names_still_work_and_are_hidden(busy: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    h = busy["home"]
    assert run([*h, "signals", "add", "https://other.example/", "--tlp", "GREEN", "--abuse-type",
                "UNCC-13", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reports"][0]["value"].startswith("https://other.example")
    assert run([*h, "signals", "list", "--to", "fr-pharos", "--json"]) == 0
    as_to = json.loads(capsys.readouterr().out)
    assert run([*h, "signals", "list", "--as-member", "fr-pharos", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == as_to and as_to
    assert run([*h, "signals", "export", "--format", "csv", "--for", "fr-pharos"]) == 0
    by_for = capsys.readouterr().out
    assert run([*h, "signals", "export", "--format", "csv", "--to", "fr-pharos"]) == 0
    assert capsys.readouterr().out == by_for
    assert run([*h, "outbox", "--peer", "fr-pharos", "--json"]) == 0
    capsys.readouterr()
    for argv in (["signals", "add"], ["signals", "import"], ["signals", "list"], ["signals", "export"],
                 ["outbox"]):
        assert run([*argv, "--help"]) == 0
        text = capsys.readouterr().out
        assert "--abuse-type" not in text and "--as-member" not in text and "--for " not in text
        assert "--peer" not in text


def test_an_option_and_its_old_name_disagreeing_is_a_usage_error(
        busy: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    h = busy["home"]
    assert run([*h, "signals", "add", "https://x.example/", "--tlp", "GREEN", "--offence", "UNCC-13",
                "--abuse-type", "UNCC-7"]) == 2
    assert capsys.readouterr().err == ("error: --offence and --abuse-type (its old name) disagree: "
                                       "give --offence only\n")
    assert run([*h, "signals", "add", "https://x.example/", "--tlp", "GREEN"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: missing option --offence") and err.count("\n") == 1


def test_requests_take_the_offence_as_offence(busy: dict[str, Any], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    h = busy["home"]
    f = tmp_path / "draft.yaml"
    f.write_text(yaml.safe_dump({"type": "preservation", "fields": PRESERVATION_FIELDS}))
    assert run([*h, "requests", "new", "--from", str(f), "--partner", "fr-pharos", "--offence", "UNCC-7",
                "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["fields"]["offence_code"] == "UNCC-7"
    assert run([*h, "requests", "edit", shown["id"], "--offence", "UNCC-9", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fields"]["offence_code"] == "UNCC-9"
    assert run([*h, "requests", "edit", shown["id"], "--set", "offence=UNCC-8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fields"]["offence_code"] == "UNCC-8"


# --- progress ----------------------------------------------------------------------------------


def test_progress_is_shown_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not common.progress_shown()  # pytest captures: not a terminal
    _terminal(monkeypatch)
    assert common.progress_shown()
    assert not common.progress_shown(as_json=True)


def test_ledger_verify_reports_progress(busy: dict[str, Any], node: Node, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[tuple[int, int]] = []
    result = ledger.verify(node, workers=1, progress=lambda done, total: seen.append((done, total)))
    assert result.ok and seen[-1] == (result.count, result.head_seq)
    monkeypatch.setattr(ledger, "PARALLEL_FROM", 2)
    seen.clear()
    result = ledger.verify(node, workers=2, progress=lambda done, total: seen.append((done, total)))
    assert result.ok and len(seen) == 2 and seen[-1] == (result.count, result.head_seq)
    shown: list[tuple[str, bool]] = []

    class Spy(common.Progress):  # type: ignore[misc]
        def __init__(self, *columns: Any, disable: bool = False, **kw: Any) -> None:
            super().__init__(*columns, disable=True, **kw)  # draw nothing in the test
            self.shown = not disable

        def add_task(self, description: str, *args: Any, **kw: Any) -> Any:
            shown.append((description, self.shown))
            return super().add_task(description, *args, **kw)

    monkeypatch.setattr(common, "Progress", Spy)
    assert run([*busy["home"], "ledger", "verify"]) == 0
    assert shown == [("verifying", False)]  # captured output is not a terminal
    _terminal(monkeypatch)
    assert run([*busy["home"], "ledger", "verify"]) == 0
    assert run([*busy["home"], "ledger", "verify", "--json"]) == 0
    assert shown[1:] == [("verifying", True), ("verifying", False)]
    out = ANSI.sub("", capsys.readouterr().out)
    assert json.loads(out[out.index("{"):])["ok"]
