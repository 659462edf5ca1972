"""Members and their standing: add, list, show, assess, and rotate keys.

A standing changes only here, in ``assess``, together with the assessment that justifies it
and its ledger entry, in one transaction. A member registered without an assessment starts at
``concerns`` (not yet assessed): the gate then asks a person to review before anything is
exchanged, which is the safe default for an organisation nobody has vetted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from hanoi.core import keys
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import Conflict, HanoiError, InvalidInput, NotFound, Problem
from hanoi.core.members import Standing, country_name, validate_assessment, validate_member
from hanoi.node.runtime import Node, Work
from hanoi.store.tables import assessments, member_keys, members

UNASSESSED = Standing.CONCERNS


def _key_records(raw_keys: Any, member_id: str, now: datetime) -> list[keys.PublicKeyRecord]:
    if raw_keys in (None, ""):
        return []
    if isinstance(raw_keys, (str, dict)):
        raw_keys = [raw_keys]
    if not isinstance(raw_keys, list):
        raise InvalidInput("keys must be a list", [Problem("keys", "must be a list of public keys")])
    out: list[keys.PublicKeyRecord] = []
    problems: list[Problem] = []
    for i, item in enumerate(raw_keys):
        spec = {"public_key": item} if isinstance(item, str) else item
        if not isinstance(spec, dict):
            problems.append(Problem(f"keys[{i}]", "give a public key or {public_key, kid, not_before, not_after}"))
            continue
        try:
            nb = _time(spec.get("not_before"), f"keys[{i}].not_before") or now
            na = _time(spec.get("not_after"), f"keys[{i}].not_after")
            kid = spec.get("kid") or spec.get("key_id") or f"{member_id}:k{i + 1}"
            out.append(keys.PublicKeyRecord.of(kid, spec.get("public_key", ""), nb, na))
        except HanoiError as err:
            problems.extend(Problem(f"keys[{i}].{p.field}", p.message, p.rule) for p in err.problems)
    if problems:
        raise InvalidInput("a public key is not valid", problems)
    ids = [r.key_id for r in out]
    if len(set(ids)) != len(ids):
        raise InvalidInput("duplicate key id", [Problem("keys", "each key needs its own kid")])
    return out


def _time(value: Any, field_name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    try:
        return parse_time(str(value))
    except ValueError:
        raise InvalidInput(f"{field_name} is not a time",
                           [Problem(field_name, f"{value!r} is not an ISO 8601 time")]) from None


def add(node: Node, actor: str, data: dict[str, Any]) -> dict[str, Any]:
    """Register a member; with an ``assessment`` its first standing is recorded at once."""
    now = node.now()
    problems: list[Problem] = []
    draft = None
    try:
        draft = validate_member(data)
    except InvalidInput as err:
        problems.extend(err.problems)
    member_id = draft.id if draft else str(data.get("id") or "member")
    records: list[keys.PublicKeyRecord] = []
    try:
        records = _key_records(data.get("keys"), member_id, now)
    except InvalidInput as err:
        problems.extend(err.problems)
    assessment = None
    if data.get("assessment") is not None:
        try:
            assessment = validate_assessment(dict(data["assessment"]), now)
        except InvalidInput as err:
            problems.extend(Problem(f"assessment.{p.field}", p.message, p.rule) for p in err.problems)
        except (TypeError, ValueError):
            problems.append(Problem("assessment", "must be an object"))
    if data.get("standing") not in (None, "") and assessment is None:
        problems.append(Problem("standing", "a standing is set only by a safeguards assessment: "
                                            "give an assessment with it", "STANDING-ASSESSED"))
    if problems:
        raise InvalidInput("the member is not valid", problems)
    assert draft is not None
    with node.write(actor) as uow:
        if uow.conn.execute(select(members.c.id).where(members.c.id == draft.id)).first():
            raise Conflict(f"member {draft.id!r} already exists", [Problem("id", "already registered")])
        row = draft.as_dict()
        standing = assessment.standing if assessment else UNASSESSED
        uow.conn.execute(members.insert().values(**row, standing=standing.value, created_at=now,
                                                 updated_at=now))
        for rec in records:
            insert_key(uow, draft.id, rec)
        uow.record("member.add", f"member:{draft.id}", {**row, "standing": standing.value,
                                                        "keys": [r.as_dict() for r in records]})
        if assessment:
            insert_assessment(uow, draft.id, assessment)
    return show(node, draft.id)


def insert_key(uow: Work, member_id: str, rec: keys.PublicKeyRecord) -> None:
    uow.conn.execute(member_keys.insert().values(
        member_id=member_id, key_id=rec.key_id, public_key=rec.public_key_b64,
        not_before=rec.not_before or uow.now, not_after=rec.not_after, added_at=uow.now))


def insert_assessment(uow: Work, member_id: str, assessment: Any) -> None:
    uow.conn.execute(assessments.insert().values(
        member_id=member_id, standing=assessment.standing.value, assessor=assessment.assessor,
        assessed_at=assessment.assessed_at, findings=assessment.findings,
        articles=list(assessment.articles), sources=list(assessment.sources),
        recorded_by=uow.actor, recorded_at=uow.now))
    uow.conn.execute(members.update().where(members.c.id == member_id)
                     .values(standing=assessment.standing.value, updated_at=uow.now))
    uow.record("member.assess", f"member:{member_id}", assessment.as_dict(),
               decision=assessment.standing.value,
               reasons=[{"code": "STANDING-ASSESSED", "articles": list(assessment.articles)}])


def assess(node: Node, actor: str, member_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """Record a safeguards assessment and set the standing it concludes."""
    assessment = validate_assessment(data, node.now())
    with node.write(actor) as uow:
        _require(uow.conn, member_id)
        insert_assessment(uow, member_id, assessment)
    return show(node, member_id)


def add_key(node: Node, actor: str, member_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Add a public key (rotation: add the new key, let windows overlap, then expire the old)."""
    now = node.now()
    with node.write(actor) as uow:
        _require(uow.conn, member_id)
        existing = uow.conn.execute(
            select(member_keys.c.key_id).where(member_keys.c.member_id == member_id)).scalars().all()
        spec = dict(spec)
        spec.setdefault("kid", f"{member_id}:k{len(existing) + 1}")
        (rec,) = _key_records([spec], member_id, now)
        if rec.key_id in existing:
            raise Conflict(f"key {rec.key_id!r} already registered for {member_id}",
                           [Problem("kid", "already registered")])
        insert_key(uow, member_id, rec)
        uow.record("member.key.add", f"member:{member_id}", rec.as_dict())
    return show(node, member_id)


def expire_key(node: Node, actor: str, member_id: str, key_id: str, at: str | None = None) -> dict[str, Any]:
    """End a key's validity window (the last step of a rotation)."""
    when = _time(at, "at") or node.now()
    with node.write(actor) as uow:
        _require(uow.conn, member_id)
        row = uow.conn.execute(select(member_keys).where(
            (member_keys.c.member_id == member_id) & (member_keys.c.key_id == key_id))).mappings().first()
        if row is None:
            raise NotFound(f"member {member_id} has no key {key_id!r}", "kid")
        if when <= row["not_before"]:
            raise InvalidInput("the key would never have been valid",
                               [Problem("at", "must be later than the key's not_before")])
        uow.conn.execute(member_keys.update().where(member_keys.c.id == row["id"]).values(not_after=when))
        uow.record("member.key.expire", f"member:{member_id}", {"kid": key_id, "not_after": isoformat(when)})
    return show(node, member_id)


def _require(conn: Connection, member_id: str) -> None:
    if conn.execute(select(members.c.id).where(members.c.id == member_id)).first() is None:
        raise NotFound(f"no member {member_id!r}", "member_id")


def key_records(conn: Connection, member_id: str) -> list[keys.PublicKeyRecord]:
    rows = conn.execute(select(member_keys).where(member_keys.c.member_id == member_id)
                        .order_by(member_keys.c.id)).mappings().all()
    return [keys.PublicKeyRecord(r["key_id"], r["public_key"], r["not_before"], r["not_after"]) for r in rows]


def _member_dict(row: Any) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "name", "kind", "country", "state_status", "endpoint", "languages",
                                "available_24_7", "contacts", "other_treaties", "standing")}
    out["country_name"] = country_name(row["country"])
    out["created_at"] = isoformat(row["created_at"])
    out["updated_at"] = isoformat(row["updated_at"])
    return out


_BY_ID = select(members).where(members.c.id == bindparam("member_id"))


def find(conn: Connection, member_id: str) -> dict[str, Any] | None:
    """The member's row, or None."""
    row = conn.execute(_BY_ID, {"member_id": member_id}).mappings().first()
    return dict(row) if row else None


def get(conn: Connection, member_id: str, field: str = "member_id", hint: str = "") -> dict[str, Any]:
    """The member's row; ``NotFound`` naming ``field`` otherwise (``hint`` says what to do)."""
    row = find(conn, member_id)
    if row is None:
        raise NotFound(f"no member {member_id!r}{': ' + hint if hint else ''}", field)
    return row


def list_members(node: Node, *, standing: str | None = None, country: str | None = None,
                 kind: str | None = None) -> list[dict[str, Any]]:
    q = select(members).order_by(members.c.id)
    if standing:
        q = q.where(members.c.standing == standing)
    if country:
        q = q.where(members.c.country == country.upper())
    if kind:
        q = q.where(members.c.kind == kind)
    with node.read() as conn:
        return [_member_dict(r) for r in conn.execute(q).mappings().all()]


def show(node: Node, member_id: str) -> dict[str, Any]:
    with node.read() as conn:
        out = _member_dict(get(conn, member_id))
        now = node.now()
        out["keys"] = [{**r.as_dict(), "fingerprint": r.fingerprint, "valid_now": r.valid_at(now)}
                       for r in key_records(conn, member_id)]
        hist = conn.execute(select(assessments).where(assessments.c.member_id == member_id)
                            .order_by(assessments.c.id)).mappings().all()
        out["assessments"] = [
            {"standing": a["standing"], "assessor": a["assessor"], "assessed_at": isoformat(a["assessed_at"]),
             "findings": a["findings"], "articles": a["articles"], "sources": a["sources"],
             "recorded_by": a["recorded_by"], "recorded_at": isoformat(a["recorded_at"])}
            for a in hist
        ]
    return out
