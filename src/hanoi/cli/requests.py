"""``hanoi requests``: draft, check, submit and follow cooperation requests."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.prompt import Confirm, Prompt

from hanoi.cli.common import (
    JsonFlag,
    UsageProblem,
    actor,
    cell,
    console,
    err_console,
    load_file,
    open_node,
    print_json,
    print_table,
    renamed,
    styled,
    table,
)
from hanoi.core.citations import RULES
from hanoi.core.errors import InvalidInput, Problem
from hanoi.node.tokens import parse_duration
from hanoi.requests import contents, samples, service

app = typer.Typer(help="Cooperation requests under Chapter V of the Convention.", no_args_is_help=True)

RequestId = Annotated[str, typer.Argument(help="The request's id, e.g. GB-2026-1a2b3c4d")]
OFFENCE_HELP = "The offence code, e.g. UNCC-13 (fraud); `hanoi offences` lists them"
OFFENCE_FIELD = "offence_code"  # the request field the --offence option sets

FORM_FORMATS = {".pdf": "pdf", ".html": "html", ".htm": "html"}  # what `render -o FILE` can write
STATE_STYLE = {"draft": "dim", "refused": "red", "withdrawn": "dim", "expired": "red", "executed": "green",
               "partially-executed": "yellow", "preserved": "cyan", "extended": "cyan"}


def _document(path: Path, type_: str | None) -> dict[str, Any]:
    """A request file: ``{type, partner, fields: {...}}``, or the fields alone with ``--type``."""
    doc = load_file(path)
    if not isinstance(doc, dict):
        raise InvalidInput(f"{path} must hold a mapping", [Problem("file", "must be a mapping")])
    if "fields" not in doc:
        meta = {k: doc.pop(k) for k in ("type", "partner", "direction", "via", "deadline_profiles") if k in doc}
        doc = {**meta, "fields": doc}
    if type_:
        doc["type"] = type_
    if not doc.get("type"):
        raise InvalidInput("the request type is not given", [Problem("type", "give --type or a 'type' key")])
    return doc


def _print_problems(problems: list[Problem]) -> None:
    for p in problems:
        cite = f"  [{p.rule}, {RULES[p.rule].citation}]" if p.rule else ""
        console.print(f"{p.field}: {p.message}{cite}")


@app.command("validate")
def validate(
    request_id: Annotated[str | None, typer.Argument(help="A stored draft (or use --from)")] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="YAML or JSON draft; nothing is stored")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="Request type, if the file does not say")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List every missing or invalid field with its article; exit 1 while anything is wrong."""
    if from_file is not None:
        doc = _document(from_file, type_)
        node = open_node()
        problems = service.validate(doc["type"], doc["fields"], node.now())
    elif request_id:
        shown = service.show(open_node(), request_id)
        problems = [Problem(r["field"], p["message"], p.get("rule"))
                    for r in shown["checklist"] for p in r["problems"]]
    else:
        raise InvalidInput("nothing to validate", [Problem("from", "give a request id or --from FILE")])
    if as_json:
        print_json({"complete": not problems,
                    "problems": [{"field": p.field, "message": p.message, "rule": p.rule,
                                  "citation": RULES[p.rule].citation if p.rule else None} for p in problems]})
        raise typer.Exit(1 if problems else 0)
    _print_problems(problems)
    if problems:
        err_console.print(f"{len(problems)} problem(s): not ready to submit", style="bold red")
        raise typer.Exit(1)
    console.print("complete: every required field is present and valid", style="green")


def _ask(spec: contents.FieldSpec, type_: str) -> Any:
    rule = RULES[spec.rule_code(type_)]
    required = spec.required(type_)
    label = styled(spec.label, " ", (f"({rule.citation}{'' if required else ', optional'})", "dim"))
    if spec.kind == "bool":
        return Confirm.ask(label, default=required, console=console)
    if spec.kind == "int":
        text = Prompt.ask(label, default="" if not required else None, console=console)
        return int(text) if text else None
    if spec.kind == "enum":
        return Prompt.ask(label, choices=list(spec.choices), default=None if required else "", console=console) or None
    if spec.kind == "offence":
        return Prompt.ask(label, choices=list(spec.choices), console=console) if required else \
            (Prompt.ask(label, default="", console=console) or None)
    text = Prompt.ask(label, default=None if required else "", console=console) or ""
    if spec.kind == "list":
        return [x.strip() for x in text.split(";") if x.strip()] or None
    return text or None


@app.command("new")
def new(
    type_: Annotated[str | None, typer.Option("--type", help=", ".join(contents.REQUEST_TYPES))] = None,
    partner: Annotated[
        str | None, typer.Option(help="The partner member (requested side, or requester if incoming)")
    ] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="YAML or JSON with the fields")] = None,
    incoming: Annotated[bool, typer.Option("--incoming", help="Record a request this node received")] = False,
    via: Annotated[str | None, typer.Option(help="How an incoming request arrived (e-mail, fax...)")] = None,
    profile: Annotated[list[str] | None, typer.Option(help="Deadline profile of the partner agreement")] = None,
    offence: Annotated[str | None, typer.Option("--offence", help=OFFENCE_HELP + " (overrides the file's)")] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the new request's id (for "
                                                              "scripts: ID=$(hanoi requests new ... -q))")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Draft a request: from a file (`hanoi requests template` writes one), or by answering a
    prompt for each field."""
    if from_file is not None:
        doc = _document(from_file, type_)
        if offence:
            doc["fields"][OFFENCE_FIELD] = offence
    else:
        if not type_:
            raise InvalidInput("the request type is not given",
                               [Problem("type", f"one of: {', '.join(contents.REQUEST_TYPES)}")])
        rt = contents.request_type(type_)
        if not sys.stdin.isatty():
            raise InvalidInput("no terminal to ask in: give the fields with --from FILE",
                               [Problem("from", "needed when standard input is not a terminal")])
        console.print(styled((rt.label, "bold"), f" — {RULES[rt.rule].citation}. Lists: separate items with ';'."))
        specs = sorted(contents.fields_for(type_), key=lambda s: not s.required(type_))
        doc = {"type": type_, "fields": {OFFENCE_FIELD: offence} if offence else {}}
        for spec in specs:
            if offence and spec.name == OFFENCE_FIELD:
                continue
            value = _ask(spec, type_)
            if value not in (None, "", []):
                doc["fields"][spec.name] = value
        partner = partner or Prompt.ask("Partner member id", console=console)
    if partner:
        doc["partner"] = partner
    if incoming:
        doc["direction"] = "incoming"
    if via:
        doc["via"] = via
    if profile:
        doc["deadline_profiles"] = profile
    shown = service.create(open_node(), actor(), doc)
    if quiet and not as_json:
        console.print(shown["id"])
        return
    _out(shown, as_json)
    missing = [r for r in shown["checklist"] if not r["ok"]]
    if missing and not as_json:
        console.print(f"{len(missing)} field(s) still to complete: hanoi requests validate {shown['id']}")


@app.command("edit")
def edit(
    request_id: RequestId,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="field=value (repeatable; empty value removes; "
                                                     "'offence' is the offence_code field)")
    ] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="YAML or JSON with fields to change")] = None,
    offence: Annotated[str | None, typer.Option("--offence", help=OFFENCE_HELP)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a draft's fields."""
    changes: dict[str, Any] = {}
    if from_file:
        doc = load_file(from_file)
        changes.update(doc.get("fields", doc) if isinstance(doc, dict) else {})
    for item in set_ or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput("--set takes field=value", [Problem("set", f"{item!r} has no '='")])
        field = OFFENCE_FIELD if name.strip() == "offence" else name.strip()
        changes[field] = _typed(field, value)
    if offence:
        changes[OFFENCE_FIELD] = renamed(offence, changes.get(OFFENCE_FIELD), "--offence",
                                         f"--set {OFFENCE_FIELD}=")
    _out(service.update(open_node(), actor(), request_id, {"fields": changes}), as_json)


def _typed(name: str, value: str) -> Any:
    spec = contents.FIELDS_BY_NAME.get(name)
    if value == "":
        return None
    if spec is None:
        return value
    if spec.kind == "bool":
        return value.lower() in ("1", "true", "yes", "y")
    if spec.kind == "int":
        try:
            return int(value)
        except ValueError:
            return value
    if spec.kind == "list":
        return [x.strip() for x in value.split(";") if x.strip()]
    return value


@app.command("submit")
def submit(request_id: RequestId, as_json: JsonFlag = False) -> None:
    """Check completeness, run the safeguards gate, and submit; say how it reaches the partner
    (through federation, or not at all when the partner has no endpoint)."""
    shown = service.submit(open_node(), actor(), request_id)
    _out(shown, as_json)
    if not as_json:
        delivery = shown["delivery"]
        console.print(styled(("" if delivery["federated"] else "note: ", "bold yellow"), delivery["detail"]))


@app.command("template")
def template(
    type_: Annotated[str, typer.Option("--type", help=", ".join(contents.REQUEST_TYPES))],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write (default: standard "
                                                                       "output)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """A request file to fill in: every field of the type's form with a comment citing its
    article and a sample value that validates (optional fields commented out)."""
    contents.request_type(type_, "type")
    now = datetime.now(UTC)  # the sample deadline lies ahead of it; no node is needed
    text = samples.template(type_, now)
    if as_json:
        given, optional = samples.sample_fields(type_, now)
        print_json({"type": type_, "fields": given, "optional": optional,
                    "form": contents.describe_fields(type_), "yaml": text})
        return
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {output}: fill it in, then hanoi requests validate --from {output}")


@app.command("show")
def show(request_id: RequestId, as_json: JsonFlag = False) -> None:
    """Everything about a request: fields with citations, gate decision, deadlines, evidence."""
    shown = service.show(open_node(), request_id)
    if as_json:
        print_json(shown)
        return
    _out(shown, False)
    contents_table = table("field", "value", "citation", title="Contents", whole=())
    for row in shown["checklist"]:
        value = shown["fields"].get(row["field"])
        mark = "" if row["ok"] else " (" + "; ".join(p["message"] for p in row["problems"]) + ")"
        contents_table.add_row(row["label"], styled("" if value is None else str(value), (mark, "red")),
                               row["citation"])
    print_table(contents_table)
    for ev in shown["evidence"]:
        console.print(f"evidence {ev['name']}: sha256 {ev['sha256']} ({ev['size']} bytes)")


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="Only requests in this state, e.g. submitted")] = None,
    direction: Annotated[str | None, typer.Option(help="outgoing or incoming")] = None,
    partner: Annotated[str | None, typer.Option(help="Only requests with this partner member")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The requests of this node, with their state and next deadline."""
    rows = service.list_requests(open_node(), state=state, direction=direction, partner=partner)
    if as_json:
        print_json(rows)
        return
    t = table("id", "type", "direction", "partner", "state", "next deadline", title=f"{len(rows)} requests",
              whole=("id", "partner"))
    for r in rows:
        nxt = r["deadlines"][0]["due_at"] if r["deadlines"] else (r["preservation"] or {}).get("until", "")
        t.add_row(r["id"], r["type"], r["direction"], r["partner_id"],
                  cell(r["state"], STATE_STYLE.get(r["state"], "")), nxt)
    print_table(t)


@app.command("timeline")
def timeline(request_id: RequestId, as_json: JsonFlag = False) -> None:
    """Every ledgered step of a request, in order."""
    entries = service.timeline(open_node(), request_id)
    if as_json:
        print_json(entries)
        return
    t = table("seq", "time", "actor", "action", "decision", "details", title=f"Timeline of {request_id}",
              whole=("seq",))
    for e in entries:
        p = e["payload"]
        detail = f"{p.get('from')} -> {p.get('to')}" if "to" in p else ", ".join(
            r.get("code", "") for r in e["reasons"]) if e["reasons"] else ""
        t.add_row(str(e["seq"]), e["ts"], e["actor"], e["action"], e["decision"] or "", detail)
    print_table(t)


@app.command("event")
def event(
    request_id: RequestId,
    name: Annotated[str, typer.Argument(help="acknowledge, start, request-info, provide-info, consult, resume, "
                                             "withdraw, preserve, extend, release, expire, receive")],
    via: Annotated[str | None, typer.Option(help="Channel, when recording the partner's step by hand")] = None,
    note: Annotated[str | None, typer.Option(help="A note recorded with the step")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (recorded with the step; needed to extend)")] = None,
    days: Annotated[int | None, typer.Option(help="Extension length in days")] = None,
    preserved_at: Annotated[str | None, typer.Option(help="When the data were preserved (ISO 8601)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Move a request along its lifecycle (an illegal move names the allowed ones)."""
    data = {"via": via, "note": note, "reason": reason, "days": days, "preserved_at": preserved_at}
    _out(service.act(open_node(), actor(), request_id, name, {k: v for k, v in data.items() if v is not None}),
         as_json)


@app.command("respond")
def respond(
    request_id: RequestId,
    kind: Annotated[str | None, typer.Option(help="executed, partially-executed, refused, postponed")] = None,
    ground: Annotated[list[str] | None, typer.Option(help="Refusal ground code (repeatable)")] = None,
    reason: Annotated[str | None, typer.Option(help="The reasons given (a refusal must give them)")] = None,
    evidence: Annotated[list[str] | None, typer.Option(help="A file attached with `hanoi evidence add`, "
                                                            "handed over with the response (repeatable)")] = None,
    from_file: Annotated[Path | None, typer.Option("--from", help="YAML or JSON response")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Respond: executed / partially executed with evidence; refused with grounds (for most
    types after `event ID consult`, Art. 40(~28)); postponed."""
    data: dict[str, Any] = dict(load_file(from_file) or {}) if from_file else {}
    given = {"kind": kind, "grounds": ground, "reason": reason}
    data.update({k: v for k, v in given.items() if v})
    node = open_node()
    if evidence:
        data["evidence"] = [*data.get("evidence", []), *_attached(node, request_id, evidence)]
    _out(service.respond(node, actor(), request_id, data), as_json)


def _attached(node: Any, request_id: str, names: list[str]) -> list[dict[str, Any]]:
    """The evidence items of a response, from the names of files attached to the request."""
    attached = {e["name"]: e for e in service.show(node, request_id)["evidence"]}
    missing = [n for n in names if n not in attached]
    if missing:
        raise InvalidInput("evidence must be attached to the request before it is handed over",
                           [Problem("evidence", f"{n!r} is not attached (hanoi evidence add {request_id} "
                                    "FILE)", "RESPONSE-EVIDENCE") for n in missing])
    return [{k: attached[n][k] for k in ("name", "sha256", "media_type", "size", "description")}
            for n in names]


@app.command("review")
def review(
    request_id: RequestId,
    reviewer: Annotated[str, typer.Option(help="The named person reviewing")],
    approve: Annotated[bool, typer.Option("--approve/--refuse", help="The reviewer's decision")],
    discrimination: Annotated[bool, typer.Option("--discrimination-found", help="Art. 40(~22) finding")] = False,
    note: Annotated[str, typer.Option(help="The reviewer's note")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Record a named person's review; the gate decides again."""
    _out(service.review(open_node(), actor(), request_id,
                         {"reviewer": reviewer, "approved": approve, "discrimination_found": discrimination,
                          "note": note}), as_json)


@app.command("assess")
def assess(
    request_id: RequestId,
    dual_criminality: Annotated[str | None, typer.Option(help="met, not-met or unassessed")] = None,
    cannot_keep_confidential: Annotated[bool, typer.Option(
        "--cannot-keep-confidential", help="This side cannot keep the request confidential")] = False,
    requester_accepts: Annotated[bool, typer.Option(
        "--requester-accepts-disclosure", help="The requester accepts that it will not stay confidential")] = False,
    assurance: Annotated[list[str] | None, typer.Option(help="Assurance received (policy id)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The requested side's assessment (dual criminality, confidentiality, assurances)."""
    data: dict[str, Any] = {}
    if dual_criminality:
        data["dual_criminality"] = dual_criminality
    if cannot_keep_confidential:
        data["confidentiality_can_keep"] = False
    if requester_accepts:
        data["requester_accepts_disclosure"] = True
    if assurance:
        data["assurances_received"] = assurance
    _out(service.assess(open_node(), actor(), request_id, data), as_json)


@app.command("consent")
def consent(
    request_id: RequestId,
    kind: Annotated[str, typer.Option(help="reuse (other proceedings, Art. 40(~19)) or onward-transfer "
                                           "(a third State or organisation, Art. 36)")],
    scope: Annotated[str, typer.Option(help="The proceedings, or the recipient, the consent covers")],
    given_by: Annotated[str, typer.Option(help="Who gave it for the State that handed the evidence over")],
    at: Annotated[str | None, typer.Option(help="When it was given (ISO 8601; default now)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record the original sender's consent to reuse or onward transfer of evidence received
    under conditions; the use check reads it."""
    data = {"kind": kind, "scope": scope, "given_by": given_by, **({"at": at} if at else {})}
    _out(service.record_consent(open_node(), actor(), request_id, data), as_json)


@app.command("use-check")
def use_check(
    request_id: RequestId,
    kind: Annotated[str, typer.Option(help="stated-proceedings, other-proceedings, onward-transfer or "
                                           "exculpatory-disclosure")],
    proceedings: Annotated[str, typer.Option(help="The other proceedings (other-proceedings)")] = "",
    recipient: Annotated[str, typer.Option(help="The third State or organisation (onward-transfer)")] = "",
    as_json: JsonFlag = False,
) -> None:
    """May evidence received under conditions be put to this use? Decided and ledgered;
    exit 1 when the gate does not allow it."""
    out = service.check_evidence_use(open_node(), actor(), request_id,
                                     {"kind": kind, "proceedings": proceedings, "recipient": recipient})
    if as_json:
        print_json(out)
    else:
        d = out["decision"]
        console.print(styled("use check: ", (d["outcome"], "bold")))
        for reason in d["reasons"]:
            console.print(f"  {reason['effect']:<6} {reason['code']} ({reason['citation']}): "
                          f"{reason['detail'] or reason['text']}")
        for c in d.get("conditions", []):
            console.print(f"  condition: {c}")
    if out["decision"]["outcome"] != "allow":
        raise typer.Exit(1)


@app.command("due")
def due(
    within: Annotated[str, typer.Option(help="30m, 12h, 7d, 2w")] = "7d",
    as_json: JsonFlag = False,
) -> None:
    """Deadlines due within the period, and everything overdue, soonest first."""
    rows = service.due(open_node(), parse_duration(within, "within"))
    if as_json:
        print_json(rows)
        return
    t = table("due", "state", "request", "partner", "deadline", "rule", title=f"Due within {within}",
              whole=("request", "partner"))
    for d in rows:
        style = {"overdue": "bold red", "due-soon": "yellow"}.get(d["state"], "")
        t.add_row(d["due_at"], cell(d["state"], style), d["request_id"], d["partner_id"], d["label"],
                  f"{d['rule']} ({d['citation']})")
    print_table(t)


@app.command("render")
def render(
    request_id: RequestId,
    output: Annotated[Path, typer.Option("-o", "--output", help="file.html or file.pdf (the extension "
                                                                 "says which)")],
    as_json: JsonFlag = False,
) -> None:
    """A printable form for signature and filing: both authorities, the submission time, every
    field with its citation, the gate's decision, deadlines, history and a signature block."""
    fmt = FORM_FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise UsageProblem(f"cannot write {output.name!r}: the form is written as "
                           "a .pdf or an .html file (name the file so)")
    data = service.render_form(open_node(), request_id, fmt)
    output.write_bytes(data)
    if as_json:
        print_json({"path": str(output), "bytes": len(data)})
        return
    console.print(f"wrote {output} ({len(data)} bytes)")


def _out(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(r)
        return
    console.print(styled((r["id"], "bold"), f" {r['type_label']} — {r['direction']}, partner {r['partner_id']}, "
                         "state ", (r["state"], STATE_STYLE.get(r["state"], "bold"))))
    d = r.get("decision")
    if d:
        console.print(styled(f"gate ({d['moment']}): ", (d["outcome"], "bold")))
        for reason in d["reasons"]:
            console.print(f"  {reason['effect']:<6} {reason['code']} ({reason['citation']}): "
                          f"{reason['detail'] or reason['text']}")
        for c in d.get("conditions", []):
            console.print(f"  condition: {c}")
    for dl in r.get("deadlines", []):
        console.print(f"deadline {dl['due_at']} ({dl['state']}): {dl['label']} [{dl['citation']}]")
    if r.get("preservation"):
        p = r["preservation"]
        console.print(f"preservation {p['state']} until {p['until']} [{p['citation']}]")
    held = r.get("gate")
    if held:
        console.print(styled((f"{held['outcome']}: ", "bold red"), held["note"]))
        console.print(f"blocked: {', '.join(held['blocked_events']) or 'nothing'}; "
                      f"open: {', '.join(held['open_events']) or 'nothing'}", style="dim")
    elif r.get("allowed_events"):
        console.print(f"next: {', '.join(r['allowed_events'])}", style="dim")
