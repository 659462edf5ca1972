"""Reading and appending the ledger in the database.

Appends are serialised so the chain stays linear however many API workers or delivery
workers write: on PostgreSQL a transaction-scoped advisory lock is taken before the head is
read; on SQLite every write transaction already holds the database's single write lock from
``BEGIN IMMEDIATE`` (see ``store.db``). The primary key on ``seq`` is the last line of defence:
a fork can never commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from hanoi.core.bounds import BIGINT_MIN
from hanoi.core.canonical import canonical_text_of_plain, fast_canonical_json, plain_json
from hanoi.core.clock import isoformat
from hanoi.core.ledger import GENESIS, Entry, Row, checkpoint_message, entry_bytes
from hanoi.store.tables import ledger_checkpoints, ledger_entries

# An arbitrary constant naming "the ledger append lock" among PostgreSQL advisory locks.
_LEDGER_LOCK_KEY = 0x48414E4F49  # "HANOI"

Signer = Callable[[bytes], bytes]

_ROW_COLUMNS = (
    ledger_entries.c.seq,
    ledger_entries.c.ts,
    ledger_entries.c.actor,
    ledger_entries.c.action,
    ledger_entries.c.subject,
    ledger_entries.c.decision,
    ledger_entries.c.reasons,
    ledger_entries.c.payload,
    ledger_entries.c.payload_digest,
    ledger_entries.c.prev_hash,
    ledger_entries.c.hash,
)


_HEAD = select(ledger_entries.c.seq, ledger_entries.c.hash).order_by(ledger_entries.c.seq.desc()).limit(1)
_HEAD_SQL = "SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1"
_LOCK_THEN_HEAD_PG = f"SELECT pg_advisory_xact_lock({_LEDGER_LOCK_KEY}); {_HEAD_SQL}"
_COLUMNS = "seq, ts, actor, action, subject, decision, reasons, payload, payload_digest, prev_hash, hash"
_INSERT_SQLITE = f"INSERT INTO ledger_entries ({_COLUMNS}) VALUES ({', '.join(['?'] * 11)})"
_INSERT_PG = f"INSERT INTO ledger_entries ({_COLUMNS}) VALUES ({', '.join(['%s'] * 11)})"
_COLUMN_TYPES_PG = ("bigint", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text")
_INSERT_PG_UNNEST = (f"INSERT INTO ledger_entries ({_COLUMNS}) SELECT * FROM unnest("
                     + ", ".join(f"%s::{t}[]" for t in _COLUMN_TYPES_PG) + ")")


def lock_ledger(conn: Connection) -> None:
    """Take the ledger's append lock now, ahead of the first entry (PostgreSQL; SQLite's write
    transactions hold its single write lock already). Re-entrant within a transaction: a
    writer that takes it before its first insert commits its rows in id order, which readers
    that follow a table by ``id > last`` rely on."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LEDGER_LOCK_KEY})")


def head(conn: Connection) -> tuple[int, str]:
    """``(seq, hash)`` of the newest entry, ``(0, GENESIS)`` for an empty ledger."""
    row = conn.execute(_HEAD).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


LedgerRow = tuple[Any, ...]
"""The values of one ``ledger_entries`` row, in ``_COLUMNS`` order."""


def prepare(
    conn: Connection,
    *,
    now: datetime,
    actor: str,
    action: str,
    subject: str,
    payload: Any,
    decision: str | None = None,
    reasons: Sequence[dict[str, Any]] = (),
    node_id: str,
    key_id: str,
    sign: Signer,
    checkpoint_interval: int,
    after: Entry | None = None,
) -> tuple[Entry, LedgerRow]:
    """Chain one entry on the head inside the caller's transaction and return it with the row
    to store (``insert_rows`` writes it; the unit of work writes a transaction's rows together
    before it commits). A checkpoint due at this entry is written at once.

    The first entry of a transaction takes the append lock (held until commit) and reads the
    head; ``after`` is the entry this same transaction chained last, if any: the lock is then
    already held, no one else can have appended since, and the head need not be read again.
    Statements are built once (module level) and each value is serialised once: this is on
    the path of every state change in the node.
    """
    # Driver-level SQL inside the caller's transaction: SQLAlchemy's per-statement overhead
    # is larger than the statements themselves on this path (see bench/ledger.py).
    raw = conn.connection.driver_connection
    assert raw is not None
    if after is not None:
        seq, prev = after.seq + 1, after.hash
    elif conn.dialect.name == "sqlite":
        last = raw.execute(_HEAD_SQL).fetchone()
        seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    else:
        # The lock, then the head, in one round trip: two statements of one simple query, and
        # under READ COMMITTED the second takes its snapshot after the first got the lock.
        cur = raw.execute(_LOCK_THEN_HEAD_PG)
        cur.nextset()
        last = cur.fetchone()
        seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    ts = isoformat(now)
    payload_safe, payload_text = _stored(payload)
    reasons_safe, reasons_text = _stored(list(reasons)) if reasons else ([], "[]")
    payload_digest = "sha256:" + hashlib.sha256(payload_text.encode()).hexdigest()
    h = hashlib.sha256(entry_bytes(seq, ts, actor, action, subject, decision, reasons_text,
                                   payload_digest, prev)).hexdigest()
    if seq % checkpoint_interval == 0:
        write_checkpoint(conn, seq, h, ts, node_id=node_id, key_id=key_id, sign=sign)
    row = (seq, ts, actor, action, subject, decision, reasons_text, payload_text, payload_digest, prev, h)
    return Entry(seq, ts, actor, action, subject, decision, reasons_safe, payload_safe,
                 payload_digest, prev, h), row


def insert_rows(conn: Connection, rows: Sequence[LedgerRow]) -> None:
    """Write prepared rows inside the caller's transaction: one statement on PostgreSQL
    (the columns as arrays through ``unnest``: one prepared statement whatever the number of
    rows, one round trip), ``executemany`` on SQLite (no round trips to save)."""
    if not rows:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "sqlite":
        raw.executemany(_INSERT_SQLITE, rows)
    elif len(rows) == 1:
        raw.execute(_INSERT_PG, rows[0])
    else:
        raw.execute(_INSERT_PG_UNNEST, [list(column) for column in zip(*rows, strict=True)])


def _stored(value: Any) -> tuple[Any, str]:
    """A JSON-safe copy of ``value`` and its canonical text: what is hashed must be exactly
    what a verifier reads back. Plain JSON values (the usual case) skip the round trip."""
    if plain_json(value):
        return value, canonical_text_of_plain(value)
    safe = json.loads(json.dumps(value, default=_json_default))
    return safe, fast_canonical_json(safe).decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def write_checkpoint(
    conn: Connection, seq: int, head_hash: str, ts: str, *, node_id: str, key_id: str, sign: Signer
) -> None:
    signature = sign(checkpoint_message(seq, head_hash, node_id)).hex()
    conn.execute(
        ledger_checkpoints.insert().values(seq=seq, head_hash=head_hash, key_id=key_id,
                                           signature=signature, ts=ts)
    )


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one())


def iter_rows(conn: Connection, start: int | None = None, stop: int | None = None,
              batch: int = 20_000) -> Iterator[Row]:
    """Stored rows with ``start <= seq < stop`` in sequence order, fetched in keyset pages.
    Without ``start``, every row from the lowest number, 0 and below included: an entry
    inserted before the first must be seen by whoever checks the chain.

    Driver-level SQL: at a million rows the per-row cost of result processing matters.
    """
    table = ledger_entries.name
    cols = ", ".join(c.name for c in _ROW_COLUMNS)
    raw = conn.connection.driver_connection
    assert raw is not None
    placeholder = "?" if conn.dialect.name == "sqlite" else "%s"
    bound = f" AND seq < {placeholder}" if stop is not None else ""
    first: Any = BIGINT_MIN if start is None else start
    sql_first = f"SELECT {cols} FROM {table} WHERE seq >= {placeholder}{bound} ORDER BY seq LIMIT {int(batch)}"
    sql_next = f"SELECT {cols} FROM {table} WHERE seq > {placeholder}{bound} ORDER BY seq LIMIT {int(batch)}"
    sql, last = sql_first, first
    while True:
        params: tuple[Any, ...] = (last, stop) if stop is not None else (last,)
        cur = raw.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        cur.close()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]
        sql = sql_next
        if len(rows) < batch:
            return


def checkpoints(conn: Connection) -> list[tuple[Any, Any, Any, Any, Any]]:
    """``(seq, head_hash, key_id, signature, ts)`` of every checkpoint, as stored (a verifier
    must see an edited value as it is, not fail converting it)."""
    rows = conn.execute(
        select(ledger_checkpoints.c.seq, ledger_checkpoints.c.head_hash, ledger_checkpoints.c.key_id,
               ledger_checkpoints.c.signature, ledger_checkpoints.c.ts).order_by(ledger_checkpoints.c.seq)
    ).all()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def hashes_at(conn: Connection, seqs: list[int]) -> dict[int, str]:
    """The hashes of the entries at ``seqs`` (one query, in chunks)."""
    out: dict[int, str] = {}
    for i in range(0, len(seqs), 5000):
        chunk = seqs[i:i + 5000]
        rows = conn.execute(select(ledger_entries.c.seq, ledger_entries.c.hash)
                            .where(ledger_entries.c.seq.in_(chunk))).all()
        out.update({int(r[0]): str(r[1]) for r in rows})
    return out


def page(conn: Connection, *, after: int | None = None, limit: int = 100, subject: str | None = None,
         action: str | None = None) -> list[Entry]:
    """Entries after sequence number ``after`` in order; without it, from the lowest number
    (0 and below included, so an entry inserted before the first shows in every timeline)."""
    q = select(*_ROW_COLUMNS)
    if after is not None:
        q = q.where(ledger_entries.c.seq > after)
    if subject:
        q = q.where(ledger_entries.c.subject == subject)
    if action:
        q = q.where(ledger_entries.c.action == action)
    rows = conn.execute(q.order_by(ledger_entries.c.seq).limit(limit)).all()
    return [
        Entry(int(r[0]), r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7]), r[8], r[9], r[10])
        for r in rows
    ]


def _entry(r: Any) -> Entry:
    return Entry(int(r[0]), r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7]), r[8], r[9], r[10])


def page_newest_first(conn: Connection, *, before: int | None = None, limit: int = 50,
                      filters: dict[str, str] | None = None) -> list[Entry]:
    """Entries with ``seq < before`` (all, if None), newest first, matching every filter
    (exact values of ``subject``, ``actor``, ``action``, ``decision``).

    A keyset page: each filter column has an index ending in ``seq`` (migration 0007), so the
    database reads one index range backwards and stops after ``limit`` rows, whatever the size
    of the ledger or the depth of the page (OFFSET would read and drop every row before it).
    """
    rows = conn.execute(newest_first_query(before=before, limit=limit, filters=filters)).all()
    return [_entry(r) for r in rows]


def newest_first_query(*, before: int | None, limit: int, filters: dict[str, str] | None) -> Select[Any]:
    """The statement of ``page_newest_first`` (its query plan is checked in the tests and in
    ``bench/console_ledger.py``)."""
    q = select(*_ROW_COLUMNS)
    if before is not None:
        q = q.where(ledger_entries.c.seq < before)
    for column, value in (filters or {}).items():
        if column not in FILTERABLE:
            raise ValueError(f"the ledger cannot be filtered by {column!r}")
        q = q.where(ledger_entries.c[column] == value)
    return q.order_by(ledger_entries.c.seq.desc()).limit(limit)


FILTERABLE = ("subject", "actor", "action", "decision")


def entry_at(conn: Connection, seq: int) -> Entry | None:
    row = conn.execute(select(*_ROW_COLUMNS).where(ledger_entries.c.seq == seq)).first()
    return _entry(row) if row else None
