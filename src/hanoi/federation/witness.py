"""Witnessed ledger heads: what a peer saw of a node's ledger, and how the node checks it.

A chain with signed checkpoints kept in one database cannot show a tail that was cut (the
checkpoints covering it cut too), nor a tail re-hashed and re-signed by someone who holds the
node's key. So each node's heads are witnessed by its peers, as Certificate Transparency logs
are by their monitors. A peer keeps, for every node it federates with, the heads that node
signed: its checkpoints, sent as ``ledger.checkpoint`` items (``checkpoint_item`` /
``open_checkpoint_item``), and the ledger head in every receipt that node signed. Asked by the
node itself (a ``WitnessQuery`` signed with the node's key), the witness answers with a signed
``WitnessStatement`` naming the newest head it holds, with the node's own signature over it
as evidence. ``compare`` then says whether the node's ledger still has that entry with that
hash: if the witness saw entry N and the ledger ends before N, the tail was cut; if the hash
at N differs, it was rewritten. A witness learns nothing but ``(node, seq, head hash)`` and
the signature over them. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from hanoi.core import keys
from hanoi.core.errors import InvalidInput, invalid
from hanoi.core.keys import PublicKeyRecord, format_rfc3339, parse_rfc3339
from hanoi.core.ledger import checkpoint_message
from hanoi.federation.envelope import (
    DEFAULT_MAX_SKEW,
    JWS,
    KeyResolver,
    Rejection,
    check_token,
    exact_members,
    read_signed,
    sign_object,
    verify_signed,
)
from hanoi.federation.receipts import open_receipt

TYP_QUERY = "hanoi-witness-query+json"
TYP_STATEMENT = "hanoi-witness-statement+json"
MAX_BYTES = 64 * 1024
_HASH = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[0-9a-f]{128}")
_NONCE = re.compile(r"[0-9a-f]{32,64}")
SAFE_SEQ = 2**53 - 1

Source = Literal["checkpoint", "receipt"]
SOURCES: tuple[Source, ...] = ("checkpoint", "receipt")


def _seq(value: object, field_name: str = "seq") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= SAFE_SEQ:
        raise invalid(field_name, "must be a positive integer")
    return value


def _hash(value: object, field_name: str = "head_hash") -> str:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise invalid(field_name, "must be 64 lower-case hex digits")
    return value


def _aware(value: object, field_name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise invalid(field_name, "must be a timezone-aware datetime")
    return value.astimezone(UTC)


# --- the checkpoint item a node sends its peers ----------------------------------------------


def checkpoint_item(seq: int, head_hash: str, key_id: str, signature_hex: str) -> dict[str, Any]:
    """The payload of a ``ledger.checkpoint`` item: a signed checkpoint, nothing else."""
    return {"seq": seq, "head_hash": head_hash, "key_id": key_id, "signature": signature_hex}


def open_checkpoint_item(payload: Mapping[str, Any], *, node_id: str,
                         node_keys: Sequence[PublicKeyRecord]) -> tuple[int, str, str, str]:
    """``(seq, head_hash, key_id, signature)`` of a checkpoint item from ``node_id``, its
    signature checked against the node's registered keys (the key it names, whatever its
    window: a checkpoint made before a rotation was signed by the key of its day; the envelope
    carrying it was verified against a key valid now). ``InvalidInput`` (rule FED-SIGNATURE for
    a signature that does not verify) otherwise."""
    exact_members(payload, {"seq", "head_hash", "key_id", "signature"})
    seq, head_hash = _seq(payload["seq"]), _hash(payload["head_hash"])
    key_id = keys.check_key_id(payload["key_id"])
    signature = payload["signature"]
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        raise invalid("signature", "must be 128 lower-case hex digits (an Ed25519 signature)")
    record = next((k for k in node_keys if k.key_id == key_id), None)
    if record is None:
        raise invalid("key_id", f"{key_id!r} is not a registered key of {node_id}", "FED-UNKNOWN-KEY")
    if not keys.verify(record.public_key, bytes.fromhex(signature),
                       checkpoint_message(seq, head_hash, node_id)):
        raise invalid("signature", f"does not verify with {key_id!r}", "FED-SIGNATURE")
    return seq, head_hash, key_id, signature


# --- what a witness holds ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WitnessedHead:
    """A head of ``node``'s ledger that a witness holds, with the node's signature over it:
    for a ``checkpoint``, the hex Ed25519 signature over ``checkpoint_message`` by ``key_id``;
    for a ``receipt``, the whole signed receipt (JSON text) whose ``ledger_head`` it is."""

    seq: int
    head_hash: str
    source: Source
    key_id: str
    signature: str
    received_at: datetime

    def __post_init__(self) -> None:
        _seq(self.seq)
        _hash(self.head_hash)
        if self.source not in SOURCES:
            raise invalid("source", f"must be one of {', '.join(SOURCES)}")
        keys.check_key_id(self.key_id)
        if not isinstance(self.signature, str) or not 1 <= len(self.signature) <= MAX_BYTES // 2:
            raise invalid("signature", "must be text")
        object.__setattr__(self, "received_at", _aware(self.received_at, "received_at"))

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "head_hash": self.head_hash, "source": self.source,
                "key_id": self.key_id, "signature": self.signature,
                "received_at": format_rfc3339(self.received_at)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WitnessedHead:
        exact_members(data, {"seq", "head_hash", "source", "key_id", "signature", "received_at"})
        return cls(data["seq"], data["head_hash"], data["source"], data["key_id"],
                   data["signature"], parse_rfc3339(data["received_at"], "received_at"))

    def signed_by(self, node_id: str, own_keys: Sequence[PublicKeyRecord]) -> bool:
        """True when the evidence is ``node_id``'s own signature over this head, by one of
        ``own_keys``: then the node did sign that head, whatever its ledger says now."""
        if self.source == "checkpoint":
            record = next((k for k in own_keys if k.key_id == self.key_id), None)
            try:
                return record is not None and keys.verify(
                    record.public_key, bytes.fromhex(self.signature),
                    checkpoint_message(self.seq, self.head_hash, node_id))
            except ValueError:
                return False
        try:
            receipt = open_receipt(self.signature, resolve_keys=lambda n: own_keys if n == node_id else [],
                                   receiver=node_id, max_bytes=MAX_BYTES)
        except Rejection:
            return False
        head = receipt.ledger_head
        return (head.seq, head.hash) == (self.seq, self.head_hash)


# --- asking a witness -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WitnessQuery:
    """``node`` asks ``witness`` for the newest head of its own ledger the witness holds."""

    node: str
    witness: str
    asked_at: datetime
    nonce: str

    def __post_init__(self) -> None:
        check_token(self.node, "node")
        check_token(self.witness, "witness")
        object.__setattr__(self, "asked_at", _aware(self.asked_at, "asked_at"))
        if not isinstance(self.nonce, str) or not _NONCE.fullmatch(self.nonce):
            raise invalid("nonce", "must be 32-64 lower-case hex digits")

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "witness": self.witness,
                "asked_at": format_rfc3339(self.asked_at), "nonce": self.nonce}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WitnessQuery:
        exact_members(data, {"node", "witness", "asked_at", "nonce"})
        return cls(data["node"], data["witness"], parse_rfc3339(data["asked_at"], "asked_at"),
                   data["nonce"])


def sign_query(query: WitnessQuery, private_key: Any, key_id: str) -> JWS:
    return sign_object(query.as_dict(), typ=TYP_QUERY, private_key=private_key, key_id=key_id)


def open_query(jws: Mapping[str, Any] | bytes | str, *, me: str, resolve_keys: KeyResolver,
               now: datetime, max_skew: timedelta = DEFAULT_MAX_SKEW) -> WitnessQuery:
    """A query addressed to this witness ``me``, signed by the node it asks about with a key
    valid now, and fresh. Raises ``Rejection`` (FED-MALFORMED, FED-UNKNOWN-SENDER,
    FED-UNKNOWN-KEY, FED-SIGNATURE, FED-KEY-EXPIRED, FED-RECIPIENT, FED-STALE)."""
    signed = read_signed(jws, typ=TYP_QUERY, max_bytes=MAX_BYTES)
    try:
        query = WitnessQuery.from_dict(signed.payload)
    except InvalidInput as exc:
        raise Rejection("FED-MALFORMED", f"witness query {exc.detail}") from None
    records = list(resolve_keys(query.node))
    if not records:
        raise Rejection("FED-UNKNOWN-SENDER", f"{query.node!r} is not a registered peer")
    verify_signed(signed, records, now)  # a key valid now: no backdating a query
    if query.witness != me:
        raise Rejection("FED-RECIPIENT", f"addressed to {query.witness!r}, this node is {me!r}")
    if abs(query.asked_at - now) > max_skew:
        raise Rejection("FED-STALE", f"asked at {format_rfc3339(query.asked_at)}, outside the "
                                     f"accepted skew of {max_skew}")
    return query


@dataclass(frozen=True, slots=True)
class WitnessStatement:
    """The witness's signed answer: the newest head of ``node`` it holds (None: none yet)."""

    witness: str
    node: str
    nonce: str
    answered_at: datetime
    latest: WitnessedHead | None

    def __post_init__(self) -> None:
        check_token(self.witness, "witness")
        check_token(self.node, "node")
        if not isinstance(self.nonce, str) or not _NONCE.fullmatch(self.nonce):
            raise invalid("nonce", "must be 32-64 lower-case hex digits")
        object.__setattr__(self, "answered_at", _aware(self.answered_at, "answered_at"))
        if self.latest is not None and not isinstance(self.latest, WitnessedHead):
            raise invalid("latest", "must be a WitnessedHead or None")

    def as_dict(self) -> dict[str, Any]:
        return {"witness": self.witness, "node": self.node, "nonce": self.nonce,
                "answered_at": format_rfc3339(self.answered_at),
                "latest": self.latest.as_dict() if self.latest else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WitnessStatement:
        exact_members(data, {"witness", "node", "nonce", "answered_at", "latest"})
        latest = data["latest"]
        return cls(data["witness"], data["node"], data["nonce"],
                   parse_rfc3339(data["answered_at"], "answered_at"),
                   WitnessedHead.from_dict(latest) if latest is not None else None)


def sign_statement(statement: WitnessStatement, private_key: Any, key_id: str) -> JWS:
    return sign_object(statement.as_dict(), typ=TYP_STATEMENT, private_key=private_key,
                       key_id=key_id)


def open_statement(jws: Mapping[str, Any] | bytes | str, *, query: WitnessQuery,
                   witness_keys: Sequence[PublicKeyRecord]) -> WitnessStatement:
    """The witness's answer to ``query``: signed by the witness with a key valid when it
    answered, about the node that asked, echoing its nonce. Raises ``Rejection``."""
    signed = read_signed(jws, typ=TYP_STATEMENT, max_bytes=MAX_BYTES)
    try:
        statement = WitnessStatement.from_dict(signed.payload)
    except InvalidInput as exc:
        raise Rejection("FED-MALFORMED", f"witness statement {exc.detail}") from None
    if (statement.witness, statement.node, statement.nonce) != (query.witness, query.node,
                                                                query.nonce):
        raise Rejection("FED-MALFORMED", "the statement does not answer this query")
    if not witness_keys:
        raise Rejection("FED-UNKNOWN-SENDER", f"{statement.witness!r} is not a registered peer")
    verify_signed(signed, witness_keys, statement.answered_at)
    return statement


# --- what the node concludes ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """What one witness's newest head says about the ledger: ``consistent``, ``cut`` (the
    witness saw entry ``seq`` and the ledger ends before it) or ``rewritten`` (the entry at
    ``seq`` has another hash than the one the witness saw)."""

    outcome: Literal["consistent", "cut", "rewritten"]
    seq: int
    detail: str

    @property
    def tampered(self) -> bool:
        return self.outcome != "consistent"


def compare(witness: str, head: WitnessedHead, *, ledger_head_seq: int,
            hash_at_seq: str | None) -> Finding:
    """Hold the witness's head against the ledger: its newest entry is ``ledger_head_seq`` and
    the entry at ``head.seq`` has ``hash_at_seq`` (None if missing)."""
    if head.seq > ledger_head_seq or hash_at_seq is None:
        return Finding("cut", head.seq,
                       f"witness {witness} saw entry {head.seq} (head {head.head_hash}) but the "
                       f"ledger ends at entry {ledger_head_seq}: its tail was cut")
    if hash_at_seq != head.head_hash:
        return Finding("rewritten", head.seq,
                       f"witness {witness} saw entry {head.seq} with hash {head.head_hash}, the "
                       f"ledger has {hash_at_seq}: the chain was rewritten up to there")
    return Finding("consistent", head.seq,
                   f"witness {witness} saw entry {head.seq}: the ledger agrees")
