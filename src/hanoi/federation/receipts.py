"""Receipts: the receiver's signed answer to an envelope, accepted or rejected with a rule.

A receipt names the envelope (id and digest), the receiving node, the outcome, the rule code of
a rejection, and the receiver's ledger head after it recorded the envelope, so the two nodes can
later prove what they exchanged. It is signed with the same JWS machinery as envelopes
(``typ`` ``hanoi-receipt+json``); the sender verifies it with ``open_receipt`` and ledgers it.

Every receipt binds the exact message it answers, because an id alone proves nothing: anyone
on the path can send the receiver junk under another node's envelope id and collect a genuine,
signed rejection for it. A receipt for a verified envelope names ``envelope_digest``
(``Envelope.content_digest()``; a re-signed retry has the same one); a rejection of a message
that could not be verified names ``received_digest``, the digest of what arrived
(``received_digest()``: the JWS's three members, or the raw bytes of junk), which its sender can
compute from what it sent. ``binding_problem`` is the sender's check: a receipt naming another
message's digest settles nothing, nor does a rejection naming none (as older nodes sent); an
acceptance naming none is still taken from older nodes, since only the sender's own signed
envelope can be accepted under its id. ``received_digest`` is written only when set, so older
nodes still read every acceptance. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hanoi.core.canonical import digest
from hanoi.core.citations import RULES
from hanoi.core.errors import InvalidInput, NotFound, invalid
from hanoi.core.keys import format_rfc3339, parse_rfc3339
from hanoi.federation.envelope import (
    DEFAULT_MAX_BYTES,
    JWS,
    Envelope,
    KeyResolver,
    Rejection,
    check_token,
    exact_members,
    read_signed,
    sign_object,
    verify_signed,
)

TYP_RECEIPT = "hanoi-receipt+json"
MAX_DETAIL = 2000
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")

Status = Literal["accepted", "rejected"]


@dataclass(frozen=True, slots=True)
class LedgerHead:
    """The last ledger entry of the signing node: its sequence number and hash."""

    seq: int
    hash: str

    def __post_init__(self) -> None:
        if not isinstance(self.seq, int) or isinstance(self.seq, bool) or self.seq < 0:
            raise invalid("ledger_head.seq", "must be a non-negative integer")
        if not isinstance(self.hash, str) or not 1 <= len(self.hash) <= 256:
            raise invalid("ledger_head.hash", "must be a non-empty string")

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LedgerHead:
        exact_members(data, {"seq", "hash"})
        return cls(data["seq"], data["hash"])


@dataclass(frozen=True, slots=True)
class Receipt:
    """The receiver's answer. ``rule`` is set exactly when ``status`` is 'rejected';
    ``envelope_digest`` is ``Envelope.content_digest()`` when the envelope was verified,
    ``received_digest`` the ``received_digest()`` of a message that was not."""

    envelope_id: str
    receiver: str
    status: Status
    rule: str | None
    detail: str
    ledger_head: LedgerHead
    received_at: datetime
    envelope_digest: str | None = None
    received_digest: str | None = None

    def __post_init__(self) -> None:
        check_token(self.envelope_id, "envelope_id")
        check_token(self.receiver, "receiver")
        if self.status == "accepted":
            if self.rule is not None:
                raise invalid("rule", "an accepted receipt has no rule")
        elif self.status == "rejected":
            if self.rule not in RULES:
                raise invalid("rule", "a rejected receipt names a known rule code")
        else:
            raise invalid("status", "must be 'accepted' or 'rejected'")
        if not isinstance(self.detail, str) or len(self.detail) > MAX_DETAIL:
            raise invalid("detail", f"must be text of at most {MAX_DETAIL} characters")
        if not isinstance(self.ledger_head, LedgerHead):
            raise invalid("ledger_head", "must be a LedgerHead")
        if not isinstance(self.received_at, datetime) or self.received_at.utcoffset() is None:
            raise invalid("received_at", "must be a timezone-aware datetime")
        object.__setattr__(self, "received_at", self.received_at.astimezone(UTC))
        for name in ("envelope_digest", "received_digest"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not _DIGEST.fullmatch(value)):
                raise invalid(name, "must be sha256: and 64 lower-case hex digits")

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"

    def as_dict(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "receiver": self.receiver,
            "status": self.status,
            "rule": self.rule,
            "detail": self.detail,
            "ledger_head": self.ledger_head.as_dict(),
            "received_at": format_rfc3339(self.received_at),
            "envelope_digest": self.envelope_digest,
            # Only when set: a node from before it refuses unknown members, and must still
            # read every acceptance (which never carries it).
            **({"received_digest": self.received_digest} if self.received_digest else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Receipt:
        exact_members(
            data,
            {"envelope_id", "receiver", "status", "rule", "detail", "ledger_head", "received_at"},
            {"envelope_digest", "received_digest"},
        )
        return cls(
            envelope_id=data["envelope_id"],
            receiver=data["receiver"],
            status=data["status"],
            rule=data["rule"],
            detail=data["detail"],
            ledger_head=LedgerHead.from_dict(data["ledger_head"]),
            received_at=parse_rfc3339(data["received_at"], "received_at"),
            envelope_digest=data.get("envelope_digest"),
            received_digest=data.get("received_digest"),
        )


def accept(
    env: Envelope,
    *,
    receiver: str,
    ledger_head: LedgerHead,
    received_at: datetime,
    detail: str = "",
) -> Receipt:
    """The receipt accepting a verified envelope."""
    return Receipt(
        env.id,
        receiver,
        "accepted",
        None,
        detail,
        ledger_head,
        received_at,
        env.content_digest(),
    )


def reject(
    envelope: Envelope | str,
    rule_code: str,
    detail: str,
    *,
    receiver: str,
    ledger_head: LedgerHead,
    received_at: datetime,
    received: Any = None,
) -> Receipt:
    """The receipt rejecting an envelope under ``rule_code``: a verified ``Envelope`` (e.g. a
    gate refusal; bound by its content digest), or the id read from a message that could not
    be verified, e.g. ``reject(exc.envelope_id, exc.rule_code, exc.detail, ..., received=msg)``
    for a ``Rejection``, where ``received`` is the message as it arrived (bound by its
    ``received_digest``; required, since a rejection binding nothing could answer anyone's
    message). Long details are cut to ``MAX_DETAIL``."""
    if isinstance(envelope, Envelope):
        env_id, content, got = envelope.id, envelope.content_digest(), None
    elif received is None:
        raise invalid("received", "a rejection of an unverified message names what was received")
    else:
        env_id, content, got = envelope, None, received_digest(received)
    return Receipt(
        env_id,
        receiver,
        "rejected",
        rule_code,
        detail[:MAX_DETAIL],
        ledger_head,
        received_at,
        content,
        got,
    )


_JWS_MEMBERS = ("payload", "protected", "signature")


def received_digest(message: Any) -> str:
    """``sha256:<hex>`` of a message exactly as a receiver got it, in a form its sender can
    compute from what it sent: a flattened JWS (an object of exactly three string members
    ``payload``, ``protected``, ``signature``, given parsed or as JSON text) is digested as the
    canonical JSON of those members, whatever spacing or member order carried it, so a batch
    element and a single POST give the same digest; anything else as the bytes received (a
    parsed batch element: its canonical JSON, or its ``repr`` if it has none)."""
    raw: bytes | None = None
    value = message
    if isinstance(message, bytes | bytearray | str):
        raw = message.encode("utf-8", "surrogatepass") if isinstance(message, str) \
            else bytes(message)
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            value = None
    if (isinstance(value, Mapping) and set(value) == set(_JWS_MEMBERS)
            and all(isinstance(value[k], str) for k in _JWS_MEMBERS)):
        try:
            return digest({k: value[k] for k in _JWS_MEMBERS})
        except (ValueError, TypeError, UnicodeError):
            pass  # lone surrogates: not a JWS anyone signed; the bytes below name it
    if raw is None:
        try:
            return digest(message)
        except (ValueError, TypeError, UnicodeError, RecursionError):
            raw = repr(message).encode("utf-8", "backslashreplace")
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def binding_problem(
    receipt: Receipt, *, envelope_id: str, content_digest: str | None, sent: Any
) -> str | None:
    """Why ``receipt`` is not the answer to what this node sent, or None when it is.

    ``envelope_id`` and ``content_digest`` (``Envelope.content_digest()``; None for a message
    that is not an envelope, such as a key rotation) name what was sent and ``sent`` is the
    signed message as posted. Each digest the receipt names must be this message's, and it
    must name one, except an acceptance from a node that predates bound receipts."""
    if receipt.envelope_id != envelope_id:
        return f"it answers {receipt.envelope_id!r}, not {envelope_id!r}"
    if receipt.envelope_digest is None and receipt.received_digest is None:
        if receipt.accepted:
            return None
        return ("a rejection that names no digest may answer a message someone else sent under "
                "this id")
    if receipt.envelope_digest is not None and receipt.envelope_digest != content_digest:
        return f"it names the contents {receipt.envelope_digest}, not this envelope's"
    if receipt.received_digest is not None and receipt.received_digest != received_digest(sent):
        return f"it answers the message {receipt.received_digest}, not the one this node sent"
    return None


def sign_receipt(receipt: Receipt, private_key: Ed25519PrivateKey, key_id: str) -> JWS:
    """The receipt as a flattened JWS signed by the receiving node's key ``key_id``."""
    return sign_object(receipt.as_dict(), typ=TYP_RECEIPT, private_key=private_key, key_id=key_id)


def open_receipt(
    jws: Mapping[str, Any] | bytes | str,
    *,
    resolve_keys: KeyResolver,
    receiver: str | None = None,
    envelope: Envelope | None = None,
    sent: Any = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Receipt:
    """Verify a receipt signed by ``receipt.receiver`` with its key valid at ``received_at``.

    When given, ``receiver`` must be the node the envelope went to, and ``envelope`` (with
    ``sent``, its JWS as posted) the one sent: the receipt must be bound to it
    (``binding_problem``; FED-UNBOUND-RECEIPT otherwise). Raises ``Rejection``
    (FED-TOO-LARGE, FED-MALFORMED, FED-UNKNOWN-SENDER, FED-UNKNOWN-KEY, FED-SIGNATURE,
    FED-KEY-EXPIRED, FED-UNBOUND-RECEIPT).
    """
    signed = read_signed(jws, typ=TYP_RECEIPT, max_bytes=max_bytes)
    try:
        receipt = Receipt.from_dict(signed.payload)
    except InvalidInput as exc:
        raise Rejection("FED-MALFORMED", f"receipt {exc.detail}") from None
    ref = receipt.envelope_id
    if receiver is not None and receipt.receiver != receiver:
        raise Rejection(
            "FED-MALFORMED", f"receipt is from {receipt.receiver!r}, expected {receiver!r}", ref
        )
    try:
        records = list(resolve_keys(receipt.receiver))
    except NotFound:
        records = []
    if not records:
        raise Rejection("FED-UNKNOWN-SENDER", f"{receipt.receiver!r} is not a registered peer", ref)
    verify_signed(signed, records, receipt.received_at, ref=ref)
    if envelope is not None:
        problem = binding_problem(receipt, envelope_id=envelope.id,
                                  content_digest=envelope.content_digest(), sent=sent)
        if problem is not None:
            raise Rejection("FED-UNBOUND-RECEIPT", f"receipt {problem}", ref)
    return receipt
