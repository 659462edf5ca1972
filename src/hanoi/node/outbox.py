"""The outbox: items waiting to leave this node, and the worker that delivers them.

``enqueue`` adds an outbox row inside the caller's unit of work, so an item and the promise to
send it commit together (the transactional outbox): nothing is "sent" that did not commit, and
nothing that committed is forgotten. The delivery worker (``deliver_due``, looped by
``run_worker``) claims due rows, re-runs the send gate (a partner suspended after queueing gets
nothing), signs each envelope with a fresh ``created`` time under the same id, POSTs them in
batches to the peer's ``/federation/v1/inbox/batch``, opens every receipt against the peer's
registered keys and, in one unit of work, marks the rows delivered (or rejected by the peer)
and ledgers each outcome with the receipt and the peer's ledger head.

States::

    pending --send gate allows, peer accepts--> delivered
    pending --peer answers a signed refusal of this very envelope--> rejected
    pending --send gate denies--> refused        (never sent)
    pending --peer refuses the body itself--> failed   (no receipt, e.g. too large)
    pending <--send gate asks for review / allows again--> held   (re-checked periodically)

A receipt settles a row only if it is bound to the envelope sent (its content digest, or for
a message the peer could not verify the digest of the JWS as sent): a valid receipt for another
message under the same id (junk someone sent the peer in our name) leaves the row pending and
is ledgered once as ``outbox.receipt.unbound``. So does a rejection naming no digest, as nodes
sent before receipts were bound; their acceptances are still taken.

Network errors, timeouts and 5xx answers leave the row pending: attempts + 1, the next attempt
after an exponential backoff with full jitter, ``last_error`` saying why. Only outcomes are
ledgered (delivered, rejected, refused, failed, held), not each retry: a peer down for a day
would otherwise fill the ledger with entries that prove nothing; the row keeps ``attempts``
and ``last_error`` for ``hanoi outbox``.

Several workers may run (API processes, ``hanoi outbox deliver``): a claim takes due rows with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite serialises claims on its write lock) and sets a
short lease (``outbox_leases``: seconds, renewed by a heartbeat while the round lasts), so no
transaction is held open across the network and a killed worker's rows come back within
seconds. A row delivered twice after a lease expired is harmless: the
peer's inbox answers a repeat with its original receipt and applies nothing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from hanoi.core.clock import isoformat
from hanoi.core.errors import HanoiError, InvalidInput, NotFound, Problem, invalid
from hanoi.core.gate import Decision, PartnerView, Reason, standing_reasons
from hanoi.federation.backoff import next_attempt_delay
from hanoi.federation.envelope import JWS, Envelope, Rejection, canonical_json, sign_envelope
from hanoi.federation.receipts import Receipt, binding_problem, open_receipt, received_digest
from hanoi.node import logs, metrics, peer_watch
from hanoi.node import members as members_service
from hanoi.node.outbox_leases import LEASE, keep_alive
from hanoi.node.retired_keys import fresh_rotation
from hanoi.node.runtime import Node, Work
from hanoi.node.wings import Priority, Reading, SendGate
from hanoi.store.tables import ledger_entries, members, outbox

log = logging.getLogger(__name__)

PENDING, HELD, DELIVERED, REJECTED, REFUSED, FAILED = (
    "pending", "held", "delivered", "rejected", "refused", "failed")
STATES = (PENDING, HELD, DELIVERED, REJECTED, REFUSED, FAILED)
OPEN_STATES = (PENDING, HELD)
# What `hanoi outbox --state failed` means: everything that will not arrive, and why.
FAILED_STATES = (REJECTED, REFUSED, FAILED)

ROTATION_TYPE = "key.rotation"
UNBOUND_ERROR = "a receipt for another message under this id (FED-UNBOUND-RECEIPT)"
HOLD_RECHECK = timedelta(seconds=30)
BATCH_MAX_ITEMS = 100
BATCH_MAX_BYTES = 512 * 1024
WORKER_ACTOR = "system:outbox"
IDLE_MAX = 0.5
"""Longest wait of an idle delivery worker before it looks at the outbox again (seconds)."""
# Set when a unit of work that queued an item commits in this process: wakes idle workers.
_queued = threading.Event()
# An arbitrary constant naming "the outbox claim lock" among PostgreSQL advisory locks.
_CLAIM_LOCK_KEY = 0x4F5554424F58  # "OUTBOX"


# --- the send gate -----------------------------------------------------------------------------


def default_send_gate(work: Work, row: dict[str, Any], member: dict[str, Any]) -> Decision:
    """Who the partner is: suspended -> deny; concerns or a non-Party State -> review (as the
    node policy says); good standing -> allow. The gate of every item that hands nothing over
    and names no gate of its own (``hanoi.node.wings.Item``)."""
    return Decision.of(standing_reasons(PartnerView.from_dict(member), work.policy.standing))


def send_gate_for(node: Node, type_: str) -> SendGate:
    """The send gate of an item type, as its wing's manifest declares it."""
    item = node.registry.item(type_)
    if item is None:  # enqueue refuses unknown types; a row from before an upgrade waits
        raise InvalidInput(f"this node does not know the item type {type_!r}",
                           [Problem("type", "no wing declares it", "FED-UNKNOWN-TYPE")])
    return item.send_gate or default_send_gate


# --- enqueue -----------------------------------------------------------------------------------

# Built once: constructing a statement per item costs more than running it.
_RECIPIENT = select(members.c.id, members.c.endpoint).where(members.c.id == bindparam("member_id"))
_QUEUED_COLUMNS = ("id", "recipient", "type", "subject", "answers", "payload", "state", "attempts",
                   "next_attempt_at", "created_at", "updated_at", "priority")
# The row is written only if the recipient is a member with an endpoint: the check and the
# insert in one statement (one round trip); when nothing is written, ``enqueue`` looks up why.
_INSERT_FOR_PEER = outbox.insert().from_select(
    list(_QUEUED_COLUMNS),
    select(*(bindparam(name, type_=outbox.c[name].type) for name in _QUEUED_COLUMNS))
    .where((members.c.id == bindparam("recipient_check", type_=members.c.id.type))
           & (members.c.endpoint.is_not(None)) & (members.c.endpoint != ""))
).execution_options(preserve_rowcount=True)  # an INSERT's count is kept only when asked


_RAISE_EARLIER = (update(outbox)
                  .where(outbox.c.recipient == bindparam("to_peer"), outbox.c.subject == bindparam("about"),
                         outbox.c.state.in_(OPEN_STATES), outbox.c.priority > bindparam("rank"))
                  .values(priority=bindparam("rank")))

_ID_LOCK = threading.Lock()
_last_id_time = 0


def new_envelope_id() -> str:
    """``env-<16 hex digits of time, strictly increasing in this process><8 random hex>``: ids
    sort in the order items were queued, which is the order items about one subject are sent."""
    global _last_id_time
    with _ID_LOCK:
        t = max(time.time_ns() // 1000, _last_id_time + 1)
        _last_id_time = t
    return f"env-{t:016x}{secrets.token_hex(4)}"


def federated(conn: Connection, member_id: str) -> bool:
    """True when ``member_id`` is a member this node can deliver to (it has an endpoint and a key)."""
    endpoint = conn.execute(select(members.c.endpoint).where(members.c.id == member_id)).scalar()
    return bool(endpoint) and bool(members_service.key_records(conn, member_id))


def enqueue(
    uow: Work,
    *,
    recipient: str,
    type: str,  # the envelope's field name, as the lead's callers spell it
    payload: dict[str, Any],
    answers: str | None = None,
    subject: str | None = None,
    priority: Priority | None = None,
) -> str:
    """Queue an item for ``recipient`` inside the caller's unit of work; return the envelope id.

    The row commits with the caller's state change or not at all. ``subject`` is the ledger
    subject the row's entries go under (default ``envelope:<id>``), so e.g. a request's
    timeline shows when it was queued, delivered or refused. ``priority``: the item type's
    (its wing's manifest) unless the caller makes it more urgent. Ledgers ``outbox.queued``.
    """
    node = uow.node
    item = node.registry.item(type)
    if item is None:
        raise InvalidInput(f"the item cannot be sent: this node does not know the item type {type!r}",
                           [Problem("type", "no wing declares it", "FED-UNKNOWN-TYPE")])
    rank = item.priority if priority is None else min(item.priority, priority)
    env_id = new_envelope_id()
    try:
        # Validates type, payload (canonical JSON) and answers exactly as the envelope will.
        env = Envelope(env_id, node.node_id, recipient, type, uow.now, payload, answers)
    except InvalidInput as err:
        raise InvalidInput(f"the item cannot be sent: {err.detail}", err.problems) from None
    body = canonical_json(env.payload)
    limit = node.config.federation_max_envelope_bytes
    if len(body) > limit:
        raise invalid("payload", f"{len(body)} bytes: larger than the {limit} bytes an envelope "
                                 "may carry", "FED-TOO-LARGE")
    subj = subject or f"envelope:{env_id}"
    written = uow.conn.execute(_INSERT_FOR_PEER, {
        "id": env_id, "recipient": recipient, "type": type, "subject": subj, "answers": answers,
        "payload": payload, "state": PENDING, "attempts": 0, "next_attempt_at": uow.now,
        "created_at": uow.now, "updated_at": uow.now, "priority": int(rank),
        "recipient_check": recipient}).rowcount
    if written != 1:
        row = uow.conn.execute(_RECIPIENT, {"member_id": recipient}).first()
        if row is None:
            raise NotFound(f"no member {recipient!r}: add the peer first (hanoi peers add URL)",
                           "recipient")
        raise InvalidInput(f"member {recipient!r} has no federation endpoint",
                           [Problem("recipient", "has no endpoint: add it as a peer "
                                                 "(hanoi peers add URL)", "FED-UNDELIVERABLE")])
    if rank < Priority.BULK and subject is not None:
        # Items of one subject go in order: the open ones before this item go as soon as it
        # does. (Bulk items, the many, never raise anything: no statement spent on them.)
        uow.conn.execute(_RAISE_EARLIER, {"to_peer": recipient, "about": subj, "rank": int(rank)})
    uow.after_commit(_queued.set)
    uow.record("outbox.queued", subj, {
        "envelope_id": env_id, "recipient": recipient, "type": type, "answers": answers,
        "payload_digest": "sha256:" + hashlib.sha256(body).hexdigest()})
    return env_id


# --- reading -----------------------------------------------------------------------------------


def _public(row: Any) -> dict[str, Any]:
    receipt = None
    if row["receipt"]:
        try:
            receipt = _receipt_payload(json.loads(row["receipt"]))
        except (ValueError, KeyError):
            receipt = None
    return {
        "id": row["id"], "recipient": row["recipient"], "type": row["type"],
        "subject": row["subject"], "answers": row["answers"], "state": row["state"],
        "attempts": row["attempts"], "next_attempt_at": isoformat(row["next_attempt_at"]),
        "last_error": row["last_error"], "rule": row["rule"], "decision": row["decision"],
        "receipt": receipt, "created_at": isoformat(row["created_at"]),
        "updated_at": isoformat(row["updated_at"]),
        "delivered_at": isoformat(row["delivered_at"]) if row["delivered_at"] else None,
    }


def _receipt_payload(jws: dict[str, Any]) -> dict[str, Any] | None:
    """The receipt's (already verified when stored) payload, for display."""
    raw = jws["payload"]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return data


def list_rows(node: Node, *, state: str | None = None, recipient: str | None = None,
              limit: int = 200) -> list[dict[str, Any]]:
    """Outbox rows, newest first. ``state``: one of ``STATES``, ``failed`` for everything that
    will not arrive (rejected, refused, failed), ``open`` for pending and held; default: all."""
    q = select(outbox)
    if state in (None, "", "all"):
        pass
    elif state == "failed":
        q = q.where(outbox.c.state.in_(FAILED_STATES))
    elif state == "open":
        q = q.where(outbox.c.state.in_(OPEN_STATES))
    elif state in STATES:
        q = q.where(outbox.c.state == state)
    else:
        raise invalid("state", f"{state!r} is not one of: {', '.join((*STATES, 'open', 'all'))}")
    if recipient:
        q = q.where(outbox.c.recipient == recipient)
    q = q.order_by(outbox.c.created_at.desc(), outbox.c.id.desc()).limit(max(1, min(limit, 5000)))
    with node.read() as conn:
        return [_public(r) for r in conn.execute(q).mappings().all()]


def counts(node: Node) -> dict[str, int]:
    """How many rows are in each state."""
    with node.read() as conn:
        rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all()
    out = dict.fromkeys(STATES, 0)
    out.update({str(s): int(n) for s, n in rows})
    return out


def health(node: Node) -> dict[str, dict[str, Any]]:
    """Per recipient: items waiting (pending or held), the oldest of them, and the last error
    recorded on any of its items with when it happened (read through ``ix_outbox_recipient``)."""
    out: dict[str, dict[str, Any]] = {}
    with node.read() as conn:
        for recipient, waiting, oldest in conn.execute(
                select(outbox.c.recipient, func.count(), func.min(outbox.c.created_at))
                .where(outbox.c.state.in_(OPEN_STATES)).group_by(outbox.c.recipient)):
            out[recipient] = {"waiting": int(waiting), "oldest": oldest, "last_error": None, "last_error_at": None}
        for recipient in conn.execute(select(members.c.id).where(members.c.endpoint.isnot(None))).scalars():
            row = conn.execute(select(outbox.c.last_error, outbox.c.updated_at)
                               .where((outbox.c.recipient == recipient) & outbox.c.last_error.isnot(None))
                               .order_by(outbox.c.updated_at.desc()).limit(1)).first()
            entry = out.setdefault(recipient, {"waiting": 0, "oldest": None, "last_error": None,
                                               "last_error_at": None})
            if row is not None:
                entry["last_error"], entry["last_error_at"] = row[0], row[1]
    return out


def show(node: Node, envelope_id: str) -> dict[str, Any]:
    with node.read() as conn:
        row = conn.execute(select(outbox).where(outbox.c.id == envelope_id)).mappings().first()
    if row is None:
        raise NotFound(f"no outbox row {envelope_id!r}", "id")
    out = _public(row)
    out["payload"] = row["payload"]
    return out


def retry(node: Node, actor: str, envelope_id: str) -> dict[str, Any]:
    """Make a pending or held row due now (a held row's gate is run again at once)."""
    with node.write(actor) as uow:
        row = uow.conn.execute(select(outbox.c.state, outbox.c.subject)
                               .where(outbox.c.id == envelope_id)).first()
        if row is None:
            raise NotFound(f"no outbox row {envelope_id!r}", "id")
        if row.state not in OPEN_STATES:
            raise InvalidInput(f"the row is {row.state}: only pending or held rows are retried",
                               [Problem("id", f"is {row.state}")])
        uow.conn.execute(update(outbox).where(outbox.c.id == envelope_id).values(
            next_attempt_at=uow.now, lease_until=None, updated_at=uow.now))
        uow.record("outbox.retry", row.subject, {"envelope_id": envelope_id, "state": row.state})
    return show(node, envelope_id)


# --- delivery ----------------------------------------------------------------------------------


@dataclass
class _Item:
    row: dict[str, Any]
    member: dict[str, Any] = field(default_factory=dict)
    decision: Decision | None = None
    env: Envelope | None = None
    jws: JWS | None = None
    receipt: Receipt | None = None
    receipt_text: str | None = None
    error: str | None = None  # a transient failure: retry later
    final_error: str | None = None  # the peer refused the body itself: failed, no receipt
    unbound: Receipt | None = None  # a valid receipt for another message under this id
    unreachable: bool = False  # the peer did not answer at all (see peer_watch)

    @property
    def id(self) -> str:
        return str(self.row["id"])


class _NothingToRecord(Exception):
    """Raised inside a unit of work that turned out to change nothing worth a ledger entry."""


def _due_clause(now: datetime) -> Any:
    return and_(outbox.c.state.in_(OPEN_STATES), outbox.c.next_attempt_at <= now,
                or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now))


def _blocked_subjects(conn: Connection, now: datetime) -> dict[tuple[str, str], str]:
    """(recipient, subject) -> the first open row's id, for each subject with an open row that
    cannot go now (out on another worker's lease, held, or waiting for its retry)."""
    rows = conn.execute(
        select(outbox.c.recipient, outbox.c.subject, func.min(outbox.c.id))
        .where(outbox.c.state.in_(OPEN_STATES),
               or_(outbox.c.next_attempt_at > now, outbox.c.lease_until >= now))
        .group_by(outbox.c.recipient, outbox.c.subject))
    return {(recipient, subject): first for recipient, subject, first in rows}


_CLAIM_COLUMNS = (outbox.c.id, outbox.c.recipient, outbox.c.subject, outbox.c.priority)


def _claim(node: Node, limit: int, now: datetime) -> list[dict[str, Any]]:
    """Take up to ``limit`` due rows under a lease. Bookkeeping, not a state change: no entry.

    The most urgent first (``Priority``: a 24/7 request does not wait behind a feed of signals
    queued for the same peer), then in the order they were queued; at most
    ``outbox_bulk_per_round`` bulk items, so a round stays short and an urgent item queued
    during it waits for little.

    Items about one subject (one request) go in the order they were queued: a row waits while
    an earlier one for the same peer and subject is open and cannot go now, so a response
    never overtakes the steps before it. A run of due rows of one subject is claimed together
    and sent in order by this worker (see ``_send``). The waiting rule is applied here, over
    the few blocked subjects read first, rather than as an anti-join in SQL: PostgreSQL
    planned that join from statistics taken while the queue was empty and, with a backlog,
    probed every open row for every due row (half a second a claim at 3,000 rows).
    """
    with node.read() as conn:  # cheap idle check, without taking the write lock
        if conn.execute(select(outbox.c.id).where(_due_clause(now)).limit(1)).first() is None:
            return []
    with node.writes.engine.begin() as conn:  # the write-marked engine, built once
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            # Claims take turns (they are short): a claim must see the leases of the one
            # before it, or two workers could split one subject's run. SQLite claims already
            # take turns on its write lock.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_CLAIM_LOCK_KEY})")
        blocked = _blocked_subjects(conn, now)
        ids: list[str] = []
        page = limit + 16  # a few rows to spare for waiting ones, without a second query
        seen = 0
        bulk_left = node.config.outbox_bulk_per_round
        full = False
        while not full:
            # The ordering columns only: a bulk row's payload is 200 reports, and reading the
            # payloads of a page to take two of them cost seconds a claim, under the write lock.
            q = (select(*_CLAIM_COLUMNS).where(_due_clause(now))
                 .order_by(outbox.c.priority, outbox.c.created_at, outbox.c.id)
                 .offset(seen).limit(page))
            if postgres:
                q = q.with_for_update(skip_locked=True)
            found = conn.execute(q).mappings().all()
            seen += len(found)
            for r in found:
                bulk = r["priority"] >= Priority.BULK
                if bulk and bulk_left == 0:
                    full = True  # only bulk rows follow, in this order
                    break
                first_open = blocked.get((r["recipient"], r["subject"]))
                if first_open is None or r["id"] < first_open:
                    ids.append(r["id"])
                    bulk_left -= bulk
                    if len(ids) == limit:
                        full = True
                        break
            if len(found) < page:
                break
        if not ids:
            return []
        conn.execute(update(outbox).where(outbox.c.id.in_(ids)).values(lease_until=now + LEASE))
        by_id = {r["id"]: dict(r) for r in conn.execute(select(outbox).where(outbox.c.id.in_(ids))).mappings()}
    return [by_id[i] for i in ids]


def _member_rows(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    found = conn.execute(select(members).where(members.c.id.in_(sorted(set(ids))))).mappings().all()
    return {r["id"]: dict(r) for r in found}


def _reasons(decision: Decision) -> list[dict[str, Any]]:
    return [r.as_dict() for r in decision.reasons]


def _blocking(decision: Decision) -> Reason | None:
    return next((r for r in decision.reasons if r.effect == decision.outcome), None)


def _gate(node: Node, items: list[_Item], now: datetime,
          bookkeeping: dict[str, dict[str, Any]]) -> list[_Item]:
    """Run each row's send gate; return the rows to send. Refusals and holds are ledgered."""
    sendable: list[_Item] = []
    try:
        with node.write(WORKER_ACTOR) as uow:
            found = _member_rows(uow.conn, (i.row["recipient"] for i in items))
            for item in items:
                row = item.row
                member = found.get(row["recipient"])
                if member is None or not member["endpoint"]:
                    _final(uow, item, FAILED, "FED-UNDELIVERABLE",
                           f"{row['recipient']!r} has no federation endpoint", decision="failed")
                    continue
                item.member = member
                try:
                    decision = send_gate_for(node, row["type"])(uow, dict(row), dict(member))
                except Exception as err:
                    # A gate that cannot decide (a policy file that does not parse, a defect)
                    # keeps its row waiting, and the rest of the queue moving.
                    if not isinstance(err, HanoiError):
                        log.exception("send gate failed on %s", item.id)
                    detail = err.detail if isinstance(err, HanoiError) else repr(err)
                    bookkeeping[item.id] = {"next_attempt_at": now + HOLD_RECHECK,
                                            "last_error": f"send gate: {detail}"[:500]}
                    continue
                item.decision = decision
                if decision.denied:
                    reason = _blocking(decision)
                    _final(uow, item, REFUSED, reason.code if reason else "GATE-SUSPENDED",
                           "the send gate denied: " + "; ".join(str(r) for r in decision.reasons
                                                                if r.effect == "deny"),
                           decision="deny", reasons=_reasons(decision))
                elif not decision.allowed:
                    why = "held for review: " + "; ".join(
                        str(r) for r in decision.reasons if r.effect == "review")
                    values = {"state": HELD, "decision": decision.as_dict(), "last_error": why,
                              "next_attempt_at": now + HOLD_RECHECK, "lease_until": None,
                              "updated_at": now}
                    uow.conn.execute(update(outbox).where(outbox.c.id == item.id).values(**values))
                    if row["state"] != HELD:
                        uow.record("outbox.held", row["subject"],
                                   {"envelope_id": item.id, "recipient": row["recipient"],
                                    "type": row["type"]},
                                   decision="review", reasons=_reasons(decision))
                else:
                    sendable.append(item)
            if not uow.entries:
                raise _NothingToRecord
    except _NothingToRecord:
        # Nothing was refused or newly held: the transaction had nothing to commit, except
        # re-holding rows already held, which is bookkeeping (no entry) done below.
        for item in items:
            if item.decision is not None and not item.decision.allowed \
                    and not item.decision.denied:
                bookkeeping[item.id] = {"next_attempt_at": now + HOLD_RECHECK,
                                        "decision": item.decision.as_dict()}
    return sendable


def _final(uow: Work, item: _Item, state: str, rule: str, detail: str, *,
           decision: str, reasons: list[dict[str, Any]] | None = None) -> None:
    """Refuse or fail a row before sending (so no attempt is counted), and ledger it."""
    row = item.row
    values: dict[str, Any] = {"state": state, "rule": rule, "lease_until": None,
                              "updated_at": uow.now, "last_error": detail}
    if item.decision is not None:
        values["decision"] = item.decision.as_dict()
    done = uow.conn.execute(update(outbox).where(
        (outbox.c.id == item.id) & outbox.c.state.in_(OPEN_STATES)).values(**values))
    if done.rowcount == 0:  # another worker finished it meanwhile
        return
    uow.record(f"outbox.{state}", row["subject"],
               {"envelope_id": item.id, "recipient": row["recipient"], "type": row["type"],
                "answers": row["answers"], "detail": detail},
               decision=decision,
               reasons=reasons if reasons is not None else [{"code": rule, "detail": detail}])


def _sign(node: Node, item: _Item) -> None:
    row = item.row
    # A fresh ``created`` at each attempt keeps retries within the peer's clock-skew window;
    # the id stays, so the peer recognises a repeat.
    item.env = Envelope(item.id, node.node_id, row["recipient"], row["type"], node.now(),
                        row["payload"], row["answers"])
    item.jws = sign_envelope(item.env, node.private_key, node.config.key_id)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _batches(items: list[_Item]) -> Iterable[list[_Item]]:
    batch: list[_Item] = []
    size = 0
    for item in items:
        n = len(_dumps(item.jws)) + 1
        if batch and (len(batch) >= BATCH_MAX_ITEMS or size + n > BATCH_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += n
    if batch:
        yield batch


def _short(response: httpx.Response) -> str:
    text = response.text[:300].replace("\n", " ")
    return f"HTTP {response.status_code}: {text}"


class _Peer:
    """Keys and endpoint of one recipient, read once per round."""

    def __init__(self, node: Node, member_id: str, endpoint: str):
        self.id = member_id
        self.base = endpoint.rstrip("/")
        with node.read() as conn:
            self.keys = members_service.key_records(conn, member_id)

    def resolve(self, who: str) -> list[Any]:
        return self.keys if who == self.id else []


def _open_receipt(peer: _Peer, item: _Item, answer: Any) -> None:
    assert item.env is not None
    if not isinstance(answer, dict) or "signature" not in answer:
        err = answer.get("error") if isinstance(answer, dict) else None
        item.error = f"no receipt: {json.dumps(err or answer)[:300]}"
        return
    try:
        receipt = open_receipt(answer, resolve_keys=peer.resolve, receiver=peer.id)
    except Rejection as rej:
        item.error = f"the receipt does not verify ({rej.rule_code}): {rej.detail}"
        return
    _settle(item, receipt, answer, item.env.content_digest(), item.jws)


def _settle(item: _Item, receipt: Receipt, answer: Any, content_digest: str, sent: Any) -> None:
    """Take a verified receipt as the row's outcome only if it answers exactly what was sent;
    otherwise the row stays open (the peer's real answer is still to come) and the receipt is
    ledgered as unbound."""
    problem = binding_problem(receipt, envelope_id=item.id, content_digest=content_digest,
                              sent=sent)
    if problem is not None:
        item.error = f"{UNBOUND_ERROR}: {problem}"[:500]
        item.unbound = receipt
        return
    item.receipt = receipt
    item.receipt_text = _dumps(answer).decode("utf-8")


def _send_single(client: httpx.Client, peer: _Peer, item: _Item) -> None:
    try:
        r = client.post(f"{peer.base}/federation/v1/inbox", content=_dumps(item.jws),
                        headers={"content-type": "application/json"})
    except httpx.HTTPError as exc:
        item.error = f"{type(exc).__name__}: {exc}"[:500]
        item.unreachable = isinstance(exc, httpx.TransportError)
        return
    if r.status_code == 200:
        try:
            _open_receipt(peer, item, r.json())
        except ValueError:
            item.error = "the answer is not JSON: " + _short(r)
    elif r.status_code == 413:
        item.final_error = "the peer refused the envelope's size: " + _short(r)
    else:
        item.error = _short(r)


def _send_batch(client: httpx.Client, peer: _Peer, batch: list[_Item]) -> None:
    body = b"[" + b",".join(_dumps(i.jws) for i in batch) + b"]"
    try:
        r = client.post(f"{peer.base}/federation/v1/inbox/batch", content=body,
                        headers={"content-type": "application/json"})
    except httpx.HTTPError as exc:
        for item in batch:
            item.error = f"{type(exc).__name__}: {exc}"[:500]
            item.unreachable = isinstance(exc, httpx.TransportError)
        return
    if r.status_code in (404, 405, 413) and len(batch) > 1:
        # A peer without the batch endpoint, or a smaller body limit: one at a time.
        failed: set[tuple[str, str]] = set()
        for item in batch:
            if _subject(item) in failed:
                continue  # not sent, no attempt counted: it goes back to the queue
            _send_single(client, peer, item)
            if item.error is not None:
                failed.add(_subject(item))
        return
    if r.status_code == 413:
        batch[0].final_error = "the peer refused the envelope's size: " + _short(r)
        return
    answers: Any = None
    if r.status_code == 200:
        try:
            answers = r.json()
        except ValueError:
            answers = None
    if not isinstance(answers, list) or len(answers) != len(batch):
        for item in batch:
            item.error = _short(r) if r.status_code != 200 else "malformed batch answer"
        return
    for item, answer in zip(batch, answers, strict=True):
        _open_receipt(peer, item, answer)


def _send_rotation(node: Node, client: httpx.Client, peer: _Peer, item: _Item) -> None:
    # Announced again now: a peer accepts a rotation only within its clock-skew window.
    rotation = item.jws = fresh_rotation(node, item.row["payload"]["rotation"])
    body = {"id": item.id, "rotation": rotation}
    try:
        r = client.post(f"{peer.base}/federation/v1/rotation", content=_dumps(body),
                        headers={"content-type": "application/json"})
    except httpx.HTTPError as exc:
        item.error = f"{type(exc).__name__}: {exc}"[:500]
        item.unreachable = isinstance(exc, httpx.TransportError)
        return
    if r.status_code != 200:
        item.error = _short(r)
        return
    try:
        answer = r.json()
    except ValueError:
        item.error = "the answer is not JSON: " + _short(r)
        return
    try:
        receipt = open_receipt(answer, resolve_keys=peer.resolve, receiver=peer.id)
    except Rejection as rej:
        item.error = f"the receipt does not verify ({rej.rule_code}): {rej.detail}"
        return
    # A rotation is no envelope: the peer names the digest of the signed rotation it got.
    _settle(item, receipt, answer, received_digest(rotation), rotation)


def _subject(item: _Item) -> tuple[str, str]:
    return item.row["recipient"], item.row["subject"]


def _defer_after(failed: set[tuple[str, str]], batch: list[_Item]) -> list[_Item]:
    """The items of ``batch`` that may go: one whose subject already has an item that did not
    go through in this round waits (not sent, no attempt counted: back to the queue), so
    items about one subject stay in order."""
    return [item for item in batch if _subject(item) not in failed]


def _send(node: Node, client: httpx.Client, items: list[_Item],
          blocked: Iterable[tuple[str, str]] = ()) -> None:
    """Send ``items`` (in queue order) to their peers. ``blocked`` are (peer, subject) pairs of
    this round's items that could not go (held by the gate): later items about them wait."""
    failed = set(blocked)
    by_peer: dict[str, list[_Item]] = {}
    for item in items:
        by_peer.setdefault(item.row["recipient"], []).append(item)
    for member_id, group in by_peer.items():
        peer = _Peer(node, member_id, group[0].member["endpoint"])
        # A key rotation goes first: what follows is signed with the new key.
        rotations = [i for i in group if i.row["type"] == ROTATION_TYPE]
        rotation_failed = False
        for item in rotations:
            _send_rotation(node, client, peer, item)
            if item.error:
                rotation_failed = True
        rest = [i for i in group if i.row["type"] != ROTATION_TYPE]
        if rotation_failed:
            for item in rest:
                item.error = "waiting for the key rotation to reach the peer"
            continue
        for item in rest:
            _sign(node, item)
        for batch in _batches(rest):
            batch = _defer_after(failed, batch)
            if batch:
                _send_batch(client, peer, batch)
            failed.update(_subject(i) for i in batch if i.error is not None)


_OPEN_OF = select(outbox.c.id).where(outbox.c.id.in_(bindparam("ids", expanding=True))
                                      & outbox.c.state.in_(OPEN_STATES))
_FINISH = update(outbox).where(outbox.c.id == bindparam("_id")).values(
    state=bindparam("_state"), rule=bindparam("_rule"), lease_until=None,
    updated_at=bindparam("_now"), last_error=bindparam("_error"), decision=bindparam("_decision"),
    receipt=bindparam("_receipt"), delivered_at=bindparam("_delivered_at"),
    attempts=bindparam("_attempts"))


def _record_outcomes(node: Node, items: list[_Item]) -> None:
    """Delivered, rejected by the peer, or failed: one unit of work for the whole round, one
    ledger entry per row, the updates in one executemany."""
    finals = [i for i in items if i.receipt is not None or i.final_error is not None]
    # An unbound receipt is evidence of someone answering in the peer's name for a message
    # this node did not send: ledgered once per run of them on a row, not at every retry.
    unbound = [i for i in items if i.unbound is not None
               and not (i.row["last_error"] or "").startswith(UNBOUND_ERROR)]
    if not finals and not unbound:
        return
    with node.write(WORKER_ACTOR) as uow:
        for item in unbound:
            assert item.unbound is not None and item.error is not None
            uow.record("outbox.receipt.unbound", item.row["subject"], {
                "envelope_id": item.id, "recipient": item.row["recipient"],
                "type": item.row["type"], "receipt": item.unbound.as_dict(),
                "sent_digest": item.env.content_digest() if item.env else None,
                "sent_received_digest": received_digest(item.jws)},
                decision="rejected", reasons=[{"code": "FED-UNBOUND-RECEIPT",
                                               "detail": item.error}])
        q = _OPEN_OF
        if uow.conn.dialect.name == "postgresql":
            q = q.with_for_update()
        still_open = set(uow.conn.execute(q, {"ids": [i.id for i in finals]}).scalars())
        updates = []
        outcomes: list[tuple[str, str]] = []
        for item in finals:
            if item.id not in still_open:  # another worker finished it meanwhile
                continue
            row, receipt = item.row, item.receipt
            reasons: list[dict[str, Any]]
            payload: dict[str, Any] = {"envelope_id": item.id, "recipient": row["recipient"],
                                       "type": row["type"], "answers": row["answers"]}
            if receipt is None:
                state, rule, detail = FAILED, "FED-UNDELIVERABLE", item.final_error or ""
                decision, reasons = "failed", [{"code": rule, "detail": detail}]
                payload["detail"] = detail
            else:
                payload.update(receipt=receipt.as_dict(),
                               peer_ledger_head=receipt.ledger_head.as_dict(),
                               attempts=row["attempts"] + 1)
                if receipt.accepted:
                    gate = item.decision or Decision.of(())
                    state, rule, detail = DELIVERED, None, None
                    decision, reasons = gate.outcome, _reasons(gate)
                else:
                    state, rule, detail = REJECTED, receipt.rule, receipt.detail
                    decision, reasons = "rejected", [{"code": receipt.rule, "detail": detail}]
                    payload["detail"] = detail
            uow.record(f"outbox.{state}", row["subject"], payload, decision=decision,
                       reasons=reasons)
            updates.append({
                "_id": item.id, "_state": state, "_rule": rule, "_now": uow.now,
                "_error": detail, "_receipt": item.receipt_text,
                "_decision": item.decision.as_dict() if item.decision else row["decision"],
                "_delivered_at": uow.now if state == DELIVERED else None,
                "_attempts": row["attempts"] + 1})
            outcomes.append((row["recipient"], state))
        if not updates:
            if not unbound:
                raise _NothingToRecord
            return
        uow.conn.execute(_FINISH, updates)
        settled = {u["_id"] for u in updates}
        uow.after_commit(lambda: _count_settled(outcomes))
        observed = [(i.row["recipient"], i.receipt, i.receipt_text) for i in finals
                    if i.id in settled and i.receipt is not None and i.receipt_text is not None]
        for observer in node.registry.receipt_observers:
            observer(uow, observed)


def _count_settled(outcomes: list[tuple[str, str]]) -> None:
    for peer, outcome in outcomes:
        metrics.DELIVERIES.labels(peer, outcome).inc()


def _bookkeep(node: Node, updates: dict[str, dict[str, Any]], now: datetime) -> None:
    """Retry schedules and leases: bookkeeping without a ledger entry (see the module note)."""
    if not updates:
        return
    with node.writes.engine.begin() as conn:  # the write-marked engine, built once
        for env_id, values in updates.items():
            conn.execute(update(outbox).where(
                (outbox.c.id == env_id) & outbox.c.state.in_(OPEN_STATES)).values(
                **values, lease_until=None, updated_at=now))


def deliver_due(node: Node, *, limit: int = 200, client: httpx.Client,
                rng: random.Random | None = None) -> int:
    """One delivery round: claim up to ``limit`` due rows, gate, send, record. Returns the
    number of rows claimed (0: nothing was due)."""
    now = node.now()
    rows = _claim(node, limit, now)
    if not rows:
        return 0
    rng = rng or random.Random()  # jitter, not secrecy
    items = [_Item(r) for r in rows]
    bookkeeping: dict[str, dict[str, Any]] = {}
    end_lease = keep_alive(node, [i.id for i in items])  # renewed while this round lasts
    try:
        sendable = _gate(node, items, now, bookkeeping)
        going = {i.id for i in sendable}
        # Held by the gate (or its gate could not decide): still open, so later items about
        # the same subject must not overtake it. Refused and failed rows are final.
        stuck = [_subject(i) for i in items if i.id not in going and (
            i.id in bookkeeping or (i.decision is not None and not i.decision.allowed
                                    and not i.decision.denied))]
        _send(node, client, sendable, blocked=stuck)
        for item in sendable:  # watched, so its backlog goes as soon as it answers again
            if item.unreachable:
                peer_watch.unreachable(node, item.row["recipient"], item.member["endpoint"])
        with contextlib.suppress(_NothingToRecord):
            _record_outcomes(node, sendable)
        cfg = node.config
        for item in sendable:
            if item.error is None:
                continue
            metrics.DELIVERY_FAILURES.labels(item.row["recipient"]).inc()
            attempts = item.row["attempts"] + 1
            delay = next_attempt_delay(attempts, cfg.outbox_backoff_base,
                                       max(cfg.outbox_backoff_cap, cfg.outbox_backoff_base), rng)
            values: dict[str, Any] = {"attempts": attempts, "last_error": item.error,
                                      "next_attempt_at": node.now() + timedelta(seconds=delay)}
            if item.row["state"] == HELD:  # the gate allows again
                values["state"] = PENDING
            bookkeeping[item.id] = values
    finally:
        end_lease()
        # Whatever happened, rows not finished go back to the queue now (or at their retry
        # time) instead of waiting for their lease to end.
        for item in items:
            if item.id not in bookkeeping and item.receipt is None and item.final_error is None \
                    and (item.decision is None or item.decision.allowed):
                bookkeeping[item.id] = {}
        _bookkeep(node, bookkeeping, node.now())
    return len(rows)


def run_worker(node: Node, stop: threading.Event, *, limit: int = 100, idle: float = 0.05,
               max_idle: float = IDLE_MAX, client: httpx.Client | None = None) -> None:
    """Deliver until ``stop`` is set. A round that filled ``limit`` is followed at once by the
    next (a backlog drains at full speed); after a partly filled round the worker waits
    ``idle`` seconds, so items arriving meanwhile travel together: a batch of thirty costs the
    two nodes little more than a batch of one, and under load this is what keeps up (at the
    price of up to ``idle`` seconds of latency when the queue is short). After an empty round
    the wait doubles up to ``max_idle``: an idle node does not query its outbox twenty times a
    second; an item queued in this process wakes the worker at once, one queued by another
    process (``hanoi requests submit`` beside ``hanoi serve``) waits at most ``max_idle``.
    An unexpected error is logged and retried after a pause; it never stops the loop."""
    own = client is None
    http = client or make_client()
    empty_wait = idle
    try:
        while not stop.is_set():
            _queued.clear()  # before the claim: an item queued from here on wakes the next wait
            try:
                with logs.request_id(logs.new_id("outbox-")):  # on each line of the round
                    peer_watch.probe(node, http)  # a peer back after a crash gets its backlog now
                    claimed = deliver_due(node, limit=limit, client=http)
                    for hook in node.registry.round_hooks:
                        try:
                            hook(node)
                        except Exception:
                            log.exception("outbox round hook %r failed", hook)
            except Exception:
                log.exception("outbox delivery round failed; retrying in 1 s")
                stop.wait(1.0)
                continue
            if claimed >= limit:
                empty_wait = idle
            elif claimed:
                empty_wait = idle
                stop.wait(idle)
            else:
                _queued.wait(empty_wait)
                empty_wait = min(empty_wait * 2, max(max_idle, idle))
    finally:
        if own:
            http.close()


def make_client() -> httpx.Client:
    """A keep-alive HTTP client for deliveries (no redirects: a peer's endpoint is exact)."""
    return httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0), follow_redirects=False,
                        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10))


def start_worker(node: Node, *, threads: int = 2, limit: int = 100,
                 ) -> tuple[list[threading.Thread], threading.Event]:
    """Run ``run_worker`` in daemon threads; set the returned event to stop them. Two threads
    by default: while one waits for a peer's receipts, the other signs the next batch or
    records the last, so both nodes' CPUs work at once (rows are leased, never shared)."""
    stop = threading.Event()
    out = []
    for i in range(max(1, threads)):
        thread = threading.Thread(target=run_worker, args=(node, stop), kwargs={"limit": limit},
                                  name=f"hanoi-outbox-{i}", daemon=True)
        thread.start()
        out.append(thread)
    return out, stop


_DEPTH = (select(outbox.c.recipient, outbox.c.state, func.count(), func.min(outbox.c.created_at))
          .where(outbox.c.state.in_(OPEN_STATES)).group_by(outbox.c.recipient, outbox.c.state))


def gauges(conn: Connection, now: datetime) -> Iterable[Reading]:
    """The outbox's depth and its oldest open row per peer, and the ledger's head: two grouped
    queries on indexed columns (``/metrics``)."""
    oldest: dict[str, datetime] = {}
    for peer, state, count, first in conn.execute(_DEPTH):
        yield Reading("hanoi_outbox_depth", "Outbox rows not yet settled, by peer and state "
                      "(pending, held by the gate)", {"peer": peer, "state": state}, count)
        if first is not None and (peer not in oldest or first < oldest[peer]):
            oldest[peer] = first
    for peer, first in oldest.items():
        yield Reading("hanoi_outbox_oldest_seconds", "Age of the oldest unsettled outbox row, "
                      "by peer", {"peer": peer}, max(0.0, (now - first).total_seconds()))
    head = conn.execute(select(func.max(ledger_entries.c.seq))).scalar()
    yield Reading("hanoi_ledger_head_seq", "Sequence number of the newest ledger entry", {},
                  head or 0)
