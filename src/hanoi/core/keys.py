"""Ed25519 keys: the node's identity key and members' keys.

Small helpers over ``cryptography``: generate a key, store the private key as PKCS#8 PEM,
publish the public key as base64url of its 32 raw bytes, read a public key in the forms people
paste (base64url, standard base64, hex, PEM), show a fingerprint for out-of-band confirmation,
sign and verify bytes. ``PublicKeyRecord`` is a published key with its validity window; keys
rotate without downtime because windows may overlap and ``select_key`` picks the one valid at
a given time. Pure: no files, no clock (times are arguments).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hanoi.core.errors import invalid

RAW_KEY_BYTES = 32
SIGNATURE_BYTES = 64
# A key id travels in JWS headers and URLs: keep it to a safe, short token.
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}")
_HEX = re.compile(r"[0-9A-Fa-f]{64}")
_B64URL = re.compile(r"[A-Za-z0-9_-]{43}=?")
_B64STD = re.compile(r"[A-Za-z0-9+/]{43}=?")


def generate_private_key() -> Ed25519PrivateKey:
    """A new random Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM of the private key, encrypted with ``password`` when one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(pem: bytes | str, password: bytes | None = None) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM Ed25519 private key; ``invalid('private_key', ...)`` otherwise."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise invalid("private_key", f"not a readable PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise invalid("private_key", "not an Ed25519 key")
    return key


def raw_public_bytes(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """The 32 raw bytes of the public key (of the private key's public half)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The published form of a public key: unpadded base64url of its 32 raw bytes."""
    return base64.urlsafe_b64encode(raw_public_bytes(key)).rstrip(b"=").decode("ascii")


def public_key_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """SubjectPublicKeyInfo PEM of the public key (for tools that want PEM)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


def parse_public_key(value: str | bytes) -> Ed25519PublicKey:
    """Read an Ed25519 public key given as base64url or standard base64 of the 32 raw bytes,
    64 hex digits, or a PEM SubjectPublicKeyInfo block.

    Raises ``invalid('public_key', reason)`` on anything else. The forms cannot be confused:
    32 bytes are 43-44 base64 characters but 64 hex digits.
    """
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else value
    except UnicodeDecodeError:
        raise invalid("public_key", "not ASCII text") from None
    if not isinstance(text, str):
        raise invalid("public_key", "must be text")
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise invalid("public_key", f"not a readable PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise invalid("public_key", "the PEM key is not an Ed25519 key")
        return key
    raw: bytes
    try:
        if _HEX.fullmatch(text):
            raw = bytes.fromhex(text)
        elif _B64URL.fullmatch(text):
            raw = base64.urlsafe_b64decode(_pad(text))
        elif _B64STD.fullmatch(text):
            raw = base64.b64decode(_pad(text), validate=True)
        else:
            raise invalid(
                "public_key",
                "expected 32 raw bytes as base64url, base64 or hex (64 digits), or a PEM block",
            )
    except (binascii.Error, ValueError) as exc:
        raise invalid("public_key", f"cannot decode the key ({exc})") from None
    return public_key_from_raw(raw)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """The public key from its 32 raw bytes; ``invalid('public_key', ...)`` otherwise."""
    if len(raw) != RAW_KEY_BYTES:
        raise invalid("public_key", f"an Ed25519 key is {RAW_KEY_BYTES} bytes, not {len(raw)}")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise invalid("public_key", f"not a valid Ed25519 key ({exc})") from None


def fingerprint(key: Ed25519PublicKey | Ed25519PrivateKey | str) -> str:
    """What people read to each other to confirm a key out of band: the first 32 hex digits
    (128 bits) of SHA-256 over the raw public bytes, in groups of four, e.g.
    ``3f2a 9c1b 0d4e 77a0 c5e1 2b9f 6a03 d8c4``. A string is parsed with ``parse_public_key``.
    """
    public = parse_public_key(key) if isinstance(key, str) else key
    digest = hashlib.sha256(raw_public_bytes(public)).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``data``."""
    return key.sign(data)


def verify(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` is ``key``'s signature of ``data``; never raises on a bad one."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _pad(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def check_key_id(key_id: object, field_name: str = "key_id") -> str:
    """The key id if it is a safe token (letters, digits, ``._:~-``, at most 128 characters)."""
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise invalid(field_name, "must be 1-128 letters, digits or ._:~- (starting alphanumeric)")
    return key_id


def _aware(value: datetime | None, field_name: str) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise invalid(field_name, "must be a timezone-aware datetime")


@dataclass(frozen=True, slots=True)
class PublicKeyRecord:
    """A published public key with its validity window ``[not_before, not_after)``.

    ``None`` leaves that end open. Construct through ``PublicKeyRecord.of`` to accept any key
    form; the constructor itself requires the canonical base64url form, so equal keys compare
    equal.
    """

    key_id: str
    public_key_b64: str
    not_before: datetime | None = None
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        check_key_id(self.key_id)
        if not isinstance(self.public_key_b64, str):
            raise invalid("public_key", "must be base64url text")
        key = parse_public_key(self.public_key_b64)
        if public_key_b64(key) != self.public_key_b64:
            raise invalid("public_key", "must be unpadded base64url of the 32 raw bytes")
        _aware(self.not_before, "not_before")
        _aware(self.not_after, "not_after")
        if (
            self.not_before is not None
            and self.not_after is not None
            and self.not_after <= self.not_before
        ):
            raise invalid("not_after", "must be later than not_before")

    @classmethod
    def of(
        cls,
        key_id: str,
        key: Ed25519PublicKey | Ed25519PrivateKey | str | bytes,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> PublicKeyRecord:
        """A record from a key object or any form ``parse_public_key`` reads."""
        if isinstance(key, str | bytes):
            key = parse_public_key(key)
        return cls(key_id, public_key_b64(key), not_before, not_after)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return parse_public_key(self.public_key_b64)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def valid_at(self, t: datetime) -> bool:
        """True when ``not_before <= t < not_after`` (open ends always hold)."""
        _aware(t, "t")
        if self.not_before is not None and t < self.not_before:
            return False
        return self.not_after is None or t < self.not_after

    def same_key(self, other: PublicKeyRecord) -> bool:
        return self.key_id == other.key_id and self.public_key_b64 == other.public_key_b64

    def as_dict(self) -> dict[str, str | None]:
        """JSON form; times as RFC 3339 UTC with ``Z``."""
        return {
            "kid": self.key_id,
            "public_key": self.public_key_b64,
            "not_before": format_rfc3339(self.not_before) if self.not_before else None,
            "not_after": format_rfc3339(self.not_after) if self.not_after else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PublicKeyRecord:
        """Inverse of ``as_dict``; ``invalid(...)`` on a malformed record."""
        if not isinstance(data, Mapping):
            raise invalid("keys", "each key must be a JSON object")
        extra = set(data) - {"kid", "public_key", "not_before", "not_after"}
        if extra:
            raise invalid("keys", f"unexpected members {sorted(extra)}")
        nb, na = data.get("not_before"), data.get("not_after")
        return cls(
            data.get("kid"),  # type: ignore[arg-type]  # checked in __post_init__
            data.get("public_key"),  # type: ignore[arg-type]
            parse_rfc3339(nb, "not_before") if nb is not None else None,
            parse_rfc3339(na, "not_after") if na is not None else None,
        )


def select_key(
    records: Sequence[PublicKeyRecord], at: datetime, key_id: str | None = None
) -> PublicKeyRecord | None:
    """The key valid at ``at`` (with id ``key_id`` when given), or None.

    During a rotation two windows overlap; without a ``key_id`` the newest (latest
    ``not_before``) wins, so signers move to the new key as soon as it is valid.
    """
    valid = [r for r in records if r.valid_at(at) and (key_id is None or r.key_id == key_id)]
    if not valid:
        return None
    return max(valid, key=lambda r: (r.not_before is not None, r.not_before or at))


# --- RFC 3339 times (shared with the federation formats) ----------------------------------

_RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


def format_rfc3339(t: datetime) -> str:
    """``t`` in UTC as RFC 3339 with ``Z``; microseconds only when present."""
    _aware(t, "time")
    utc = t.astimezone(UTC).replace(tzinfo=None)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.isoformat(timespec=spec) + "Z"


def parse_rfc3339(value: object, field_name: str) -> datetime:
    """A UTC-aware datetime from ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``; ``invalid`` otherwise."""
    if not isinstance(value, str) or not _RFC3339_Z.fullmatch(value):
        raise invalid(field_name, "must be an RFC 3339 UTC time like 2025-10-25T09:30:00Z")
    try:
        return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise invalid(field_name, f"not a real time ({exc})") from None
