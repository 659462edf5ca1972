"""The signals wing's read model: this process's in-memory index of every report, kept current.

Built from the store on first use, then refreshed before each read from the rows added since
(reports, links: append-only, so ``id > last`` is the whole delta; on PostgreSQL writers hold
the ledger lock from before their first insert to commit, so ids commit in order and no row is
skipped). Changes to reports already stored (the members named for them, a re-import's new
terms, a person's classification) are caught up from the ledger: each refresh reads the
entries of ``rows.CHANGES`` after the last ledger position it saw and re-reads those reports.
Several API processes each keep their own index and catch up the same way. The node holds one
per wing (``node.read_model(SignalReadModel)``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from itertools import islice
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from hanoi.core.prefixes import DigestIndex
from hanoi.core.tlp import TLP
from hanoi.node.runtime import Node
from hanoi.private_lookup import digest
from hanoi.signals import rows
from hanoi.signals.index import IndexedReport, SignalIndex
from hanoi.store.tables import ledger_entries, signal_links, signal_reports, signals


class SignalReadModel:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._index: SignalIndex | None = None
        self._named_seq = 0
        """The ledger position up to which namings are applied."""
        self._digests: DigestIndex | None = None
        self._digest_lock = threading.Lock()

    def index(self) -> SignalIndex:
        """The index, caught up with the store."""
        node = self._node
        with self._lock, node.read() as conn:
            if self._index is None:
                idx = SignalIndex()
                # The ledger head before the reports are read: a naming after it is applied by
                # a later refresh, one before it is already in the rows read.
                self._named_seq = rows.ledger_head(conn)
                _refresh(conn, idx, node.node_id)
                self._index = idx
            else:
                _refresh(conn, self._index, node.node_id)
                self._changed(conn, self._index)
            return self._index

    @property
    def changes_seen(self) -> int:
        """The ledger position up to which changes to stored reports are applied."""
        return self._named_seq

    def digests(self) -> tuple[SignalIndex, DigestIndex]:
        """The index and the digests of every signal it holds (canonical form
        ``hanoi.private_lookup.CANON``), both caught up; the digests are built on first use,
        a million at a time (10M signals: 480 MB of digests, ids and keys)."""
        with self._digest_lock:
            idx = self.index()
            with self._lock:  # no refresh adds signals while they are read
                if self._digests is None or idx.new_signals is None:
                    idx.new_signals = []
                    self._digests = _digest_all(idx.signals())
                    return idx, self._digests
                new, idx.new_signals = idx.new_signals, []
            if new:
                self._digests = self._digests.with_added([digest(t, v) for _, t, v in new],
                                                         [sid for sid, _, _ in new])
            return idx, self._digests

    def _changed(self, conn: Connection, idx: SignalIndex) -> None:
        """Apply the changes to stored reports ledgered since the last refresh (by this process
        or any other): the ledger is their change feed, the reports' rows their current value."""
        last = self._named_seq
        head = rows.ledger_head(conn)
        if head <= last:
            return
        changed: set[int] = set()
        for action, payload in conn.execute(select(ledger_entries.c.action, ledger_entries.c.payload)
                                            .where(ledger_entries.c.seq > last, ledger_entries.c.seq <= head,
                                                   ledger_entries.c.action.in_(rows.CHANGES))):
            changed.update(rows.changed_reports(action, json.loads(payload)))
        ids = sorted(changed)
        for i in range(0, len(ids), rows.SQL_CHUNK):
            for r in conn.execute(_COLUMNS.where(signal_reports.c.id.in_(ids[i:i + rows.SQL_CHUNK]))):
                idx.update(_indexed(r, self._node.node_id))
        self._named_seq = head

    def close(self) -> None:
        with self._lock:
            self._index = None
            self._digests = None


_COLUMNS = (select(signal_reports.c.id, signal_reports.c.signal_id, signals.c.type, signals.c.value,
                   signal_reports.c.source, signal_reports.c.origin, signal_reports.c.tlp,
                   signal_reports.c.confidence, signal_reports.c.consent,
                   signal_reports.c.recipients, signal_reports.c.named, signal_reports.c.expires_at,
                   signal_reports.c.abuse_type)
            .join(signals, signals.c.id == signal_reports.c.signal_id))
_TLPS = {t.value: t for t in TLP}


def _indexed(r: Any, node_id: str) -> IndexedReport:
    return IndexedReport(
        r.id, r.signal_id, r.type, r.value, r.source, _TLPS[r.tlp], r.confidence,
        r.origin == "local" and r.source == node_id, bool(r.consent),
        frozenset(r.recipients or ()), frozenset(r.named or ()), r.expires_at, bool(r.abuse_type))


def _digest_all(signals_: Iterator[tuple[int, str, str]], chunk: int = 1_000_000) -> DigestIndex:
    parts: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    while True:
        part = list(islice(signals_, chunk))
        if not part:
            break
        parts.append(np.frombuffer(b"".join([digest(t, v) for _, t, v in part]), dtype=np.uint8))
        ids.append(np.fromiter((sid for sid, _, _ in part), dtype=np.int64, count=len(part)))
    if not parts:
        return DigestIndex()
    return DigestIndex().with_added(np.concatenate(parts), np.concatenate(ids))


def _refresh(conn: Connection, idx: SignalIndex, node_id: str) -> None:
    q = _COLUMNS.where(signal_reports.c.id > idx.last_report_id).order_by(signal_reports.c.id)
    for r in conn.execution_options(yield_per=20_000).execute(q):
        idx.add(_indexed(r, node_id))
    q2 = (select(signal_links.c.id, signal_links.c.a, signal_links.c.b, signal_links.c.report_id)
          .where(signal_links.c.id > idx.last_link_id).order_by(signal_links.c.id))
    for link in conn.execution_options(yield_per=20_000).execute(q2):
        idx.link(link.a, link.b, link.report_id, link.id)


def index(node: Node) -> SignalIndex:
    """The node's signal index, caught up with the store."""
    return node.read_model(SignalReadModel).index()


def digests(node: Node) -> tuple[SignalIndex, DigestIndex]:
    """The node's signal index and the digests of its signals, caught up with the store."""
    return node.read_model(SignalReadModel).digests()
