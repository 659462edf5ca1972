"""Receipts: the receiver's signed answer to an envelope, accepted or rejected with a rule.

A receipt names the envelope (id and content digest), the receiving node, the outcome, the
rule code of a rejection, and the receiver's ledger head after it recorded the envelope, so
the two nodes can later prove what they exchanged. It is signed with the same JWS machinery as
envelopes (``typ`` ``hanoi-receipt+json``); the sender verifies it with ``open_receipt`` and
ledgers it. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
    ``envelope_digest`` is ``Envelope.content_digest()`` when the envelope could be read."""

    envelope_id: str
    receiver: str
    status: Status
    rule: str | None
    detail: str
    ledger_head: LedgerHead
    received_at: datetime
    envelope_digest: str | None = None

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
        if self.envelope_digest is not None and (
            not isinstance(self.envelope_digest, str) or not _DIGEST.fullmatch(self.envelope_digest)
        ):
            raise invalid("envelope_digest", "must be sha256: and 64 lower-case hex digits")

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
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Receipt:
        exact_members(
            data,
            {"envelope_id", "receiver", "status", "rule", "detail", "ledger_head", "received_at"},
            {"envelope_digest"},
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
) -> Receipt:
    """The receipt rejecting an envelope (or an envelope id, when it could not be verified)
    under ``rule_code``, e.g. ``reject(exc.envelope_id, exc.rule_code, exc.detail, ...)`` for a
    ``Rejection`` or a gate refusal. Long details are cut to ``MAX_DETAIL``."""
    env_id = envelope.id if isinstance(envelope, Envelope) else envelope
    digest = envelope.content_digest() if isinstance(envelope, Envelope) else None
    return Receipt(
        env_id,
        receiver,
        "rejected",
        rule_code,
        detail[:MAX_DETAIL],
        ledger_head,
        received_at,
        digest,
    )


def sign_receipt(receipt: Receipt, private_key: Ed25519PrivateKey, key_id: str) -> JWS:
    """The receipt as a flattened JWS signed by the receiving node's key ``key_id``."""
    return sign_object(receipt.as_dict(), typ=TYP_RECEIPT, private_key=private_key, key_id=key_id)


def open_receipt(
    jws: Mapping[str, Any] | bytes | str,
    *,
    resolve_keys: KeyResolver,
    receiver: str | None = None,
    envelope: Envelope | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Receipt:
    """Verify a receipt signed by ``receipt.receiver`` with its key valid at ``received_at``.

    When given, ``receiver`` must be the node the envelope went to and ``envelope`` the one
    sent (its id and, if the receipt carries one, its content digest must match). Raises
    ``Rejection`` (FED-TOO-LARGE, FED-MALFORMED, FED-UNKNOWN-SENDER, FED-UNKNOWN-KEY,
    FED-SIGNATURE, FED-KEY-EXPIRED).
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
    if envelope is not None:
        if receipt.envelope_id != envelope.id:
            raise Rejection("FED-MALFORMED", f"receipt answers {ref!r}, not {envelope.id!r}", ref)
        if (
            receipt.envelope_digest is not None
            and receipt.envelope_digest != envelope.content_digest()
        ):
            raise Rejection("FED-MALFORMED", "receipt names other envelope contents", ref)
    try:
        records = list(resolve_keys(receipt.receiver))
    except NotFound:
        records = []
    if not records:
        raise Rejection("FED-UNKNOWN-SENDER", f"{receipt.receiver!r} is not a registered peer", ref)
    verify_signed(signed, records, receipt.received_at, ref=ref)
    return receipt
