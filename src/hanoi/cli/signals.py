"""``hanoi signals``: report, import, look up, link and feed back indicators of fraud or attack;
name who may receive an AMBER report; publish to federated peers.

The CLI is this node's staff: it sees every report (RED included) unless ``--as-member`` asks
what a partner would see. Each command calls one service function, the same as its API route.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hanoi.cli.common import actor, console, err_console, open_node, print_json, read_input
from hanoi.core.bounds import BIGINT_MAX
from hanoi.core.errors import InvalidInput, Problem
from hanoi.services import signals
from hanoi.signals.reports import MAX_BATCH
from hanoi.signals.types import MAX_VALUE_LENGTH, SIGNAL_TYPES

app = typer.Typer(help="Signals: indicators of fraud or attack, TLP-marked, matched and linked "
                       "into campaigns.", no_args_is_help=True)

TYPES_HELP = ", ".join(SIGNAL_TYPES)
TLP_STYLE = {"RED": "bold red", "AMBER+STRICT": "yellow", "AMBER": "yellow", "GREEN": "green",
             "CLEAR": "white"}
_LONGEST = max(MAX_VALUE_LENGTH.values())


def _caller(as_member: str | None) -> signals.Caller:
    return signals.Caller(actor(), as_member)


def _related(specs: list[str] | None) -> list[dict[str, str]]:
    out = []
    for i, spec in enumerate(specs or []):
        t, sep, v = spec.partition(":")
        if not sep or t not in SIGNAL_TYPES:
            raise InvalidInput("a --related is not TYPE:VALUE",
                               [Problem(f"related[{i}]", f"{spec!r}: write TYPE:VALUE, TYPE one of "
                                        f"{TYPES_HELP}")])
        out.append({"type": t, "value": v})
    return out


@app.command("add")
def add(
    value: Annotated[str, typer.Argument(help="The indicator (defanged spellings are accepted)")],
    tlp: Annotated[str, typer.Option(help="CLEAR, GREEN, AMBER, AMBER+STRICT or RED")],
    abuse_type: Annotated[str, typer.Option("--abuse-type", help="Offence code, e.g. UNCC-13 (fraud)")],
    type_: Annotated[str | None, typer.Option("--type", help=f"Detected if absent: {TYPES_HELP}")] = None,
    confidence: Annotated[int, typer.Option(min=0, max=100)] = 50,
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeat for more)")] = None,
    related: Annotated[list[str] | None, typer.Option(help="TYPE:VALUE named by the same report "
                                                           "(links a campaign; repeat)")] = None,
    source: Annotated[str | None, typer.Option(help="The member who reported it (default: this node)")] = None,
    recipient: Annotated[list[str] | None, typer.Option(help="A member the originator names (AMBER)")] = None,
    no_consent: Annotated[bool, typer.Option("--no-consent", help="The originator does not consent to "
                                                                   "onward transfer")] = False,
    conditions: Annotated[str | None, typer.Option(help="The originator's handling conditions")] = None,
    first_seen: Annotated[str | None, typer.Option(help="ISO 8601")] = None,
    last_seen: Annotated[str | None, typer.Option(help="ISO 8601")] = None,
    expires: Annotated[str | None, typer.Option(help="Expiry, ISO 8601")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Report one signal (and the identifiers the same report names)."""
    item: dict[str, Any] = {
        "type": type_, "value": value, "tlp": tlp, "abuse_type": abuse_type,
        "confidence": confidence, "tags": tag or [], "related": _related(related),
        "recipients": recipient or [], "consent": not no_consent, "conditions": conditions,
        "first_seen": first_seen, "last_seen": last_seen, "expires_at": expires,
    }
    node = open_node()
    out = signals.report(node, actor(), source, [{k: v for k, v in item.items() if v is not None}])
    if as_json:
        print_json(out)
        return
    for r in out.get("reports", []):
        console.print(f"reported {r['type']} [bold]{r['value']}[/] (signal {r['signal_id']}, "
                      f"report {r['report_id']})", highlight=False)
    if related:
        console.print(f"linked to {len(related)} related identifier(s)")


def _values(stream: TextIO, name: str, type_: str | None) -> list[tuple[int, dict[str, str] | str]]:
    """Non-blank lines as values, each with its line number; refuse an over-long line."""
    out: list[tuple[int, dict[str, str] | str]] = []
    problems: list[Problem] = []
    limit = MAX_VALUE_LENGTH.get(type_ or "", _LONGEST)
    for n, line in enumerate(stream, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if len(text) > limit:
            problems.append(Problem(f"{name}: line {n}", f"too long: {len(text):,} characters, at "
                                    f"most {limit:,}", "SIGNAL-LIMITS"))
            continue
        out.append((n, text))
    if problems:
        raise InvalidInput(f"{len(problems)} line(s) cannot be looked up; nothing was looked up",
                           problems[:200], "SIGNAL-LIMITS")
    if not out:
        raise InvalidInput(f"{name} holds no value to look up",
                           [Problem(name, "is empty (blank lines and # comments are skipped)",
                                    "SIGNAL-LIMITS")])
    return out


def _open(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8", errors="replace")  # closed by the caller
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", [Problem("file", str(exc))]) from None


@app.command("lookup")
def lookup(
    file: Annotated[str, typer.Argument(help="A file with one value per line, or - for stdin")] = "-",
    type_: Annotated[str | None, typer.Option("--type", help=f"Type of every value: {TYPES_HELP}")] = None,
    as_member: Annotated[str | None, typer.Option("--as-member", help="Answer as this member would be "
                                                                      "answered (the gate applies)")] = None,
    matches_only: Annotated[bool, typer.Option("--matches", help="Print matches only")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Look values up (in batches of 10,000); exit 0 whether or not anything matched."""
    stream = _open(file)
    try:
        values = _values(stream, "stdin" if file == "-" else file, type_)
    finally:
        if stream is not sys.stdin:
            stream.close()
    node = open_node()
    caller = _caller(as_member)
    table = Table("line", "value", "type", "match", "TLP", "confidence", "sources", "campaign")
    matched = 0
    for start in range(0, len(values), MAX_BATCH):
        part = values[start:start + MAX_BATCH]
        out = signals.lookup(node, caller, [v for _, v in part], type_=type_)
        matched += out["matches"]
        for (line, _), r in zip(part, out["results"], strict=True):
            if matches_only and not r["match"]:
                continue
            if as_json:
                sys.stdout.write(json.dumps({"line": line, **r}, ensure_ascii=False) + "\n")
                continue
            table.add_row(str(line), r["value"], r["type"] or "?",
                          "[bold]yes[/]" if r["match"] else (f"[red]{r['error']}[/]" if r.get("error") else "no"),
                          f"[{TLP_STYLE[r['tlp']]}]{r['tlp']}[/]" if r["match"] else "",
                          str(r.get("confidence", "")) if r["match"] else "",
                          str(r.get("sources", "")) if r["match"] else "",
                          str(r.get("campaign") or "") if r["match"] else "")
    if not as_json:
        console.print(table)
        console.print(f"{matched} of {len(values)} value(s) matched")


@app.command("campaign")
def campaign(
    value: Annotated[str, typer.Argument(help="Any value of the campaign")],
    type_: Annotated[str | None, typer.Option("--type")] = None,
    as_member: Annotated[str | None, typer.Option("--as-member")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The signals linked to VALUE and the reports linking them."""
    out = signals.campaign(open_node(), _caller(as_member), value, type_=type_)
    if as_json:
        print_json(out)
        return
    label = f"campaign {out['campaign']}" if out["campaign"] else "no campaign (not linked)"
    console.print(f"[bold]{label}[/]: {len(out['members'])} signal(s), {len(out['links'])} link(s)")
    t = Table("signal", "type", "value", "TLP", "confidence", "sources")
    for m in out["members"]:
        t.add_row(str(m["signal_id"]), m["type"], m["value"], m["tlp"] or "", str(m["confidence"] or ""),
                  str(m["sources"]))
    console.print(t)
    if out["links"]:
        lt = Table("a", "b", "evidence (report)", "source", "TLP")
        for lk in out["links"]:
            lt.add_row(str(lk["a"]), str(lk["b"]), str(lk["report_id"]), lk["source"], lk["tlp"])
        console.print(lt)


def _feedback(kind: str, value: str, type_: str | None, count: int, seen_at: str | None,
              note: str | None, as_member: str | None, as_json: bool) -> None:
    body: dict[str, Any] = {"value": value, "type": type_, "count": count, "seen_at": seen_at,
                            "note": note}
    out = signals.feedback(open_node(), _caller(as_member), kind, {k: v for k, v in body.items() if v})
    if as_json:
        print_json(out)
        return
    peers = f"; sent to {', '.join(out['sent_to_peers'])}" if out["sent_to_peers"] else ""
    console.print(f"{kind} of {out['type']} {out['value']} recorded (#{out['feedback_id']}){peers}",
                  highlight=False)


@app.command("sighting")
def sighting(
    value: Annotated[str, typer.Argument()],
    type_: Annotated[str | None, typer.Option("--type")] = None,
    count: Annotated[int, typer.Option(min=1)] = 1,
    seen_at: Annotated[str | None, typer.Option("--seen-at", help="ISO 8601 (default: now)")] = None,
    note: Annotated[str | None, typer.Option()] = None,
    as_member: Annotated[str | None, typer.Option("--as-member", help="Record it for this member")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Record a sighting of a signal (it flows back to the signal's sources)."""
    _feedback("sighting", value, type_, count, seen_at, note, as_member, as_json)


@app.command("false-positive")
def false_positive(
    value: Annotated[str, typer.Argument()],
    type_: Annotated[str | None, typer.Option("--type")] = None,
    note: Annotated[str | None, typer.Option()] = None,
    as_member: Annotated[str | None, typer.Option("--as-member")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Record that a signal was a false positive (it flows back to its sources)."""
    _feedback("false-positive", value, type_, 1, None, note, as_member, as_json)


@app.command("list")
def list_(
    type_: Annotated[str | None, typer.Option("--type")] = None,
    since: Annotated[str | None, typer.Option(help="Reported since (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_member: Annotated[str | None, typer.Option("--as-member")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest reports (as a member would see them with --as-member)."""
    rows = signals.list_signals(open_node(), _caller(as_member), type_=type_,
                                since=signals.parse_since(since), limit=limit)
    if as_json:
        print_json(rows)
        return
    t = Table("report", "type", "value", "TLP", "abuse", "conf.", "source", "last seen")
    for r in rows:
        t.add_row(str(r["report_id"]), r["type"], r["value"], f"[{TLP_STYLE[r['tlp']]}]{r['tlp']}[/]",
                  r["abuse_type"], str(r["confidence"]), r["source"], r["last_seen"][:19])
    console.print(t)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The file to import (- for stdin), or a MISP feed "
                                              "folder (manifest.json and event files)")],
    format_: Annotated[str | None, typer.Option("--format", help="stix, misp or csv (URLhaus "
                                                                 "dumps, value lists, our columns); "
                                                                 "detected when omitted")] = None,
    tlp: Annotated[str | None, typer.Option(help="TLP for entries that carry none")] = None,
    abuse_type: Annotated[str | None, typer.Option("--abuse-type", help="Offence code for entries "
                                                                        "that carry none, e.g. UNCC-11")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Type of a plain value list (csv)")] = None,
    confidence: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    source: Annotated[str | None, typer.Option(help="The member the list comes from")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag every entry (repeat)")] = None,
    best_effort: Annotated[bool, typer.Option("--best-effort", help="Store the valid entries and list "
                                                                    "every reject")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Import signals: all entries or none (unless --best-effort); every reject names its line,
    STIX object id or MISP attribute. The same reader and rules as POST /api/v1/signals/import."""
    from hanoi.services import signal_io

    defaults: dict[str, Any] = {k: v for k, v in (("tlp", tlp), ("abuse_type", abuse_type),
                                                  ("confidence", confidence)) if v is not None}
    node = open_node()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True,
                  disable=as_json or not err_console.is_terminal) as progress:
        task = progress.add_task("reading", total=None)

        def step(n: int) -> None:
            progress.update(task, description="validating", completed=n)

        if str(file) != "-" and file.is_dir():
            if format_ not in (None, "misp") or type_ is not None:
                raise InvalidInput(f"{file} is a folder", [Problem("file", "a folder is read as a MISP "
                                                                   "feed (manifest.json + events)")])
            out = signal_io.import_misp_feed(node, actor(), source, file, best_effort=best_effort,
                                             defaults=defaults, tags=tag, progress=step)
        else:
            data = read_input(file, node.config.max_import_bytes)
            out = signal_io.import_document(node, actor(), source, data, fmt=format_,
                                            filename=None if str(file) == "-" else file.name,
                                            best_effort=best_effort, defaults=defaults, type_name=type_,
                                            tags=tag, progress=step)
    if as_json:
        out.pop("reports", None)
        print_json(out)
        return
    for note in out.get("notes", []):
        err_console.print(f"note: {note}", highlight=False, markup=False)
    for r in out["rejected"]:
        err_console.print(f"rejected {r['field']}: {r['message']}", highlight=False, markup=False)
    unit = "row(s)" if out.get("format") == "csv" else "entr(ies)"
    console.print(f"imported {out['stored']:,} report(s) of {out['received']:,} {unit} "
                  f"({out['new_signals']:,} new signal(s)); {len({r['ref'] for r in out['rejected']}):,} "
                  f"{unit} rejected" + (f"; batch {out['batch']}" if out["batch"] else ""))


@app.command("export")
def export(
    format_: Annotated[str, typer.Option("--format", help="stix, misp or csv")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: stdout)")] = None,
    for_: Annotated[str | None, typer.Option("--for", help="Export what this member may receive "
                                                           "(default: everything, as this node's staff)")] = None,
    public: Annotated[bool, typer.Option("--public", help="Export what anyone may receive (CLEAR)")] = False,
    since: Annotated[str | None, typer.Option(help="Reported since (ISO 8601)")] = None,
) -> None:
    """Export signals through the gate for a recipient, as STIX 2.1, a MISP event or CSV."""
    from hanoi.services import signal_io

    text, _ = signal_io.export_document(open_node(), format_, member_id=for_, public=public,
                                        since=signals.parse_since(since))
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {output}", highlight=False)


@app.command("publish")
def publish(
    to: Annotated[list[str] | None, typer.Option("--to", help="A peer (repeat); default: every "
                                                              "federated peer")] = None,
    since: Annotated[str | None, typer.Option(help="Only reports made since (ISO 8601)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Queue reports for federated peers through the outbox; each peer gets what the gate allows."""
    out = signals.publish_reports(open_node(), _caller(None), to=to or None,
                                  since=signals.parse_since(since))
    if as_json:
        print_json(out)
        return
    if not out["peers"]:
        console.print("nothing to publish: no federated peer")
    for peer, n in out["peers"].items():
        console.print(f"queued {n:,} of {out['considered']:,} report(s) for {peer}" if n else
                      f"nothing for {peer}: the gate lets it receive none of {out['considered']:,} report(s)",
                      highlight=False)


@app.command("name")
def name(
    report_id: Annotated[int, typer.Argument(help="The AMBER report", min=1, max=BIGINT_MAX)],
    member: Annotated[list[str], typer.Argument(help="The member(s) to name (or un-name with --remove)")],
    remove: Annotated[bool, typer.Option("--remove", help="Un-name these members")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Name members this node lets receive an AMBER report on a need-to-know basis."""
    out = signals.name_members(open_node(), _caller(None), report_id, member,
                               mode="remove" if remove else "add")
    if as_json:
        print_json(out)
        return
    named = ", ".join(out["named"]) or "nobody"
    console.print(f"report {out['report_id']} ({out['type']} {out['value']}, TLP:{out['tlp']}): "
                  f"named {named}", highlight=False)


@app.command("pull")
def pull(
    peer: Annotated[str, typer.Argument(help="The federated peer to ask")],
    since: Annotated[int, typer.Option(min=0, help="The peer's report id cursor (0: everything)")] = 0,
) -> None:
    """Ask a peer for the signals it may send us after a cursor (answered through federation)."""
    from hanoi.services import signal_io

    out = signal_io.pull(open_node(), actor(), peer, since)
    console.print(f"pull queued for {out['peer']} since {out['since']}; `hanoi outbox deliver` sends it")


@app.command("feedback")
def feedback(
    as_member: Annotated[str | None, typer.Option("--as-member", help="Feedback on this member's "
                                                                      "reports (default: this node's)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Sightings and false positives of the signals this node (or a member) reported."""
    rows = signals.feedback_for_source(open_node(), as_member)
    if as_json:
        print_json(rows)
        return
    t = Table("#", "kind", "type", "value", "by", "count", "seen at")
    for r in rows:
        t.add_row(str(r["feedback_id"]), r["kind"], r["type"], r["value"], r["member"], str(r["count"]),
                  r["seen_at"][:19])
    console.print(t)
