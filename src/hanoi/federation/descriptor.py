"""Node descriptors and key rotations: how a node says who it is and changes its key.

A ``NodeDescriptor`` (node id, name, State, kind, endpoint, keys, issue time) is self-signed
by one of the keys it lists; ``hanoi peers add URL`` fetches it, verifies it with
``open_descriptor`` and shows ``fingerprints()`` for out-of-band confirmation before anyone
trusts it. Later copies are verified against the keys already trusted (``trusted_keys``).

A ``KeyRotation`` names a new key and its validity window and may end the old key's window;
it is signed by the OLD key, so only the holder of a trusted key can introduce the next one.
That key must be valid NOW, on the receiver's clock, not only at the ``announced_at`` the
signer wrote (which the signer chooses): an expired, retired or revoked key can never
introduce another, whoever still holds it. ``announced_at`` itself must be fresh (within the
envelope clock-skew window), so a genuine rotation cannot be replayed later.
``open_rotation`` verifies it against the registered keys and ``apply_rotation`` gives the new
key list; a rotation only ever narrows a registered key's window, never widens it. Windows may
overlap (rotation without downtime) but must not leave a gap. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hanoi.core.errors import InvalidInput, invalid
from hanoi.core.keys import PublicKeyRecord, format_rfc3339, parse_rfc3339
from hanoi.core.members import check_country
from hanoi.federation.envelope import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_SKEW,
    JWS,
    Rejection,
    check_token,
    exact_members,
    read_signed,
    sign_object,
    verify_signed,
)

TYP_DESCRIPTOR = "hanoi-node+json"
TYP_ROTATION = "hanoi-key-rotation+json"
MAX_KEYS = 16
_KIND = re.compile(r"[a-z][a-z0-9-]{0,39}")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _aware_utc(value: object, field_name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise invalid(field_name, "must be a timezone-aware datetime")
    return value.astimezone(UTC)


def check_endpoint(url: object) -> str:
    """An https URL (http only on a loopback host, for development), without credentials,
    query or fragment."""
    if not isinstance(url, str) or len(url) > 2048:
        raise invalid("endpoint", "must be a URL")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError on a bad port
    except ValueError as exc:
        raise invalid("endpoint", f"not a URL ({exc})") from None
    if not host:
        raise invalid("endpoint", "must name a host")
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
        raise invalid("endpoint", "must use https (http only on localhost)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise invalid("endpoint", "must not carry credentials, a query or a fragment")
    return url


@dataclass(frozen=True, slots=True)
class NodeDescriptor:
    """What a node publishes about itself. ``country`` is ISO 3166-1 alpha-2; ``kind`` is a
    short lower-case token (e.g. 'central-authority', 'police', 'cert', 'hotline',
    'platform')."""

    node_id: str
    name: str
    country: str
    kind: str
    endpoint: str
    keys: tuple[PublicKeyRecord, ...]
    issued_at: datetime

    def __post_init__(self) -> None:
        check_token(self.node_id, "node_id")
        if (
            not isinstance(self.name, str)
            or not self.name.strip()
            or len(self.name) > 200
            or _CONTROL.search(self.name)
        ):
            raise invalid("name", "must be 1-200 printable characters")
        # The members registry's rule (user-assigned codes such as QZ included), in one place.
        code, problem = check_country(self.country)
        if problem is not None or code != self.country:
            raise invalid("country", "must be an upper-case ISO 3166-1 alpha-2 code", "MEMBER-STATE")
        if not isinstance(self.kind, str) or not _KIND.fullmatch(self.kind):
            raise invalid("kind", "must be a short lower-case token such as 'cert'")
        check_endpoint(self.endpoint)
        keys = tuple(self.keys) if isinstance(self.keys, list | tuple) else None
        if not keys or len(keys) > MAX_KEYS:
            raise invalid("keys", f"must list 1-{MAX_KEYS} keys")
        if not all(isinstance(k, PublicKeyRecord) for k in keys):
            raise invalid("keys", "must be PublicKeyRecord values")
        if len({k.key_id for k in keys}) != len(keys):
            raise invalid("keys", "key ids must be unique")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "issued_at", _aware_utc(self.issued_at, "issued_at"))

    def fingerprints(self) -> dict[str, str]:
        """Key id -> fingerprint, for the operator to confirm out of band."""
        return {k.key_id: k.fingerprint for k in self.keys}

    def as_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "name": self.name,
            "country": self.country,
            "kind": self.kind,
            "endpoint": self.endpoint,
            "keys": [k.as_dict() for k in self.keys],
            "issued_at": format_rfc3339(self.issued_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeDescriptor:
        exact_members(data, {"node_id", "name", "country", "kind", "endpoint", "keys", "issued_at"})
        keys = data["keys"]
        if not isinstance(keys, list):
            raise invalid("keys", "must be a list")
        return cls(
            node_id=data["node_id"],
            name=data["name"],
            country=data["country"],
            kind=data["kind"],
            endpoint=data["endpoint"],
            keys=tuple(PublicKeyRecord.from_dict(k) for k in keys),
            issued_at=parse_rfc3339(data["issued_at"], "issued_at"),
        )


def sign_descriptor(desc: NodeDescriptor, private_key: Ed25519PrivateKey, key_id: str) -> JWS:
    """Self-sign the descriptor with one of its own keys (``key_id`` must be listed)."""
    if key_id not in {k.key_id for k in desc.keys}:
        raise invalid("key_id", "a descriptor is signed by one of the keys it lists")
    return sign_object(desc.as_dict(), typ=TYP_DESCRIPTOR, private_key=private_key, key_id=key_id)


def open_descriptor(
    jws: Mapping[str, Any] | bytes | str,
    *,
    node_id: str | None = None,
    trusted_keys: Sequence[PublicKeyRecord] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> NodeDescriptor:
    """Verify a node descriptor and return it.

    Without ``trusted_keys`` (first contact) it must be signed by one of its own keys valid at
    ``issued_at``: that proves only self-consistency, so show ``fingerprints()`` and have a
    person confirm them before trusting the peer. With ``trusted_keys`` (a refresh) the
    signing key must be one of them. ``node_id``, when given, must match. Raises
    ``Rejection`` (FED-TOO-LARGE, FED-MALFORMED, FED-UNKNOWN-KEY, FED-SIGNATURE,
    FED-KEY-EXPIRED).
    """
    signed = read_signed(jws, typ=TYP_DESCRIPTOR, max_bytes=max_bytes)
    try:
        desc = NodeDescriptor.from_dict(signed.payload)
    except InvalidInput as exc:
        raise Rejection("FED-MALFORMED", f"descriptor {exc.detail}") from None
    if node_id is not None and desc.node_id != node_id:
        raise Rejection("FED-MALFORMED", f"descriptor is for {desc.node_id!r}, not {node_id!r}")
    records = desc.keys if trusted_keys is None else tuple(trusted_keys)
    verify_signed(signed, records, desc.issued_at)
    return desc


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """Node ``node_id`` introduces ``new_key``; signed by ``old_key_id``, whose window ends
    at ``old_not_after`` when given (it must not end before the new key starts)."""

    node_id: str
    old_key_id: str
    new_key: PublicKeyRecord
    announced_at: datetime
    old_not_after: datetime | None = None

    def __post_init__(self) -> None:
        check_token(self.node_id, "node_id")
        check_token(self.old_key_id, "old_key_id")
        if not isinstance(self.new_key, PublicKeyRecord):
            raise invalid("new_key", "must be a PublicKeyRecord")
        if self.new_key.key_id == self.old_key_id:
            raise invalid("new_key", "the new key needs a new key id", "FED-ROTATION")
        object.__setattr__(self, "announced_at", _aware_utc(self.announced_at, "announced_at"))
        if self.old_not_after is not None:
            end = _aware_utc(self.old_not_after, "old_not_after")
            object.__setattr__(self, "old_not_after", end)
            start = self.new_key.not_before
            if start is not None and end < start:
                raise invalid(
                    "old_not_after",
                    "the old key must stay valid until the new one starts (no gap)",
                    "FED-ROTATION",
                )
            if self.new_key.not_after is not None and self.new_key.not_after <= end:
                raise invalid("new_key", "the new key must outlive the old one", "FED-ROTATION")

    def as_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "old_key_id": self.old_key_id,
            "new_key": self.new_key.as_dict(),
            "announced_at": format_rfc3339(self.announced_at),
            "old_not_after": format_rfc3339(self.old_not_after) if self.old_not_after else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyRotation:
        exact_members(data, {"node_id", "old_key_id", "new_key", "announced_at"}, {"old_not_after"})
        end = data.get("old_not_after")
        return cls(
            node_id=data["node_id"],
            old_key_id=data["old_key_id"],
            new_key=PublicKeyRecord.from_dict(data["new_key"]),
            announced_at=parse_rfc3339(data["announced_at"], "announced_at"),
            old_not_after=parse_rfc3339(end, "old_not_after") if end is not None else None,
        )


def sign_rotation(rotation: KeyRotation, old_private_key: Ed25519PrivateKey) -> JWS:
    """The rotation signed by the old key (its id is ``rotation.old_key_id``)."""
    return sign_object(
        rotation.as_dict(),
        typ=TYP_ROTATION,
        private_key=old_private_key,
        key_id=rotation.old_key_id,
    )


def open_rotation(
    jws: Mapping[str, Any] | bytes | str,
    *,
    node_id: str,
    known_keys: Sequence[PublicKeyRecord],
    now: datetime,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> KeyRotation:
    """Verify a rotation for peer ``node_id`` against its registered ``known_keys`` at the
    receiver's time ``now``: signed by the old key it names, that key valid both at
    ``announced_at`` and at ``now`` (FED-KEY-EXPIRED otherwise: a key past its window, retired
    by an earlier rotation or expired by hand introduces nothing), ``announced_at`` no further
    than ``max_skew`` from ``now`` (FED-STALE), and the new key not clashing with a registered
    one. Raises ``Rejection`` (FED-MALFORMED, FED-ROTATION, FED-UNKNOWN-KEY, FED-SIGNATURE,
    FED-KEY-EXPIRED, FED-STALE, FED-TOO-LARGE)."""
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise invalid("now", "must be a timezone-aware datetime")
    signed = read_signed(jws, typ=TYP_ROTATION, max_bytes=max_bytes)
    try:
        rotation = KeyRotation.from_dict(signed.payload)
    except InvalidInput as exc:
        code = exc.rule if exc.rule == "FED-ROTATION" else "FED-MALFORMED"
        raise Rejection(code, f"rotation {exc.detail}") from None
    if rotation.node_id != node_id:
        raise Rejection("FED-MALFORMED", f"rotation is for {rotation.node_id!r}, not {node_id!r}")
    if signed.kid != rotation.old_key_id:
        raise Rejection(
            "FED-ROTATION", f"signed by {signed.kid!r}, not by the old key {rotation.old_key_id!r}"
        )
    # The signature first (a forgery is named a forgery), with the key valid at the time the
    # signer claims; then the claim itself, which the signer chose, is checked against ours.
    record = verify_signed(signed, known_keys, rotation.announced_at)
    if not record.valid_at(now):
        raise Rejection(
            "FED-KEY-EXPIRED",
            f"key {record.key_id!r} is no longer valid (it ended at "
            f"{format_rfc3339(record.not_after) if record.not_after else '?'}): an expired, "
            "retired or revoked key cannot introduce another",
        )
    skew = rotation.announced_at - now
    if abs(skew) > max_skew:
        when = f"{-skew} ago" if skew < timedelta(0) else f"{skew} in the future"
        raise Rejection("FED-STALE", f"rotation announced {when} (allowed {max_skew})")
    ends = rotation.old_not_after
    if ends is not None and record.not_before is not None and ends <= record.not_before:
        raise Rejection("FED-ROTATION", "the old key would end before it began")
    new = rotation.new_key
    for known in known_keys:
        same_id = known.key_id == new.key_id
        same_key = known.public_key_b64 == new.public_key_b64
        if same_id != same_key:
            raise Rejection(
                "FED-ROTATION", f"new key {new.key_id!r} clashes with registered {known.key_id!r}"
            )
        if (same_key and new.not_after is not None and known.not_before is not None
                and new.not_after <= known.not_before):
            raise Rejection("FED-ROTATION", f"key {new.key_id!r} would end before it began")
    return rotation


def apply_rotation(
    keys: Sequence[PublicKeyRecord], rotation: KeyRotation
) -> tuple[PublicKeyRecord, ...]:
    """The key list after a verified rotation: the old key's window ends at
    ``old_not_after`` (never later than it already did) and the new key is added. A registered
    key's window is only ever narrowed: when the new key is already registered (the same
    rotation again, or a replay of it after a later rotation ended that key), it keeps its
    window, ended at the earlier of the two ends, so no rotation can bring a retired key back.
    Applying the same rotation twice is harmless."""
    out: list[PublicKeyRecord] = []
    new = rotation.new_key
    registered = False
    for key in keys:
        end = key.not_after
        if key.key_id == rotation.old_key_id and rotation.old_not_after is not None:
            end = _earlier(end, rotation.old_not_after)
        if key.same_key(new):
            registered = True
            end = _earlier(end, new.not_after)
        if end != key.not_after:
            key = PublicKeyRecord(key.key_id, key.public_key_b64, key.not_before, end)
        out.append(key)
    if not registered:
        out.append(new)
    return tuple(out)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two window ends, ``None`` being open (later than any time)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
