"""Envelopes: every item between nodes travels as a signed JWS, and this is how it is read.

An ``Envelope`` (id, sender, recipient, type, created, payload, answers) is signed as a JWS in
the flattened JSON serialisation: the payload is the RFC 8785 canonical JSON of the envelope,
the protected header holds ``alg`` (Ed25519), ``kid`` (the signing key's id) and ``typ`` (what
kind of object it is, so a receipt can never pass for an envelope). ``open_envelope`` checks,
in order: size, structure, a known sender, the key named by ``kid``, the signature, the key's
validity at the envelope's ``created`` time, the recipient and freshness; each failure raises
``Rejection`` with a FED-* rule code from ``hanoi.core.citations``.

Replay: an envelope id may arrive again (a retry whose receipt was lost, or an attacker). The
inbox keeps the ids it has seen with ``Envelope.content_digest()`` and the receipt it sent;
``check_replay`` says whether a verified envelope is new, a harmless repeat (answer with the
original receipt, apply nothing) or a clash (FED-REPLAY). ``created`` is the signing time: the
outbox signs again at each attempt, keeping the id, so retries stay fresh.

The generic helpers (``sign_object``, ``read_signed``, ``verify_signed``) are shared by
receipts, node descriptors and key rotations. Pure: no I/O, no clock (``now`` is an argument).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws as jose_jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from hanoi.core.canonical import digest, fast_canonical_json
from hanoi.core.citations import rule as _rule
from hanoi.core.errors import HanoiError, InvalidInput, NotFound, Problem, invalid
from hanoi.core.keys import (
    PublicKeyRecord,
    check_key_id,
    format_rfc3339,
    parse_public_key,
    parse_rfc3339,
    select_key,
)

# RFC 9864 deprecates the polymorphic "EdDSA" for the fully specified "Ed25519" (joserfc warns
# on "EdDSA"). We sign with "Ed25519" and also accept "EdDSA": with our OKP Ed25519 keys both
# name the same signature, and older JOSE stacks only know "EdDSA".
SIGNING_ALG = "Ed25519"
ACCEPTED_ALGS = ("Ed25519", "EdDSA")

TYP_ENVELOPE = "hanoi-envelope+json"

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_SKEW = timedelta(minutes=5)

# Ids and node names travel in headers, URLs and ledger entries: safe short tokens only.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}")
TOKEN_PATTERN = f"^{_TOKEN.pattern}$"
"""An id token as a JSON Schema pattern (the API documents ids with it)."""
_TYPE = re.compile(r"[a-z][a-z0-9._-]{0,63}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_SAFE_INT = 2**53
_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})
_JWS_MEMBERS = frozenset({"payload", "protected", "signature"})
_JWS_JSON_OVERHEAD = len(json.dumps(dict.fromkeys(_JWS_MEMBERS, ""), separators=(",", ":")))

_STATUS = {
    "FED-TOO-LARGE": 413,
    "FED-SIGNATURE": 401,
    "FED-UNKNOWN-SENDER": 401,
    "FED-UNKNOWN-KEY": 401,
    "FED-KEY-EXPIRED": 401,
    "FED-REPLAY": 409,
}

JWS = dict[str, str]
KeyResolver = Callable[[str], Sequence[PublicKeyRecord]]


class Rejection(HanoiError):
    """A federation message refused under a FED-* rule; the inbox answers with a rejected
    receipt carrying ``rule_code``. ``envelope_id`` is the (unverified) id when it could be
    read, so the receipt can name it."""

    def __init__(self, rule_code: str, detail: str, envelope_id: str | None = None):
        _rule(rule_code)  # an unknown code is a programming error: fail loudly
        super().__init__(
            detail,
            [Problem("envelope", detail, rule_code)],
            rule_code,
            _STATUS.get(rule_code, 422),
            "Rejected",
        )
        self.envelope_id = envelope_id

    @property
    def rule_code(self) -> str:
        assert self.rule is not None
        return self.rule

    def __repr__(self) -> str:
        return f"Rejection({self.rule_code!r}, {self.detail!r})"


# --- the envelope ----------------------------------------------------------------------------


def check_token(value: object, field_name: str) -> str:
    """``value`` if it is a safe id token (letters, digits, ``._:~-``, 1-128 characters)."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise invalid(field_name, "must be 1-128 letters, digits or ._:~- (starting alphanumeric)")
    return value


def canonical_json(obj: Any, field_name: str = "payload") -> bytes:
    """RFC 8785 canonical JSON bytes; ``invalid(field_name, ...)`` if ``obj`` has none (NaN,
    integers beyond 2**53, non-string keys, non-JSON values)."""
    try:
        return fast_canonical_json(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:
        raise invalid(field_name, f"not representable as canonical JSON ({exc})") from None


@dataclass(frozen=True, slots=True)
class Envelope:
    """One item between two nodes. ``created`` is UTC-aware (normalised to UTC);
    ``answers`` is the id of the envelope this one replies to."""

    id: str
    sender: str
    recipient: str
    type: str
    created: datetime
    payload: dict[str, Any]
    answers: str | None = None
    # content_digest(), computed once: the inbox and the receipt on each side all ask for it.
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_token(self.id, "id")
        check_token(self.sender, "sender")
        check_token(self.recipient, "recipient")
        if not isinstance(self.type, str) or not _TYPE.fullmatch(self.type):
            raise invalid("type", "must be 1-64 lower-case letters, digits or ._- (e.g. 'signal')")
        if not isinstance(self.created, datetime) or self.created.utcoffset() is None:
            raise invalid("created", "must be a timezone-aware datetime")
        object.__setattr__(self, "created", self.created.astimezone(UTC))
        if not isinstance(self.payload, dict):
            raise invalid("payload", "must be a JSON object")
        canonical_json(self.payload)
        if self.answers is not None:
            check_token(self.answers, "answers")

    def as_dict(self) -> dict[str, Any]:
        """The signed JSON form (``created`` as RFC 3339 with ``Z``)."""
        return {
            "id": self.id,
            "sender": self.sender,
            "recipient": self.recipient,
            "type": self.type,
            "created": format_rfc3339(self.created),
            "payload": self.payload,
            "answers": self.answers,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        """Inverse of ``as_dict``; ``InvalidInput`` on missing, extra or malformed fields."""
        exact_members(
            data, {"id", "sender", "recipient", "type", "created", "payload"}, {"answers"}
        )
        return cls(
            id=data["id"],
            sender=data["sender"],
            recipient=data["recipient"],
            type=data["type"],
            created=parse_rfc3339(data["created"], "created"),
            payload=data["payload"],
            answers=data.get("answers"),
        )

    def content_digest(self) -> str:
        """``sha256:<hex>`` over the canonical JSON of everything but ``created``: what the
        inbox stores with a seen id, so a re-signed retry matches and a changed payload does
        not."""
        if self._digest is None:
            body = self.as_dict()
            del body["created"]
            object.__setattr__(self, "_digest", digest(body))
        assert self._digest is not None
        return self._digest


def exact_members(data: object, required: Collection[str], optional: Collection[str] = ()) -> None:
    """``invalid(field, ...)`` naming the first missing or unknown member of ``data``."""
    if not isinstance(data, Mapping):
        raise invalid("body", "must be a JSON object")
    missing = sorted(set(required) - set(data))
    if missing:
        raise invalid(missing[0], "is required")
    extra = sorted(set(data) - set(required) - set(optional))
    if extra:
        raise invalid(extra[0], "is not a known field")


def sign_envelope(env: Envelope, private_key: Ed25519PrivateKey, key_id: str) -> JWS:
    """The envelope as a flattened JWS JSON object, signed by ``private_key`` named ``key_id``."""
    return sign_object(env.as_dict(), typ=TYP_ENVELOPE, private_key=private_key, key_id=key_id)


def open_envelope(
    jws: Mapping[str, Any] | bytes | str,
    *,
    me: str,
    resolve_keys: KeyResolver,
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Envelope:
    """Verify an incoming envelope addressed to node ``me`` and return it.

    ``resolve_keys(sender)`` returns the sender's registered keys (empty, or raising
    ``NotFound``, for an unknown sender). Raises ``Rejection`` with FED-TOO-LARGE,
    FED-MALFORMED, FED-UNKNOWN-SENDER, FED-UNKNOWN-KEY, FED-SIGNATURE, FED-KEY-EXPIRED,
    FED-RECIPIENT or FED-STALE. Replay is the inbox's job (see ``check_replay``).
    """
    if now.utcoffset() is None:
        raise invalid("now", "must be a timezone-aware datetime")
    signed = read_signed(jws, typ=TYP_ENVELOPE, max_bytes=max_bytes)
    raw_id = signed.payload.get("id")
    env_id = raw_id if isinstance(raw_id, str) and _TOKEN.fullmatch(raw_id) else None
    try:
        env = Envelope.from_dict(signed.payload)
    except InvalidInput as exc:
        raise Rejection("FED-MALFORMED", f"envelope {exc.detail}", env_id) from None
    try:
        records = list(resolve_keys(env.sender))
    except NotFound:
        records = []
    if not records:
        raise Rejection("FED-UNKNOWN-SENDER", f"{env.sender!r} is not a registered peer", env.id)
    verify_signed(signed, records, env.created, ref=env.id)
    if env.recipient != me:
        raise Rejection(
            "FED-RECIPIENT", f"addressed to {env.recipient!r}, this node is {me!r}", env.id
        )
    skew = env.created - now
    if skew > max_skew:
        raise Rejection("FED-STALE", f"created {skew} in the future (allowed {max_skew})", env.id)
    if -skew > max_skew:
        raise Rejection("FED-STALE", f"created {-skew} ago (allowed {max_skew})", env.id)
    return env


def check_replay(env: Envelope, seen_digest: str | None) -> bool:
    """Given the digest stored with ``env.id`` (None if the id is new): False for a new
    envelope (apply it), True for a repeat of the same contents (answer with the original
    receipt, apply nothing). Raises ``Rejection('FED-REPLAY')`` when the id was seen with
    different contents."""
    if seen_digest is None:
        return False
    if seen_digest == env.content_digest():
        return True
    raise Rejection(
        "FED-REPLAY", f"envelope id {env.id!r} was already received with other contents", env.id
    )


def peek_envelope_id(jws: Mapping[str, Any] | bytes | str, max_bytes: int) -> str | None:
    """The envelope id of a message WITHOUT verifying anything (for logs); None if unreadable."""
    try:
        signed = read_signed(jws, typ=TYP_ENVELOPE, max_bytes=max_bytes)
    except Rejection:
        return None
    raw = signed.payload.get("id")
    return raw if isinstance(raw, str) and _TOKEN.fullmatch(raw) else None


# --- shared JWS machinery (receipts, descriptors and rotations use it too) -----------------


@dataclass(frozen=True, slots=True)
class SignedObject:
    """A JWS whose structure has been checked but whose signature has NOT yet been."""

    jws: JWS
    alg: str
    kid: str
    typ: str
    payload: dict[str, Any]


def sign_object(
    obj: Mapping[str, Any], *, typ: str, private_key: Ed25519PrivateKey, key_id: str
) -> JWS:
    """Sign the canonical JSON of ``obj`` as a flattened JWS with header {alg, kid, typ}."""
    check_key_id(key_id)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise invalid("private_key", "must be an Ed25519 private key")
    payload = canonical_json(dict(obj))
    header = {"alg": SIGNING_ALG, "kid": key_id, "typ": typ}
    out = jose_jws.serialize_json(
        {"protected": header}, payload, _jose_key(private_key), algorithms=[SIGNING_ALG]
    )
    return {k: str(v) for k, v in out.items()}


def read_signed(jws: Mapping[str, Any] | bytes | str, *, typ: str, max_bytes: int) -> SignedObject:
    """Check size and structure of a flattened JWS of kind ``typ`` and decode its header and
    JSON payload. Raises ``Rejection`` (FED-TOO-LARGE, FED-MALFORMED, FED-SIGNATURE for an
    unaccepted ``alg``). The signature is NOT checked here: call ``verify_signed``."""
    if isinstance(jws, str):
        jws = jws.encode("utf-8")
    if isinstance(jws, bytes):
        if len(jws) > max_bytes:
            raise Rejection("FED-TOO-LARGE", f"{len(jws)} bytes, at most {max_bytes} accepted")
        try:
            obj = _strict_json(jws)
        except ValueError as exc:
            raise Rejection("FED-MALFORMED", f"not JSON ({exc})") from None
    elif not isinstance(jws, Mapping):
        # A batch element may be anything JSON holds (5, null, true, a list): refused alone,
        # so the envelopes beside it are still read.
        raise Rejection("FED-MALFORMED", f"expected a flattened JWS object, got {_json_kind(jws)}")
    else:
        if set(jws) == _JWS_MEMBERS and all(isinstance(v, str) and v.isascii() and _B64URL.fullmatch(v)
                                             for v in jws.values()):
            # Its compact JSON, without writing it: base64url needs no escaping.
            size = _JWS_JSON_OVERHEAD + sum(len(v) for v in jws.values())
        else:
            try:
                size = len(json.dumps(jws, separators=(",", ":")).encode("utf-8"))
            except (TypeError, ValueError) as exc:
                raise Rejection("FED-MALFORMED", f"not JSON ({exc})") from None
        if size > max_bytes:
            raise Rejection("FED-TOO-LARGE", f"{size} bytes, at most {max_bytes} accepted")
        obj = jws
    if not isinstance(obj, Mapping) or set(obj) != _JWS_MEMBERS:
        raise Rejection(
            "FED-MALFORMED", "expected a flattened JWS with exactly payload, protected, signature"
        )
    if not all(isinstance(obj[k], str) and _B64URL.fullmatch(obj[k]) for k in _JWS_MEMBERS):
        raise Rejection("FED-MALFORMED", "JWS members must be unpadded base64url strings")
    try:
        header = _strict_json(_b64decode(obj["protected"]))
        payload = _strict_json(_b64decode(obj["payload"]))
    except ValueError as exc:
        raise Rejection("FED-MALFORMED", f"undecodable JWS member ({exc})") from None
    if not isinstance(header, dict):
        raise Rejection("FED-MALFORMED", "the protected header is not a JSON object")
    alg = header.get("alg")
    if alg not in ACCEPTED_ALGS:
        raise Rejection("FED-SIGNATURE", f"algorithm {alg!r} is not accepted (only Ed25519)")
    # Unknown members (crit, b64, jku, ...) could change how the JWS is processed: refuse.
    extra = set(header) - _HEADER_MEMBERS
    if extra:
        raise Rejection("FED-MALFORMED", f"unexpected protected header members {sorted(extra)}")
    if header.get("typ") != typ:
        raise Rejection("FED-MALFORMED", f"typ is {header.get('typ')!r}, expected {typ!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _TOKEN.fullmatch(kid):
        raise Rejection("FED-MALFORMED", "the protected header needs a kid naming the key")
    if not isinstance(payload, dict):
        raise Rejection("FED-MALFORMED", "the payload is not a JSON object")
    return SignedObject({k: obj[k] for k in _JWS_MEMBERS}, alg, kid, typ, payload)


def verify_signed(
    signed: SignedObject,
    records: Sequence[PublicKeyRecord],
    at: datetime,
    *,
    ref: str | None = None,
) -> PublicKeyRecord:
    """Check ``signed`` against the record named by its ``kid`` among ``records`` and that
    the key was valid at ``at``; return that record. Raises ``Rejection`` with
    FED-UNKNOWN-KEY, FED-SIGNATURE or FED-KEY-EXPIRED (``ref`` goes into the rejection).
    The signature is checked before validity so a forgery is always named a forgery."""
    candidates = [r for r in records if r.key_id == signed.kid]
    if not candidates:
        raise Rejection("FED-UNKNOWN-KEY", f"no registered key {signed.kid!r}", ref)
    record = select_key(candidates, at, signed.kid) or candidates[0]
    try:
        jose_jws.deserialize_json(
            cast(jose_jws.FlattenedJSONSerialization, signed.jws),
            _jose_public_key(record.public_key_b64),
            algorithms=[signed.alg],
        )
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise Rejection("FED-SIGNATURE", f"signature does not verify ({exc})", ref) from None
    if not record.valid_at(at):
        raise Rejection(
            "FED-KEY-EXPIRED",
            f"key {record.key_id!r} is valid {_window(record)}, not at {format_rfc3339(at)}",
            ref,
        )
    return record


@functools.lru_cache(maxsize=64)
def _jose_key(key: Ed25519PrivateKey) -> OKPKey:
    """joserfc's key object for a signing key, made once per key: importing a private key
    costs about a third of a signature, and every item is signed twice (envelope, receipt).
    (Public keys are not hashable, and importing one costs little next to a verification.)"""
    return OKPKey.import_key(key)


@functools.lru_cache(maxsize=1024)
def _jose_public_key(public_key_b64: str) -> OKPKey:
    """joserfc's key object for a registered public key, parsed and imported once per key
    (by its canonical text): every receipt and envelope is verified against one."""
    return OKPKey.import_key(parse_public_key(public_key_b64))


def _window(record: PublicKeyRecord) -> str:
    start = format_rfc3339(record.not_before) if record.not_before else "-inf"
    end = format_rfc3339(record.not_after) if record.not_after else "+inf"
    return f"[{start}, {end})"


def _json_kind(value: object) -> str:
    """What a JSON value is, in JSON's words (for messages about values of the wrong kind)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"bad base64url: {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # Two parsers may keep different duplicates: one signed text, two meanings.
            raise ValueError(f"duplicate member {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_int(text: str) -> int | float:
    # I-JSON (RFC 7493) numbers are doubles: RFC 8785 writes the double 2.0**60 as
    # "1152921504606846976", which must read back as that double, not as an exact int.
    value = int(text)
    return value if abs(value) < _SAFE_INT else float(value)


def _strict_json(data: bytes) -> Any:
    """Parse JSON refusing duplicate members, NaN/Infinity, bad UTF-8 and deep nesting."""
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_int=_json_int,
        )
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8: {exc}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
