"""The unit of work: one transaction holding a state change and its ledger entry.

A block that changes state must record at least one ledger entry, or the whole block is rolled
back and a programming error raised: no state change can commit without its entry. Any error
in the block rolls everything back, so nothing is half-written.
"""

from __future__ import annotations

import weakref
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


_WRITERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def _writer(engine: Engine) -> Engine:
    """The write-marked variant of an engine, made once per engine (building it costs more
    than a small transaction)."""
    marked = _WRITERS.get(engine)
    if marked is None:
        marked = _WRITERS[engine] = writer(engine)
    return marked


class UnitOfWork:
    def __init__(self, engine: Engine, signer: LedgerSigner, *, actor: str, now: datetime,
                 node: Any = None):
        self._engine = engine
        self.node = node  # the services.node.Node that opened it (services read its config)
        self._signer = signer
        self.actor = actor
        self.now = now
        self.entries: list[Entry] = []
        self._conn: Connection | None = None

    @property
    def conn(self) -> Connection:
        assert self._conn is not None, "unit of work used outside its with-block"
        return self._conn

    def __enter__(self) -> UnitOfWork:
        self._conn = _writer(self._engine).connect()
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
        )
        self.entries.append(entry)
        return entry

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self.conn
        try:
            if exc is not None:
                conn.rollback()
                if isinstance(exc, IntegrityError):
                    raise Conflict("the change conflicts with data already stored "
                                   "(a duplicate or a concurrent change); nothing was written") from exc
                return
            if not self.entries:
                conn.rollback()
                raise RuntimeError("a state change must record a ledger entry; rolled back")
            try:
                conn.commit()
            except IntegrityError as err:
                conn.rollback()
                raise Conflict("the change conflicts with data already stored; nothing was written") from err
        finally:
            conn.close()
            self._conn = None
