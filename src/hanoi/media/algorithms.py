"""Media hash algorithms, one class each: what a value looks like, how two are compared, how a
file is hashed, and examples (python-threatexchange's ``SignalType`` shape).

Pure: no I/O but hashing bytes given. Every refusal is a ``hanoi.core.errors.InvalidInput``
naming the field and the reason, so a hotline sees why a hash list row was rejected. The rest of
the code iterates ``ALGORITHMS`` and never spells an algorithm's name:

- ``Pdq``: a perceptual hash, matched by Hamming distance within a list's threshold, through the
  PDQ index. Following the reference project, a hash of quality below 50 is too unreliable to
  share, and the all-zeros / all-ones hashes are what featureless images (a blank frame, a solid
  colour) produce, so they would match each other and nothing useful.
- ``Md5``, ``Sha256``: cryptographic digests, matched exactly (``hanoi.core.digests``: the
  digest of the empty file is refused, as everywhere).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Final

from hanoi.core import digests
from hanoi.core.errors import invalid

PDQ_BITS: Final = 256
PDQ_HEX_LEN: Final = 64
#: The reference project's match threshold: distance <= 31 is a match.
PDQ_MATCH_THRESHOLD: Final = 31
#: Hashes of quality below this are refused (the reference discards quality <= 49).
PDQ_MIN_QUALITY: Final = 50


class MediaHashType(ABC):
    """One hash algorithm of media hash lists."""

    name: ClassVar[str]
    label: ClassVar[str]
    exact: ClassVar[bool]
    """Matched by equality (a database lookup) rather than by distance (the PDQ index)."""
    has_quality: ClassVar[bool] = False
    examples: ClassVar[tuple[str, ...]]

    @classmethod
    @abstractmethod
    def parse(cls, value: object, field: str) -> str:
        """The value in its one stored form, or ``InvalidInput`` naming ``field``."""

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """0 for equal values; for an exact algorithm, 1 otherwise."""
        return 0 if a == b else 1

    @classmethod
    def matches(cls, a: str, b: str, threshold: int) -> bool:
        return cls.distance(a, b) <= (threshold if not cls.exact else 0)


class Pdq(MediaHashType):
    name = "pdq"
    label = "a PDQ hash"
    exact = False
    has_quality = True
    examples = ("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",)

    @classmethod
    def parse(cls, value: object, field: str = "pdq") -> str:
        v = digests.parse_hex(value, field, PDQ_HEX_LEN, cls.label)
        if v in ("0" * PDQ_HEX_LEN, "f" * PDQ_HEX_LEN):
            kind = "zeros" if v[0] == "0" else "ones"
            raise invalid(field, f"{cls.label} is degenerate (all {kind}): it identifies nothing")
        return v

    @classmethod
    def check_quality(cls, quality: object, field: str = "quality", minimum: int = PDQ_MIN_QUALITY) -> int:
        """The PDQ quality (0-100) if it is at least ``minimum``, else ``InvalidInput``."""
        if isinstance(quality, bool) or not isinstance(quality, int):
            raise invalid(field, "PDQ quality must be an integer from 0 to 100")
        if not 0 <= quality <= 100:
            raise invalid(field, f"PDQ quality must be from 0 to 100, got {quality}")
        if quality < minimum:
            raise invalid(field, f"PDQ quality {quality} is below {minimum}: the image has too little "
                                 "detail for its hash to match reliably")
        return quality

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Hamming distance of two PDQ hashes given as hex (both already parsed)."""
        return (int(a, 16) ^ int(b, 16)).bit_count()


class _Digest(MediaHashType):
    exact = True

    @classmethod
    def parse(cls, value: object, field: str = "value") -> str:
        return digests.parse_digest(cls.name, value, field)

    @classmethod
    def of_bytes(cls, data: bytes) -> str:
        return hashlib.new(cls.name, data).hexdigest()


class Md5(_Digest):
    name = "md5"
    label = digests.LABELS["md5"]
    examples = ("5d41402abc4b2a76b9719d911017c592",)


class Sha256(_Digest):
    name = "sha256"
    label = digests.LABELS["sha256"]
    examples = ("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",)


ALGORITHMS: Mapping[str, type[MediaHashType]] = MappingProxyType({a.name: a for a in (Pdq, Md5, Sha256)})
EXACT: tuple[str, ...] = tuple(n for n, a in ALGORITHMS.items() if a.exact)


def algorithm(name: object, field: str = "algorithm") -> type[MediaHashType]:
    """The algorithm named ``name`` (``SHA-256`` and ``sha256`` alike), or ``InvalidInput``."""
    key = name.strip().lower().replace("-", "") if isinstance(name, str) else ""
    found = ALGORITHMS.get(key)
    if found is None:
        raise invalid(field, f"unknown hash algorithm {name!r}: use " + ", ".join(ALGORITHMS))
    return found


def parse_hash(name: str, value: object, field: str = "value") -> str:
    """A hash of the algorithm named ``name``, in its stored form."""
    return algorithm(name).parse(value, field)


def pdq_distance(a: str, b: str) -> int:
    return Pdq.distance(a, b)
