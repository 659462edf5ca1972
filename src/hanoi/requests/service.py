"""Cooperation requests: drafting, the gate, the lifecycle, deadlines, responses, conditions.

Every change is one unit of work: the request row, the gate decision and the ledger entry
commit together (subject ``request:<id>``), so a request's timeline is its ledger entries.

Direction: an *outgoing* request is one this node makes to a partner (this node is the
requesting side); an *incoming* one was made to this node (this node is the requested side).
Each lifecycle event belongs to one side (``lifecycle.EVENT_ACTORS``); the other side's events
reach a request through federation, or are recorded by hand with ``via`` naming the channel
they came by (an e-mail, a phone call confirmed in writing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from hanoi.core.clock import isoformat
from hanoi.core.errors import Conflict, InvalidInput, Problem, invalid
from hanoi.core.gate import Decision, GateRefused, Review
from hanoi.core.offences import OFFENCES
from hanoi.node import ledger
from hanoi.node.runtime import Node, Work
from hanoi.node.wings import Reading
from hanoi.requests import contents, lifecycle, render, rows, send
from hanoi.requests.deadlines import Extension, PreservationTerm, aware, request_deadlines
from hanoi.requests.gate import ASSESSMENT_KEYS, DEFAULT_ASSESSMENT, RequestPolicy, decide_on, facts_of
from hanoi.requests.lifecycle import EVENT_ACTORS, Event, State
from hanoi.requests.responses import (
    Consent,
    HandoverConditions,
    ProposedUse,
    check_use,
    parse_response,
)
from hanoi.requests.types import PRESERVATION, REQUEST_TYPES, request_type
from hanoi.store.tables import evidence
from hanoi.store.tables import requests as requests_t

# --- reading ----------------------------------------------------------------------------------


def _public(row: dict[str, Any], partner: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    out = {
        "id": row["id"], "type": row["type"], "type_label": REQUEST_TYPES[row["type"]].label,
        "state": row["state"], "direction": row["direction"], "partner_id": row["partner_id"],
        "fields": row["fields"], "deadline_profiles": row["deadline_profiles"],
        "assessment": row["assessment"], "review": row["review"], "decision": row["decision"],
        "response": row["response"], "remote_id": row["remote_id"],
        "created_by": row["created_by"], "created_at": isoformat(row["created_at"]),
        "updated_at": isoformat(row["updated_at"]),
        "started_at": isoformat(row["started_at"]) if row["started_at"] else None,
        "terminal": lifecycle.is_terminal(row["state"]),
        "allowed_events": [e.value for e in lifecycle.allowed_events(row["state"], row["type"])],
    }
    if partner is not None:
        out["partner"] = {"id": partner["id"], "name": partner["name"], "country": partner["country"],
                          "standing": partner["standing"], "languages": partner["languages"],
                          "endpoint": partner["endpoint"]}
    out["preservation"] = (PreservationTerm.from_dict(row["preservation"]).status(now)
                           if row["preservation"] else None)
    out["deadlines"] = [d.status(now) for d in _deadlines(row)]
    return out


def _deadlines(row: dict[str, Any]) -> list[Any]:
    if row["started_at"] is None or lifecycle.is_terminal(row["state"]):
        return []
    fields = row["fields"]
    requester = fields.get("deadline")
    return request_deadlines(
        row["type"], row["started_at"], profile_codes=row["deadline_profiles"],
        requester_deadline=aware(requester, "deadline") if requester else None,
        requester_reason=fields.get("deadline_reason", ""))


def show(node: Node, request_id: str) -> dict[str, Any]:
    with node.read() as conn:
        row = rows.get(conn, request_id)
        partner = rows.partner(conn, row["partner_id"])
        out = _public(row, partner, node.now())
        loaded = node.policy()
        out["gate"] = hold(row, decide_on(row, partner, loaded.standing, loaded.section(RequestPolicy)))
        out["checklist"] = contents.checklist(row["type"], row["fields"], node.now())
        out["evidence"] = [
            {k: (isoformat(v) if isinstance(v, datetime) else v) for k, v in dict(e).items() if k != "id"}
            for e in conn.execute(select(evidence).where(evidence.c.request_id == request_id)
                                  .order_by(evidence.c.id)).mappings()
        ]
    return out


def list_requests(node: Node, *, state: str | None = None, direction: str | None = None,
                  partner: str | None = None, type_: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    q = rows.filtered(select(requests_t).order_by(requests_t.c.created_at.desc()).limit(max(1, min(limit, 1000))),
                      direction=direction, type_=type_, partner=partner, state=state)
    now = node.now()
    with node.read() as conn:
        return [_public(dict(r), None, now) for r in conn.execute(q).mappings()]


def timeline(node: Node, request_id: str) -> list[dict[str, Any]]:
    with node.read() as conn:
        rows.get(conn, request_id)
    return ledger.page(node, subject=rows.subject(request_id), limit=1000)["items"]


# --- drafting ---------------------------------------------------------------------------------


def validate(type_: str, fields: dict[str, Any], now: datetime,
             accepted_languages: list[str] | None = None) -> list[Problem]:
    """Every missing or invalid field, each with its article (no storage)."""
    if not isinstance(fields, dict):
        raise invalid("fields", "must be a mapping of field names to values")
    return contents.validate_draft(type_, fields, now, accepted_languages=accepted_languages)


def _check_profiles(uow: Work, type_: str, profiles: Any) -> list[str] | None:
    if profiles in (None, []):
        return None
    if not isinstance(profiles, list) or not all(isinstance(p, str) for p in profiles):
        raise invalid("deadline_profiles", "must be a list of deadline profile codes")
    request_deadlines(type_, uow.now, profile_codes=profiles,
                      profiles=uow.policy.section(RequestPolicy).deadlines)
    return profiles


def create(node: Node, actor: str, data: dict[str, Any]) -> dict[str, Any]:
    """A new draft (outgoing) or a request received by other means (incoming).

    A draft may be partial, but what it holds must be valid. An incoming request must be
    complete: it is recorded as received and the gate decides on it at once (on receipt).
    """
    if not isinstance(data, dict):
        raise invalid("body", "must be an object")
    type_ = data.get("type")
    request_type(type_)
    assert isinstance(type_, str)
    direction = data.get("direction", rows.OUTGOING)
    if direction not in rows.SIDE:
        raise invalid("direction", "must be 'outgoing' (we ask) or 'incoming' (we were asked)")
    partner_id = data.get("partner")
    if not isinstance(partner_id, str) or not partner_id:
        raise invalid("partner", "name the partner member (the requested side for an outgoing request, "
                                 "the requesting side for an incoming one)")
    fields = data.get("fields")
    fields = {} if fields is None else fields
    if not isinstance(fields, dict):
        raise invalid("fields", "must be a mapping of field names to values")
    now = node.now()
    problems = contents.validate_draft(type_, fields, now, partial=direction == rows.OUTGOING,
                                       received=direction == rows.INCOMING)
    if problems:
        raise InvalidInput(f"the {type_} request has {len(problems)} problem(s)", problems, "CONTENT-REQUIRED")
    request_id = rows.new_id(node.config.country, now)
    with node.write(actor) as uow:
        partner = rows.partner(uow.conn, partner_id)
        profiles = _check_profiles(uow, type_, data.get("deadline_profiles"))
        row = rows.insert(uow, request_id=request_id, type_=type_, direction=direction, partner_id=partner_id,
                         fields=contents.clean_fields(type_, fields), profiles=profiles,
                         remote_id=data.get("remote_id"), actor=actor)
        if direction == rows.INCOMING:
            receive(uow, row, partner, via=data.get("via") or "recorded by hand")
    return show(node, request_id)


def receive(uow: Work, row: dict[str, Any], partner: dict[str, Any], *, via: str) -> Decision:
    """An incoming request as it arrived: submitted by the partner, received here, and the gate
    decides on receipt at once."""
    move(uow, row, Event.SUBMIT, {"via": via}, check_side=False)
    row["started_at"] = uow.now
    move(uow, row, Event.RECEIVE, {"via": via}, check_side=False)
    decision = _decide(uow, row, partner, "receipt")
    late = [d.status(uow.now) for d in _deadlines(row) if d.due_at <= uow.now]
    if late:
        uow.record("request.overdue", rows.subject(row["id"]),
                   {"on_arrival": True, "deadlines": late, "via": via})
    follow_up_links(uow, row)
    return decision


def update(node: Node, actor: str, request_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Change a draft's fields (``null`` removes a field) or its deadline profiles."""
    if not isinstance(data, dict):
        raise invalid("body", "must be an object")
    with node.write(actor) as uow:
        row = rows.get(uow.conn, request_id, lock=True)
        if row["state"] != State.DRAFT.value:
            raise Conflict(f"request {request_id} is {row['state']}: only a draft can be edited",
                           [Problem("state", f"is {row['state']}, not draft", "LIFECYCLE-TRANSITION")])
        changes = data.get("fields")
        changes = {} if changes is None else changes
        if not isinstance(changes, dict):
            raise invalid("fields", "must be a mapping of field names to values")
        merged = {**row["fields"], **changes}
        merged = {k: v for k, v in merged.items() if v is not None}
        problems = contents.validate_draft(row["type"], merged, uow.now, partial=True)
        if problems:
            raise InvalidInput(f"the change leaves {len(problems)} problem(s)", problems, "CONTENT-REQUIRED")
        values: dict[str, Any] = {"fields": contents.clean_fields(row["type"], merged), "updated_at": uow.now}
        if "deadline_profiles" in data:
            values["deadline_profiles"] = _check_profiles(uow, row["type"], data["deadline_profiles"])
        uow.conn.execute(requests_t.update().where(requests_t.c.id == request_id).values(**values))
        uow.record("request.update", rows.subject(request_id), {"changed": sorted(changes), **values})
    return show(node, request_id)


# --- the gate ---------------------------------------------------------------------------------


def _decide(uow: Work, row: dict[str, Any], partner: dict[str, Any], moment: str,
            event: Event | None = None) -> Decision:
    """Run the gate, store and ledger the decision (every reason that fired); with ``event``,
    the entry also names the act decided on and whether the decision blocked it."""
    loaded = uow.policy
    decision = decide_on(row, partner, loaded.standing, loaded.section(RequestPolicy))
    row["decision"] = {**decision.as_dict(), "moment": moment, "at": isoformat(uow.now),
                       "policy_digest": loaded.digest}
    uow.conn.execute(requests_t.update().where(requests_t.c.id == row["id"])
                     .values(decision=row["decision"], updated_at=uow.now))
    extra = {"event": event.value, "blocked": _blocked(decision, event)} if event else {}
    uow.record(f"request.gate.{moment}", rows.subject(row["id"]), {**row["decision"], **extra},
               decision=decision.outcome, reasons=[r.as_dict() for r in decision.reasons])
    return decision


# Events that carry out an incoming request: before each, the gate decides again with the
# partner's standing and the request's facts as they are now. Deny refuses the act (403),
# review holds it until a named reviewer decides (409); either way the refusal is ledgered.
ACTING: frozenset[Event] = frozenset({Event.START, Event.RESUME, Event.PRESERVE, Event.EXTEND,
                                      Event.EXECUTE, Event.EXECUTE_PARTIALLY})
# What a requested State still owes a request it will not carry out: acknowledging receipt,
# consulting, asking for more, and refusing (with a treaty ground and reasons) or postponing;
# a preservation can always be released. The gate decides again before an acknowledgement
# (ledgered), but does not block it.
ANSWERING: frozenset[Event] = frozenset({Event.ACKNOWLEDGE})


def _blocked(decision: Decision, event: Event) -> bool:
    return event in ACTING and not decision.allowed


_NEXT_STEP = {
    "GATE-DUAL-CRIMINALITY": "assess dual criminality (requests assess ID --dual-criminality met or not-met)",
    "GATE-ASSURANCES": "record the assurance once received (requests assess ID --assurance POLICY-ID)",
    "GATE-CONFIDENTIALITY": "tell the requesting State and record its answer "
                            "(requests assess ID --requester-accepts-disclosure)",
}


def hold(row: dict[str, Any], decision: Decision) -> dict[str, Any] | None:
    """What the gate's decision leaves open on an incoming request: the events it blocks, the
    ones that stay open (a State still answers a request it will not carry out), and a note
    saying so. ``None`` when nothing is blocked."""
    if row["direction"] != rows.INCOMING or decision.allowed or lifecycle.is_terminal(row["state"]):
        return None
    moves = [e.value for e in lifecycle.allowed_events(row["state"], row["type"])]
    blocked = [e for e in moves if Event(e) in ACTING]
    still_open = [e for e in moves if Event(e) not in ACTING and EVENT_ACTORS[Event(e)] != "requesting"]
    first = next(r for r in decision.reasons if r.effect == decision.outcome)
    why = f"{first.code} ({first.citation}): {first.detail or first.text}"
    if decision.denied:
        consult = (" after consulting the requesting State (Art. 40(~28): event consult)"
                   if lifecycle.needs_consultation(row["type"]) else "")
        note = (f"The safeguards gate denies carrying out this request: {why}. Nothing may be started, "
                "preserved, extended or handed over. The requested State still answers it: acknowledge "
                f"receipt, then refuse it with a treaty ground and its reasons (Art. 40(~21), (~25)){consult}; "
                "a partner's standing is not itself a treaty ground.")
    else:
        step = _NEXT_STEP.get(first.code, "record a named person's review (requests review ID --reviewer "
                                          "NAME --approve or --refuse)")
        note = (f"The safeguards gate holds this request until it is decided: {why}. Next: {step}; "
                "receipt may be acknowledged meanwhile.")
    return {"outcome": decision.outcome, "rule": first.code, "citation": first.citation,
            "blocked_events": blocked, "open_events": still_open, "note": note}


def run_gate_or_refuse(node: Node, actor: str, request_id: str, moment: str, what: str,
                        event: Event | None = None) -> None:
    """Ledger the gate's decision in its own unit of work, then refuse if it is not allow.

    The decision must stay on record even though the action it blocks does not happen.
    """
    with node.write(actor) as uow:
        row = rows.get(uow.conn, request_id, lock=True)
        decision = _decide(uow, row, rows.partner(uow.conn, row["partner_id"]), moment, event=event)
    if not decision.allowed:
        if event is not None:
            raise _refusal(row, decision, event)
        raise GateRefused(decision, what)


def review(node: Node, actor: str, request_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A named person's review: approve (clears the 'review' rules) or refuse, with findings
    such as the discrimination ground (Art. 40(~22)), which denies."""
    if not isinstance(data, dict):
        raise invalid("body", "must be an object")
    with node.write(actor) as uow:
        row = rows.get(uow.conn, request_id, lock=True)
        if lifecycle.is_terminal(row["state"]):
            raise Conflict(f"request {request_id} is {row['state']} (final): nothing left to review")
        rev = Review.from_dict({**data, "at": data.get("at") or isoformat(uow.now)})
        row["review"] = rev.as_dict()
        uow.conn.execute(requests_t.update().where(requests_t.c.id == request_id)
                         .values(review=row["review"], updated_at=uow.now))
        uow.record("request.review", rows.subject(request_id), row["review"],
                   decision="approved" if rev.approved else "refused")
        _decide(uow, row, rows.partner(uow.conn, row["partner_id"]), "review")
    return show(node, request_id)


def assess(node: Node, actor: str, request_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """The requested side's assessment: dual criminality, whether confidentiality can be kept,
    whether the requester accepts disclosure, assurances received. The gate re-decides."""
    if not isinstance(data, dict):
        raise invalid("body", "must be an object")
    unknown = set(data) - set(ASSESSMENT_KEYS)
    if unknown:
        raise InvalidInput("unknown assessment fields", [Problem(k, f"is not one of: {', '.join(ASSESSMENT_KEYS)}")
                                                         for k in sorted(unknown)])
    with node.write(actor) as uow:
        row = rows.get(uow.conn, request_id, lock=True)
        if lifecycle.is_terminal(row["state"]):
            raise Conflict(f"request {request_id} is {row['state']} (final)")
        row["assessment"] = {**DEFAULT_ASSESSMENT, **(row["assessment"] or {}), **data}
        facts_of(row)  # validates the values, naming the field
        uow.conn.execute(requests_t.update().where(requests_t.c.id == request_id)
                         .values(assessment=row["assessment"], updated_at=uow.now))
        uow.record("request.assess", rows.subject(request_id), row["assessment"])
        _decide(uow, row, rows.partner(uow.conn, row["partner_id"]), "assessment")
    return show(node, request_id)


# --- lifecycle --------------------------------------------------------------------------------


def move(uow: Work, row: dict[str, Any], event: Event, data: dict[str, Any], *,
          check_side: bool = True) -> State:
    side = rows.SIDE[row["direction"]]
    owner = EVENT_ACTORS[event]
    # "system" steps are the node's own (a receipt arrived); by hand they need the channel too.
    # Expiry is checked against the term below, so anyone may record it.
    by_hand_ok = owner in (side, "either") or event is Event.EXPIRE
    if check_side and not by_hand_ok and not data.get("via"):
        raise Conflict(
            f"'{event.value}' is the {owner} side's to make; this node is the {side} side of request "
            f"{row['id']}. It arrives through federation, or record it with 'via' naming how it came",
            [Problem("event", f"belongs to the {owner} side", "LIFECYCLE-TRANSITION")])
    pending = False
    if row["preservation"]:
        pending = PreservationTerm.from_dict(row["preservation"]).follow_up_pending(uow.now)
    new = lifecycle.transition(row["state"], event, request_type=row["type"], follow_up_pending=pending)
    old = row["state"]
    row["state"] = new.value
    uow.conn.execute(requests_t.update().where(requests_t.c.id == row["id"])
                     .values(state=new.value, updated_at=uow.now, started_at=row["started_at"]))
    uow.record(f"request.{event.value}", rows.subject(row["id"]),
               {"event": event.value, "from": old, "to": new.value,
                **{k: v for k, v in data.items() if k in ("via", "note", "reason", "gate") and v}})
    return new


def follow_up_links(uow: Work, row: dict[str, Any]) -> None:
    """Keep a preservation's term in step with the follow-up request that names it (Art. 42)."""
    ref = row["fields"].get("preservation_reference")
    if not ref or row["type"] == PRESERVATION:
        return
    pres = uow.conn.execute(select(requests_t).where(
        (requests_t.c.id == ref) & (requests_t.c.type == PRESERVATION))).mappings().first()
    if pres is None or not pres["preservation"]:
        return
    term = PreservationTerm.from_dict(pres["preservation"])
    changed: dict[str, datetime] = {}
    if term.follow_up_submitted_at is None and row["state"] not in (State.DRAFT.value,):
        changed["follow_up_submitted_at"] = uow.now
    if lifecycle.is_terminal(row["state"]) and term.follow_up_decided_at is None:
        changed["follow_up_decided_at"] = uow.now
    if changed:
        from dataclasses import replace

        term = replace(term, **changed)  # type: ignore[arg-type]
        uow.conn.execute(requests_t.update().where(requests_t.c.id == ref)
                         .values(preservation=term.as_dict(), updated_at=uow.now))
        uow.record("request.preservation.follow-up", rows.subject(ref),
                   {"follow_up": row["id"], **{k: isoformat(v) for k, v in changed.items()}})


def submit(node: Node, actor: str, request_id: str) -> dict[str, Any]:
    """Check completeness (every problem with its article), run the gate, then submit."""
    with node.read() as conn:
        row = rows.get(conn, request_id)
        partner = rows.partner(conn, row["partner_id"])
    if row["direction"] != rows.OUTGOING:
        raise Conflict(f"request {request_id} is incoming: the partner submitted it",
                       [Problem("direction", "is incoming", "LIFECYCLE-TRANSITION")])
    if row["state"] != State.DRAFT.value:
        lifecycle.transition(row["state"], Event.SUBMIT, request_type=row["type"])  # names the allowed moves
    contents.require_complete(row["type"], row["fields"], node.now(),
                              accepted_languages=partner["languages"] or None)
    run_gate_or_refuse(node, actor, request_id, "submit", f"submitting request {request_id}")
    with node.write(actor) as uow:
        row = rows.get(uow.conn, request_id, lock=True)
        row["started_at"] = uow.now
        move(uow, row, Event.SUBMIT, {})
        follow_up_links(uow, row)
        send.notify_submit(uow, row)
    return {**show(node, request_id), "delivery": send.delivery(partner, request_id)}


EVENT_FIELDS = {"via", "note", "reason", "days", "preserved_at"}


def act(node: Node, actor: str, request_id: str, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record a lifecycle event (acknowledge, start, request-info, provide-info, consult, resume,
    withdraw, preserve, extend, release, expire, receive). Responses go through ``respond``."""
    data = dict(data or {})
    unknown = set(data) - EVENT_FIELDS
    if unknown:
        raise InvalidInput("unknown fields", [Problem(k, "is not an event field") for k in sorted(unknown)])
    ev = lifecycle._parse(Event, event, "event")
    if ev in (Event.EXECUTE, Event.EXECUTE_PARTIALLY, Event.REFUSE, Event.POSTPONE):
        raise InvalidInput(f"'{ev.value}' is a response: use respond, with its grounds or evidence",
                           [Problem("event", "is a response", "REFUSE-REASONS")])
    if ev is Event.SUBMIT:
        return submit(node, actor, request_id)
    refused: GateRefused | None = None
    with node.write(actor) as uow:
        row = rows.get(uow.conn, request_id, lock=True)
        if row["direction"] == rows.INCOMING and (ev in ACTING or ev in ANSWERING):
            lifecycle.transition(row["state"], ev, request_type=row["type"])  # an illegal move is a 409 first
            decision = _decide(uow, row, rows.partner(uow.conn, row["partner_id"]), ev.value, event=ev)
            if _blocked(decision, ev):
                refused = _refusal(row, decision, ev)
            elif not decision.allowed:
                data["gate"] = hold(row, decision)
        if refused is None:
            _act(uow, row, ev, data)
    if refused is not None:
        raise refused
    return show(node, request_id)


def _refusal(row: dict[str, Any], decision: Decision, ev: Event) -> GateRefused:
    err = GateRefused(decision, f"{ev.value} on request {row['id']}")
    held = hold(row, decision)
    if held:
        err.detail += f". Still open: {', '.join(held['open_events']) or 'nothing'}"
    return err


def _act(uow: Work, row: dict[str, Any], ev: Event, data: dict[str, Any]) -> None:
    request_id = row["id"]
    if ev is Event.EXTEND:
        _extend(uow, row, data)
    new = move(uow, row, ev, data)
    if ev is Event.PRESERVE:
        preserved_at = aware(data["preserved_at"], "preserved_at") if data.get("preserved_at") else uow.now
        if preserved_at > uow.now:
            raise invalid("preserved_at", "cannot be in the future", "PRESERVATION-60-DAYS")
        term = PreservationTerm(preserved_at)
        row["preservation"] = term.as_dict()
        uow.conn.execute(requests_t.update().where(requests_t.c.id == request_id)
                         .values(preservation=row["preservation"]))
        uow.record("request.preservation.start", rows.subject(request_id), term.status(uow.now))
    if ev is Event.EXPIRE and row["preservation"]:
        term = PreservationTerm.from_dict(row["preservation"])
        if term.state(uow.now) != "expired":
            raise Conflict(f"the preservation runs until {isoformat(term.until)} "
                           f"({term.state(uow.now)}): it cannot expire yet",
                           [Problem("event", "the term has not ended", "PRESERVATION-60-DAYS")])
    if lifecycle.is_terminal(new):
        follow_up_links(uow, row)
    if not data.get("via"):  # our own step (not the partner's, recorded by hand): tell the partner
        send.notify_event(uow, row, ev, {k: v for k, v in data.items() if k in ("note", "reason")})


def _extend(uow: Work, row: dict[str, Any], data: dict[str, Any]) -> None:
    if not row["preservation"]:
        raise Conflict(f"request {row['id']} has no preservation to extend")
    term = PreservationTerm.from_dict(row["preservation"])
    ext = Extension.from_dict({"at": isoformat(uow.now), "days": data.get("days", 30),
                               "reason": data.get("reason", "")})
    term = term.extend(ext, uow.now)
    uow.conn.execute(requests_t.update().where(requests_t.c.id == row["id"])
                     .values(preservation=term.as_dict()))
    row["preservation"] = term.as_dict()


def respond(node: Node, actor: str, request_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Execute (with evidence), partly execute, refuse (grounds + reasons) or postpone.

    Handing anything over is a sending moment: the gate decides again first.
    """
    if not isinstance(data, dict):
        raise invalid("body", "must be an object")
    with node.read() as conn:
        row = rows.get(conn, request_id)
        stored = {e["sha256"]: dict(e) for e in conn.execute(
            select(evidence).where(evidence.c.request_id == request_id)).mappings()}
    if row["direction"] != rows.INCOMING and not data.get("via"):
        raise Conflict(f"request {request_id} is outgoing: the partner responds to it",
                       [Problem("direction", "is outgoing", "LIFECYCLE-TRANSITION")])
    reserved = node.policy().section(RequestPolicy).preservation_dual_criminality_reserved
    in_catalogue = True
    code = row["fields"].get("offence_code")
    if isinstance(code, str):
        off = OFFENCES.get(code.upper())
        in_catalogue = bool(off and off.in_catalogue)
    body = {k: v for k, v in data.items() if k != "via"}
    body.setdefault("at", isoformat(node.now()))
    response = parse_response(body, request_type=row["type"], now=node.now(), offence_in_catalogue=in_catalogue,
                              preservation_dual_criminality_reserved=reserved)
    missing = [e.name for e in response.evidence if e.sha256 not in stored]
    if missing:
        raise InvalidInput("evidence must be attached to the request before it is handed over",
                           [Problem("evidence", f"{n!r} is not attached (upload it first)", "RESPONSE-EVIDENCE")
                            for n in missing])
    # check the move is legal before asking the gate
    lifecycle.transition(row["state"], response.event, request_type=row["type"])
    if response.kind in ("executed", "partially-executed") and row["direction"] == rows.INCOMING:
        run_gate_or_refuse(node, actor, request_id, "send", f"handing over the response to {request_id}",
                            response.event)
    with node.write(actor) as uow:
        row = rows.get(uow.conn, request_id, lock=True)
        move(uow, row, response.event, {"via": data.get("via"), "reason": response.reason}, check_side=False)
        uow.conn.execute(requests_t.update().where(requests_t.c.id == request_id)
                         .values(response=response.as_dict()))
        uow.record(f"request.response.{response.kind}", rows.subject(request_id), response.as_dict(),
                   decision=response.kind, reasons=[{"code": g} for g in response.grounds])
        follow_up_links(uow, row)
        if not data.get("via"):
                send.notify_response(uow, row, response)
    return show(node, request_id)


# --- conditions on what was handed over ------------------------------------------------------


def _conditions(row: dict[str, Any]) -> HandoverConditions:
    resp = row["response"]
    if not resp or not resp.get("conditions"):
        raise Conflict(f"request {row['id']} has no evidence handed over under conditions",
                       [Problem("response", "no conditions recorded")])
    return HandoverConditions.from_dict(resp["conditions"])


def record_consent(node: Node, actor: str, request_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Record the original sender's consent to reuse or onward transfer (Art. 36, Art. 40(~19))."""
    with node.write(actor) as uow:
        row = rows.get(uow.conn, request_id, lock=True)
        cond = _conditions(row)
        problems: list[Problem] = []
        consent = Consent.parse({**data, "at": data.get("at") or isoformat(uow.now)}, "consent", problems)
        if consent is None:
            raise InvalidInput("the consent is not valid", problems, "GATE-ONWARD-TRANSFER")
        cond = cond.with_consent(consent)
        resp = {**row["response"], "conditions": cond.as_dict()}
        uow.conn.execute(requests_t.update().where(requests_t.c.id == request_id)
                         .values(response=resp, updated_at=uow.now))
        uow.record("request.consent", rows.subject(request_id), consent.as_dict())
    return show(node, request_id)


def check_evidence_use(node: Node, actor: str, request_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Decide (and ledger) whether evidence received may be put to a proposed use."""
    with node.write(actor) as uow:
        row = rows.get(uow.conn, request_id)
        use = ProposedUse.from_dict({**data, "at": data.get("at") or isoformat(uow.now)})
        decision = check_use(_conditions(row), use)
        uow.record("request.use-check", rows.subject(request_id), {"use": use.as_dict(), **decision.as_dict()},
                   decision=decision.outcome, reasons=[r.as_dict() for r in decision.reasons])
    return {"use": use.as_dict(), "decision": decision.as_dict()}


# --- deadlines --------------------------------------------------------------------------------


def due(node: Node, within: timedelta) -> list[dict[str, Any]]:
    """Every deadline of open requests that falls within ``within`` from now, or has passed,
    soonest first: partner-agreement and requester deadlines and preservation terms."""
    now = node.now()
    horizon = now + within
    out: list[dict[str, Any]] = []
    with node.read() as conn:
        rows = conn.execute(select(requests_t).where(requests_t.c.state.notin_(
            [s.value for s in lifecycle.TERMINAL] + [State.DRAFT.value]))).mappings().all()
    for r in rows:
        row = dict(r)
        base = {"request_id": row["id"], "type": row["type"], "request_state": row["state"],
                "direction": row["direction"], "partner_id": row["partner_id"]}
        for d in _deadlines(row):
            if d.due_at <= horizon:
                out.append({**base, **d.status(now)})
        if row["preservation"]:
            term = PreservationTerm.from_dict(row["preservation"])
            if term.until <= horizon:
                st = term.status(now)
                out.append({**base, "label": f"Preservation ({st['state']})", "start": st["preserved_at"],
                            "due_at": st["until"], "rule": "PRESERVATION-60-DAYS", "citation": st["citation"],
                            "source": "preservation", "state": st["due"],
                            "remaining_seconds": st["remaining_seconds"], "preservation": st})
    # Overdue first (most overdue at the top), then the rest soonest first.
    return sorted(out, key=lambda d: (d["state"] != "overdue", d["due_at"]))


_BY_STATE = (select(requests_t.c.direction, requests_t.c.state, func.count())
             .group_by(requests_t.c.direction, requests_t.c.state))
_DEADLINE_COLUMNS = (requests_t.c.type, requests_t.c.state, requests_t.c.direction, requests_t.c.started_at,
                     requests_t.c.deadline_profiles, requests_t.c.fields, requests_t.c.preservation)


def gauges(conn: Connection, now: datetime) -> list[Reading]:
    """Requests by direction and state, and the open ones with a deadline passed (``/metrics``):
    one grouped count, and the deadline columns of open requests only."""
    out = [Reading("hanoi_requests", "Cooperation requests, by direction and state",
                   {"direction": d, "state": s}, n) for d, s, n in conn.execute(_BY_STATE)]
    overdue = {"incoming": 0, "outgoing": 0}
    open_rows = conn.execute(select(*_DEADLINE_COLUMNS).where(requests_t.c.state.notin_(
        [s.value for s in lifecycle.TERMINAL] + [State.DRAFT.value]))).mappings()
    for row in open_rows:
        late = any(d.due_at < now for d in _deadlines(dict(row)))
        if row["preservation"]:
            late = late or PreservationTerm.from_dict(row["preservation"]).until < now
        if late:
            overdue[row["direction"]] = overdue.get(row["direction"], 0) + 1
    out += [Reading("hanoi_requests_overdue", "Open requests with a deadline or preservation term "
                    "passed, by direction", {"direction": d}, n) for d, n in sorted(overdue.items())]
    return out


# --- the printable form -----------------------------------------------------------------------


def document(node: Node, request_id: str) -> dict[str, Any]:
    """A request as its printable form shows it, with its timeline, for signature and filing."""
    shown = show(node, request_id)
    shown["timeline"] = [
        {"ts": e["ts"], "action": e["action"], "actor": e["actor"],
         "state": e["payload"].get("to") if isinstance(e["payload"], dict) else None}
        for e in timeline(node, request_id)
    ]
    shown["node"] = {"id": node.node_id, "name": node.config.name, "country": node.config.country}
    return shown


def render_form(node: Node, request_id: str, fmt: str) -> bytes:
    """The printable form as HTML or PDF bytes."""
    doc = document(node, request_id)
    if fmt == "html":
        return render.render_html(doc).encode("utf-8")
    if fmt == "pdf":
        return render.render_pdf(doc)
    raise invalid("format", "must be html or pdf")
