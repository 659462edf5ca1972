"""The PDQ index answers exactly what a brute-force scan answers: after builds, adds, removes,
compaction and a snapshot round trip, for thresholds below, at and above 31."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hanoi.core.errors import Conflict, InvalidInput
from hanoi.media import index as index_mod
from hanoi.media.index import (
    Matches,
    PdqIndex,
    SnapshotError,
    brute_force,
    hex_to_words,
    words_to_hex,
)
from tests.paths import PDQ_FIXTURES

FIX = PDQ_FIXTURES


def _flip(word_row: np.ndarray, bits: list[int]) -> np.ndarray:
    out = word_row.copy()
    for b in bits:
        out[b // 64] ^= np.uint64(1) << np.uint64(63 - b % 64)
    return out


@st.composite
def hash_sets(draw: st.DrawFn, max_n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Random hashes, many of them near-duplicates (0..40 bits away) of a few centres."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(0, max_n))
    centres = rng.integers(0, 2**64, size=(max(1, n // 8), 4), dtype=np.uint64)
    rows = []
    for _ in range(n):
        if rng.random() < 0.7:
            c = centres[rng.integers(0, len(centres))]
            k = int(rng.integers(0, 41))
            rows.append(_flip(c, rng.choice(256, size=k, replace=False).tolist()))
        else:
            rows.append(rng.integers(0, 2**64, size=4, dtype=np.uint64))
    words = np.array(rows, dtype=np.uint64).reshape(n, 4)
    return words, centres


def _queries(rng: np.random.Generator, words: np.ndarray, centres: np.ndarray, k: int) -> np.ndarray:
    pool = np.vstack([words, centres]) if len(words) else centres
    out = []
    for _ in range(k):
        base = pool[rng.integers(0, len(pool))]
        out.append(_flip(base, rng.choice(256, size=int(rng.integers(0, 36)), replace=False).tolist()))
    return np.array(out, dtype=np.uint64).reshape(k, 4)


def _same(a: Matches, b: Matches) -> None:
    assert a.as_tuples() == b.as_tuples()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=hash_sets(),
    threshold=st.sampled_from([0, 1, 5, 10, 15, 21, 30, 31, 32, 36, 44, 60]),
    geometry=st.sampled_from([(11, None), (16, 16), (11, 4), (4, 8), (32, 8)]),
    qseed=st.integers(0, 2**32 - 1),
)
def test_search_equals_brute_force(
    data: tuple[np.ndarray, np.ndarray],
    threshold: int,
    geometry: tuple[int, int | None],
    qseed: int,
) -> None:
    words, centres = data
    slots, bits = geometry
    ids = np.arange(len(words), dtype=np.int64) * 7 + 3
    ix = PdqIndex.build(words, ids, slots=slots, bits=bits)
    q = _queries(np.random.default_rng(qseed), words, centres, 25)
    _same(ix.search(q, threshold), brute_force(words, ids, q, threshold))


@pytest.mark.parametrize(("slots", "bits"), [(11, 8), (11, 16), (16, 16), (7, 12)])
def test_worst_case_neighbours_are_found(slots: int, bits: int) -> None:
    """The adversary spreads the differing bits as evenly as possible over the slots (every
    placement of the larger shares): the pigeonhole bound must still find each of them."""
    rng = np.random.default_rng(slots * bits)
    h = rng.integers(0, 2**64, size=(1, 4), dtype=np.uint64)
    ix = PdqIndex.build(h, [9], slots=slots, bits=bits)
    for t in range(0, 41):
        share, extra = divmod(t, slots)
        if share + 1 > bits:
            continue
        queries = []
        for big in list(itertools.combinations(range(slots), extra))[:300]:
            flips = [s * bits + j for s in range(slots) for j in range(share + (s in big))]
            queries.append(_flip(h[0], flips))
        q = np.array(queries, dtype=np.uint64)
        m = ix.search(q, t)
        assert m.as_tuples() == [(i, 9, t) for i in range(len(q))], t
        if t:
            assert len(ix.search(q, t - 1)) == 0


def test_ties_and_exact_duplicates_of_a_hash_are_all_returned() -> None:
    rng = np.random.default_rng(5)
    h = rng.integers(0, 2**64, size=(1, 4), dtype=np.uint64)
    words = np.repeat(h, 5, axis=0)
    ix = PdqIndex.build(words, [10, 11, 12, 13, 14])
    assert ix.query(words_to_hex(h)[0]) == [(10, 0), (11, 0), (12, 0), (13, 0), (14, 0)]


def test_complement_is_distance_256() -> None:
    h = hex_to_words(["0f" * 32])
    ix = PdqIndex.build(h, [1])
    assert ix.query("f0" * 32, threshold=256) == [(1, 256)]
    assert ix.query("f0" * 32, threshold=255) == []


class IndexMachine(RuleBasedStateMachine):
    """Random adds and removes (with a tiny tail so segments form and merge), snapshots, and a
    brute-force model checked after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.rng = np.random.default_rng(0)
        self.model: dict[int, np.ndarray] = {}
        self.next_id = 0
        self.ix = PdqIndex()
        self.tmp: Path | None = None

    @initialize(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 60))
    def start(self, seed: int, n: int) -> None:
        self.rng = np.random.default_rng(seed)
        words = self._new(n)
        ids = self._ids(n)
        self.ix = PdqIndex.build(words, ids)
        self.model = {int(i): w for i, w in zip(ids, words, strict=True)}

    def _ids(self, k: int) -> np.ndarray:
        ids = np.arange(self.next_id, self.next_id + k, dtype=np.int64)
        self.next_id += k
        return ids

    def _new(self, k: int) -> np.ndarray:
        live = list(self.model.values())
        rows = []
        for _ in range(k):
            if live and self.rng.random() < 0.6:
                base = live[int(self.rng.integers(0, len(live)))]
                bits = self.rng.choice(256, size=int(self.rng.integers(0, 33)), replace=False)
                rows.append(_flip(base, bits.tolist()))
            else:
                rows.append(self.rng.integers(0, 2**64, size=4, dtype=np.uint64))
        return np.array(rows, dtype=np.uint64).reshape(k, 4)

    @rule(k=st.integers(1, 25))
    def add(self, k: int) -> None:
        words, ids = self._new(k), self._ids(k)
        self.ix.add(words, ids)
        self.model.update({int(i): w for i, w in zip(ids, words, strict=True)})

    @rule(frac=st.floats(0, 0.6), extra_unknown=st.booleans())
    def remove(self, frac: float, extra_unknown: bool) -> None:
        ids = [i for i in self.model if self.rng.random() < frac]
        unknown = [10**12] if extra_unknown else []
        assert self.ix.remove(ids + unknown) == len(ids)
        for i in ids:
            del self.model[i]

    @rule(mmap=st.booleans())
    def snapshot(self, mmap: bool) -> None:
        assert self.tmp is not None
        path = self.tmp / "ix.pdqi"
        self.ix.save(path)
        self.ix = PdqIndex.load(path, mmap=mmap)

    @rule()
    def readd_a_removed_id(self) -> None:
        if self.next_id and (self.next_id - 1) not in self.model:
            w = self._new(1)
            self.ix.add(w, [self.next_id - 1])
            self.model[self.next_id - 1] = w[0]

    @invariant()
    def same_as_brute_force(self) -> None:
        ids = np.array(sorted(self.model), dtype=np.int64)
        words = (
            np.array([self.model[i] for i in ids], dtype=np.uint64).reshape(len(ids), 4)
        )
        assert len(self.ix) == len(ids)
        q = np.vstack([words[:6], self.rng.integers(0, 2**64, size=(2, 4), dtype=np.uint64)])
        if len(words):
            q = np.vstack([q, _flip(words[-1], list(range(0, 256, 9)))])  # 29 bits away
        for t in (8, 31, 40):
            _same(self.ix.search(q, t), brute_force(words, ids, q, t))


@pytest.fixture
def small_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_mod, "_TAIL_MAX", 8)


def test_stateful_index_equals_brute_force(small_tail: None, tmp_path: Path) -> None:
    class Machine(IndexMachine):
        def __init__(self) -> None:
            super().__init__()
            self.tmp = tmp_path

    Machine.TestCase.settings = settings(
        max_examples=25, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    Machine.TestCase().runTest()


def test_segments_form_and_merge_log_structured(small_tail: None) -> None:
    rng = np.random.default_rng(1)
    ix = PdqIndex()
    for i in range(40):
        ix.add(rng.integers(0, 2**64, size=(5, 4), dtype=np.uint64), range(5 * i, 5 * i + 5))
    sizes = ix.segment_sizes
    assert sum(sizes) + ix.tail_size == 200 == len(ix)
    assert len(sizes) <= 4  # merged, not one segment per add
    assert all(a > 4 * b for a, b in itertools.pairwise(sizes))


def test_removing_a_quarter_compacts(small_tail: None) -> None:
    rng = np.random.default_rng(2)
    words = rng.integers(0, 2**64, size=(100, 4), dtype=np.uint64)
    ix = PdqIndex.build(words, range(100))
    ix.remove(range(0, 60))
    assert len(ix) == 40
    assert ix.all_items()[1].tolist() == list(range(60, 100))
    assert ix.nbytes() < PdqIndex.build(words, range(100)).nbytes()


def test_fixture_needles_in_haystack_equal_brute_force() -> None:
    hay = (FIX / "haystack.txt").read_text().split()
    needles = (FIX / "needles.txt").read_text().split()
    ids = np.arange(len(hay))
    ix = PdqIndex.build(hay, ids)
    got = ix.search(needles)
    _same(got, brute_force(hex_to_words(hay), ids, needles))
    assert len(got) > 0
    # and the same matches as Meta's PDQIndex (faiss multi-hash), when it is installed
    te = pytest.importorskip("threatexchange.signal_type.pdq.pdq_index")
    theirs = te.PDQIndex([(h, i) for i, h in enumerate(hay)])
    expect = sorted(
        (qi, m.metadata, m.similarity_info.distance)
        for qi, n in enumerate(needles) for m in theirs.query(n)
    )
    assert sorted(got.as_tuples()) == expect


def test_duplicate_ids_are_a_conflict() -> None:
    with pytest.raises(Conflict):
        PdqIndex.build(["ab" * 32, "cd" * 32], [1, 1])
    ix = PdqIndex.build(["ab" * 32], [1])
    with pytest.raises(Conflict):
        ix.add(["cd" * 32], [1])
    with pytest.raises(Conflict):
        ix.add(["cd" * 32, "ef" * 32], [2, 2])
    assert 1 in ix and 2 not in ix
    ix.remove([1])
    ix.add(["cd" * 32], [1])  # a removed id may come back
    assert ix.query("cd" * 32) == [(1, 0)]


def test_bad_queries_and_thresholds_are_refused() -> None:
    ix = PdqIndex.build(["ab" * 32], [1])
    with pytest.raises(InvalidInput) as e:
        ix.search(["ab" * 32, "zz" * 32])
    assert e.value.problems[0].field == "query[1]"
    for t in (-1, 257):
        with pytest.raises(InvalidInput):
            ix.search(["ab" * 32], t)
    with pytest.raises(InvalidInput):
        ix.search_dihedral([["ab" * 32] * 7])
    with pytest.raises(InvalidInput):
        PdqIndex.build(["ab" * 32], [1, 2])


@given(st.lists(st.integers(0, 2**256 - 1), max_size=20))
def test_hex_round_trip(values: list[int]) -> None:
    hexes = [f"{v:064x}" for v in values]
    words = hex_to_words(hexes)
    assert words_to_hex(words) == hexes
    u8 = np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, 32)
    assert np.array_equal(PdqIndex.build(u8, range(len(values))).all_items()[0], words)


def test_snapshot_round_trip_and_corruption(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    words = rng.integers(0, 2**64, size=(500, 4), dtype=np.uint64)
    ix = PdqIndex.build(words, np.arange(500) + 1000)
    ix.remove([1000, 1001])
    path = tmp_path / "ix.pdqi"
    ix.save(path)
    q = np.vstack([words[:20], _flip(words[30], list(range(0, 200, 7)))])
    for mmap in (False, True):
        back = PdqIndex.load(path, mmap=mmap)
        assert len(back) == 498 and 1000 not in back and 1002 in back
        _same(back.search(q), ix.search(q))
        back.add(words[:1], [1])  # a mapped snapshot is copied on the first add
        assert back.query(words_to_hex(words[:1])[0]) == [(1, 0)]
    data = path.read_bytes()
    for bad in (b"NOTASNAPSHOT" + data[12:], data[: len(data) // 2], b""):
        path.write_bytes(bad)
        with pytest.raises(SnapshotError):
            PdqIndex.load(path)
    newer = bytearray(data)
    newer[8:12] = (99).to_bytes(4, "little")
    path.write_bytes(bytes(newer))
    with pytest.raises(SnapshotError, match="format 99"):
        PdqIndex.load(path)


def test_empty_index(tmp_path: Path) -> None:
    ix = PdqIndex()
    assert len(ix) == 0 and ix.query("ab" * 32) == []
    ix.save(tmp_path / "e.pdqi")
    assert len(PdqIndex.load(tmp_path / "e.pdqi")) == 0
