"""Cryptographic file digests (MD5, SHA-1, SHA-256) as hex text: one rule for every wing.

A digest is lower-case hex of its exact length. Refused wherever a digest identifies something
(a fraud signal's file hash, a media hash list): the digest of the empty input (a file of zero
bytes identifies nothing, and such an entry would match every empty file), and the all-zeros /
all-ones placeholders some feeds carry for a digest they do not have.
"""

from __future__ import annotations

from typing import Final

from hanoi.core.errors import invalid

HEX_DIGITS: Final = frozenset("0123456789abcdef")
LENGTHS: Final = {"md5": 32, "sha1": 40, "sha256": 64}
LABELS: Final = {"md5": "an MD5", "sha1": "a SHA-1", "sha256": "a SHA-256"}
EMPTY: Final = {
    "md5": "d41d8cd98f00b204e9800998ecf8427e",
    "sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}
"""The digest of the empty input, per algorithm."""


def parse_hex(value: object, field: str, length: int, what: str) -> str:
    """``value`` as ``length`` lower-case hex digits, or ``InvalidInput`` naming ``field``
    (``what``: "an MD5", "a PDQ hash")."""
    if not isinstance(value, str):
        raise invalid(field, f"{what} is a text of {length} hex digits")
    v = value.strip().lower()
    for pos, ch in enumerate(v):
        if ch not in HEX_DIGITS:
            raise invalid(field, f"character {ch!r} at position {pos + 1} is not a hexadecimal digit "
                                 "(only 0-9 and a-f)")
    if len(v) != length:
        raise invalid(field, f"has {len(v)} hex digits; {what} has exactly {length}")
    return v


def degenerate(algorithm: str, value: str) -> bool:
    """The empty input's digest, or an all-zeros / all-ones placeholder (``value`` lower-case)."""
    length = LENGTHS[algorithm]
    return value in (EMPTY[algorithm], "0" * length, "f" * length)


def parse_digest(algorithm: str, value: object, field: str) -> str:
    """A file digest of ``algorithm`` (md5, sha1, sha256), never the empty input's."""
    what = LABELS[algorithm]
    length = LENGTHS[algorithm]
    v = parse_hex(value, field, length, what)
    if v == EMPTY[algorithm]:
        raise invalid(field, f"this is {what} of an empty file: it identifies nothing")
    if degenerate(algorithm, v):
        raise invalid(field, f"{what} that is all {'zeros' if v[0] == '0' else 'ones'} is a placeholder "
                             "(degenerate): it identifies nothing")
    return v
