"""Benchmark: our PDQ index (hanoi.media.index.PdqIndex) against threatexchange's PDQIndex (the
faiss multi-hash matcher inside Meta's HMA), side by side in one run, on the same data.

For each size N and each data shape (uniform random hashes; clustered near-duplicates) it
measures build time, resident memory added (RSS delta), queries/s one at a time and batched,
and checks that both engines (and, on a sample, a brute-force scan) return identical match
sets. PDQIndex is slow to query at 10M, so it is measured on a subset of the queries (the
column says how many).

    .venv/bin/python bench/media.py                         # 1M and 10M, ~10 min on 2 cores
    .venv/bin/python bench/media.py --sizes 100000 --queries 500
    .venv/bin/python bench/media.py --markdown docs/bench-media.md
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

from hanoi.media.index import PdqIndex, brute_force, words_to_hex

THRESHOLD = 31
CLUSTER = 10  # hashes per cluster in the clustered data


def rss_mb() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss) / 2**20


def _sparse_mask(rng: np.random.Generator, n: int, ands: int) -> np.ndarray:
    """Random (n, 4) words with each bit set with probability 2^-ands."""
    m = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    for _ in range(ands - 1):
        m &= rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    return m


def make_data(kind: str, n: int, nq: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(haystack words, query words). Queries: half near a stored hash, half random
    (uniform); near a cluster centre (clustered), so most queries have ~CLUSTER matches."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        words = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
        near = words[rng.integers(0, n, nq // 2)] ^ _sparse_mask(rng, nq // 2, 5)  # ~8 bits
        rand = rng.integers(0, 2**64, size=(nq - nq // 2, 4), dtype=np.uint64)
        queries = np.vstack([near, rand])
    else:
        centres = rng.integers(0, 2**64, size=(-(-n // CLUSTER), 4), dtype=np.uint64)
        words = np.repeat(centres, CLUSTER, axis=0)[:n]
        words ^= _sparse_mask(rng, n, 5)  # each member ~8 bits from its centre
        queries = centres[rng.integers(0, len(centres), nq)] ^ _sparse_mask(rng, nq, 5)
    return words, rng.permutation(queries)


@dataclass
class Row:
    n: int
    kind: str
    engine: str
    build_s: float = float("nan")
    rss_mb: float = float("nan")
    single_qps: float = float("nan")
    single_n: int = 0
    batch_qps: float = float("nan")
    batch_n: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def timed(f: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    r = f()
    return r, time.perf_counter() - t


def run_ours(words: np.ndarray, queries: np.ndarray, n_single: int, n: int, kind: str,
             snapshot: bool) -> tuple[Row, PdqIndex]:
    row = Row(n, kind, "hanoi PdqIndex")
    before = rss_mb()
    ix, row.build_s = timed(lambda: PdqIndex.build(words, np.arange(n, dtype=np.int64)))
    row.rss_mb = rss_mb() - before
    row.extra["index_mb"] = ix.nbytes() / 2**20
    ix.search(queries[:50])  # warm the probe plan
    _, dt = timed(lambda: ix.search(queries, THRESHOLD))
    row.batch_qps, row.batch_n = len(queries) / dt, len(queries)
    single = queries[:n_single]

    def one_by_one() -> None:
        for i in range(len(single)):
            ix.search(single[i : i + 1], THRESHOLD)

    _, dt = timed(one_by_one)
    row.single_qps, row.single_n = len(single) / dt, len(single)
    if snapshot:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "ix.pdqi"
            _, save_s = timed(lambda: ix.save(p))
            size = p.stat().st_size
            back, load_s = timed(lambda: PdqIndex.load(p))
            _, mmap_s = timed(lambda: PdqIndex.load(p, mmap=True))
            del back
        row.note = (f"snapshot {size / 2**20:,.0f} MB: save {save_s:.1f} s, "
                    f"load {load_s:.1f} s (mmap {mmap_s * 1000:.0f} ms)")
    return row, ix


def run_theirs(words: np.ndarray, queries: np.ndarray, n_single: int, n_batch: int, n: int,
               kind: str) -> tuple[Row, list[tuple[int, int, int]], int]:
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    row = Row(n, kind, "threatexchange PDQIndex")
    hexes = words_to_hex(words)
    entries = list(zip(hexes, range(n), strict=True))
    del hexes
    before = rss_mb()
    t0 = time.perf_counter()
    pdqi = PDQIndex(entries)
    row.build_s = time.perf_counter() - t0
    entries.clear()
    row.rss_mb = rss_mb() - before
    qhex = words_to_hex(queries)
    # one at a time, through the SignalTypeIndex API HMA uses
    found: list[tuple[int, int, int]] = []

    def one_by_one() -> None:
        for qi in range(n_single):
            found.extend((qi, m.metadata, int(m.similarity_info.distance))
                         for m in pdqi.query(qhex[qi]))

    _, dt = timed(one_by_one)
    row.single_qps, row.single_n = n_single / dt, n_single
    # batched: the faiss range_search underneath, on a list of queries
    batch = qhex[:n_batch]
    t0 = time.perf_counter()
    res = pdqi.index.search_with_distance_in_result(batch, THRESHOLD)
    dt = time.perf_counter() - t0
    row.batch_qps, row.batch_n = n_batch / dt, n_batch
    batch_found = sorted((qi, int(i), int(d)) for qi, h in enumerate(batch) for i, _, d in res[h])
    single_found = sorted(found)
    if n_single <= n_batch:
        assert [m for m in batch_found if m[0] < n_single] == single_found, (
            "PDQIndex single and batched disagree"
        )
    pdqi.index.dispose()
    return row, batch_found, n_batch


def fmt(x: float, d: int = 0) -> str:
    return "-" if x != x else f"{x:,.{d}f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--kinds", default="uniform,clustered")
    ap.add_argument("--queries", type=int, default=4000, help="batched queries for our index")
    ap.add_argument("--single", type=int, default=500, help="one-at-a-time queries, ours")
    ap.add_argument("--their-single", default="200,30",
                    help="one-at-a-time queries for PDQIndex, per size (last value repeats)")
    ap.add_argument("--their-batch", default="1000,200",
                    help="batched queries for PDQIndex, per size (last value repeats)")
    ap.add_argument("--brute-sample", type=int, default=10,
                    help="queries also checked against a brute-force scan")
    ap.add_argument("--no-theirs", action="store_true", help="skip threatexchange's PDQIndex")
    ap.add_argument(
        "--their-skip",
        default="10000000:clustered",
        help="N:kind pairs where PDQIndex is not built (its 10M build takes ~5 min and ~5 GB; "
        "the default skips the second one to keep the run near 10 min). '' runs all.",
    )
    ap.add_argument("--no-snapshot", action="store_true")
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    ap.add_argument("--seed", type=int, default=20251025)
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    kinds = a.kinds.split(",")

    def per_size(spec: str, i: int) -> int:
        vals = [int(v) for v in spec.split(",")]
        return vals[min(i, len(vals) - 1)]

    console = Console(width=200)
    cpu = platform.processor() or platform.machine()
    console.print(f"PDQ index benchmark: {os.cpu_count()} CPUs ({cpu}), numpy {np.__version__}, "
                  f"threshold {THRESHOLD}, Python {sys.version.split()[0]}")
    rows: list[Row] = []
    checks: list[str] = []
    for si, n in enumerate(sizes):
        for kind in kinds:
            words, queries = make_data(kind, n, a.queries, a.seed + si)
            console.print(f"[bold]{n:,} {kind}[/]: building ...")
            ours, ix = run_ours(words, queries, a.single, n, kind, not a.no_snapshot)
            rows.append(ours)
            mine = ix.search(queries, THRESHOLD)
            # brute force on a sample: the ground truth for both engines
            k = min(a.brute_sample, len(queries))
            bf = brute_force(words, np.arange(n), queries[:k], THRESHOLD)
            sample = mine.query < k
            assert bf.as_tuples() == [
                (int(q), int(i), int(d))
                for q, i, d in zip(mine.query[sample], mine.item[sample],
                                   mine.distance[sample], strict=True)
            ], "our index differs from brute force"
            checks.append(f"{n:,} {kind}: ours == brute force on {k} queries "
                          f"({len(bf)} matches)")
            del ix
            gc.collect()
            skip = f"{n}:{kind}" in a.their_skip.split(",")
            if skip and not a.no_theirs:
                rows.append(Row(n, kind, "threatexchange PDQIndex",
                                note="skipped (--their-skip): its build alone takes minutes"))
            if not a.no_theirs and not skip:
                their_single, their_batch = per_size(a.their_single, si), per_size(a.their_batch,
                                                                                     si)
                try:
                    theirs, tf, nb = run_theirs(words, queries, their_single, their_batch, n,
                                                kind)
                except MemoryError as e:
                    rows.append(Row(n, kind, "threatexchange PDQIndex",
                                    note=f"could not run: out of memory ({e})"))
                else:
                    sub = mine.query < nb
                    ours_sub = sorted(zip(mine.query[sub].tolist(), mine.item[sub].tolist(),
                                          mine.distance[sub].tolist(), strict=True))
                    assert ours_sub == tf, "match sets differ from PDQIndex"
                    checks.append(f"{n:,} {kind}: ours == PDQIndex on {nb} queries "
                                  f"({len(tf)} matches)")
                    theirs.extra["ratio_single"] = ours.single_qps / theirs.single_qps
                    theirs.extra["ratio_batch"] = ours.batch_qps / theirs.batch_qps
                    rows.append(theirs)
            del words, queries
            gc.collect()
            _print(console, rows, checks)
    if a.markdown:
        a.markdown.write_text(_markdown(rows, checks, argv if argv is not None else sys.argv[1:]))
        console.print(f"wrote {a.markdown}")
    return 0


def _table(rows: list[Row]) -> Table:
    t = Table(title=f"PDQ matching at Hamming distance <= {THRESHOLD}")
    for col in ("N", "data", "engine", "build s", "RSS +MB", "arrays MB", "single q/s", "batched q/s",
                "ours / theirs (single, batched)", "notes"):
        t.add_column(col, justify="right" if col not in ("data", "engine", "notes") else "left")
    for r in rows:
        ratio = ""
        if "ratio_single" in r.extra:
            ratio = f"{r.extra['ratio_single']:.0f}x, {r.extra['ratio_batch']:.0f}x"
        t.add_row(f"{r.n:,}", r.kind, r.engine, fmt(r.build_s, 1), fmt(r.rss_mb),
                  fmt(r.extra.get("index_mb", float("nan"))),
                  f"{fmt(r.single_qps)} ({r.single_n})", f"{fmt(r.batch_qps)} ({r.batch_n})",
                  ratio, r.note)
    return t


def _print(console: Console, rows: list[Row], checks: list[str]) -> None:
    console.print(_table(rows))
    for c in checks:
        console.print(f"  [green]identical[/]: {c}")


def _markdown(rows: list[Row], checks: list[str], argv: list[str]) -> str:
    out = ["| N | data | engine | build s | RSS +MB | arrays MB | single q/s (queries) | "
           "batched q/s (queries) | ours / theirs | notes |",
           "|---:|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ratio = ""
        if "ratio_single" in r.extra:
            ratio = f"{r.extra['ratio_single']:.0f}x single, {r.extra['ratio_batch']:.0f}x batched"
        out.append(f"| {r.n:,} | {r.kind} | {r.engine} | {fmt(r.build_s, 1)} | {fmt(r.rss_mb)} "
                   f"| {fmt(r.extra.get('index_mb', float('nan')))} "
                   f"| {fmt(r.single_qps)} ({r.single_n}) | {fmt(r.batch_qps)} ({r.batch_n}) "
                   f"| {ratio} | {r.note} |")
    out.append("")
    out.extend(f"- identical: {c}" for c in checks)
    out.append("")
    out.append(f"Command: `.venv/bin/python bench/media.py {' '.join(argv)}`".replace("  ", " "))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
