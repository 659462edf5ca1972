"""Media hash values: parse, normalise and validate PDQ, MD5 and SHA-256 strings.

Pure: no I/O. Every refusal is a ``hanoi.core.errors.InvalidInput`` naming the field and the
reason, so a hotline sees why a hash list row was rejected. PDQ follows the reference project's
advice: a hash of quality below 50 is too unreliable to share, and the all-zeros / all-ones
hashes are what featureless images (a blank frame, a solid colour) produce, so they would match
each other and nothing useful.
"""

from __future__ import annotations

from typing import Final, Literal

from hanoi.core.errors import invalid

PDQ_BITS: Final = 256
PDQ_HEX_LEN: Final = 64
MD5_HEX_LEN: Final = 32
SHA256_HEX_LEN: Final = 64
#: The reference project's match threshold: distance <= 31 is a match.
PDQ_MATCH_THRESHOLD: Final = 31
#: Hashes of quality below this are refused (the reference discards quality <= 49).
PDQ_MIN_QUALITY: Final = 50

_HEX: Final = frozenset("0123456789abcdef")
# Digests of the empty input: a file of zero bytes identifies nothing.
_EMPTY_DIGESTS: Final = frozenset(
    {
        "d41d8cd98f00b204e9800998ecf8427e",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }
)

HashAlgorithm = Literal["pdq", "md5", "sha256"]


def _hex(value: object, field: str, length: int, what: str) -> str:
    if not isinstance(value, str):
        raise invalid(field, f"{what} must be a string of {length} hex digits")
    v = value.strip().lower()
    if len(v) != length:
        raise invalid(field, f"{what} must be {length} hex digits, got {len(v)} characters")
    bad = sorted(set(v) - _HEX)
    if bad:
        raise invalid(field, f"{what} may contain only 0-9 and a-f, found {''.join(bad)!r}")
    if v == "0" * length or v == "f" * length:
        kind = "zeros" if v[0] == "0" else "ones"
        raise invalid(field, f"{what} is degenerate (all {kind}): it identifies nothing")
    return v


def parse_pdq(value: object, field: str = "pdq") -> str:
    """Return the PDQ hash as 64 lower-case hex digits, or raise ``InvalidInput``."""
    return _hex(value, field, PDQ_HEX_LEN, "a PDQ hash")


def parse_md5(value: object, field: str = "md5") -> str:
    """Return the MD5 digest as 32 lower-case hex digits, or raise ``InvalidInput``."""
    v = _hex(value, field, MD5_HEX_LEN, "an MD5 digest")
    if v in _EMPTY_DIGESTS:
        raise invalid(field, "this is the MD5 of an empty file: it identifies nothing")
    return v


def parse_sha256(value: object, field: str = "sha256") -> str:
    """Return the SHA-256 digest as 64 lower-case hex digits, or raise ``InvalidInput``."""
    v = _hex(value, field, SHA256_HEX_LEN, "a SHA-256 digest")
    if v in _EMPTY_DIGESTS:
        raise invalid(field, "this is the SHA-256 of an empty file: it identifies nothing")
    return v


def parse_hash(algorithm: str, value: object, field: str = "value") -> str:
    """Dispatch on the algorithm name (``pdq``, ``md5``, ``sha256``)."""
    algo = algorithm.strip().lower().replace("-", "") if isinstance(algorithm, str) else ""
    if algo == "pdq":
        return parse_pdq(value, field)
    if algo == "md5":
        return parse_md5(value, field)
    if algo == "sha256":
        return parse_sha256(value, field)
    raise invalid("algorithm", f"unknown hash algorithm {algorithm!r}: use pdq, md5 or sha256")


def check_quality(quality: object, field: str = "quality", minimum: int = PDQ_MIN_QUALITY) -> int:
    """Return the PDQ quality (0-100) if it is at least ``minimum``, else raise."""
    if isinstance(quality, bool) or not isinstance(quality, int):
        raise invalid(field, "PDQ quality must be an integer from 0 to 100")
    if not 0 <= quality <= 100:
        raise invalid(field, f"PDQ quality must be from 0 to 100, got {quality}")
    if quality < minimum:
        raise invalid(
            field,
            f"PDQ quality {quality} is below {minimum}: the image has too little detail for "
            "its hash to match reliably",
        )
    return quality


def validate_pdq(value: object, quality: object, field: str = "pdq") -> tuple[str, int]:
    """Parse a (hash, quality) pair as submitted: both must pass."""
    return parse_pdq(value, field), check_quality(quality, f"{field}_quality")


def pdq_distance(a: str, b: str) -> int:
    """Hamming distance of two PDQ hashes given as hex (both already parsed)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def pdq_match(a: str, b: str, threshold: int = PDQ_MATCH_THRESHOLD) -> bool:
    """True if the two hashes are within ``threshold`` bits (inclusive)."""
    return pdq_distance(a, b) <= threshold
