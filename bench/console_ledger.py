"""The auditor's ledger pages at a million entries: query plans and times, SQLite and PostgreSQL.

The console pages the ledger newest first by keyset (``seq < before``), filtered by subject,
actor, action and decision (``hanoi.store.ledger_store.newest_first_query``). Each filter
column has an index ending in ``seq`` (migration 0007), so a page should be one backwards
range read of one index, at any depth. This script fills a fresh, migrated database with
``--entries`` synthetic rows (the chain is not computed: only reads are measured), runs
ANALYZE, prints each case's plan and the median time of a first page and of a page halfway
down the matching entries.

    python bench/console_ledger.py                 # 1,000,000 entries, both backends
    python bench/console_ledger.py --entries 100000 --backends sqlite
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from hanoi.store import ledger_store
from hanoi.store.db import make_engine, normalise_url
from hanoi.store.migrate import upgrade

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
ACTIONS = [f"demo.action{i}" for i in range(30)]
ACTORS = [f"user:person{i}" for i in range(200)]
console = Console(width=250)


def _rows(n: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    for seq in range(1, n + 1):
        r = rng.random()
        decision = None if r < 0.85 else "allow" if r < 0.93 else "deny" if r < 0.97 else "review"
        digest = hashlib.sha256(str(seq).encode()).hexdigest()
        yield (seq, f"2026-12-01T00:00:{seq % 60:02d}.000000Z", rng.choice(ACTORS),
               ACTIONS[min(int(rng.expovariate(0.3)), 29)], f"request:{rng.randrange(100_000)}", decision,
               "[]", "{}", "sha256:" + digest, digest, digest)


def _fill(engine: Engine, n: int) -> None:
    columns = ("seq, ts, actor, action, subject, decision, reasons, payload, payload_digest, prev_hash, hash")
    with engine.begin() as conn:
        raw: Any = conn.connection.driver_connection
        if engine.dialect.name == "sqlite":
            rows = _rows(n)
            while batch := [row for _, row in zip(range(50_000), rows, strict=False)]:
                raw.executemany(f"INSERT INTO ledger_entries ({columns}) VALUES ({', '.join('?' * 11)})", batch)
        else:
            with raw.cursor().copy(f"COPY ledger_entries ({columns}) FROM STDIN") as copy:
                for row in _rows(n):
                    copy.write_row(row)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


@contextmanager
def _database(backend: str, pg_url: str, workdir: Path) -> Iterator[Engine]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{workdir / 'ledger.db'}")
        yield engine
        engine.dispose()
        return
    admin = create_engine(normalise_url(pg_url), isolation_level="AUTOCOMMIT")
    name = f"hanoi_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(normalise_url(pg_url)).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}"'))
        admin.dispose()


def _plan(engine: Engine, sql: str) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "; ".join(r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        lines = [r[0].strip() for r in conn.execute(text(f"EXPLAIN {sql}"))]
        return "; ".join(line.split("  (cost")[0].lstrip("-> ") for line in lines if "Cond" not in line)


def _time(engine: Engine, filters: dict[str, str], before: int | None, repeat: int) -> tuple[float, int]:
    times, found = [], 0
    with engine.connect() as conn:
        for _ in range(repeat):
            start = time.perf_counter()
            found = len(ledger_store.page_newest_first(conn, before=before, limit=50, filters=filters))
            times.append(time.perf_counter() - start)
            conn.rollback()
    return statistics.median(times) * 1000, found


CASES: list[tuple[str, dict[str, str]]] = [
    ("no filter", {}),
    ("subject (about 10 entries each)", {"subject": "request:4242"}),
    ("actor (1 in 200)", {"actor": "user:person7"}),
    ("action (the commonest)", {"action": "demo.action0"}),
    ("action (a rare one)", {"action": "demo.action25"}),
    ("decision = deny (4 %)", {"decision": "deny"}),
    ("actor + decision = deny", {"actor": "user:person7", "decision": "deny"}),
    ("action + decision = review", {"action": "demo.action3", "decision": "review"}),
]


def run(backend: str, entries: int, pg_url: str, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, _database(backend, pg_url, Path(tmp)) as engine:
        upgrade(engine)
        start = time.perf_counter()
        _fill(engine, entries)
        console.print(f"[bold]{backend}[/]: {entries:,} entries written and analysed in "
                      f"{time.perf_counter() - start:.0f} s")
        table = Table("filter", "first page ms", "halfway page ms", "rows", "plan of the halfway page")
        for label, filters in CASES:
            first, found = _time(engine, filters, None, repeat)
            with engine.connect() as conn:
                where = " AND ".join(f"{k} = :{k}" for k in filters) or "1=1"
                matching = conn.execute(text(f"SELECT count(*) FROM ledger_entries WHERE {where}"),
                                        filters).scalar_one()
                middle = conn.execute(text(f"SELECT seq FROM ledger_entries WHERE {where} ORDER BY seq DESC "
                                           f"LIMIT 1 OFFSET {max(matching // 2 - 1, 0)}"), filters).scalar()
            halfway, _ = _time(engine, filters, middle, repeat)
            query = ledger_store.newest_first_query(before=middle, limit=50, filters=filters)
            sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
            table.add_row(f"{label} [{matching:,}]", f"{first:.2f}", f"{halfway:.2f}", str(found), _plan(engine, sql))
        console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("HANOI_TEST_DATABASE_URL") or DEFAULT_PG_URL)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        run(backend.strip(), args.entries, args.pg_url, args.repeat)


if __name__ == "__main__":
    main()
