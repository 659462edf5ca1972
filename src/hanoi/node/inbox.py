"""The inbox: what arrives from other nodes, checked, gated, applied once, and answered.

For each envelope, in order: size, structure, a registered sender, its key named by ``kid``,
the signature, the key's validity at the envelope's ``created`` time, the recipient, freshness
(``federation_max_skew_seconds``), replay, the inbound gate, then the handler registered for
its type. Every outcome is ledgered and answered with a receipt signed by this node that
carries its ledger head after the entry:

- accepted: the handler applied the item; ``inbox.accepted`` is ledgered in the same
  transaction, and the inbox row (envelope id, content digest, the signed envelope, the signed
  receipt) commits with it;
- a repeat (same id, same contents: a retry whose receipt was lost): the stored receipt is
  returned byte for byte, nothing is applied, ``inbox.repeat`` is ledgered;
- rejected: ``inbox.rejected`` (decision ``rejected``, reasons ``[{code, detail}]``) and a
  signed rejected receipt naming the rule. A rejection after verification (gate, unknown type,
  the handler's own refusal) is stored like an acceptance, so a retry gets the same answer; a
  message that could not be verified (forged, unknown sender, expired key, wrong recipient,
  stale, too large, same id with other contents) stores nothing but its ledger entry.

Every receipt binds the message it answers: a verified envelope by its content digest, a
message that could not be verified by the digest of what arrived (``received_digest``), so a
refusal of junk someone sent under another node's envelope id cannot pass for the answer to
that node's real envelope.

The inbound gate is ``standing_reasons`` of the sender: a suspended sender is rejected
(GATE-SUSPENDED). ``review`` (concerns, a non-Party State) does NOT reject: the item is
accepted, the decision is ledgered with ``inbox.accepted`` (decision ``review``) and handed to
the handler as ``sender["inbound_decision"]``, whose own gate (e.g. the request gate on
receipt) holds the item for a named reviewer. Refusing it outright would lose an emergency
request from a partner nobody has assessed yet.

A batch is one transaction; each item runs in a savepoint, so a handler that refuses rolls
back only its own item, whose rejection is then ledgered in the same transaction.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.engine import Connection

from hanoi.core.citations import RULES
from hanoi.core.errors import HanoiError
from hanoi.core.gate import Decision, PartnerView, standing_reasons
from hanoi.core.keys import PublicKeyRecord
from hanoi.federation.descriptor import TYP_ROTATION, apply_rotation, open_rotation
from hanoi.federation.envelope import (
    TYP_ENVELOPE,
    Envelope,
    Rejection,
    check_replay,
    check_token,
    open_envelope,
    read_signed,
)
from hanoi.federation.receipts import (
    MAX_DETAIL,
    LedgerHead,
    Receipt,
    accept,
    received_digest,
    reject,
    sign_receipt,
)
from hanoi.node import members as members_service
from hanoi.node.runtime import Node, Work
from hanoi.store.tables import inbox, member_keys, members

log = logging.getLogger(__name__)

ACTOR = "system:inbox"
MAX_BATCH = 500



def ping(work: Work, env: Envelope, sender: dict[str, Any]) -> dict[str, Any] | None:
    """A connectivity check: it stores nothing but its ``inbox.accepted`` entry."""
    return None


@dataclass(frozen=True)
class Unreadable:
    """A message too broken to answer with a receipt (no envelope id could be read)."""

    rejection: Rejection


@dataclass(frozen=True)
class Transient:
    """The item could not be applied for a reason on this side: no receipt, try again."""

    detail: str


Outcome = str | Unreadable | Transient  # str: the signed receipt as JSON text


class _NothingToRecord(Exception):
    pass


# Built once: constructing a statement per envelope costs more than running it.
_SEEN = select(inbox.c.sender, inbox.c.envelope_id, inbox.c.content_digest, inbox.c.receipt,
               inbox.c.ledger_seq).where(
    # Both key columns, so the primary key (sender, envelope_id) is used: by id alone the
    # query scanned the whole inbox for every batch.
    inbox.c.sender.in_(bindparam("senders", expanding=True))
    & inbox.c.envelope_id.in_(bindparam("ids", expanding=True)))
# PostgreSQL: the (sender, id) pairs as arrays, joined to the primary key. With ``IN`` lists
# the planner, until the table's statistics caught up with its growth, matched the sender
# alone by the index and filtered every envelope of that peer (all of them, as one peer sends
# most of a node's inbox): 13 ms a batch at 9,000 rows and growing. Each pair is one index
# lookup here, whatever the statistics say.
_SEEN_PG = text(
    "SELECT i.sender, i.envelope_id, i.content_digest, i.receipt, i.ledger_seq "
    "FROM unnest(CAST(:senders AS text[]), CAST(:ids AS text[])) AS k(sender, envelope_id) "
    "JOIN inbox AS i ON i.sender = k.sender AND i.envelope_id = k.envelope_id")
_MEMBER = select(members).where(members.c.id == bindparam("member_id"))
_INSERT = inbox.insert()


def _text(jws: Mapping[str, Any]) -> str:
    return json.dumps(dict(jws), separators=(",", ":"), ensure_ascii=False)


def _peek(item: Any, max_bytes: int) -> dict[str, Any]:
    """The claimed id, sender and type of a message that failed verification (for the ledger
    and the receipt only: never trusted)."""
    try:
        signed = read_signed(item, typ=TYP_ENVELOPE, max_bytes=max_bytes)
    except Rejection:
        return {}
    out = {}
    for key in ("id", "sender", "type"):
        value = signed.payload.get(key)
        if isinstance(value, str):
            try:
                out[key] = check_token(value, key) if key != "type" else value[:64]
            except HanoiError:
                continue
    return out


class _Batch:
    """Per-transaction caches: senders' keys and member rows, the policy, the signing key."""

    def __init__(self, node: Node, uow: Work):
        self.node = node
        self.uow = uow
        self.now: datetime = uow.now
        self.me = node.node_id
        self._keys: dict[str, list[PublicKeyRecord]] = {}
        self._members: dict[str, dict[str, Any] | None] = {}
        self._decisions: dict[str, Decision] = {}
        # Inbox rows are written together at the end of the batch; repeats inside the batch
        # are found here.
        self.rows: list[dict[str, Any]] = []
        self.stored: dict[tuple[str, str], dict[str, Any]] = {}
        self._savepoint_open = False

    def keys(self, sender: str) -> list[PublicKeyRecord]:
        if sender not in self._keys:
            self._keys[sender] = members_service.key_records(self.uow.conn, sender)
        return self._keys[sender]

    def member(self, sender: str) -> dict[str, Any] | None:
        if sender not in self._members:
            row = self.uow.conn.execute(_MEMBER, {"member_id": sender}).mappings().first()
            self._members[sender] = dict(row) if row else None
        return self._members[sender]

    def decision(self, sender: str, member: dict[str, Any]) -> Decision:
        """The inbound gate for this sender (once per batch: it depends on the sender only)."""
        if sender not in self._decisions:
            self._decisions[sender] = Decision.of(
                standing_reasons(PartnerView.from_dict(member), self.uow.policy.standing))
        return self._decisions[sender]

    def preload(self, envelopes: Sequence[Envelope]) -> None:
        """One query for every envelope of the batch already in the inbox."""
        pairs = sorted({(e.sender, e.id) for e in envelopes})
        if not pairs:
            return
        conn = self.uow.conn
        if conn.dialect.name == "postgresql":
            found = conn.execute(_SEEN_PG, {"senders": [s for s, _ in pairs],
                                            "ids": [i for _, i in pairs]})
        else:
            found = conn.execute(_SEEN, {"senders": sorted({s for s, _ in pairs}),
                                         "ids": sorted({i for _, i in pairs})})
        for row in found.mappings():
            self.stored[(row["sender"], row["envelope_id"])] = dict(row)

    def seen(self, env: Envelope) -> dict[str, Any] | None:
        return self.stored.get((env.sender, env.id))

    def flush(self) -> None:
        if self.rows:
            self.uow.conn.execute(_INSERT, self.rows)
            self.rows = []

    def sign(self, receipt: Receipt) -> str:
        return _text(sign_receipt(receipt, self.node.private_key, self.node.config.key_id))

    def savepoint(self) -> None:
        """Open the item savepoint, first releasing the previous item's (kept open after its
        handler: releasing it then would cost PostgreSQL one more round trip per item; what
        was written after it is kept by the release, never undone by a later rollback)."""
        conn = self.uow.conn
        if not self._savepoint_open:
            _driver_sql(conn, "SAVEPOINT hanoi_inbox_item")
            self._savepoint_open = True
        elif conn.dialect.name == "postgresql":
            _driver_sql(conn, "RELEASE SAVEPOINT hanoi_inbox_item; SAVEPOINT hanoi_inbox_item")
        else:  # SQLite runs one statement per call (and has no round trips to save)
            _driver_sql(conn, "RELEASE SAVEPOINT hanoi_inbox_item")
            _driver_sql(conn, "SAVEPOINT hanoi_inbox_item")

    def head(self) -> LedgerHead:
        entry = self.uow.entries[-1]
        return LedgerHead(entry.seq, entry.hash)


def _reject_unverified(b: _Batch, item: Any, rej: Rejection) -> Outcome:
    """Ledger a message that failed verification; answer with a signed refusal if it names an id."""
    claimed = _peek(item, max(b.node.config.max_body_bytes, b.node.config.federation_max_envelope_bytes) * 2)
    ref = rej.envelope_id or claimed.get("id")
    b.uow.record("inbox.rejected", f"envelope:{ref}" if ref else "inbox",
                 {"envelope_id": ref, "claimed_sender": claimed.get("sender"),
                  "claimed_type": claimed.get("type"), "rule": rej.rule_code, "detail": rej.detail},
                 decision="rejected", reasons=[{"code": rej.rule_code, "detail": rej.detail}])
    if ref is None:
        return Unreadable(rej)
    # Bound to the bytes that came, not to the id they claim: anyone can send junk under
    # another node's envelope id, and this refusal must not pass for an answer to the real one.
    return b.sign(reject(ref, rej.rule_code, rej.detail, receiver=b.me, ledger_head=b.head(),
                         received_at=b.now, received=item))


def _store(b: _Batch, env: Envelope, item: Any, status: str, rule: str | None, receipt: str,
           content_digest: str) -> None:
    raw = _text(item) if isinstance(item, Mapping) else (
        item.decode("utf-8") if isinstance(item, bytes) else str(item))
    row = {"sender": env.sender, "envelope_id": env.id, "type": env.type, "answers": env.answers,
           "content_digest": content_digest, "status": status, "rule": rule, "envelope": raw,
           "receipt": receipt, "ledger_seq": b.uow.entries[-1].seq, "received_at": b.now}
    b.rows.append(row)
    b.stored[(env.sender, env.id)] = row


def _reject_verified(b: _Batch, env: Envelope, item: Any, rule: str, detail: str,
                     reasons: list[dict[str, Any]] | None = None) -> str:
    """A verified envelope refused (gate, type, handler): ledgered and stored for repeats."""
    content_digest = env.content_digest()
    b.uow.record("inbox.rejected", f"envelope:{env.id}",
                 {"envelope_id": env.id, "sender": env.sender, "type": env.type,
                  "answers": env.answers, "digest": content_digest, "rule": rule,
                  "detail": detail},
                 decision="rejected", reasons=reasons or [{"code": rule, "detail": detail}])
    receipt = b.sign(reject(env, rule, detail, receiver=b.me, ledger_head=b.head(),
                            received_at=b.now))
    _store(b, env, item, "rejected", rule, receipt, content_digest)
    return receipt


def _handler_rule(err: HanoiError) -> str:
    for code in (err.rule, *(p.rule for p in err.problems)):
        if code and code in RULES:
            return code
    return "FED-ITEM-INVALID"


def _verify(node: Node, items: Sequence[Any]) -> list[Envelope | Rejection]:
    """Size, structure, sender, key, signature, recipient and freshness of every item, before
    the write transaction: the expensive checks do not hold the database's write lock."""
    cfg = node.config
    now = node.now()
    skew = timedelta(seconds=cfg.federation_max_skew_seconds)
    out: list[Envelope | Rejection] = []
    with node.read() as conn:
        cache: dict[str, list[PublicKeyRecord]] = {}

        def resolve(sender: str) -> list[PublicKeyRecord]:
            if sender not in cache:
                cache[sender] = members_service.key_records(conn, sender)
            return cache[sender]

        for item in items:
            try:
                out.append(open_envelope(item, me=node.node_id, resolve_keys=resolve, now=now,
                                         max_skew=skew, max_bytes=cfg.federation_max_envelope_bytes))
            except Rejection as rej:
                out.append(rej)
    return out


def _receive_one(b: _Batch, item: Any, env: Envelope | Rejection) -> Outcome:
    if isinstance(env, Rejection):
        return _reject_unverified(b, item, env)
    seen = b.seen(env)
    if seen is not None:
        try:
            check_replay(env, seen["content_digest"])
        except Rejection as rej:
            return _reject_unverified(b, item, rej)
        b.uow.record("inbox.repeat", f"envelope:{env.id}",
                     {"envelope_id": env.id, "sender": env.sender, "type": env.type,
                      "first_seq": seen["ledger_seq"]},
                     reasons=[{"code": "FED-REPEAT",
                               "detail": "already received: the original receipt was returned"}])
        return str(seen["receipt"])
    member = b.member(env.sender)
    if member is None:  # keys without a member cannot happen (foreign key), but be exact
        return _reject_unverified(b, item, Rejection("FED-UNKNOWN-SENDER", "not a member", env.id))
    decision = b.decision(env.sender, member)
    if decision.denied:
        blocking = [r for r in decision.reasons if r.effect == "deny"]
        return _reject_verified(b, env, item, blocking[0].code,
                                "; ".join(f"{r.code}: {r.detail}" for r in blocking),
                                [r.as_dict() for r in decision.reasons])
    item = b.node.registry.item(env.type)
    handler = item.receive if item is not None else None
    if handler is None:
        return _reject_verified(b, env, item, "FED-UNKNOWN-TYPE",
                                f"this node does not handle {env.type!r} items")
    mark = b.uow.mark()
    # A savepoint in driver-level SQL (SQLAlchemy's begin_nested costs ten times more per
    # item): the handler's writes are undone alone if it refuses.
    b.savepoint()
    try:
        result = handler(b.uow, env, {**member, "inbound_decision": decision.as_dict()})
    except HanoiError as err:
        _rollback_item(b, mark)
        detail = err.detail + "".join(f"; {p}" for p in err.problems)
        return _reject_verified(b, env, item, _handler_rule(err), detail[:2000])
    except Exception:
        _rollback_item(b, mark)
        log.exception("handler for %r failed on envelope %s", env.type, env.id)
        return Transient("this node could not apply the item; nothing was applied, try again")
    result = result or {}
    subject = result.get("subject") if isinstance(result.get("subject"), str) else None
    content_digest = env.content_digest()
    b.uow.record("inbox.accepted", subject or f"envelope:{env.id}",
                 {"envelope_id": env.id, "sender": env.sender, "type": env.type,
                  "answers": env.answers, "created": env.as_dict()["created"],
                  "digest": content_digest, "result": result},
                 decision=decision.outcome, reasons=[r.as_dict() for r in decision.reasons])
    receipt = b.sign(accept(env, receiver=b.me, ledger_head=b.head(), received_at=b.now,
                            detail=str(result.get("receipt_detail", ""))[:MAX_DETAIL]))
    _store(b, env, item, "accepted", None, receipt, content_digest)
    return receipt


def _rollback_item(b: _Batch, mark: tuple[int, int]) -> None:
    # The savepoint stays open (ROLLBACK TO keeps it); the next item's replaces it.
    _driver_sql(b.uow.conn, "ROLLBACK TO SAVEPOINT hanoi_inbox_item")
    b.uow.rolled_back_to(mark)


def _driver_sql(conn: Connection, sql: str) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute(sql)


def receive_batch(node: Node, items: Sequence[Any]) -> list[Outcome]:
    """Receive several envelopes (JWS objects, or their bytes) in one transaction; one outcome
    per item, in order: the signed receipt as JSON text, ``Unreadable`` or ``Transient``."""
    if not items:
        return []
    checked = _verify(node, items)
    out: list[Outcome] = []
    try:
        with node.write(ACTOR) as uow:
            b = _Batch(node, uow)
            b.preload([e for e in checked if isinstance(e, Envelope)])
            out = [_receive_one(b, item, env) for item, env in zip(items, checked, strict=True)]
            b.flush()
            if not uow.entries:
                raise _NothingToRecord
    except _NothingToRecord:
        pass
    return out


def receive(node: Node, item: Any) -> str:
    """Receive one envelope; return the signed receipt as JSON text. Raises ``Rejection`` when
    no receipt can be made (nothing readable as an envelope id), ``HanoiError`` (503) when the
    item could not be applied for a reason on this side."""
    (outcome,) = receive_batch(node, [item])
    if isinstance(outcome, Unreadable):
        raise outcome.rejection
    if isinstance(outcome, Transient):
        raise HanoiError(outcome.detail, [], None, 503, "Service unavailable")
    return outcome


# --- key rotations announced by peers ---------------------------------------------------------


def _rotation_node(jws: Any) -> str | None:
    try:
        signed = read_signed(jws, typ=TYP_ROTATION, max_bytes=256 * 1024)
    except Rejection:
        return None
    value = signed.payload.get("node_id")
    return value if isinstance(value, str) else None


def receive_rotation(node: Node, body: Mapping[str, Any]) -> str:
    """Apply a peer's key rotation signed by its old key; return the signed receipt (JSON text).

    ``body`` is ``{"id": <the sender's outbox id>, "rotation": <rotation JWS>}``; the id only
    names the receipt. A refusal is ledgered (``inbox.rejected``) and answered with a signed
    rejected receipt; nothing is changed."""
    ref = body.get("id") if isinstance(body, Mapping) else None
    try:
        check_token(ref, "id")
    except HanoiError:
        raise Rejection("FED-MALFORMED", "a rotation is posted as {id, rotation}") from None
    assert isinstance(ref, str)
    jws: Any = body.get("rotation")
    # The receipt names the rotation it answers (a rotation is no envelope: the digest of the
    # signed rotation as received stands for its contents), accepted or not.
    bound = received_digest(jws)
    with node.write(ACTOR) as uow:
        b = _Batch(node, uow)
        peer = _rotation_node(jws)
        try:
            known = b.keys(peer) if peer else []
            if not known:
                raise Rejection("FED-UNKNOWN-SENDER", f"{peer!r} is not a registered peer", ref)
            rotation = open_rotation(
                jws, node_id=str(peer), known_keys=known, now=b.now,
                max_skew=timedelta(seconds=node.config.federation_max_skew_seconds),
                max_bytes=node.config.federation_max_envelope_bytes)
        except Rejection as rej:
            b.uow.record("inbox.rejected", f"envelope:{ref}",
                         {"envelope_id": ref, "claimed_sender": peer, "claimed_type": "key.rotation",
                          "rule": rej.rule_code, "detail": rej.detail},
                         decision="rejected", reasons=[{"code": rej.rule_code, "detail": rej.detail}])
            return b.sign(Receipt(ref, b.me, "rejected", rej.rule_code, rej.detail[:2000],
                                  b.head(), b.now, bound))
        assert peer is not None
        before = {k.key_id: k for k in known}
        for key in apply_rotation(known, rotation):
            old = before.get(key.key_id)
            if old is None:
                uow.conn.execute(member_keys.insert().values(
                    member_id=peer, key_id=key.key_id, public_key=key.public_key_b64,
                    not_before=key.not_before or uow.now, not_after=key.not_after,
                    added_at=uow.now))
            elif old.not_after != key.not_after:
                uow.conn.execute(update(member_keys).where(
                    (member_keys.c.member_id == peer) & (member_keys.c.key_id == key.key_id))
                    .values(not_after=key.not_after))
        uow.record("peer.key.rotated", f"member:{peer}",
                   {"envelope_id": ref, "rotation": rotation.as_dict(), "signed": jws})
        return b.sign(Receipt(ref, b.me, "accepted", None, "key rotation applied", b.head(), b.now,
                              bound))


def receipt_payload(receipt_text: str) -> dict[str, Any]:
    """The payload of a signed receipt (no verification: for display and tests)."""
    jws = json.loads(receipt_text)
    raw = jws["payload"]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return data
