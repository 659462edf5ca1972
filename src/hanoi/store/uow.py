"""The unit of work: one transaction holding a state change and its ledger entry.

A block that changes state must record at least one ledger entry, or the whole block is rolled
back and a programming error raised: no state change can commit without its entry. Any error
in the block rolls everything back, so nothing is half-written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Engine
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


class WriteConnections:
    """Write connections kept open between units of work, for one engine.

    Checking a connection out of SQLAlchemy's pool and back in costs about a fifth of a small
    ledgered change (see bench/ledger.py), so a unit of work that ended cleanly leaves its
    connection here for the next one. A connection that saw an error is closed instead, and
    one idle longer than ``max_idle_s`` goes back to the pool (which pings PostgreSQL
    connections before reuse).
    """

    def __init__(self, engine: Engine, *, keep: int = 4, max_idle_s: float = 30.0):
        self.engine = writer(engine)
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

    def close(self) -> None:
        while True:
            try:
                _, conn = self._idle.pop()
            except IndexError:  # empty (another thread may have taken the last one)
                return
            conn.close()


class UnitOfWork:
    def __init__(self, connections: WriteConnections, signer: LedgerSigner, *, actor: str,
                 now: datetime, node: Any = None):
        self._connections = connections
        self.node = node  # the services.node.Node that opened it (services read its config)
        self._signer = signer
        self.actor = actor
        self.now = now
        self.entries: list[Entry] = []
        self._after_commit: list[Callable[[], None]] = []
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        assert self._conn is not None, "unit of work used outside its with-block"
        return self._conn

    def __enter__(self) -> UnitOfWork:
        self._conn = self._connections.take()
        self._conn.begin()
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
        entry = ledger_store.append(
            self.conn, now=self.now, actor=actor or self.actor, action=action, subject=subject,
            payload=payload, decision=decision, reasons=reasons, node_id=self._signer.node_id,
            key_id=self._signer.key_id, sign=self._signer.sign,
            checkpoint_interval=self._signer.checkpoint_interval,
            # Entries rolled back with a savepoint are removed from ``entries`` by whoever
            # rolled them back, so the last one here is always the chain's head.
            after=self.entries[-1] if self.entries else None,
        )
        self.entries.append(entry)
        return entry

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` once this unit of work has committed (never if it rolls back): e.g. wake
        the outbox's delivery worker when an item is queued."""
        self._after_commit.append(fn)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self.conn
        self._conn = None
        clean = False
        try:
            if exc is not None:
                conn.rollback()
                clean = True
                if isinstance(exc, IntegrityError):
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
            if clean and not conn.in_transaction() and not conn.invalidated:
                self._connections.give_back(conn)
            else:
                conn.close()
