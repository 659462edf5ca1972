"""``hanoi signals``: report, import, look up, link and feed back indicators of fraud or attack;
name who may receive an AMBER report; publish to federated peers.

The CLI is this node's staff: it sees every report (RED included) unless ``--to`` asks what a
partner would receive. Each command calls one service function, the same as its API route.
The offence is ``--offence`` and the receiving member ``--to`` everywhere; the old spellings
(``--abuse-type``, ``--as-member`` and ``--for`` where they named the recipient) are hidden
aliases.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from hanoi.cli.common import (
    JsonFlag,
    NodeToken,
    NodeUrl,
    actor,
    cell,
    console,
    err_console,
    fail,
    node_client,
    open_node,
    print_json,
    print_table,
    progress,
    read_input,
    renamed,
    required,
    styled,
    table,
)
from hanoi.core.bounds import BIGINT_MAX
from hanoi.core.errors import InvalidInput, Problem
from hanoi.private_lookup import Filter, FilterError, digest
from hanoi.signals import classification, io, private, service
from hanoi.signals.reports import MAX_BATCH
from hanoi.signals.types import MAX_VALUE_LENGTH, SIGNAL_TYPES, NormaliseContext, detect_type, normalise

app = typer.Typer(help="Signals: indicators of fraud or attack, TLP-marked, matched and linked "
                       "into campaigns.", no_args_is_help=True)

TYPES_HELP = ", ".join(SIGNAL_TYPES)
TLP_STYLE = {"RED": "bold red", "AMBER+STRICT": "yellow", "AMBER": "yellow", "GREEN": "green",
             "CLEAR": "white"}
_LONGEST = max(MAX_VALUE_LENGTH.values())

OFFENCE_HELP = "Offence code, e.g. UNCC-13 (fraud); `hanoi offences` lists them"
To = Annotated[str | None, typer.Option("--to", help="Answer as this member would be answered: "
                                                     "what the gate lets it receive")]
OldAsMember = Annotated[str | None, typer.Option("--as-member", hidden=True,
                                                 help="The old name of --to")]
OldAbuseType = Annotated[str | None, typer.Option("--abuse-type", hidden=True,
                                                  help="The old name of --offence")]
Type = Annotated[str | None, typer.Option("--type", help=f"The value's type (detected if absent): {TYPES_HELP}")]
Note = Annotated[str | None, typer.Option(help="A note recorded with it")]


def _caller(as_member: str | None) -> service.Caller:
    return service.Caller(actor(), as_member)


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
    offence: Annotated[str | None, typer.Option("--offence", help=OFFENCE_HELP + " (required)")] = None,
    type_: Type = None,
    confidence: Annotated[int, typer.Option(min=0, max=100, help="How sure the reporter is, 0-100")] = 50,
    tag: Annotated[list[str] | None, typer.Option(help="A tag (repeat for more)")] = None,
    related: Annotated[list[str] | None, typer.Option(help="TYPE:VALUE named by the same report "
                                                           "(links a campaign; repeat)")] = None,
    source: Annotated[str | None, typer.Option(help="The member who reported it (default: this node)")] = None,
    recipient: Annotated[list[str] | None, typer.Option(help="A member the originator names (AMBER)")] = None,
    consent: Annotated[bool | None, typer.Option(
        "--consent/--no-consent", help="The originator consents (or not) to onward transfer to a third "
        "member. Not given: personal data (e-mail, phone, IBAN, wallet) stay here, infrastructure "
        "(URL, domain, IP, hash) follows its TLP")] = None,
    conditions: Annotated[str | None, typer.Option(help="The originator's handling conditions")] = None,
    first_seen: Annotated[str | None, typer.Option(help="ISO 8601")] = None,
    last_seen: Annotated[str | None, typer.Option(help="ISO 8601")] = None,
    expires: Annotated[str | None, typer.Option(help="Expiry, ISO 8601")] = None,
    abuse_type: OldAbuseType = None,
    as_json: JsonFlag = False,
) -> None:
    """Report one signal (and the identifiers the same report names)."""
    offence = required(renamed(offence, abuse_type, "--offence", "--abuse-type"), "--offence", OFFENCE_HELP)
    item: dict[str, Any] = {
        "type": type_, "value": value, "tlp": tlp, "abuse_type": offence,
        "confidence": confidence, "tags": tag or [], "related": _related(related),
        "recipients": recipient or [], "consent": consent, "conditions": conditions,
        "first_seen": first_seen, "last_seen": last_seen, "expires_at": expires,
    }
    node = open_node()
    out = service.report(node, actor(), source, [{k: v for k, v in item.items() if v is not None}])
    if as_json:
        print_json(out)
        return
    for r in out.get("reports", []):
        console.print(styled(f"reported {r['type']} ", (r["value"], "bold"),
                             f" (signal {r['signal_id']}, report {r['report_id']})"))
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
    to: To = None,
    matches_only: Annotated[bool, typer.Option("--matches", help="Print matches only")] = False,
    as_member: OldAsMember = None,
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
    caller = _caller(renamed(to, as_member, "--to", "--as-member"))
    t = table("line", "value", "type", "match", "TLP", "confidence", "sources", "campaign", whole=("line",))
    matched = 0
    with progress("looking up", len(values), as_json=as_json, minimum=MAX_BATCH + 1) as bar:
        for start in range(0, len(values), MAX_BATCH):
            part = values[start:start + MAX_BATCH]
            out = service.lookup(node, caller, [v for _, v in part], type_=type_)
            bar.advance(len(part))
            matched += out["matches"]
            for (line, _), r in zip(part, out["results"], strict=True):
                if matches_only and not r["match"]:
                    continue
                if as_json:
                    sys.stdout.write(json.dumps({"line": line, **r}, ensure_ascii=False) + "\n")
                    continue
                hit = r["match"]
                t.add_row(str(line), r["value"], r["type"] or "?",
                          cell("yes", "bold") if hit else (cell(r["error"], "red") if r.get("error") else "no"),
                          cell(r["tlp"], TLP_STYLE[r["tlp"]]) if hit else "",
                          str(r.get("confidence", "")) if hit else "",
                          str(r.get("sources", "")) if hit else "",
                          str(r.get("campaign") or "") if hit else "")
                for rel in r.get("related", ()):
                    t.add_row(str(line), rel["value"], rel["type"], cell(f"related: {rel['reason']}", "italic"),
                              cell(rel["tlp"], TLP_STYLE[rel["tlp"]]), str(rel["confidence"]),
                              str(rel["sources"]), str(rel["campaign"] or ""))
    if not as_json:
        print_table(t)
        console.print(f"{matched} of {len(values)} value(s) matched")


@app.command("campaign")
def campaign(
    value: Annotated[str, typer.Argument(help="Any value of the campaign")],
    type_: Type = None,
    to: To = None,
    as_member: OldAsMember = None,
    as_json: JsonFlag = False,
) -> None:
    """The signals linked to VALUE and the reports linking them."""
    out = service.campaign(open_node(), _caller(renamed(to, as_member, "--to", "--as-member")), value,
                           type_=type_)
    if as_json:
        print_json(out)
        return
    label = f"campaign {out['campaign']}" if out["campaign"] else "no campaign (not linked)"
    console.print(styled((label, "bold"), f": {len(out['members'])} signal(s), {len(out['links'])} link(s)"))
    t = table("signal", "type", "value", "TLP", "confidence", "sources", whole=("signal",))
    for m in out["members"]:
        t.add_row(str(m["signal_id"]), m["type"], m["value"], m["tlp"] or "", str(m["confidence"] or ""),
                  str(m["sources"]))
    print_table(t)
    if out["links"]:
        lt = table("a", "b", "reason", "source", "TLP", whole=("a", "b"))
        for lk in out["links"]:
            lt.add_row(str(lk["a"]), str(lk["b"]), lk["reason"], lk["source"] or "", lk["tlp"] or "")
        print_table(lt)


def _feedback(kind: str, value: str, type_: str | None, count: int, seen_at: str | None,
              note: str | None, as_member: str | None, as_json: bool) -> None:
    body: dict[str, Any] = {"value": value, "type": type_, "count": count, "seen_at": seen_at,
                            "note": note}
    out = service.feedback(open_node(), _caller(as_member), kind, {k: v for k, v in body.items() if v})
    if as_json:
        print_json(out)
        return
    peers = f"; sent to {', '.join(out['sent_to_peers'])}" if out["sent_to_peers"] else ""
    console.print(f"{kind} of {out['type']} {out['value']} recorded (#{out['feedback_id']}){peers}")


@app.command("sighting")
def sighting(
    value: Annotated[str, typer.Argument(help="The value seen")],
    type_: Type = None,
    count: Annotated[int, typer.Option(min=1, help="How many times it was seen")] = 1,
    seen_at: Annotated[str | None, typer.Option("--seen-at", help="ISO 8601 (default: now)")] = None,
    note: Note = None,
    as_member: Annotated[str | None, typer.Option("--as-member", help="Record it as seen by this member "
                                                                      "(default: this node)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record a sighting of a signal (it flows back to the signal's sources)."""
    _feedback("sighting", value, type_, count, seen_at, note, as_member, as_json)


@app.command("false-positive")
def false_positive(
    value: Annotated[str, typer.Argument(help="The value that was wrongly reported")],
    type_: Type = None,
    note: Note = None,
    as_member: Annotated[str | None, typer.Option("--as-member", help="Record it as found by this member "
                                                                      "(default: this node)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record that a signal was a false positive (it flows back to its sources)."""
    _feedback("false-positive", value, type_, 1, None, note, as_member, as_json)


@app.command("list")
def list_(
    type_: Annotated[str | None, typer.Option("--type", help=f"Only this type: {TYPES_HELP}")] = None,
    since: Annotated[str | None, typer.Option(help="Reported since (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many reports")] = 50,
    unclassified: Annotated[bool, typer.Option("--unclassified", help="Only reports without an offence "
                                                                      "code (kept from every recipient)")] = False,
    to: To = None,
    as_member: OldAsMember = None,
    as_json: JsonFlag = False,
) -> None:
    """The newest reports (as a member would receive them, with --to)."""
    rows = service.list_signals(open_node(), _caller(renamed(to, as_member, "--to", "--as-member")),
                                type_=type_, since=service.parse_since(since), limit=limit,
                                unclassified=unclassified)
    if as_json:
        print_json(rows)
        return
    t = table("report", "type", "value", "TLP", "offence", "conf.", "source", "last seen",
              whole=("report", "source"))
    for r in rows:
        t.add_row(str(r["report_id"]), r["type"], r["value"], cell(r["tlp"], TLP_STYLE[r["tlp"]]),
                  r["abuse_type"] or cell("not classified", "yellow"), str(r["confidence"]), r["source"],
                  r["last_seen"][:19])
    print_table(t)


@app.command("classify")
def classify(
    report_id: Annotated[list[int] | None, typer.Argument(help="The reports to classify (any, classified "
                                                               "or not)")] = None,
    offence: Annotated[str | None, typer.Option("--offence", help=OFFENCE_HELP + " (required)")] = None,
    batch: Annotated[str | None, typer.Option(help="Every report of this import batch not classified yet")] = None,
    creator: Annotated[str | None, typer.Option(help="Every report by this author (e.g. URLhaus) not "
                                                     "classified yet")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Give reports an offence code, so the gate may share them (a report imported without one
    serves this node's lookups only); a re-import never overrides it."""
    code = required(offence, "--offence", OFFENCE_HELP)
    out = service.classify(open_node(), _caller(None), code, report_ids=report_id or None, batch=batch,
                           creator=creator)
    if as_json:
        print_json(out)
        return
    console.print(f"classified {out['classified']:,} report(s) as {out['offence']}" if out["classified"]
                  else f"nothing to classify: no report named or matched lacks {out['offence']}")


@app.command("classification")
def classification_table(as_json: JsonFlag = False) -> None:
    """The table that gives data from other tools an offence code (docs/classification.md)."""
    rows = classification.table()
    if as_json:
        print_json(rows)
        return
    t = table("vocabulary", "term", "offence", "reason")
    for r in rows:
        t.add_row(str(r["vocabulary"]), str(r["term"]), r["offence"] or "none", str(r["reason"]))
    print_table(t)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The file to import (- for stdin), or a MISP feed "
                                              "folder (manifest.json and event files)")],
    format_: Annotated[str | None, typer.Option("--format", help="stix, misp or csv (URLhaus "
                                                                 "dumps, value lists, our columns); "
                                                                 "detected when omitted")] = None,
    tlp: Annotated[str | None, typer.Option(help="TLP for entries that carry none")] = None,
    offence: Annotated[str | None, typer.Option("--offence", help="Offence code for entries that carry "
                                                                  "none, e.g. UNCC-11")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Type of a plain value list (csv)")] = None,
    confidence: Annotated[int | None, typer.Option(min=0, max=100, help="Confidence (0-100) for "
                                                                         "entries that carry none")] = None,
    source: Annotated[str | None, typer.Option(help="The member the list comes from")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag every entry (repeat)")] = None,
    best_effort: Annotated[bool, typer.Option("--best-effort", help="Store the valid entries; the "
                                                                    "rejects are counted")] = False,
    errors: Annotated[Path | None, typer.Option("--errors", help="Write every reject to this file, one a "
                                                                 "line (the output names the first only)")] = None,
    abuse_type: OldAbuseType = None,
    as_json: JsonFlag = False,
) -> None:
    """Import signals: all entries or none (unless --best-effort). An entry's offence is its
    own, else the classification table's, else --offence, else it is stored not classified
    (kept from every recipient until `hanoi signals classify`). Importing the same file again
    updates its reports. One summary line; --errors FILE lists every reject. The same reader
    and rules as POST /api/v1/signals/import."""
    offence = renamed(offence, abuse_type, "--offence", "--abuse-type")
    defaults: dict[str, Any] = {k: v for k, v in (("tlp", tlp), ("abuse_type", offence),
                                                  ("confidence", confidence)) if v is not None}
    node = open_node()
    written: list[int] = []

    def write_errors(problems: list[tuple[str, Problem]]) -> None:
        written.append(len({ref for ref, _ in problems}))
        if errors is not None:
            _write_errors(errors, problems)

    try:
        with progress("reading", as_json=as_json) as bar:

            def step(n: int) -> None:
                bar.update(n, description="validating")

            if str(file) != "-" and file.is_dir():
                if format_ not in (None, "misp") or type_ is not None:
                    raise InvalidInput(f"{file} is a folder", [Problem("file", "a folder is read as a MISP "
                                                                       "feed (manifest.json + events)")])
                out = io.import_misp_feed(node, actor(), source, file, best_effort=best_effort,
                                          defaults=defaults, tags=tag, progress=step, on_rejects=write_errors)
            else:
                data = read_input(file, node.config.max_import_bytes)
                out = io.import_document(node, actor(), source, data, fmt=format_,
                                         filename=None if str(file) == "-" else file.name,
                                         best_effort=best_effort, defaults=defaults, type_name=type_,
                                         tags=tag, progress=step, on_rejects=write_errors)
    except InvalidInput as err:
        if not written:
            raise
        # The whole file refused for its rejects: one line, never one per reject.
        where = f"every reject is in {errors}" if errors is not None else "--errors FILE lists every one"
        first = f"; first: {err.problems[0]}" if err.problems else ""
        raise fail(f"{written[0]:,} rejected, so nothing was stored (--best-effort stores the valid ones)"
                   f"{first}; {where}") from None
    if as_json:
        out.pop("reports", None)
        print_json(out)
        return
    if out.get("notes"):
        err_console.print("note: " + _notes_line(out["notes"]))
    if out["rejected"]:
        first = out["rejected"][0]
        where = f"every reject is in {errors}" if errors is not None else "--errors FILE lists every one"
        err_console.print(f"{len({r['ref'] for r in out['rejected']}):,} rejected; first: {first['field']}: "
                          f"{first['message']}; {where}")
    console.print(out["summary"] + (f"; batch {out['batch']}" if out["batch"] else ""))


def _write_errors(path: Path, problems: list[tuple[str, Problem]]) -> None:
    try:
        with path.open("w", encoding="utf-8") as f:
            for _ref, problem in problems:
                f.write(f"{problem}\n")
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}", [Problem("errors", str(exc))]) from None


def _notes_line(notes: list[str]) -> str:
    """Notes of one kind said once, with how many entries they concern."""
    kinds: dict[str, int] = {}
    for note in notes:
        kind = note.split(": ", 1)[-1]
        kinds[kind] = kinds.get(kind, 0) + 1
    ranked = sorted(kinds.items(), key=lambda kv: -kv[1])
    shown = "; ".join(f"{kind} ({n:,} entr{'y' if n == 1 else 'ies'})" for kind, n in ranked[:3])
    return shown + (f"; and {len(ranked) - 3} other kind(s) of note (--json lists them)" if len(ranked) > 3 else "")


@app.command("export")
def export(
    format_: Annotated[str, typer.Option("--format", help="stix, misp or csv")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: stdout)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Export what this member may receive "
                                                        "(default: everything, as this node's staff)")] = None,
    public: Annotated[bool, typer.Option("--public", help="Export what anyone may receive (CLEAR)")] = False,
    since: Annotated[str | None, typer.Option(help="Reported since (ISO 8601)")] = None,
    for_: Annotated[str | None, typer.Option("--for", hidden=True, help="The old name of --to")] = None,
) -> None:
    """Export signals through the gate for a recipient, as STIX 2.1, a MISP event or CSV."""
    with progress("exporting"):
        text, _ = io.export_document(open_node(), format_, member_id=renamed(to, for_, "--to", "--for"),
                                            public=public, since=service.parse_since(since))
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {output}")


@app.command("publish")
def publish(
    to: Annotated[list[str] | None, typer.Option("--to", help="A peer (repeat); default: every "
                                                              "federated peer")] = None,
    since: Annotated[str | None, typer.Option(help="Only reports made since (ISO 8601)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue reports for federated peers through the outbox; each peer gets what the gate allows."""
    with progress("publishing", as_json=as_json):
        out = service.publish_reports(open_node(), _caller(None), to=to or None,
                                      since=service.parse_since(since))
    if as_json:
        print_json(out)
        return
    if not out["peers"]:
        console.print("nothing to publish: no federated peer")
    for peer, n in out["peers"].items():
        console.print(f"queued {n:,} of {out['considered']:,} report(s) for {peer}" if n else
                      f"nothing for {peer}: the gate lets it receive none of {out['considered']:,} report(s)")


@app.command("name")
def name(
    report_id: Annotated[int, typer.Argument(help="The AMBER report", min=1, max=BIGINT_MAX)],
    member: Annotated[list[str], typer.Argument(help="The member(s) to name (or un-name with --remove)")],
    remove: Annotated[bool, typer.Option("--remove", help="Un-name these members")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Name members this node lets receive an AMBER report on a need-to-know basis."""
    out = service.name_members(open_node(), _caller(None), report_id, member,
                               mode="remove" if remove else "add")
    if as_json:
        print_json(out)
        return
    named = ", ".join(out["named"]) or "nobody"
    console.print(f"report {out['report_id']} ({out['type']} {out['value']}, TLP:{out['tlp']}): "
                  f"named {named}")


@app.command("pull")
def pull(
    peer: Annotated[str, typer.Argument(help="The federated peer to ask")],
    since: Annotated[int, typer.Option(min=0, help="The peer's report id cursor (0: everything)")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Ask a peer for the signals it may send us after a cursor (answered through federation)."""
    out = service.pull(open_node(), actor(), peer, since)
    if as_json:
        print_json(out)
        return
    console.print(f"pull queued for {out['peer']} since {out['since']}; `hanoi outbox deliver` sends it")


@app.command("feedback")
def feedback(
    as_member: Annotated[str | None, typer.Option("--as-member", help="Feedback on this member's "
                                                                      "reports (default: this node's)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Sightings and false positives of the signals this node (or a member) reported."""
    rows = service.feedback_for_source(open_node(), as_member)
    if as_json:
        print_json(rows)
        return
    t = table("#", "kind", "type", "value", "by", "count", "seen at", whole=("#", "by"))
    for r in rows:
        t.add_row(str(r["feedback_id"]), r["kind"], r["type"], r["value"], r["member"], str(r["count"]),
                  r["seen_at"][:19])
    print_table(t)


# --- private lookups (docs/privacy.md) ---------------------------------------------------------

def _normalised(values: list[tuple[int, Any]], type_: str | None, region: str | None
                ) -> list[tuple[int, str, str | None, str, str | None]]:
    """``(line, raw, type, value, error)``: each value normalised here, with the node's code."""
    ctx = NormaliseContext(region.upper() if region else None)
    out: list[tuple[int, str, str | None, str, str | None]] = []
    for line, raw in values:
        raw = str(raw)
        t = type_ or detect_type(raw, ctx)
        if t is None:
            out.append((line, raw, None, raw, "cannot tell what kind of signal this is; give --type"))
            continue
        try:
            out.append((line, raw, t, normalise(t, raw, ctx), None))
        except InvalidInput as err:
            out.append((line, raw, t, raw, "; ".join(p.message for p in err.problems) or err.detail))
    return out


@app.command("check")
def check(
    file: Annotated[str, typer.Argument(help="A file with one value per line, or - for stdin")] = "-",
    private_: Annotated[bool, typer.Option("--private", help="Send only short prefixes of each value's "
                                                              "digest; ask for the report of a real "
                                                              "match only (no other value leaves)")] = False,
    filters: Annotated[list[Path] | None, typer.Option("--filter", help="A filter from `hanoi signals "
                                                       "filter` (repeat for a base and its deltas): "
                                                       "check offline first, ask only about hits")] = None,
    url: NodeUrl = None,
    token: NodeToken = None,
    type_: Annotated[str | None, typer.Option("--type", help=f"Type of every value: {TYPES_HELP}")] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region of phone numbers written "
                                                                "without a country code, e.g. GB")] = None,
    matches_only: Annotated[bool, typer.Option("--matches", help="Print matches only")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
) -> None:
    """Check values against a node over its API, normalising them here. Plain: every value is
    sent. --private: prefixes only. --filter: offline; with --private, hits are then confirmed."""
    stream = _open(file)
    try:
        values = _values(stream, "stdin" if file == "-" else file, type_)
    finally:
        if stream is not sys.stdin:
            stream.close()
    if type_ is not None and type_ not in SIGNAL_TYPES:
        raise InvalidInput("unknown --type", [Problem("--type", f"one of {TYPES_HELP}")])
    rows = _normalised(values, type_, region)
    ok = [i for i, r in enumerate(rows) if r[4] is None]
    answers: dict[int, dict[str, Any] | None] = {}
    possible: set[int] = set(ok)
    if filters:
        loaded = [_load_filter(p) for p in filters]
        hits = [False] * len(ok)
        for f in loaded:
            maybe = f.contains_many([digest(rows[i][2] or "", rows[i][3]) for i in ok])
            hits = [a or b for a, b in zip(hits, maybe, strict=True)]
        possible = {i for i, h in zip(ok, hits, strict=True) if h}
    sent = "nothing sent"
    if private_ or not filters:
        with node_client(url, token) as client:
            asked = sorted(possible)
            if private_:
                got = client.check([(rows[i][2] or "", rows[i][3]) for i in asked])
                sent = f"{client.asked} prefix(es) sent, {sum(g is not None for g in got)} matching value(s)"
            else:
                got = client.lookup([(rows[i][2] or "", rows[i][3]) for i in asked])
                sent = f"{len(asked)} value(s) sent in clear"
            answers = dict(zip(asked, got, strict=True))
        possible = set()
    t = table("line", "value", "type", "match", "TLP", "confidence", whole=("line",))
    matched = 0
    for i, (line, _raw, typ, value, error) in enumerate(rows):
        a = answers.get(i)
        state = "yes" if a else ("possible" if i in possible else ("error" if error else "no"))
        matched += state == "yes"
        if matches_only and state not in ("yes", "possible"):
            continue
        if as_json:
            rec: dict[str, Any] = {"line": line, "value": value, "type": typ, "match": state}
            if error:
                rec["error"] = error
            if a:
                rec.update({k: a.get(k) for k in ("signal_id", "tlp", "confidence", "sources", "campaign")})
            sys.stdout.write(json.dumps(rec, ensure_ascii=False) + "\n")
            continue
        t.add_row(str(line), value, typ or "?",
                  cell("yes", "bold") if state == "yes" else cell(error, "red") if error else state,
                  cell(a["tlp"], TLP_STYLE[a["tlp"]]) if a else "", str(a.get("confidence", "")) if a else "")
    if not as_json:
        print_table(t)
        tail = f"; {len(possible)} possible (filter hits, not confirmed)" if possible else ""
        console.print(f"{matched} of {len(rows)} value(s) matched{tail} ({sent})")


def _load_filter(path: Path) -> Filter:
    try:
        return Filter.parse(read_input(path))
    except FilterError as err:
        raise InvalidInput(f"{path}: {err}", [Problem("--filter", str(err))]) from None


@app.command("filter")
def filter_(
    out: Annotated[Path, typer.Option("--out", help="Where to write the filter file")],
    since: Annotated[str | None, typer.Option("--since", help="A version of a filter you hold: "
                                                              "download only what is new since (a delta)")] = None,
    url: NodeUrl = None,
    token: NodeToken = None,
    to: Annotated[str | None, typer.Option("--to", help="Without --url: build it here, of what this "
                                                        "member may receive (default: everything, "
                                                        "as staff see it)")] = None,
    key: Annotated[str | None, typer.Option("--key", help="The node's public key (base64) to verify "
                                                          "with; default: the key the node shows")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the filter's header as JSON")] = False,
) -> None:
    """Download the signed filter of the values you may see (check with `signals check --filter`);
    without --url, build it from this node."""
    if url is None:
        node = open_node()
        blob, _ = private.filter_file(node, _caller(to), since)
        pub = key or node.public_key_b64
    else:
        if to is not None:
            raise InvalidInput("--to is for a filter built here", [Problem("--to", "give --url or --to, not both")])
        with node_client(url, token) as client:
            blob = client.download_filter(since)
            pub = key or client.get("/api/v1/node").json()["public_key"]
    f = Filter.parse(blob)
    try:
        f.verify(pub)
    except (FilterError, ValueError) as err:
        raise fail(f"the filter does not verify: {err}") from None
    out.write_bytes(blob)
    info = {**f.header, "bytes": len(blob), "file": str(out)}
    if as_json:
        print_json(info)
        return
    n = max(int(f.header["values"]), 1)
    console.print(f"{f.header['kind']} filter version {f.header['version']}: {f.header['values']:,} value(s), "
                  f"{len(blob):,} bytes ({len(f.bits) * 8 / n:.1f} bits a value), false-positive rate "
                  f"{float(f.header['fpr']):.2%}, signed by {f.header['node']}; written to {out}")
