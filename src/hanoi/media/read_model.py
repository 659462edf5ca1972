"""The media wing's read model: the node's in-memory PDQ index, kept current with the store.

The index holds every active PDQ hash of the node. It is loaded from the snapshot
``HOME/media/index.snap`` (with ``index.snap.json`` naming the store's ``epoch`` and ``rev``),
caught up with the rows changed since (each write bumps ``media_meta.rev`` and stamps the rows it
changes), or rebuilt when the snapshot belongs to another store or is ahead of it (a restored
backup). The node holds one per process (``node.read_model(MediaReadModel)``).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Final

import numpy as np
from sqlalchemy import select
from sqlalchemy.engine import Connection

from hanoi.media import model, rows
from hanoi.media.algorithms import Pdq
from hanoi.media.index import PdqIndex, SnapshotError
from hanoi.node.runtime import Node
from hanoi.store.tables import media_hashes

SNAPSHOT_DIR: Final = "media"
SNAPSHOT_FILE: Final = "index.snap"


class MediaIndex:
    """The node's PDQ index with the store version it reflects. Thread-safe."""

    def __init__(self, index: PdqIndex, rev: int, epoch: str) -> None:
        self.index = index
        self.rev = rev
        self.epoch = epoch
        self.lock = threading.Lock()
        self.loaded_from = "store"

    def catch_up(self, conn: Connection) -> int:
        """Apply the rows changed since ``rev``; returns how many were looked at."""
        rev, epoch = rows.meta(conn)
        if epoch != self.epoch:
            raise SnapshotError("the store's epoch changed: rebuild")
        if rev == self.rev:
            return 0
        changed = conn.execute(
            select(media_hashes.c.id, media_hashes.c.value, media_hashes.c.status)
            .where((media_hashes.c.algorithm == Pdq.name) & (media_hashes.c.rev > self.rev))
        ).all()
        if changed:
            ids = np.array([r.id for r in changed], np.int64)
            self.index.remove(ids)  # then re-add the active ones: idempotent, order-free
            live = [r for r in changed if r.status == model.ACTIVE and r.value]
            if live:
                self.index.add([r.value for r in live], np.array([r.id for r in live], np.int64))
        self.rev = rev
        return len(changed)


class MediaReadModel:
    def __init__(self, node: Node) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._current: MediaIndex | None = None

    @property
    def snapshot_path(self) -> Path:
        return self._node.home / SNAPSHOT_DIR / SNAPSHOT_FILE

    def index(self) -> MediaIndex:
        """The node's index, current with the store (loaded or built on first use)."""
        node = self._node
        with self._lock:
            mi = self._current
            if mi is None:
                mi = self._load_snapshot()
                if mi is None:
                    mi = self._build()
                    self._save(mi)
                self._current = mi
        with mi.lock, node.read() as conn:
            try:
                mi.catch_up(conn)
            except SnapshotError:
                mi = self._build()
                with self._lock:
                    self._current = mi
        return mi

    def rebuild(self) -> MediaIndex:
        """Rebuild from the store and snapshot it (whatever the snapshot held)."""
        mi = self._build()
        with self._lock:
            self._current = mi
        with mi.lock:
            self._save(mi)
        return mi

    def save(self) -> dict[str, Any]:
        """Write the index snapshot now (e.g. at shutdown) so the next start is fast."""
        mi = self.index()
        with mi.lock:
            path = self._save(mi)
            return {"path": str(path), "rev": mi.rev, "hashes": len(mi.index)}

    def status(self) -> dict[str, Any]:
        mi = self.index()
        path = self.snapshot_path
        return {"hashes": len(mi.index), "rev": mi.rev, "epoch": mi.epoch,
                "loaded_from": mi.loaded_from, "snapshot": str(path) if path.exists() else None,
                "bytes": mi.index.nbytes()}

    def close(self) -> None:
        with self._lock:
            self._current = None

    def _build(self) -> MediaIndex:
        with self._node.read() as conn:
            rev, epoch = rows.meta(conn)  # read first: rows changed meanwhile are re-applied later
            found = conn.execute(select(media_hashes.c.id, media_hashes.c.value).where(
                (media_hashes.c.algorithm == Pdq.name) & (media_hashes.c.status == model.ACTIVE))).all()
        ix = PdqIndex.build([r.value for r in found], np.array([r.id for r in found], np.int64))
        return MediaIndex(ix, rev, epoch)

    def _load_snapshot(self) -> MediaIndex | None:
        path = self.snapshot_path
        side = _sidecar(path)
        if not path.is_file() or not side.is_file():
            return None
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
            rev, epoch, size = int(meta["rev"]), str(meta["epoch"]), int(meta["size"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        with self._node.read() as conn:
            store_rev, store_epoch = rows.meta(conn)
        # Another store's snapshot, or one ahead of the store (a restored backup): not trusted.
        if epoch != store_epoch or rev > store_rev or path.stat().st_size != size:
            return None
        try:
            ix = PdqIndex.load(path, mmap=True)
        except SnapshotError:
            return None
        mi = MediaIndex(ix, rev, epoch)
        mi.loaded_from = "snapshot"
        return mi

    def _save(self, mi: MediaIndex) -> Path:
        path = self.snapshot_path
        path.parent.mkdir(parents=True, exist_ok=True)
        mi.index.save(path)
        side = _sidecar(path)
        tmp = side.with_name(side.name + ".tmp")
        tmp.write_text(json.dumps({"epoch": mi.epoch, "rev": mi.rev, "size": path.stat().st_size,
                                   "hashes": len(mi.index)}), encoding="utf-8")
        tmp.replace(side)
        return path


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def of(node: Node) -> MediaReadModel:
    return node.read_model(MediaReadModel)


def index_for(node: Node) -> MediaIndex:
    """The node's index, current with the store."""
    return of(node).index()


def save_snapshot(node: Node) -> dict[str, Any]:
    return of(node).save()


def rebuild_index(node: Node) -> dict[str, Any]:
    of(node).rebuild()
    return of(node).status()


def index_status(node: Node) -> dict[str, Any]:
    return of(node).status()


def snapshot_path(node: Node) -> Path:
    return of(node).snapshot_path
