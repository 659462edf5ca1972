"""A running node: its home, configuration, database, identity key, clock, and the wings it
was opened with.

``Node.open(home, registry)`` loads a node's home (``hanoi.node.setup.init_node`` creates one;
``hanoi.bootstrap.open_node`` opens one with every wing). Every use case takes a ``Node`` and
uses ``node.write(actor)`` for a ledgered unit of work (a ``Work``: the store's ``UnitOfWork``
knowing its node, the policy in force and the evidence store) or ``node.read()`` for a
read-only connection. What a node keeps in memory for its wings (their read models: the signal
index, the PDQ index) is held under their class in ``node.read_model(cls)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from hanoi.config import (
    KEY_FILE,
    NodeConfig,
    database_url,
    load_config,
)
from hanoi.core import keys
from hanoi.core.clock import utcnow
from hanoi.core.ledger import Entry
from hanoi.node import metrics
from hanoi.node.policy import LoadedPolicy, Policies
from hanoi.node.wings import Registry
from hanoi.store.blobs import BlobStore
from hanoi.store.db import make_engine
from hanoi.store.migrate import upgrade
from hanoi.store.uow import KeptConnections, LedgerSigner, UnitOfWork, WriteConnections

M = TypeVar("M")


@dataclass
class Node:
    home: Path
    config: NodeConfig
    engine: Engine
    private_key: Ed25519PrivateKey
    registry: Registry
    clock: Callable[[], datetime] = field(default=utcnow)
    writes: WriteConnections = field(init=False, repr=False)
    reads: KeptConnections = field(init=False, repr=False)
    policies: Policies = field(init=False, repr=False)
    blobs: BlobStore = field(init=False, repr=False)
    _read_models: dict[type, Any] = field(init=False, repr=False)
    _read_models_lock: threading.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.writes = WriteConnections(self.engine)
        self.reads = KeptConnections(self.engine)
        self.policies = Policies(self.home, self.registry.policy_sections)
        self.blobs = BlobStore(self.home / "evidence")
        self._read_models = {}
        self._read_models_lock = threading.Lock()

    @classmethod
    def open(cls, home: Path, registry: Registry, *, migrate: bool = True, pool: bool = True) -> Node:
        config = load_config(home)
        key = keys.private_key_from_pem((home / KEY_FILE).read_bytes())
        engine = make_engine(database_url(home, config), pool=pool)
        if migrate:
            upgrade(engine)
        return cls(home, config, engine, key, registry)

    @property
    def node_id(self) -> str:
        return self.config.node_id

    @property
    def public_key_b64(self) -> str:
        return keys.public_key_b64(self.private_key)

    def sign(self, data: bytes) -> bytes:
        return keys.sign(self.private_key, data)

    def now(self) -> datetime:
        return self.clock()

    @property
    def ledger_signer(self) -> LedgerSigner:
        return LedgerSigner(self.config.node_id, self.config.key_id, self.sign,
                            self.config.checkpoint_interval)

    def write(self, actor: str) -> Work:
        return Work(self, actor)

    def policy(self) -> LoadedPolicy:
        """The policy in force (a hand edit of the file is ledgered first)."""
        return self.policies.current(self)

    def read_model(self, kind: type[M]) -> M:
        """This node's instance of a wing's read model, made on first use."""
        model = self._read_models.get(kind)
        if model is None:
            if kind not in self.registry.read_models:
                raise LookupError(f"no wing of this node declares the read model {kind.__name__}")
            with self._read_models_lock:
                model = self._read_models.get(kind)
                if model is None:
                    model = self._read_models[kind] = cast(Any, kind)(self)
        assert isinstance(model, kind)
        return model

    def forget_read_model(self, kind: type) -> None:
        """Drop a read model (the next use builds it again from the store)."""
        with self._read_models_lock:
            model = self._read_models.pop(kind, None)
        if model is not None:
            model.close()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading, kept between uses like the write connections (no pool
        checkout, no liveness ping); its transaction ends with the block."""
        conn = self.reads.take()
        try:
            yield conn
        finally:
            self.reads.end_and_give_back(conn)

    def close(self) -> None:
        for kind in list(self._read_models):
            self.forget_read_model(kind)
        self.writes.close()
        self.reads.close()
        self.engine.dispose()


class Work(UnitOfWork):
    """A unit of work opened by a node (``node.write(actor)``): the store's transaction and
    ledger guarantees, plus what a use case inside it needs of its node."""

    def __init__(self, node: Node, actor: str):
        super().__init__(node.writes, node.ledger_signer, actor=actor, now=node.now())
        self.node = node

    def record(self, action: str, subject: str, payload: Any, *, decision: str | None = None,
               reasons: Sequence[dict[str, Any]] = (), actor: str | None = None) -> Entry:
        entry = super().record(action, subject, payload, decision=decision, reasons=reasons, actor=actor)
        if decision is not None:  # counted for /metrics once it is on the ledger
            kept = [dict(r) for r in reasons]
            self.after_commit(lambda: metrics.decided(decision, kept))
        return entry

    @cached_property
    def policy(self) -> LoadedPolicy:
        """The policy in force, read once per transaction (a hand edit ledgered in it first)."""
        return self.node.policies.in_work(self)

    @property
    def blobs(self) -> BlobStore:
        return self.node.blobs
