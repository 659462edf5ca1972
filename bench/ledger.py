"""Benchmark the ledger: ledgered state changes per second, and verifying a large chain.

For each backend (SQLite, and PostgreSQL when reachable) a real node is created in a temporary
home and measured side by side in the same run:

* **appends**: N state changes, each in its own transaction: update one member row
  (``members.updated_at``) and record its ledger entry through ``node.write`` (the unit of work
  every service uses). The peer is a baseline of the *same* update in the *same* kind of
  write transaction without the ledger entry, so the ledger's overhead shows as a ratio. Both
  are also run from two threads at once, each updating its own member, which shows how writes
  serialise (SQLite's write lock; PostgreSQL's ledger advisory lock). Baseline and ledgered
  runs are interleaved in rounds and the median round is shown with the spread and the CPU
  time per change, because the machine is shared.
* **verify**: the chain is extended to ``--entries`` entries (1M by default) without 1M
  transactions: correctly chained entries are computed with ``hanoi.core.ledger.make_entry``
  and bulk-inserted (``executemany`` on SQLite, ``COPY`` on PostgreSQL), with a signed
  checkpoint at the node's checkpoint interval exactly as ``ledger_store.prepare`` would write
  it. Then ``hanoi.node.ledger.verify`` is timed on all cores and on one.

Targets (2-core machine): at least 2,000 ledgered changes/s on SQLite; ``verify`` of 1M entries
in under 10 s. ``python bench/ledger.py --quick`` is a smoke run (20k entries, 300 changes; well
under a minute); ``--profile`` also prints where the time of appends and of the chain check goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shlex
import sqlite3
import sys
import tempfile
import threading
import time
import timeit
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import bindparam, create_engine, text
from sqlalchemy.engine import make_url

from hanoi.bootstrap import init_node
from hanoi.core.canonical import fast_canonical_json
from hanoi.core.clock import isoformat
from hanoi.core.ledger import check_rows, checkpoint_message, make_entry
from hanoi.node import ledger, members
from hanoi.node.runtime import Node
from hanoi.store import ledger_store
from hanoi.store.db import normalise_url
from hanoi.store.tables import members as members_table

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
APPEND_TARGET = 2_000.0  # ledgered changes/s on SQLite
VERIFY_TARGET_S = 10.0  # seconds for 1M entries
VERIFY_TARGET_ENTRIES = 1_000_000
THREADS = 2
WARMUP = 50
ROUNDS = 3

console = Console(width=None if sys.stdout.isatty() else 150)

ROW_COLUMNS = ("seq", "ts", "actor", "action", "subject", "decision", "reasons", "payload",
               "payload_digest", "prev_hash", "hash")


@dataclass
class Result:
    backend: str
    metric: str
    value: str
    target: str = ""
    verdict: str = ""


# --------------------------------------------------------------------------- databases


@contextmanager
def database(backend: str, tmp: Path, pg_url: str) -> Iterator[str | None]:
    """A fresh, empty database URL for one backend; ``None`` when PostgreSQL is unreachable."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'sqlite-node' / 'node.db'}"
        return
    admin = create_engine(normalise_url(pg_url), isolation_level="AUTOCOMMIT")
    name = f"hanoi_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # any connection failure means: no PostgreSQL here
        console.print(f"[yellow]PostgreSQL skipped: {pg_url} is not reachable "
                      f"({type(err).__name__}: {str(err).splitlines()[0]})[/]")
        admin.dispose()
        yield None
        return
    url = make_url(normalise_url(pg_url)).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def server_version(node: Node) -> str:
    with node.read() as conn:
        if node.engine.dialect.name == "sqlite":
            return f"SQLite {conn.exec_driver_sql('select sqlite_version()').scalar()}"
        return f"PostgreSQL {str(conn.exec_driver_sql('show server_version').scalar()).split()[0]}"


# --------------------------------------------------------------------------- appends


def add_bench_members(node: Node, n: int) -> list[str]:
    ids = [f"bench-{k}" for k in range(n)]
    for mid in ids:
        members.add(node, "bench", {
            "id": mid, "name": f"Bench member {mid}", "kind": "contact-point", "country": "FR",
            "state_status": "party", "endpoint": "https://bench.example.test",
            "languages": ["fr", "en"], "available_24_7": True,
            "contacts": [{"name": "Duty officer", "email": "duty@example.test"}],
        })
    return ids


# The state change: one prepared UPDATE, built once as a hot path is written (building a
# SQLAlchemy statement per call costs about as much as executing it).
TOUCH_MEMBER = (members_table.update().where(members_table.c.id == bindparam("member_id"))
                .values(updated_at=bindparam("updated_at")))


def ledgered_change(node: Node, member_id: str, i: int) -> None:
    """One state change and its ledger entry, in one transaction (what every service does)."""
    with node.write("bench") as uow:
        uow.conn.execute(TOUCH_MEMBER, {"member_id": member_id, "updated_at": uow.now})
        uow.record("member.touch", f"member:{member_id}",
                   {"member": member_id, "change": i, "updated_at": isoformat(uow.now)})


def plain_change(node: Node, member_id: str, i: int) -> None:
    """The same state change in the same kind of write transaction, without the ledger."""
    now = node.now()
    conn = node.writes.take()  # the write connections a unit of work uses
    conn.begin()
    conn.execute(TOUCH_MEMBER, {"member_id": member_id, "updated_at": now})
    conn.commit()
    node.writes.give_back(conn)


def run_changes(change: Callable[[Node, str, int], None], node: Node, ids: list[str], n: int,
                threads: int) -> tuple[float, float]:
    """Run ``n`` changes split over ``threads`` threads (thread k updates ``ids[k]``).

    Returns (changes per wall-clock second, process CPU milliseconds per change). The CPU figure
    helps read the wall-clock one on a machine shared with other work.
    """
    for i in range(WARMUP):
        change(node, ids[0], -i)
    shares = [n // threads + (1 if k < n % threads else 0) for k in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        barrier.wait()
        try:
            for i in range(shares[k]):
                change(node, ids[k], i)
        except BaseException as err:
            errors.append(err)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    cpu0 = time.process_time()
    barrier.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if errors:
        raise errors[0]
    return n / elapsed, cpu * 1000 / n


def bench_appends(node: Node, backend: str, n: int, rounds: int = ROUNDS) -> list[Result]:
    """Baseline and ledgered changes, interleaved in ``rounds`` rounds of ``n / rounds`` each.

    Interleaving keeps a burst of load from other work on a shared machine from landing on one
    side of a comparison only; the median round is reported, with the spread.
    """
    ids = add_bench_members(node, THREADS)
    per_round = max(n // rounds, 1)
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for r in range(rounds):
        for threads in (1, THREADS):
            for kind, fn in (("plain", plain_change), ("ledgered", ledgered_change)):
                with console.status(f"{backend}: round {r + 1}/{rounds}, {per_round:,} {kind} "
                                    f"changes on {threads} thread(s)"):
                    samples.setdefault((kind, threads), []).append(
                        run_changes(fn, node, ids, per_round, threads))
    rates = {k: sorted(v)[len(v) // 2] for k, v in samples.items()}  # the median round

    def shown(key: tuple[str, int]) -> str:
        rate, cpu = rates[key]
        lo, hi = min(x[0] for x in samples[key]), max(x[0] for x in samples[key])
        return f"{rate:,.0f}/s [{lo:,.0f}-{hi:,.0f}] ({cpu:.2f} ms CPU each)"

    out: list[Result] = []
    target = APPEND_TARGET if backend == "sqlite" else None
    for threads in (1, THREADS):
        base, led = rates[("plain", threads)][0], rates[("ledgered", threads)][0]
        label = "1 thread" if threads == 1 else f"{threads} threads"
        out.append(Result(backend, f"baseline changes/s, no ledger, {label}",
                          shown(("plain", threads)), "",
                          "peer of the row below"))
        verdict = f"ledger costs x{base / led:.2f} vs baseline"
        tgt = ""
        if target is not None:
            tgt = f">= {target:,.0f}/s"
            verdict = ("PASS" if led >= target else "MISS") + "; " + verdict
        out.append(Result(backend, f"ledgered changes/s, {label}",
                          shown(("ledgered", threads)), tgt, verdict))
    scale = rates[("ledgered", THREADS)][0] / rates[("ledgered", 1)][0]
    out[-1].verdict += f"; x{scale:.2f} vs 1 thread"
    check = ledger.verify(node)
    if not check.ok:
        raise SystemExit(f"{backend}: ledger broken after the append runs: {check.message()}")
    return out


# --------------------------------------------------------------------------- a large chain


def build_chain(node: Node, total: int, batch: int = 20_000) -> tuple[int, float]:
    """Extend the ledger to ``total`` entries by bulk insert; return (entries added, seconds).

    Entries are made by the same pure function the store uses and checkpoints are signed at the
    node's interval, so the result is exactly what ``total`` real appends would have stored.
    """
    with node.read() as conn:
        seq, prev = ledger_store.head(conn)
    if seq >= total:
        return 0, 0.0
    interval = node.config.checkpoint_interval
    node_id, key_id = node.node_id, node.config.key_id
    base = node.now()
    dumps = fast_canonical_json
    entries_sql = (f"INSERT INTO ledger_entries ({', '.join(ROW_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(ROW_COLUMNS))})")
    cps_sql = ("INSERT INTO ledger_checkpoints (seq, head_hash, key_id, signature, ts) "
               "VALUES (?,?,?,?,?)")
    pg = node.engine.dialect.name == "postgresql"
    added = total - seq
    t0 = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task(f"{node.engine.dialect.name}: building the chain", total=added)
        pool_conn = node.engine.raw_connection()
        try:
            raw: Any = pool_conn.driver_connection
            while seq < total:
                rows: list[tuple[Any, ...]] = []
                cps: list[tuple[Any, ...]] = []
                for s in range(seq + 1, min(seq + batch, total) + 1):
                    ts = isoformat(base + timedelta(microseconds=s))
                    mid = f"bench-{s % 97}"
                    if s % 10 == 0:  # an assessment-like entry: a decision with reasons
                        action, decision = "member.assess", "good"
                        reasons: list[dict[str, Any]] = [
                            {"code": "STANDING-ASSESSED", "articles": ["6", "UNCC Art. 24"]}]
                        payload: Any = {"standing": "good", "assessor": "A. Analyst",
                                        "findings": "Independent review; remedies exist.",
                                        "articles": ["6", "UNCC Art. 24"], "assessed_at": ts}
                    else:
                        action, decision, reasons = "member.touch", None, []
                        payload = {"member": mid, "change": s, "updated_at": ts}
                    e = make_entry(seq=s, ts=ts, actor="bench", action=action,
                                   subject=f"member:{mid}", decision=decision, reasons=reasons,
                                   payload=payload, prev_hash=prev)
                    rows.append((e.seq, e.ts, e.actor, e.action, e.subject, e.decision,
                                 dumps(e.reasons).decode(), dumps(e.payload).decode(),
                                 e.payload_digest, e.prev_hash, e.hash))
                    if s % interval == 0:
                        sig = node.sign(checkpoint_message(s, e.hash, node_id)).hex()
                        cps.append((s, e.hash, key_id, sig, ts))
                    prev = e.hash
                if pg:
                    with raw.cursor() as cur:
                        with cur.copy(f"COPY ledger_entries ({', '.join(ROW_COLUMNS)}) "
                                      "FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
                        if cps:
                            cur.executemany(cps_sql.replace("?", "%s"), cps)
                    raw.commit()
                else:
                    raw.execute("BEGIN IMMEDIATE")
                    raw.executemany(entries_sql, rows)
                    raw.executemany(cps_sql, cps)
                    raw.execute("COMMIT")
                seq = rows[-1][0]
                progress.advance(task, len(rows))
        finally:
            pool_conn.close()
    if pg:
        with node.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE ledger_entries")
    return added, time.perf_counter() - t0


def bench_verify(node: Node, backend: str, total: int) -> list[Result]:
    added, build_s = build_chain(node, total)
    out = [Result(backend, "bulk-build of the test chain (setup, not a target)",
                  f"{added:,} entries in {build_s:.1f} s", "",
                  f"{added / max(build_s, 1e-9):,.0f} entries/s")]
    cores = min(os.cpu_count() or 1, 8)
    times: dict[int, float] = {}
    for workers in (cores, 1):
        with console.status(f"{backend}: verify, {workers} worker(s)"):
            t0 = time.perf_counter()
            r = ledger.verify(node, workers=workers)
            times[workers] = time.perf_counter() - t0
        console.print(f"  {backend} verify ({workers} worker(s)): {r.message()} "
                      f"[{r.checkpoints} signed checkpoints checked]")
        if not r.ok or r.count != total:
            raise SystemExit(f"{backend}: verify did not report ok on {total} entries")
    scale = total / VERIFY_TARGET_ENTRIES
    target_s = VERIFY_TARGET_S * scale
    tgt = f"< {VERIFY_TARGET_S:.0f} s per 1M" + ("" if scale == 1 else f" (= {target_s:.2f} s)")
    for workers in (cores, 1):
        t = times[workers]
        label = f"verify {total:,} entries, {workers} worker{'s' if workers > 1 else ''}"
        if workers > 1 and total < ledger.PARALLEL_FROM:
            label += " (one pass: below PARALLEL_FROM)"
        verdict = ("PASS" if t < target_s else "MISS") + f"; {total / t:,.0f} entries/s"
        if workers != 1:
            verdict += f"; x{times[1] / t:.2f} vs 1 worker"
        out.append(Result(backend, label, f"{t:.2f} s", tgt, verdict))
    return out


# --------------------------------------------------------------------------- profiling


def profile(node: Node, backend: str, n: int, rows: int = 50_000) -> None:
    """Where ledgered appends and the chain check spend their time (cProfile, own time)."""
    ids = [f"bench-{k}" for k in range(THREADS)]

    def appends() -> None:
        for i in range(n):
            ledgered_change(node, ids[0], i)

    def check() -> None:
        with node.read() as conn:
            check_rows(ledger_store.iter_rows(conn, 1, rows + 1))

    for label, fn in ((f"{n:,} ledgered changes", appends),
                      (f"check_rows over the first {rows:,} entries (one worker)", check)):
        prof = cProfile.Profile()
        prof.enable()
        fn()
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
        console.rule(f"{backend}: profile of {label}, sorted by own time")
        console.print(buf.getvalue(), markup=False, highlight=False)


# --------------------------------------------------------------------------- main


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    # A fixed pure-Python workload: compares this run's CPU speed with another machine's or
    # another moment's (other work on a shared machine slows it down).
    probe = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    return (f"{platform.system()} {platform.machine()}, {cpus} cores, load {load}, "
            f"speed probe sum(range(1000)) = {probe:.1f} us; "
            f"Python {platform.python_version()}, sqlite3 library {sqlite3.sqlite_version}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=VERIFY_TARGET_ENTRIES,
                        help="ledger size for the verify benchmark (default 1,000,000)")
    parser.add_argument("--appends-sqlite", type=int, default=5_000)
    parser.add_argument("--appends-pg", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 20k entries, 300 changes per backend")
    parser.add_argument("--pg-url",
                        default=os.environ.get("HANOI_TEST_DATABASE_URL") or DEFAULT_PG_URL,
                        help="PostgreSQL server (a fresh database is created on it and dropped)")
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a target is missed (default: report only)")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile output for appends and a one-worker verify")
    args = parser.parse_args(argv)
    if args.quick:
        args.entries, args.appends_sqlite, args.appends_pg = 20_000, 300, 300

    exe = Path(sys.executable)
    exe_shown = os.path.relpath(exe) if exe.is_relative_to(Path.cwd()) else exe.name
    command = shlex.join([exe_shown, *sys.argv])
    console.print(f"[bold]command:[/] {command}")
    console.print(f"[bold]machine:[/] {machine()}")
    results: list[Result] = []
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="hanoi-bench-") as tmpdir:
        tmp = Path(tmpdir)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            with database(backend, tmp, args.pg_url) as url:
                if url is None:
                    continue
                node, _ = init_node(tmp / f"{backend}-node", name=f"Bench {backend}", country="GB",
                                    kind="central-authority", database_url_=url)
                try:
                    versions[backend] = server_version(node)
                    n = args.appends_sqlite if backend == "sqlite" else args.appends_pg
                    results += bench_appends(node, backend, n)
                    results += bench_verify(node, backend, args.entries)
                    if args.profile:
                        profile(node, backend, min(n, 1_000))
                finally:
                    node.close()

    table = Table(title=f"Ledger benchmark ({', '.join(versions.values())})", show_lines=False)
    for col in ("backend", "metric", "value", "target", "ratio / verdict"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for r in results:
        style = "red" if r.verdict.startswith("MISS") else None
        table.add_row(r.backend, r.metric, r.value, r.target, r.verdict, style=style)
    console.print(table)

    backends = list(versions)
    if len(backends) > 1:
        side = Table(title="Side by side")
        side.add_column("metric")
        for b in backends:
            side.add_column(b, justify="right")
        by_metric: dict[str, dict[str, str]] = {}
        for r in results:
            by_metric.setdefault(r.metric, {})[r.backend] = r.value
        for metric, vals in by_metric.items():
            side.add_row(metric, *(vals.get(b, "-") for b in backends))
        console.print(side)
    console.print(f"[bold]command:[/] {command}")
    console.print(f"[bold]machine at the end:[/] {machine()}")
    return 1 if args.strict and any(r.verdict.startswith("MISS") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
