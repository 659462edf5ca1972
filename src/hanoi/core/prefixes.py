"""Private lookups, the node's side: digests sorted by prefix, the prefix length, padded
answers, Bloom filters. Pure (numpy), shared by the signals and media wings; the canonical form
and the filter's bit positions are defined once, in ``hanoi.private_lookup`` (what a platform
vendors), and only used here.

Prefix length. With ``n`` values stored and ``k`` the node's setting, the node lets clients send
``bits = floor(log2(n / k))`` bits (0 when ``n < 2k``). Digests are uniformly random, so a
prefix covers on average ``n / 2**bits`` stored values, which lies in ``[k, 2k)``: every
prefix covers at least ``k`` stored values on average. The count under one prefix is
binomial (about Poisson with that mean): at ``k = 8`` (mean 8 to 16) a given prefix covers fewer
than 4 values with probability 4.2% at mean 8 and 0.01% at mean 16.

Padding. Each prefix's answer is padded with random 32-byte strings (indistinguishable from
SHA-256 digests) to a multiple of ``pad = 4k``; a prefix covers more than ``4k`` values with
probability below 1e-4 (Poisson, mean under 2k), so answers are all of one size in practice.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from hanoi.core.errors import InvalidInput, Problem, invalid
from hanoi.private_lookup import BLOCK_BITS, FILTER_MAGIC, MAX_PREFIXES, PREFIX_MAGIC

MAX_BITS = 40
MAX_ANSWER = 1_000_000
"""Digests one prefix call may answer (32 MB): a call with fewer bits than that needs is
refused (ask with more bits, or download the filter)."""
RULE = "PRIVATE-PREFIX"
BLOOM_BITS_PER_VALUE = 16
BLOOM_HASHES = 8
"""At 16 bits a value and 8 bit positions in 512-bit blocks (``bloom_fpr``), the false-positive
rate is 0.087% (an unblocked filter would give ``(1 - exp(-8 / 16)) ** 8`` = 0.057%; the block
costs a little, and buys one cache miss a check): 2 bytes a value, 20 MB for 10 million."""

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


def prefix_bits(stored: int, k: int) -> int:
    """The prefix length (bits) that keeps at least ``k`` stored values per prefix on average."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if stored < 2 * k:
        return 0
    return min(MAX_BITS, (stored // k).bit_length() - 1)  # floor(log2(stored / k)), exactly


def pad_size(k: int) -> int:
    return 4 * k


def bloom_fpr(bits_per_value: float = BLOOM_BITS_PER_VALUE, hashes: int = BLOOM_HASHES,
              block: int = BLOCK_BITS) -> float:
    """The false-positive rate of a blocked Bloom filter: a block holds Poisson(block / bits a
    value) values; the rate is the unblocked formula averaged over that load."""
    load = block / bits_per_value
    total = 0.0
    for c in range(int(load * 4) + 40):
        weight = math.exp(-load + c * math.log(load) - math.lgamma(c + 1)) if load > 0 else float(c == 0)
        total += weight * (1 - (1 - 1 / block) ** (hashes * c)) ** hashes
    return total


class DigestIndex:
    """Digests (32 bytes) with an id each, sorted by their first 8 bytes (big-endian).

    Immutable, so readers need no lock: ``with_added`` returns a new index (one ``O(n)`` copy per
    batch, so feed it batches); ``under(prefixes, bits)`` gives, for each prefix, the rows whose
    digest starts with it.
    """

    def __init__(self, keys: npt.NDArray[np.uint64] | None = None, digests: U8 | None = None,
                 ids: I64 | None = None) -> None:
        self.keys: npt.NDArray[np.uint64] = keys if keys is not None else np.zeros(0, np.uint64)
        self.digests: U8 = digests if digests is not None else np.zeros((0, 32), np.uint8)
        self.ids: I64 = ids if ids is not None else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def with_added(self, digests: Sequence[bytes] | bytes | U8, ids: Sequence[int] | I64) -> DigestIndex:
        if isinstance(digests, np.ndarray):
            new = digests.reshape(-1, 32)
        else:
            blob = digests if isinstance(digests, bytes) else b"".join(digests)
            new = np.frombuffer(blob, dtype=np.uint8).reshape(-1, 32)
        if not len(new):
            return self
        new_ids = np.asarray(ids, dtype=np.int64)
        keys = new[:, :8].copy().view(">u8").reshape(-1).astype(np.uint64)
        order = np.argsort(keys, kind="stable")
        keys, new, new_ids = keys[order], new[order], new_ids[order]
        if not len(self.ids):
            return DigestIndex(keys, np.ascontiguousarray(new), new_ids)
        at = np.searchsorted(self.keys, keys)
        return DigestIndex(np.insert(self.keys, at, keys), np.insert(self.digests, at, new, axis=0),
                           np.insert(self.ids, at, new_ids))

    def under(self, prefixes: Sequence[int], bits: int) -> tuple[I64, I64]:
        """Per prefix, the row range ``[lo, hi)`` of the digests that start with it."""
        p = np.asarray(prefixes, dtype=np.uint64)
        n = len(self.keys)
        if bits == 0:
            return np.zeros(len(p), np.int64), np.full(len(p), n, np.int64)
        shift = np.uint64(64 - bits)
        lo = np.searchsorted(self.keys, p << shift).astype(np.int64)
        last = p == np.uint64((1 << bits) - 1)
        upper = (p + np.uint64(1)) << shift  # wraps to 0 for the last prefix
        hi = np.where(last, n, np.searchsorted(self.keys, upper)).astype(np.int64)
        return lo, hi

    def rows(self, prefixes: Sequence[int], bits: int) -> tuple[I64, I64]:
        """Every row under the prefixes, and the position (in ``prefixes``) each belongs to;
        refused (``InvalidInput``) beyond ``MAX_ANSWER`` rows."""
        lo, hi = self.under(prefixes, bits)
        counts = hi - lo
        total = int(counts.sum())
        if total > MAX_ANSWER:
            raise invalid("bits", f"{bits} bit(s) would answer {total:,} digests, at most {MAX_ANSWER:,} "
                          "per call: send longer prefixes (GET the prefixes route for the length) or "
                          "download the filter", RULE)
        owner = np.repeat(np.arange(len(lo), dtype=np.int64), counts)
        starts = np.cumsum(counts) - counts
        rows = np.arange(total, dtype=np.int64) - np.repeat(starts, counts) + np.repeat(lo, counts)
        return rows, owner


def padded_answers(index: DigestIndex, rows: I64, owner: I64, keep: npt.NDArray[np.bool_],
                   n_prefixes: int, pad: int) -> tuple[list[bytes], int]:
    """Per prefix, the concatenated digests of the kept rows, padded with random digests to a
    multiple of ``pad`` (at least ``pad``); and how many real digests were answered."""
    rows, owner = rows[keep], owner[keep]
    counts = np.bincount(owner, minlength=n_prefixes)
    sizes = np.maximum(pad, -(-counts // pad) * pad)
    blob = index.digests[rows].tobytes()
    noise = os.urandom(int((sizes - counts).sum()) * 32)
    out: list[bytes] = []
    at = spent = 0
    for c, size in zip(counts.tolist(), sizes.tolist(), strict=True):
        extra = (size - c) * 32
        out.append(blob[at:at + c * 32] + noise[spent:spent + extra])
        at += c * 32
        spent += extra
    return out, int(counts.sum())


def binary_answer(version: str, bits: int, pad: int, answers: Sequence[bytes]) -> bytes:
    """The binary form of a prefix answer (``hanoi.private_lookup.parse_prefix_answer``)."""
    head = json.dumps({"version": version, "bits": bits, "pad": pad, "count": len(answers)},
                      sort_keys=True, separators=(",", ":")).encode()
    sizes = np.asarray([len(a) // 32 for a in answers], dtype=">u4").tobytes()
    return b"".join([PREFIX_MAGIC, len(head).to_bytes(4, "big"), head, sizes, *answers])


def bloom_size(n: int, bits_per_value: int = BLOOM_BITS_PER_VALUE) -> int:
    """Filter size in bits: a multiple of 512 (whole blocks), at least one block."""
    return max(BLOCK_BITS, -(-(n * bits_per_value) // BLOCK_BITS) * BLOCK_BITS)


def bloom_bits(digests: U8, m: int, hashes: int = BLOOM_HASHES) -> bytes:
    """The bits (``m // 8`` bytes) of a blocked Bloom filter of ``digests`` ((n, 32) uint8),
    with the positions ``hanoi.private_lookup.bloom_positions`` defines."""
    bits = np.zeros(m, dtype=bool)
    n_blocks = np.uint64(m // BLOCK_BITS)
    step = 1 << 20
    for start in range(0, len(digests), step):
        w = np.ascontiguousarray(digests[start:start + step]).view("<u4").reshape(-1, 8)
        block = ((w[:, 0].astype(np.uint64) * n_blocks) >> np.uint64(32)) * np.uint64(BLOCK_BITS)
        for j in range(hashes):
            p = (w[:, 1 + j // 3] >> np.uint32(9 * (j % 3))) & np.uint32(511)
            bits[(block + p.astype(np.uint64)).astype(np.intp)] = True
    return np.packbits(bits, bitorder="little").tobytes()


def filter_blob(header: dict[str, Any], bits: bytes, sign: Any) -> bytes:
    """The filter file: magic, header length, JSON header, bits, Ed25519 signature."""
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    signed = FILTER_MAGIC + len(head).to_bytes(4, "big") + head + bits
    return signed + bytes(sign(signed))

def check_prefixes(body: Any, max_bits: int) -> tuple[int, list[int]]:
    """``(bits, prefixes)`` from a request body, every problem at once."""
    if not isinstance(body, dict):
        raise invalid("body", "must be an object {bits, prefixes: [...]}")
    unknown = sorted(set(body) - {"bits", "prefixes"})
    if unknown:
        raise InvalidInput("unknown fields", [Problem(k, "is not a field of a prefix lookup") for k in unknown])
    bits, prefixes = body.get("bits"), body.get("prefixes")
    if type(bits) is not int or not 0 <= bits <= max_bits:
        raise invalid("bits", f"must be a whole number from 0 to {max_bits}: a longer prefix would "
                      "cover fewer stored values than this node's k (GET the prefixes route "
                      "for the length)", RULE)
    if not isinstance(prefixes, list) or not prefixes:
        raise invalid("prefixes", "must be a non-empty list of whole numbers", RULE)
    if len(prefixes) > MAX_PREFIXES:
        raise invalid("prefixes", f"{len(prefixes):,} prefixes: at most {MAX_PREFIXES:,} per call",
                      "SIGNAL-LIMITS")
    limit = 1 << bits
    bad = [i for i, p in enumerate(prefixes) if type(p) is not int or not 0 <= p < limit]
    if bad:
        raise InvalidInput(f"{len(bad)} prefix(es) are not whole numbers below 2**bits = {limit:,}",
                           [Problem(f"prefixes[{i}]", f"must be a whole number from 0 to {limit - 1}", RULE)
                            for i in bad[:20]], RULE)
    return bits, prefixes


__all__ = [
    "BLOOM_BITS_PER_VALUE",
    "BLOOM_HASHES",
    "RULE",
    "DigestIndex",
    "bloom_bits",
    "bloom_fpr",
    "bloom_size",
    "check_prefixes",
    "filter_blob",
    "pad_size",
    "padded_answers",
    "prefix_bits",
]
