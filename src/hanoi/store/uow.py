"""The unit of work: one transaction holding a state change and its ledger entry.

A block that changes state must record at least one ledger entry, or the whole block is rolled
back and a programming error raised: no state change can commit without its entry. Any error
in the block rolls everything back, so nothing is half-written.

``record`` chains an entry at once (its sequence number and hash are known when it returns,
e.g. for a receipt that carries the ledger head) but the rows are written together just
before the commit: a delivery round or an inbox batch of a hundred items writes its hundred
entries in one statement instead of a hundred round trips. A statement of this transaction
that reads the ledger tables first writes the rows chained so far (``_read_barrier``), so
code in the block sees its own entries exactly as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from hanoi.core.errors import Conflict
from hanoi.core.ledger import Entry
from hanoi.store import ledger_store
from hanoi.store.db import writer


@dataclass(frozen=True)
class LedgerSigner:
    node_id: str
    key_id: str
    sign: Callable[[bytes], bytes]
    checkpoint_interval: int


class KeptConnections:
    """Connections kept open between uses, for one engine.

    Checking a connection out of SQLAlchemy's pool and back in costs about a fifth of a small
    ledgered change (see bench/ledger.py), and on PostgreSQL the pool's liveness ping is one
    more round trip, so a connection whose user ended cleanly is kept here for the next one.
    A connection that saw an error is closed instead, and one idle longer than ``max_idle_s``
    goes back to the pool (which pings PostgreSQL connections before reuse).
    """

    def __init__(self, engine: Engine, *, keep: int = 4, max_idle_s: float = 30.0):
        self.engine = engine
        self._idle: list[tuple[float, Connection]] = []
        self._keep = keep
        self._max_idle_s = max_idle_s

    def take(self) -> Connection:
        while True:
            try:
                since, conn = self._idle.pop()  # list.pop and append are atomic: no lock needed
            except IndexError:
                return self.engine.connect()
            if time.monotonic() - since < self._max_idle_s and not conn.invalidated:
                return conn
            conn.close()

    def give_back(self, conn: Connection) -> None:
        if len(self._idle) < self._keep:
            self._idle.append((time.monotonic(), conn))
        else:
            conn.close()

    def end_and_give_back(self, conn: Connection) -> None:
        """End the transaction a reader left open (its snapshot) and keep the connection,
        or close it if it failed."""
        if conn.invalidated:
            conn.close()
            return
        try:
            if conn.in_transaction():
                conn.rollback()
        except Exception:
            conn.close()
            return
        self.give_back(conn)

    def close(self) -> None:
        while True:
            try:
                _, conn = self._idle.pop()
            except IndexError:  # empty (another thread may have taken the last one)
                return
            conn.close()


class WriteConnections(KeptConnections):
    """Kept connections of the write-marked engine, whose units of work write their ledger
    rows before the commit (and before a statement that reads the ledger: ``_read_barrier``)."""

    def __init__(self, engine: Engine, *, keep: int = 4, max_idle_s: float = 30.0):
        super().__init__(writer(engine), keep=keep, max_idle_s=max_idle_s)
        if not event.contains(engine, "before_cursor_execute", _read_barrier):
            event.listen(engine, "before_cursor_execute", _read_barrier)


_OPEN_UOW = "hanoi_unit_of_work"  # Connection.info key: the unit of work using the connection


def _read_barrier(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                  executemany: bool) -> None:
    """Before a statement that names a ledger table runs in a unit of work, write the entries
    the unit of work chained but has not written yet: reads see them, as if written at once."""
    uow = conn.info.get(_OPEN_UOW)
    if uow is not None and uow._written < len(uow._rows) and "ledger_" in statement:
        uow.write_ledger()


def _is_integrity_error(conn: Connection, err: BaseException) -> bool:
    """SQLAlchemy's IntegrityError, or the driver's own (from driver-level statements)."""
    return isinstance(err, (IntegrityError, conn.dialect.loaded_dbapi.IntegrityError))


class UnitOfWork:
    def __init__(self, connections: WriteConnections, signer: LedgerSigner, *, actor: str,
                 now: datetime):
        self._connections = connections
        self._signer = signer
        self.actor = actor
        self.now = now
        self.entries: list[Entry] = []
        # The row of each entry, and how many of them are in the database already.
        self._rows: list[ledger_store.LedgerRow] = []
        self._written = 0
        self._after_commit: list[Callable[[], None]] = []
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        assert self._conn is not None, "unit of work used outside its with-block"
        return self._conn

    def __enter__(self) -> Self:
        self._conn = self._connections.take()
        self._conn.begin()
        self._conn.info[_OPEN_UOW] = self
        return self

    def record(
        self,
        action: str,
        subject: str,
        payload: Any,
        *,
        decision: str | None = None,
        reasons: Sequence[dict[str, Any]] = (),
        actor: str | None = None,
    ) -> Entry:
        entry, row = ledger_store.prepare(
            self.conn, now=self.now, actor=actor or self.actor, action=action, subject=subject,
            payload=payload, decision=decision, reasons=reasons, node_id=self._signer.node_id,
            key_id=self._signer.key_id, sign=self._signer.sign,
            checkpoint_interval=self._signer.checkpoint_interval,
            # Entries rolled back with a savepoint are removed from ``entries`` by whoever
            # rolled them back, so the last one here is always the chain's head.
            after=self.entries[-1] if self.entries else None,
        )
        self.entries.append(entry)
        self._rows.append(row)
        return entry

    def write_ledger(self) -> None:
        """Write the entries chained so far (done before the commit, and before any statement
        of this transaction that reads the ledger tables)."""
        if self._written < len(self._rows):
            ledger_store.insert_rows(self.conn, self._rows[self._written:])
            self._written = len(self._rows)

    def mark(self) -> tuple[int, int]:
        """Where the ledger of this transaction stands; give it to ``rolled_back_to`` after
        rolling back to a savepoint taken together with the mark."""
        return len(self.entries), self._written

    def rolled_back_to(self, mark: tuple[int, int]) -> None:
        """Forget the entries recorded since ``mark`` (their savepoint was rolled back). Rows
        of earlier entries written since are undone by the rollback too: written again later."""
        count, written = mark
        del self.entries[count:]
        del self._rows[count:]
        self._written = min(self._written, written)

    def _write_ledger_before_commit(self, conn: Connection) -> None:
        if self._written == len(self._rows):
            return
        if conn.dialect.name != "postgresql":
            self.write_ledger()
            return
        # The rows and the COMMIT in one round trip (psycopg's pipeline mode: both are sent,
        # then one Sync). SQLAlchemy's commit then finds the transaction ended and sends
        # nothing; an error in either leaves the transaction failed, and it is rolled back.
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.pipeline():
            self.write_ledger()
            raw.execute("COMMIT")

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once this unit of work has committed (never if it rolls back): e.g. wake
        the outbox's delivery worker when an item is queued."""
        self._after_commit.append(fn)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self.conn
        conn.info.pop(_OPEN_UOW, None)
        clean = False
        try:
            if exc is None:
                try:
                    self._write_ledger_before_commit(conn)
                except Exception as err:
                    if not _is_integrity_error(conn, err):
                        raise
                    exc = err  # a fork can never commit (primary key on seq)
            self._conn = None
            if exc is not None:
                conn.rollback()
                clean = True
                if _is_integrity_error(conn, exc):
                    raise Conflict("the change conflicts with data already stored "
                                   "(a duplicate or a concurrent change); nothing was written") from exc
                return
            if not self.entries:
                conn.rollback()
                clean = True
                raise RuntimeError("a state change must record a ledger entry; rolled back")
            try:
                conn.commit()
                clean = True
            except IntegrityError as err:
                conn.rollback()
                clean = True
                raise Conflict("the change conflicts with data already stored; nothing was written") from err
            for fn in self._after_commit:
                fn()
        finally:
            self._conn = None
            if clean and not conn.in_transaction() and not conn.invalidated:
                self._connections.give_back(conn)
            else:
                conn.close()
