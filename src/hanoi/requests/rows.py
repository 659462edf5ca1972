"""The requests wing's SQL: a request's row, its partner, its evidence records, the facts the
gate decides on. Every room of the wing (service, send, receive, custody) reads and writes
requests through these functions; nothing else here knows the tables."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.engine import Connection

from hanoi.core.errors import NotFound, invalid
from hanoi.requests.gate import DEFAULT_ASSESSMENT
from hanoi.requests.lifecycle import State
from hanoi.store.tables import evidence, members
from hanoi.store.tables import requests as requests_t
from hanoi.store.uow import UnitOfWork

OUTGOING, INCOMING = "outgoing", "incoming"
SIDE = {OUTGOING: "requesting", INCOMING: "requested"}
"""A request's direction, and the side of it this node is."""


def subject(request_id: str) -> str:
    """The ledger subject of a request: its timeline is the entries under it."""
    return f"request:{request_id}"


def new_id(country: str, now: datetime) -> str:
    return f"{country}-{now.year}-{secrets.token_hex(4)}"


def get(conn: Connection, request_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The request's row (``lock``: held for update until the transaction ends)."""
    q = select(requests_t).where(requests_t.c.id == request_id)
    if lock and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    if row is None:
        raise NotFound(f"no request {request_id!r}", "request_id")
    return dict(row)


def partner(conn: Connection, member_id: str, field_name: str = "partner") -> dict[str, Any]:
    row = conn.execute(select(members).where(members.c.id == member_id)).mappings().first()
    if row is None:
        raise NotFound(f"no member {member_id!r}: register the partner first (hanoi members add)", field_name)
    return dict(row)


def is_peer(conn: Connection, member_id: str) -> bool:
    """True when the member has a federation endpoint (items for it go through the outbox)."""
    return bool(conn.execute(select(members.c.endpoint).where(members.c.id == member_id)).scalar())


def by_partner_ref(conn: Connection, partner_id: str, ref: Any) -> dict[str, Any]:
    """Our copy of the request a partner refers to by ``ref`` (our id for an outgoing request,
    the partner's own id, kept as ``remote_id``, for an incoming one)."""
    if not isinstance(ref, str) or not ref:
        raise invalid("payload.ref", "is required: the item names no request", "FED-MALFORMED")
    q = select(requests_t).where(requests_t.c.partner_id == partner_id).where(
        ((requests_t.c.direction == OUTGOING) & (requests_t.c.id == ref))
        | ((requests_t.c.direction == INCOMING) & (requests_t.c.remote_id == ref)))
    row = conn.execute(q).mappings().first()
    if row is None:
        raise NotFound(f"no request {ref!r} with {partner_id}", "payload.ref")
    return dict(row)


def received_as(conn: Connection, partner_id: str, ref: Any) -> str | None:
    """The id under which a partner's request ``ref`` was already received, if it was."""
    found: str | None = conn.execute(select(requests_t.c.id).where(
        (requests_t.c.partner_id == partner_id) & (requests_t.c.remote_id == ref))).scalar()
    return found


def ref_of(row: dict[str, Any]) -> str:
    """How the partner knows the request: the requesting node's own id for it."""
    return row["id"] if row["direction"] == OUTGOING else (row["remote_id"] or row["id"])


def insert(uow: UnitOfWork, *, request_id: str, type_: str, direction: str, partner_id: str,
           fields: dict[str, Any], profiles: list[str] | None, remote_id: str | None,
           actor: str) -> dict[str, Any]:
    row = {"id": request_id, "type": type_, "direction": direction, "partner_id": partner_id,
           "fields": fields, "deadline_profiles": profiles, "assessment": dict(DEFAULT_ASSESSMENT),
           "review": None, "decision": None, "preservation": None, "response": None, "remote_id": remote_id,
           "started_at": None, "created_by": actor, "created_at": uow.now, "updated_at": uow.now,
           "state": State.DRAFT.value}
    uow.conn.execute(requests_t.insert().values(**row))
    uow.record("request.create", subject(request_id),
               {"type": type_, "direction": direction, "partner": partner_id, "fields": fields,
                "remote_id": remote_id})
    return row


def set_values(conn: Connection, request_id: str, **values: Any) -> None:
    conn.execute(requests_t.update().where(requests_t.c.id == request_id).values(**values))


def evidence_records(conn: Connection, request_id: str) -> list[dict[str, Any]]:
    return [dict(e) for e in conn.execute(select(evidence).where(evidence.c.request_id == request_id)
                                          .order_by(evidence.c.id)).mappings()]


def evidence_record(conn: Connection, request_id: str, *, sha256: str | None = None,
                    name: str | None = None) -> dict[str, Any] | None:
    q = select(evidence).where(evidence.c.request_id == request_id)
    if sha256 is not None:
        q = q.where(evidence.c.sha256 == sha256)
    if name is not None:
        q = q.where(evidence.c.name == name)
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None


def insert_evidence(conn: Connection, record: dict[str, Any], *, added_by: str, added_at: datetime) -> None:
    conn.execute(evidence.insert().values(**record, added_by=added_by, added_at=added_at))


# --- the desk's lists and board (requests.desk) ------------------------------------------------

_LIST_COLUMNS = (requests_t.c.id, requests_t.c.type, requests_t.c.state, requests_t.c.direction,
                 requests_t.c.partner_id, requests_t.c.created_at, requests_t.c.updated_at,
                 requests_t.c.started_at, requests_t.c.created_by, requests_t.c.remote_id)


_BOARD = select(requests_t.c.id, requests_t.c.type, requests_t.c.state, requests_t.c.direction,
                requests_t.c.partner_id, requests_t.c.deadline_profiles,
                # only the two fields a deadline needs, not the whole form (most of the row)
                requests_t.c.fields["deadline"].as_string().label("requester_deadline"),
                requests_t.c.fields["deadline_reason"].as_string().label("requester_reason"),
                # and of the gate's decision only its outcome (its reasons are read for reviews only)
                requests_t.c.decision["outcome"].as_string().label("outcome"),
                requests_t.c.review["reviewer"].as_string().label("reviewer"),
                requests_t.c.preservation, requests_t.c.started_at,
                members.c.name.label("partner_name")).join(
    members, members.c.id == requests_t.c.partner_id).where(requests_t.c.state == bindparam("state"))


def filtered(q: Select[Any], *, direction: str | None = None, type_: str | None = None,
             partner: str | None = None, state: str | None = None) -> Select[Any]:
    """``q`` narrowed to the requests of a direction, type, partner and state (each when given):
    the filters the CLI's list, the API's and the console's desk share."""
    for column, wanted in ((requests_t.c.direction, direction), (requests_t.c.type, type_),
                           (requests_t.c.partner_id, partner), (requests_t.c.state, state)):
        if wanted:
            q = q.where(column == wanted)
    return q


def desk_query(direction: str, *, type_: str = "", partner: str = "", state: str = "", ids: list[str] | None = None,
               after: tuple[datetime, str] | None = None, limit: int = 50) -> Select[Any]:
    """One page of requests of a direction, newest first by (created_at, id), continuing after
    ``after``: read through the ``ix_requests_desk`` indexes, never OFFSET."""
    q = filtered(select(*_LIST_COLUMNS, members.c.name.label("partner_name")).join(
        members, members.c.id == requests_t.c.partner_id), direction=direction, type_=type_,
        partner=partner, state=state)
    if ids is not None:
        q = q.where(requests_t.c.id.in_(ids or [""]))
    if after is not None:
        when, last_id = after
        q = q.where(or_(requests_t.c.created_at < when,
                        and_(requests_t.c.created_at == when, requests_t.c.id < last_id)))
    return q.order_by(requests_t.c.created_at.desc(), requests_t.c.id.desc()).limit(limit)


def board_rows(conn: Connection, states: tuple[str, ...]) -> list[dict[str, Any]]:
    """What the deadline board needs of every request in ``states``. One equality per state:
    each is a range of ix_requests_state (an IN list of nine states made SQLite's planner scan
    the whole table)."""
    found: list[dict[str, Any]] = []
    for state in states:
        found += [dict(r) for r in conn.execute(_BOARD, {"state": state}).mappings()]
    return found


def decisions(conn: Connection, request_ids: list[str]) -> dict[str, Any]:
    """The stored gate decisions of these requests, by id."""
    if not request_ids:
        return {}
    return dict(conn.execute(select(requests_t.c.id, requests_t.c.decision)
                             .where(requests_t.c.id.in_(request_ids))).all())


def member_names(conn: Connection) -> list[dict[str, Any]]:
    """Every member's id and name, by name (for choosing a partner)."""
    return [dict(r) for r in conn.execute(select(members.c.id, members.c.name).order_by(members.c.name))
            .mappings()]
