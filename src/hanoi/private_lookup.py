"""Private lookups against a Hanoi Exchange node: check values without sending them.

This one file is meant to be vendored by a platform: it needs the standard library and
``httpx`` only (``numpy``, when installed, speeds up checking a filter in bulk; ``cryptography``,
when installed, verifies a filter's signature). It imports nothing else of Hanoi Exchange.

Canonical form, version ``hanoi-sig-v1`` (signals) and ``hanoi-media-v1`` (exact media hashes)::

    digest = SHA-256( VERSION || 0x00 || TYPE || 0x00 || VALUE )

with ``VERSION``, ``TYPE`` and ``VALUE`` encoded as UTF-8, ``TYPE`` a signal type name (``url``,
``phone``, ``iban``...) or a media algorithm (``md5``, ``sha256``), and ``VALUE`` the value as
the node normalises it (``hanoi.signals.normalise``; for media, lower-case hex). A change to the
canonical form or to a normaliser's output is a new version; the node names the version it
answers with, and a client refuses an answer of another version.

Online (prefixes): the client sends, for each value, the first ``bits`` bits of its digest (an
integer below ``2**bits``); the node answers, per prefix, the full digests of every value under
it that the gate lets this member see, padded with random digests to a multiple of ``pad``; the
client compares locally and asks for the report (an ordinary lookup) only for a real match.
For media, ``PrivateLookup.match_media`` then matches only the hashes the node holds (``POST
/api/v1/media/match``), which gives each real hit its list, category and match id.

Offline (filters): a blocked Bloom filter of the digests the member may see, signed by the
node: ``m`` bits in blocks of 512 (one 64-byte cache line). Bit positions come from the digest
itself (it is uniformly random): with ``w[0..7]`` its little-endian 32-bit words, the block is
``(w[0] * (m / 512)) >> 32`` and the ``j``-th bit (``j < k <= 9``) is bit
``(w[1 + j // 3] >> (9 * (j % 3))) & 511`` of that block; bit ``b`` of the filter is bit
``b % 8`` of byte ``b // 8``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

CANON = "hanoi-sig-v1"
MEDIA_CANON = "hanoi-media-v1"
FILTER_MAGIC = b"HANOIBF1"
PREFIX_MAGIC = b"HANOIPX1"
BINARY = "application/octet-stream"
SIGNATURE_BYTES = 64
MAX_PREFIXES = 10_000
"""Prefixes per request (the node refuses more)."""
MEDIA_ALGORITHMS = ("md5", "sha256")
"""The exact media hashes the prefix protocol covers (PDQ's distance matching stays on the node)."""
_CANON_HEAD = CANON.encode() + b"\x00"
_MEDIA_HEAD = MEDIA_CANON.encode() + b"\x00"


def canonical(type_name: str, value: str) -> bytes:
    """The bytes hashed for a normalised signal value of ``type_name``."""
    return _CANON_HEAD + type_name.encode() + b"\x00" + value.encode()


def digest(type_name: str, value: str) -> bytes:
    """SHA-256 of the canonical form of a normalised signal value."""
    return hashlib.sha256(_CANON_HEAD + type_name.encode() + b"\x00" + value.encode()).digest()


def media_digest(algorithm: str, hex_hash: str) -> bytes:
    """SHA-256 of the canonical form of an exact media hash (``md5`` or ``sha256``, hex)."""
    return hashlib.sha256(_MEDIA_HEAD + algorithm.encode() + b"\x00" + hex_hash.strip().lower().encode()).digest()


def prefix_of(d: bytes, bits: int) -> int:
    """The first ``bits`` bits of a digest, as an integer (0 when ``bits`` is 0)."""
    return int.from_bytes(d[:8], "big") >> (64 - bits) if bits else 0


def split_digests(blob: bytes) -> list[bytes]:
    return [blob[i:i + 32] for i in range(0, len(blob), 32)]


def parse_prefix_answer(blob: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """A binary prefix answer (``Accept: application/octet-stream``): ``HANOIPX1``, a 4-byte
    big-endian header length, a JSON header (``version``, ``bits``, ``pad``, ``count``), then
    ``count`` 4-byte big-endian digest counts (one per prefix, in the order asked), then the
    digests. Returns the header and, per prefix, its digests concatenated."""
    if blob[:8] != PREFIX_MAGIC:
        raise ValueError("not a prefix answer (magic HANOIPX1)")
    (n,) = struct.unpack(">I", blob[8:12])
    header = json.loads(blob[12:12 + n])
    count = int(header["count"])
    at = 12 + n
    sizes = struct.unpack(f">{count}I", blob[at:at + 4 * count])
    at += 4 * count
    out = []
    for size in sizes:
        out.append(blob[at:at + 32 * size])
        at += 32 * size
    if at != len(blob):
        raise ValueError("the prefix answer's length does not match its counts")
    return header, out


# --- filters ---------------------------------------------------------------------------------


BLOCK_BITS = 512


def bloom_positions(d: bytes, m: int, k: int) -> list[int]:
    """The ``k`` bit positions of digest ``d`` in a filter of ``m`` bits (a multiple of 512)."""
    w = struct.unpack("<8I", d)
    block = ((w[0] * (m // BLOCK_BITS)) >> 32) * BLOCK_BITS
    return [block + ((w[1 + j // 3] >> (9 * (j % 3))) & 511) for j in range(k)]


class FilterError(ValueError):
    """A filter file is not one, is of another version, or its signature does not verify."""


@dataclass(frozen=True)
class Filter:
    """A downloaded filter: its header (version, values, bits, hashes, the node that signed
    it), its bits, and the signed bytes with their signature."""

    header: dict[str, Any]
    bits: bytes
    signed: bytes
    signature: bytes

    @property
    def m(self) -> int:
        return int(self.header["m"])

    @property
    def k(self) -> int:
        return int(self.header["k"])

    @classmethod
    def parse(cls, blob: bytes) -> Filter:
        if len(blob) < 12 + SIGNATURE_BYTES or blob[:8] != FILTER_MAGIC:
            raise FilterError("not a Hanoi Exchange filter (magic HANOIBF1)")
        (n,) = struct.unpack(">I", blob[8:12])
        try:
            header = json.loads(blob[12:12 + n])
        except ValueError as exc:
            raise FilterError(f"unreadable filter header: {exc}") from None
        if not isinstance(header, dict) or header.get("canon") not in (CANON, MEDIA_CANON):
            raise FilterError(f"a filter of another canonical form ({header.get('canon')!r})"
                              if isinstance(header, dict) else "unreadable filter header")
        body = blob[12 + n:-SIGNATURE_BYTES]
        m = int(header.get("m", -1))
        if m <= 0 or m % BLOCK_BITS or len(body) != m // 8 or not 1 <= int(header.get("k", 0)) <= 9:
            raise FilterError("the filter's size does not match its header")
        return cls(header, body, blob[:-SIGNATURE_BYTES], blob[-SIGNATURE_BYTES:])

    def verify(self, public_key_b64: str) -> None:
        """Check the node's Ed25519 signature (needs ``cryptography``); raise ``FilterError``.
        ``public_key_b64`` is the key as ``GET /api/v1/node`` shows it (URL-safe base64)."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        raw = base64.urlsafe_b64decode(public_key_b64 + "=" * (-len(public_key_b64) % 4))
        key = Ed25519PublicKey.from_public_bytes(raw)
        try:
            key.verify(self.signature, self.signed)
        except InvalidSignature:
            raise FilterError("the filter's signature does not verify with the node's key") from None

    def __contains__(self, d: object) -> bool:
        if not isinstance(d, bytes | bytearray) or len(d) != 32:
            return False
        bits, m = self.bits, self.m
        return all(bits[p >> 3] >> (p & 7) & 1 for p in bloom_positions(bytes(d), m, self.k))

    def contains_many(self, digests: Sequence[bytes]) -> list[bool]:
        """Which of ``digests`` may be in the filter (numpy when installed: millions a second)."""
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy is there wherever Hanoi runs
            return [d in self for d in digests]
        if not digests:
            return []
        words = np.frombuffer(b"".join(digests), dtype="<u4").reshape(-1, 8)
        return contains_words(np.frombuffer(self.bits, dtype=np.uint8), self.m, self.k, words).tolist()  # type: ignore[no-any-return,unused-ignore]


def contains_words(bits: Any, m: int, k: int, words: Any) -> Any:
    """numpy: ``words`` an (n, 8) little-endian uint32 view of n digests; a bool per digest.

    One gather of each digest's 64-byte block, then the ``k`` bits tested within it, in chunks
    small enough to stay in cache.
    """
    import numpy as np

    blocks = np.frombuffer(bits, dtype="<u8").reshape(-1, BLOCK_BITS // 64)
    n_blocks = np.uint64(len(blocks))
    out = np.empty(len(words), dtype=bool)
    step = 1 << 16
    for lo in range(0, len(words), step):
        w = words[lo:lo + step]
        g = blocks[((w[:, 0].astype(np.uint64) * n_blocks) >> np.uint64(32)).astype(np.intp)]
        ok = np.ones(len(w), dtype=bool)
        for j in range(k):
            p = (w[:, 1 + j // 3] >> np.uint32(9 * (j % 3))) & np.uint32(511)
            word = np.take_along_axis(g, (p >> np.uint32(6)).astype(np.intp)[:, None], axis=1)[:, 0]
            ok &= ((word >> (p & np.uint32(63)).astype(np.uint64)) & np.uint64(1)).astype(bool)
        out[lo:lo + step] = ok
    return out


# --- the client ------------------------------------------------------------------------------


class PrivateLookup:
    """Check values against a node without sending a value that does not match.

    ``url`` is the node's base URL (``https://node.example``), ``token`` a partner's API token
    with the match permission; ``client`` an ``httpx.Client`` to use instead of a new one.
    """

    def __init__(self, url: str = "", token: str = "", *, client: httpx.Client | None = None,
                 timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._own = client is None
        self.http = client if client is not None else httpx.Client(base_url=url, timeout=timeout)
        self.headers = headers
        self.asked = 0
        """Prefixes sent so far (what left this platform)."""
        self.revealed = 0
        """Values or hashes sent in clear so far (real matches only, in a private check)."""

    def close(self) -> None:
        if self._own:
            self.http.close()

    def __enter__(self) -> PrivateLookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **params: Any) -> httpx.Response:
        r = self.http.get(path, params={k: v for k, v in params.items() if v is not None},
                          headers=self.headers)
        _raise(r)
        return r

    def post(self, path: str, body: Any) -> Any:
        r = self.http.post(path, json=body, headers=self.headers)
        _raise(r)
        return r.json()

    def params(self, media: bool = False) -> dict[str, Any]:
        """The node's prefix length (``bits``), padding, ``k`` and canonical form version."""
        return dict(self.get(f"/api/v1/{'media' if media else 'signals'}/prefixes").json())

    def candidates(self, digests: Sequence[bytes], *, media: bool = False) -> list[bool]:
        """For each digest, whether the node holds it (and lets this member see it)."""
        params = self.params(media)
        bits, canon = int(params["bits"]), (MEDIA_CANON if media else CANON)
        if params.get("version") != canon:
            raise ValueError(f"the node answers in canonical form {params.get('version')!r}, "
                             f"this client speaks {canon!r}")
        wanted = list(dict.fromkeys(prefix_of(d, bits) for d in digests))
        answers: dict[int, bytes] = {}
        path = f"/api/v1/{'media' if media else 'signals'}/prefixes"
        for start in range(0, len(wanted), MAX_PREFIXES):
            part = wanted[start:start + MAX_PREFIXES]
            r = self.http.post(path, content=json.dumps({"bits": bits, "prefixes": part}),
                               headers={**self.headers, "Accept": BINARY, "Content-Type": "application/json"})
            _raise(r)
            header, blobs = parse_prefix_answer(r.content)
            if header.get("version") != canon or header.get("bits") != bits or len(blobs) != len(part):
                raise ValueError("the node answered in another canonical form or prefix length")
            self.asked += len(part)
            answers.update(zip(part, blobs, strict=True))
        return [_holds(answers[prefix_of(d, bits)], d) for d in digests]

    def check(self, items: Iterable[tuple[str, str]]) -> list[dict[str, Any] | None]:
        """Check normalised ``(type, value)`` pairs: for each, the node's lookup answer when it
        matched (asked for with only the matching values), else None."""
        pairs = list(items)
        hits = self.candidates([digest(t, v) for t, v in pairs])
        out: list[dict[str, Any] | None] = [None] * len(pairs)
        matched = [i for i, h in enumerate(hits) if h]
        self.revealed += len(matched)
        for start in range(0, len(matched), MAX_PREFIXES):
            part = matched[start:start + MAX_PREFIXES]
            got = self.post("/api/v1/signals/lookup",
                             {"values": [{"type": pairs[i][0], "value": pairs[i][1]} for i in part]})
            for i, r in zip(part, got["results"], strict=True):
                out[i] = r if r.get("match") else None
        return out

    def lookup(self, items: Sequence[tuple[str, str]]) -> list[dict[str, Any] | None]:
        """The plain lookup, for comparison: every value is sent in clear."""
        out: list[dict[str, Any] | None] = []
        self.revealed += len(items)
        for start in range(0, len(items), MAX_PREFIXES):
            got = self.post("/api/v1/signals/lookup", {"values": [
                {"type": t, "value": v} for t, v in items[start:start + MAX_PREFIXES]]})
            out += [r if r.get("match") else None for r in got["results"]]
        return out

    def check_media(self, algorithm: str, hashes: Sequence[str]) -> list[bool]:
        """Which exact hashes (``md5`` / ``sha256`` hex) the node holds as active."""
        return self.candidates([media_digest(algorithm, h) for h in hashes], media=True)

    def match_media(self, hashes: Sequence[tuple[str, str]], *, private: bool = True
                    ) -> list[list[dict[str, Any]]]:
        """For each ``(algorithm, hex)`` pair (``md5`` / ``sha256``), the node's matches as
        ``POST /api/v1/media/match`` answers them (list, category, source, ``match_id`` for
        feedback), an empty list when none. ``private``: only prefixes of the hashes' digests
        are sent first, then only the hashes the node holds are matched; else every hash is
        sent in clear (the plain match)."""
        pairs = [(a.lower(), h.strip().lower()) for a, h in hashes]
        unknown = sorted({a for a, _ in pairs} - set(MEDIA_ALGORITHMS))
        if unknown:
            raise ValueError(f"not an exact media hash algorithm: {', '.join(unknown)} "
                             f"(one of {', '.join(MEDIA_ALGORITHMS)})")
        if private:
            hits = self.candidates([media_digest(a, h) for a, h in pairs], media=True) if pairs else []
            ask = [i for i, hit in enumerate(hits) if hit]
        else:
            ask = list(range(len(pairs)))
        self.revealed += len(ask)
        out: list[list[dict[str, Any]]] = [[] for _ in pairs]
        for algorithm in MEDIA_ALGORITHMS:
            these = [i for i in ask if pairs[i][0] == algorithm]
            for start in range(0, len(these), MAX_PREFIXES):
                part = these[start:start + MAX_PREFIXES]
                got = self.post("/api/v1/media/match", {algorithm: [pairs[i][1] for i in part]})
                for m in got["matches"]:
                    out[part[int(m["query"])]].append(m)
        return out

    def download_filter(self, since: str | None = None) -> bytes:
        """The signed filter of what this member may see (``since``: only what is new since
        that filter version, a delta)."""
        return self.get("/api/v1/signals/filter", since=since).content


def _holds(blob: bytes, d: bytes) -> bool:
    """Whether ``blob`` (concatenated 32-byte digests) holds ``d`` as one of them."""
    i = blob.find(d)
    while i != -1 and i % 32:
        i = blob.find(d, i + 1)
    return i != -1


def _raise(r: httpx.Response) -> None:
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail") or r.text
        except ValueError:
            detail = r.text
        raise httpx.HTTPStatusError(f"{r.status_code}: {detail}", request=r.request, response=r)


__all__ = ["BINARY", "BLOCK_BITS", "CANON", "FILTER_MAGIC", "MAX_PREFIXES", "MEDIA_ALGORITHMS", "MEDIA_CANON",
           "PREFIX_MAGIC", "Filter", "FilterError", "PrivateLookup", "bloom_positions", "canonical", "contains_words",
           "digest", "media_digest", "parse_prefix_answer", "prefix_of", "split_digests"]
