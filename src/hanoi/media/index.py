"""The PDQ index: exact Hamming-radius search over millions of PDQ hashes (multi-index hashing).

How it works
------------
Each 256-bit hash is four ``uint64`` words. The index cuts the first ``slots * bits`` bits into
``slots`` disjoint substrings (default 11 slots; ``bits`` = about log2 of the number of hashes,
at most 23) and keeps, per slot, a CSR table from every ``bits``-bit value to the rows that carry
it. By the pigeonhole principle, two hashes within distance ``t`` agree to within
``r = t // slots`` bits on at least one slot (the slots hold at most 256 bits, so their
distances sum to at most ``t``). A query therefore probes, in each slot, its own value XOR every
mask of at most ``r`` bits, and re-checks each candidate row with a full 256-bit popcount. The
result is *exactly* the brute-force answer, for every threshold: at the default 31, ``r = 2``
(277 probes per slot; one slot needs only ``r = 1``, see ``_probe_plan``); at 33..43,
``r = 3``. When a threshold would need more than ``MAX_PROBES`` probes per query (t >= 44
with 11 slots) a segment is scanned by brute force instead, still exact, just slower. (With 16
slots of 16 bits, as faiss does, ``r = 1`` but each bucket holds 128x more rows: ~40k
candidates per query at 10M against ~3.6k here.)

Everything is numpy and vectorised over a batch of queries; ``np.bitwise_count`` does the
popcount. Nothing here does I/O except ``save`` and ``load``.

Updates
-------
Rows are append-only. New rows first sit in a small *tail* that is scanned by brute force;
a full tail becomes a segment, and segments are merged log-structured (a segment is merged
into its older neighbour once it is a quarter of its size), so every row is re-indexed
O(log n) times. ``remove`` sets a tombstone; when a quarter of the rows are dead the index is
compacted (rebuilt without them).

Snapshot
--------
``save`` compacts and writes one file: a magic string, a JSON header (format version, geometry,
array offsets) and the raw arrays, 64-byte aligned, so ``load(path, mmap=True)`` starts in
milliseconds whatever the size, without rebuilding.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hanoi.core.errors import Conflict, invalid

DEFAULT_THRESHOLD: Final = 31
DEFAULT_SLOTS: Final = 11
MAX_BITS: Final = 23  # 11 x 23 = 253 <= 256; the CSR table of a slot is 2^23 x 4 bytes
#: Above this many probes per query a segment is scanned by brute force (still exact).
MAX_PROBES: Final = 40_000
SNAPSHOT_VERSION: Final = 1
_MAGIC: Final = b"HANOIPDQ"
_TAIL_MAX: Final = 4096  # rows scanned by brute force before they become a segment
_CHUNK_PROBES: Final = 100_000  # probes per query chunk: small enough to stay in cache

Words = npt.NDArray[np.uint64]  # shape (n, 4): hash bits 0-63, 64-127, 128-191, 192-255
IntArray = npt.NDArray[np.int64]


class SnapshotError(Exception):
    """A snapshot file is unreadable, of another format version, or inconsistent: rebuild."""


# --- conversions -----------------------------------------------------------------------------


def hex_to_words(hashes: Sequence[str] | Iterable[str], field: str = "pdq") -> Words:
    """Parse PDQ hex strings (64 hex digits each) into an (n, 4) uint64 array, vectorised."""
    hs = hashes if isinstance(hashes, list | tuple) else list(hashes)
    n = len(hs)
    if n == 0:
        return np.zeros((0, 4), np.uint64)
    joined = "".join(hs)
    try:
        raw = bytes.fromhex(joined)
    except ValueError:
        raw = b""
    if len(joined) != 64 * n or len(raw) != 32 * n:
        bad = next(
            (i for i, h in enumerate(hs) if not _is_pdq_hex(h)), None
        )
        raise invalid(f"{field}[{bad}]" if bad is not None else field,
                      "a PDQ hash must be 64 hex digits")
    return np.frombuffer(raw, dtype=">u8").reshape(n, 4).astype(np.uint64)


def _is_pdq_hex(h: object) -> bool:
    if not isinstance(h, str) or len(h) != 64:
        return False
    try:
        return len(bytes.fromhex(h)) == 32
    except ValueError:
        return False


def words_to_hex(words: Words) -> list[str]:
    """Inverse of ``hex_to_words``: lower-case hex strings."""
    s = np.ascontiguousarray(words, dtype=">u8").tobytes().hex()
    return [s[i : i + 64] for i in range(0, len(s), 64)]


def as_words(hashes: Any, field: str = "pdq") -> Words:
    """Accept hex strings, an (n, 4) uint64 array or an (n, 32) uint8 array (big-endian bytes)."""
    if isinstance(hashes, str):
        return hex_to_words([hashes], field)
    if isinstance(hashes, np.ndarray):
        if hashes.ndim == 2 and hashes.shape[1] == 4 and hashes.dtype == np.uint64:
            return hashes
        if hashes.ndim == 2 and hashes.shape[1] == 32 and hashes.dtype == np.uint8:
            return np.ascontiguousarray(hashes).view(">u8").astype(np.uint64)
        if hashes.ndim == 1 and hashes.shape[0] == 4 and hashes.dtype == np.uint64:
            return hashes.reshape(1, 4)
        raise invalid(field, "PDQ hashes must be an (n, 4) uint64 or (n, 32) uint8 array")
    return hex_to_words(hashes, field)


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer):
        raise invalid("threshold", "the PDQ threshold must be an integer")
    if not 0 <= int(threshold) <= 256:
        raise invalid("threshold", f"the PDQ threshold must be from 0 to 256, got {threshold}")
    return int(threshold)


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Matches:
    """Matches of a batch of queries: parallel arrays, sorted by (query, distance, item)."""

    query: IntArray
    item: IntArray
    distance: IntArray

    def __len__(self) -> int:
        return int(self.query.shape[0])

    def as_tuples(self) -> list[tuple[int, int, int]]:
        """[(query_idx, item_id, distance), ...] as Python ints."""
        return list(
            zip(self.query.tolist(), self.item.tolist(), self.distance.tolist(), strict=True)
        )

    def for_query(self, q: int) -> list[tuple[int, int]]:
        """[(item_id, distance), ...] for query ``q``, closest first."""
        lo, hi = np.searchsorted(self.query, [q, q + 1])
        return list(zip(self.item[lo:hi].tolist(), self.distance[lo:hi].tolist(), strict=True))


def _sorted_matches(q: IntArray, item: IntArray, d: IntArray) -> Matches:
    order = np.lexsort((item, d, q))
    return Matches(q[order], item[order], d[order])


def _distances(a: Words, b: Words) -> IntArray:
    """Row-wise Hamming distance of two (k, 4) word arrays."""
    x = np.bitwise_count(a ^ b)  # uint8, (k, 4)
    return (
        x[:, 0].astype(np.int64) + x[:, 1] + x[:, 2] + x[:, 3]
    )


def brute_force(
    words: Words,
    ids: npt.ArrayLike,
    queries: Any,
    threshold: int = DEFAULT_THRESHOLD,
    alive: npt.NDArray[np.bool_] | None = None,
) -> Matches:
    """Reference answer: every (query, item) within ``threshold``, by scanning everything."""
    t = _check_threshold(threshold)
    qw = as_words(queries, "query")
    item_ids = np.asarray(ids, dtype=np.int64)
    rows_q, rows_r, dists = _scan(words, qw, t, 0, alive)
    return _sorted_matches(rows_q, item_ids[rows_r], dists)


def _scan(
    words: Words, qw: Words, t: int, row0: int, alive: npt.NDArray[np.bool_] | None
) -> tuple[IntArray, IntArray, IntArray]:
    """Brute-force scan of ``words`` (rows numbered from ``row0``), in bounded-memory chunks."""
    n, nq = words.shape[0], qw.shape[0]
    outs_q, outs_r, outs_d = [], [], []
    if n and nq:
        step = max(1, 2_000_000 // n)
        for q0 in range(0, nq, step):
            qs = qw[q0 : q0 + step]
            x = np.bitwise_count(qs[:, None, :] ^ words[None, :, :])
            d = x.sum(axis=2, dtype=np.int64)
            qi, ri = np.nonzero(d <= t)
            if alive is not None:
                keep = alive[row0 + ri]
                qi, ri = qi[keep], ri[keep]
            outs_q.append(qi + q0)
            outs_r.append(ri + row0)
            outs_d.append(d[qi, ri])
    if not outs_q:
        e = np.zeros(0, np.int64)
        return e, e, e
    return (
        np.concatenate(outs_q).astype(np.int64),
        np.concatenate(outs_r).astype(np.int64),
        np.concatenate(outs_d).astype(np.int64),
    )


# --- slotting --------------------------------------------------------------------------------


def _slot_key(words: Words, s: int, bits: int) -> IntArray:
    """Bits [s*bits, (s+1)*bits) of each hash (bit 0 = most significant of word 0)."""
    o = s * bits
    w, off = divmod(o, 64)
    mask = np.uint64((1 << bits) - 1)
    if off + bits <= 64:
        v = (words[:, w] >> np.uint64(64 - off - bits)) & mask
    else:
        hi = 64 - off
        lo = bits - hi
        v = ((words[:, w] & np.uint64((1 << hi) - 1)) << np.uint64(lo)) | (
            words[:, w + 1] >> np.uint64(64 - lo)
        )
    return v.astype(np.int64)


_MASKS: dict[tuple[int, int], IntArray] = {}


def _flip_masks(bits: int, radius: int) -> IntArray:
    """Every ``bits``-bit mask with at most ``radius`` ones (0 first)."""
    key = (bits, radius)
    if key not in _MASKS:
        out = [0]
        for r in range(1, min(radius, bits) + 1):
            out.extend(sum(1 << i for i in c) for c in combinations(range(bits), r))
        _MASKS[key] = np.array(out, dtype=np.int64)
    return _MASKS[key]


def _n_masks(bits: int, radius: int) -> int:
    return sum(math.comb(bits, r) for r in range(min(radius, bits) + 1))


_PLANS: dict[tuple[int, int, int], tuple[IntArray, IntArray] | None] = {}


def _probe_plan(bits: int, slots: int, t: int) -> tuple[IntArray, IntArray] | None:
    """The (slot, mask) pairs a query probes to find every row within ``t``, or None if there
    are more than ``MAX_PROBES`` (then brute force is cheaper).

    Generalised pigeonhole: if slot i is probed to radius r_i and sum(r_i + 1) > t, a row
    within ``t`` is within r_i on some slot i (else its distance would be >= sum(r_i + 1)).
    Radii r = t // slots everywhere satisfy it with slack; the slack lowers ``k`` slots to
    r - 1 (-1: not probed at all), which at t = 31 saves one slot's 253 two-bit masks.
    """
    key = (bits, slots, t)
    if key not in _PLANS:
        r = t // slots
        k = slots * (r + 1) - (t + 1)  # slots that can use radius r - 1
        radii = [r] * (slots - k) + [r - 1] * k
        if sum(_n_masks(bits, ri) for ri in radii if ri >= 0) > MAX_PROBES:
            _PLANS[key] = None
        else:
            slot_ids = [np.full(_n_masks(bits, ri), s, np.int64)
                        for s, ri in enumerate(radii) if ri >= 0]
            masks = [_flip_masks(bits, ri) for ri in radii if ri >= 0]
            _PLANS[key] = (
                np.concatenate(slot_ids) if slot_ids else np.zeros(0, np.int64),
                np.concatenate(masks) if masks else np.zeros(0, np.int64),
            )
    return _PLANS[key]


def _bits_for(n: int, slots: int) -> int:
    return max(4, min(MAX_BITS, 256 // slots, round(math.log2(max(n, 2)))))


@dataclass
class _Segment:
    """A static MIH over rows [lo, hi): per slot, a CSR table key -> local rows."""

    lo: int
    hi: int
    bits: int
    offsets: npt.NDArray[np.uint32]  # (slots * 2^bits + 1,)
    rows: npt.NDArray[np.uint32]  # (slots * (hi - lo),): local row numbers by (slot, key)

    @property
    def size(self) -> int:
        return self.hi - self.lo

    @classmethod
    def build(cls, words: Words, lo: int, hi: int, slots: int, bits: int | None) -> _Segment:
        n = hi - lo
        b = bits if bits is not None else _bits_for(n, slots)
        if slots * n >= 2**32:
            raise ValueError("a segment holds at most 2^32 / slots rows")
        width = 1 << b
        seg = words[lo:hi]
        offsets = np.zeros(slots * width + 1, dtype=np.uint32)
        rows = np.empty(slots * n, dtype=np.uint32)
        for s in range(slots):
            k = _slot_key(seg, s, b)
            counts = np.bincount(k, minlength=width)
            np.cumsum(counts, out=offsets[s * width + 1 : (s + 1) * width + 1])
            offsets[s * width + 1 : (s + 1) * width + 1] += np.uint32(s * n)
            rows[s * n : (s + 1) * n] = np.argsort(k, kind="stable" if n < 2**16 else None)
        return cls(lo, hi, b, offsets, rows)

    def search(
        self, words: Words, qw: Words, t: int, slots: int, alive: npt.NDArray[np.bool_]
    ) -> tuple[IntArray, IntArray, IntArray]:
        plan = _probe_plan(self.bits, slots, t)
        if plan is None:
            return _scan(words[self.lo : self.hi], qw, t, self.lo, alive)
        pslot, pmask = plan
        pbase = pslot * (1 << self.bits)
        per_query = pslot.shape[0]
        step = max(1, _CHUNK_PROBES // max(per_query, 1))
        outs_q, outs_r, outs_d = [], [], []
        for q0 in range(0, qw.shape[0] if per_query else 0, step):
            qs = qw[q0 : q0 + step]
            keys = np.stack([_slot_key(qs, s, self.bits) for s in range(slots)], axis=1)
            # (nq, slots, masks) flattened: the table positions to probe. np.take, not fancy
            # indexing: it is several times faster on these gathers.
            probe = ((keys[:, pslot] ^ pmask) + pbase).ravel()
            starts = np.take(self.offsets, probe)
            counts = np.take(self.offsets, probe + 1) - starts
            ends = np.cumsum(counts, dtype=np.int64)
            total = int(ends[-1])
            if total == 0:
                continue
            # position of each candidate in self.rows: start of its run + rank within the run
            pos = np.arange(total, dtype=np.int64)
            pos += np.repeat(starts.astype(np.int64) - (ends - counts), counts)
            crow = np.take(self.rows, pos).astype(np.int64)
            del pos
            crow += self.lo
            cand = np.take(words, crow, axis=0)
            q_end = ends[per_query - 1 :: per_query]  # candidates are grouped by query
            q_counts = np.diff(q_end, prepend=0)
            cand ^= np.repeat(qs, q_counts, axis=0)
            # popcount per word (uint8), then the 4 bytes summed by one multiply; its only
            # overflow (all four = 64: distance 256 reads as 0) is handled explicitly.
            v = np.bitwise_count(cand).view(np.uint32).ravel()
            del cand
            d = (v * np.uint32(0x01010101)) >> np.uint32(24)
            complement = v == 0x40404040
            if t >= 256:
                d[complement] = 256
                ok = np.flatnonzero(d <= t)
            else:
                ok = np.flatnonzero((d <= t) & ~complement)
            ok = ok[alive[crow[ok]]]
            cq = np.searchsorted(q_end, ok, side="right")
            crow, dd = crow[ok], d[ok].astype(np.int64)
            # a row near a query shows up through several slots: keep it once
            _, first = np.unique(cq * (self.hi + 1) + crow, return_index=True)
            outs_q.append(cq[first] + q0)
            outs_r.append(crow[first])
            outs_d.append(dd[first])
        if not outs_q:
            e = np.zeros(0, np.int64)
            return e, e, e
        return np.concatenate(outs_q), np.concatenate(outs_r), np.concatenate(outs_d)


# --- the index -------------------------------------------------------------------------------


class PdqIndex:
    """Exact PDQ matching by Hamming distance over item ids (int64, unique among live rows).

    >>> ix = PdqIndex.build(["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"], [7])
    >>> ix.query("f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23")
    [(7, 1)]
    """

    def __init__(self, slots: int = DEFAULT_SLOTS, *, bits: int | None = None) -> None:
        if not 1 <= slots <= 64:
            raise invalid("slots", "the number of slots must be from 1 to 64")
        if bits is not None and not (1 <= bits <= 28 and slots * bits <= 256):
            raise invalid("bits", "bits per slot must be 1..28 and slots * bits <= 256")
        self.slots = slots
        self._fixed_bits = bits
        self._words: Words = np.zeros((0, 4), np.uint64)
        self._ids: IntArray = np.zeros(0, np.int64)
        self._alive: npt.NDArray[np.bool_] = np.zeros(0, np.bool_)
        self._n = 0  # rows in use
        self._dead = 0
        self._segments: list[_Segment] = []
        # id lookup: ids of rows [0, _order_n) sorted, with their rows; later rows are scanned
        self._order_n = 0
        self._order_ids: IntArray = np.zeros(0, np.int64)
        self._order_rows: IntArray = np.zeros(0, np.int64)

    # ---- construction ----

    @classmethod
    def build(
        cls,
        hashes: Any,
        ids: npt.ArrayLike,
        *,
        slots: int = DEFAULT_SLOTS,
        bits: int | None = None,
    ) -> PdqIndex:
        """Build an index in one pass (hashes as hex strings or an (n, 4) uint64 array)."""
        ix = cls(slots, bits=bits)
        w = as_words(hashes)
        item_ids = ix._check_ids(ids, w.shape[0])
        ix._words = np.ascontiguousarray(w)
        ix._ids = item_ids.copy()
        ix._alive = np.ones(w.shape[0], np.bool_)
        ix._n = w.shape[0]
        ix._reindex_ids()
        ix._rebuild_segments()
        return ix

    def _check_ids(self, ids: npt.ArrayLike, n: int) -> IntArray:
        try:
            arr = np.asarray(ids)
            if arr.dtype.kind not in "iu" and arr.size:
                raise TypeError
            item_ids = arr.astype(np.int64).reshape(-1)
        except (TypeError, ValueError, OverflowError):
            raise invalid("ids", "item ids must be 64-bit integers") from None
        if item_ids.shape[0] != n:
            raise invalid("ids", f"{n} hashes but {item_ids.shape[0]} ids")
        return item_ids

    def _rebuild_segments(self) -> None:
        """One segment over all rows (leaves no tail)."""
        self._segments = []
        if self._n:
            self._segments.append(_Segment.build(self._words, 0, self._n, self.slots,
                                                  self._fixed_bits))

    def _reindex_ids(self) -> None:
        ids = self._ids[: self._n]
        live = np.flatnonzero(self._alive[: self._n])
        order = np.argsort(ids[live], kind="stable")
        rows = live[order]
        sorted_ids = ids[rows]
        if sorted_ids.size > 1:
            dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
            if dup.size:
                raise Conflict(f"item id {int(sorted_ids[dup[0]])} is given twice")
        self._order_ids, self._order_rows, self._order_n = sorted_ids, rows, self._n

    # ---- size and membership ----

    def __len__(self) -> int:
        return self._n - self._dead

    def __contains__(self, item_id: object) -> bool:
        if not isinstance(item_id, int | np.integer):
            return False
        return self._rows_of(np.array([item_id], np.int64)).size > 0

    @property
    def tail_size(self) -> int:
        """Rows not yet in a segment (scanned by brute force)."""
        return self._n - (self._segments[-1].hi if self._segments else 0)

    @property
    def segment_sizes(self) -> list[int]:
        return [s.size for s in self._segments]

    def nbytes(self) -> int:
        """Bytes held by the index arrays."""
        total = self._words.nbytes + self._ids.nbytes + self._alive.nbytes
        total += self._order_ids.nbytes + self._order_rows.nbytes
        return total + sum(s.offsets.nbytes + s.rows.nbytes for s in self._segments)

    def _rows_of(self, ids: IntArray) -> IntArray:
        """Live rows holding any of ``ids``."""
        pos = np.searchsorted(self._order_ids, ids)
        pos = np.minimum(pos, max(self._order_ids.size - 1, 0))
        found = []
        if self._order_ids.size:
            ok = self._order_ids[pos] == ids
            r = self._order_rows[pos[ok]]
            found.append(r[self._alive[r]])
        tail = np.arange(self._order_n, self._n)
        if tail.size:
            t = tail[np.isin(self._ids[self._order_n : self._n], ids)]
            found.append(t[self._alive[t]])
        return np.concatenate(found) if found else np.zeros(0, np.int64)

    # ---- updates ----

    def add(self, hashes: Any, ids: npt.ArrayLike) -> None:
        """Add hashes with their item ids (ids must not be live in the index already)."""
        w = as_words(hashes)
        k = w.shape[0]
        item_ids = self._check_ids(ids, k)
        if k == 0:
            return
        if np.unique(item_ids).size != k:
            raise Conflict("the same item id is given twice")
        clash = self._rows_of(item_ids)
        if clash.size:
            raise Conflict(f"item id {int(self._ids[clash[0]])} is already in the index")
        self._ensure_capacity(self._n + k)
        self._words[self._n : self._n + k] = w
        self._ids[self._n : self._n + k] = item_ids
        self._alive[self._n : self._n + k] = True
        self._n += k
        if self._n - self._order_n > max(_TAIL_MAX, self._order_n // 8):
            self._reindex_ids()
        self._maybe_merge()

    def _ensure_capacity(self, need: int) -> None:
        cap = self._words.shape[0]
        if need <= cap and self._words.flags.writeable:
            return
        new_cap = max(need, cap + cap // 2, 1024)
        words = np.zeros((new_cap, 4), np.uint64)
        words[: self._n] = self._words[: self._n]
        ids = np.zeros(new_cap, np.int64)
        ids[: self._n] = self._ids[: self._n]
        alive = np.zeros(new_cap, np.bool_)
        alive[: self._n] = self._alive[: self._n]
        self._words, self._ids, self._alive = words, ids, alive

    def _maybe_merge(self) -> None:
        if self.tail_size < _TAIL_MAX:
            return
        lo = self._segments[-1].hi if self._segments else 0
        self._segments.append(_Segment.build(self._words, lo, self._n, self.slots,
                                             self._fixed_bits))
        # log-structured: fold a segment into its older neighbour once it is >= 1/4 its size
        while len(self._segments) >= 2 and self._segments[-1].size * 4 >= self._segments[-2].size:
            b, a = self._segments.pop(), self._segments.pop()
            self._segments.append(_Segment.build(self._words, a.lo, b.hi, self.slots,
                                                 self._fixed_bits))

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove items by id; returns how many were present. Unknown ids are ignored."""
        item_ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        rows = self._rows_of(item_ids)
        self._alive[rows] = False
        self._dead += int(rows.size)
        if self._dead > max(_TAIL_MAX, self._n // 4):
            self.compact()
        return int(rows.size)

    def compact(self) -> None:
        """Drop removed rows and rebuild as one segment (what ``save`` writes)."""
        live = np.flatnonzero(self._alive[: self._n])
        self._words = np.ascontiguousarray(self._words[live])
        self._ids = self._ids[live]
        self._alive = np.ones(live.size, np.bool_)
        self._n, self._dead = int(live.size), 0
        self._reindex_ids()
        self._rebuild_segments()

    # ---- queries ----

    def search(self, queries: Any, threshold: int = DEFAULT_THRESHOLD) -> Matches:
        """All (query_idx, item_id, distance) with distance <= threshold, for a batch."""
        t = _check_threshold(threshold)
        qw = np.ascontiguousarray(as_words(queries, "query"))
        parts = [s.search(self._words, qw, t, self.slots, self._alive) for s in self._segments]
        lo = self._segments[-1].hi if self._segments else 0
        if self._n > lo:
            parts.append(_scan(self._words[lo : self._n], qw, t, lo, self._alive))
        if not parts:
            e = np.zeros(0, np.int64)
            return Matches(e, e, e)
        q = np.concatenate([p[0] for p in parts])
        r = np.concatenate([p[1] for p in parts])
        d = np.concatenate([p[2] for p in parts])
        return _sorted_matches(q, self._ids[r], d)

    def query(self, pdq: str | Words, threshold: int = DEFAULT_THRESHOLD) -> list[tuple[int, int]]:
        """[(item_id, distance), ...] for one hash, closest first."""
        return self.search(pdq, threshold).for_query(0)

    def search_dihedral(self, variants: Any, threshold: int = DEFAULT_THRESHOLD) -> Matches:
        """Match queries given as groups of 8 dihedral hashes (an (q, 8) sequence of hex, or a
        (q*8, 4) array in groups of 8). A pair's distance is the least over the 8 variants."""
        if isinstance(variants, np.ndarray):
            flat = as_words(variants, "query")
        else:
            groups = [list(g) for g in variants]
            if any(len(g) != 8 for g in groups):
                raise invalid("query", "dihedral queries come in groups of 8 hashes")
            flat = hex_to_words([h for g in groups for h in g], "query")
        if flat.shape[0] % 8:
            raise invalid("query", "dihedral queries come in groups of 8 hashes")
        m = self.search(flat, threshold)
        q = m.query // 8
        order = np.lexsort((m.distance, m.item, q))
        q, item, d = q[order], m.item[order], m.distance[order]
        first = np.ones(q.size, np.bool_)
        first[1:] = (q[1:] != q[:-1]) | (item[1:] != item[:-1])
        return _sorted_matches(q[first], item[first], d[first])

    def all_items(self) -> tuple[Words, IntArray]:
        """The live (hashes, ids), e.g. to compare with the store."""
        live = np.flatnonzero(self._alive[: self._n])
        return self._words[live], self._ids[live]

    # ---- snapshot ----

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a snapshot (compacts first). Atomic: written beside, then renamed."""
        if self._dead or len(self._segments) != 1 or self.tail_size:
            self.compact()
        elif self._order_n != self._n:  # the snapshot's id lookup must cover every row
            self._reindex_ids()
        seg = self._segments[0] if self._segments else None
        arrays: dict[str, np.ndarray] = {
            "words": self._words[: self._n],
            "ids": self._ids[: self._n],
            "order_ids": self._order_ids,
            "order_rows": self._order_rows,
        }
        if seg is not None:
            arrays["offsets"] = seg.offsets
            arrays["rows"] = seg.rows
        header: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "slots": self.slots,
            "fixed_bits": self._fixed_bits,
            "bits": seg.bits if seg else None,
            "n": self._n,
            "arrays": {},
        }
        # offsets are laid out after the header; compute with a provisional header size
        layout: dict[str, list[Any]] = {}
        pos = 0
        for name, a in arrays.items():
            layout[name] = [pos, a.dtype.str, list(a.shape)]
            pos += -(-a.nbytes // 64) * 64
        header["arrays"] = layout
        head = json.dumps(header, sort_keys=True).encode()
        data_start = -(-(len(_MAGIC) + 8 + len(head)) // 64) * 64
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(_MAGIC + struct.pack("<II", SNAPSHOT_VERSION, len(head)) + head)
            for name, a in arrays.items():
                f.seek(data_start + layout[name][0])
                f.write(np.ascontiguousarray(a).tobytes())
            f.truncate(data_start + pos)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = False) -> PdqIndex:
        """Read a snapshot. ``mmap=True`` maps the arrays read-only (instant start; the first
        ``add`` copies them into memory)."""
        try:
            with open(path, "rb") as f:
                pre = f.read(len(_MAGIC) + 8)
                if len(pre) < len(_MAGIC) + 8 or pre[: len(_MAGIC)] != _MAGIC:
                    raise SnapshotError(f"{path}: not a PDQ index snapshot")
                version, hlen = struct.unpack("<II", pre[len(_MAGIC) :])
                if version != SNAPSHOT_VERSION:
                    raise SnapshotError(
                        f"{path}: snapshot format {version}, this code reads {SNAPSHOT_VERSION}"
                    )
                header = json.loads(f.read(hlen))
            data_start = -(-(len(_MAGIC) + 8 + hlen) // 64) * 64
            size = os.path.getsize(path)
            arrays: dict[str, np.ndarray] = {}
            for name, (off, dtype, shape) in header["arrays"].items():
                dt = np.dtype(dtype)
                count = int(np.prod(shape))
                if data_start + off + count * dt.itemsize > size:
                    raise SnapshotError(f"{path}: truncated snapshot ({name})")
                if mmap and count:
                    a: np.ndarray = np.memmap(path, dtype=dt, mode="r",
                                              offset=data_start + off, shape=tuple(shape))
                else:
                    a = np.fromfile(path, dtype=dt, count=count,
                                    offset=data_start + off).reshape(shape)
                arrays[name] = a
        except (OSError, ValueError, KeyError, TypeError, struct.error) as e:
            raise SnapshotError(f"{path}: unreadable snapshot: {e}") from e
        ix = cls(int(header["slots"]), bits=header["fixed_bits"])
        n = int(header["n"])
        words, ids = arrays["words"], arrays["ids"]
        if words.shape != (n, 4) or ids.shape != (n,):
            raise SnapshotError(f"{path}: inconsistent snapshot")
        ix._words, ix._ids, ix._n = words, ids, n
        ix._alive = np.ones(n, np.bool_)
        ix._order_ids, ix._order_rows, ix._order_n = arrays["order_ids"], arrays["order_rows"], n
        if n:
            bits = int(header["bits"])
            offsets, rows = arrays["offsets"], arrays["rows"]
            if offsets.shape != (ix.slots * (1 << bits) + 1,) or rows.shape != (ix.slots * n,):
                raise SnapshotError(f"{path}: inconsistent snapshot")
            ix._segments = [_Segment(0, n, bits, offsets, rows)]
        return ix
