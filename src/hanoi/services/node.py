"""A running node: its home, configuration, database, identity key and clock.

``init_node`` creates a node's home; ``Node.open`` loads one. Every other service takes a
``Node`` and uses ``node.write(actor)`` for a ledgered unit of work or ``node.read()`` for a
read-only connection.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from hanoi.config import (
    CONFIG_FILE,
    KEY_FILE,
    NodeConfig,
    database_url,
    load_config,
    save_config,
)
from hanoi.core import keys
from hanoi.core.clock import isoformat, utcnow
from hanoi.core.errors import Conflict, InvalidInput, Problem
from hanoi.core.members import MemberKind, check_country, slugify
from hanoi.core.roles import Role
from hanoi.store.db import make_engine
from hanoi.store.migrate import upgrade
from hanoi.store.uow import KeptConnections, LedgerSigner, UnitOfWork, WriteConnections


@dataclass
class Node:
    home: Path
    config: NodeConfig
    engine: Engine
    private_key: Ed25519PrivateKey
    clock: Callable[[], datetime] = field(default=utcnow)
    writes: WriteConnections = field(init=False, repr=False)
    reads: KeptConnections = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.writes = WriteConnections(self.engine)
        self.reads = KeptConnections(self.engine)

    @classmethod
    def open(cls, home: Path, *, migrate: bool = True, pool: bool = True) -> Node:
        config = load_config(home)
        key = keys.private_key_from_pem((home / KEY_FILE).read_bytes())
        engine = make_engine(database_url(home, config), pool=pool)
        if migrate:
            upgrade(engine)
        return cls(home, config, engine, key)

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

    def write(self, actor: str) -> UnitOfWork:
        return UnitOfWork(self.writes, self.ledger_signer, actor=actor, now=self.now(), node=self)

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
        self.writes.close()
        self.reads.close()
        self.engine.dispose()


def init_node(
    home: Path, *, name: str, country: str, kind: str, database_url_: str | None = None,
    default_region: str | None = None, public_url: str | None = None,
) -> tuple[Node, str]:
    """Create a node's home and database; return the node and its first admin token.

    Validates everything before touching the disk, and refuses to overwrite an existing node.
    """
    problems: list[Problem] = []
    if not name or not name.strip():
        problems.append(Problem("name", "is required"))
    cc, p = check_country(country)
    if p:
        problems.append(p)
    try:
        node_kind = MemberKind(kind)
    except ValueError:
        problems.append(Problem("kind", f"{kind!r} is not one of: {', '.join(k.value for k in MemberKind)}"))
    if problems:
        raise InvalidInput("cannot create the node", problems)
    if (home / CONFIG_FILE).exists():
        raise Conflict(f"a node already exists at {home}", [Problem("home", "already initialised")])
    assert cc is not None
    home.mkdir(parents=True, exist_ok=True)
    private_key = keys.generate_private_key()
    key_path = home / KEY_FILE
    # Create with 0600 from the start: the key is never readable by others, even briefly.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(keys.private_key_to_pem(private_key))
    os.chmod(key_path, 0o600)
    now = utcnow()
    node_id = slugify(f"{cc}-{name}")
    config = NodeConfig(
        node_id=node_id, name=name.strip(), country=cc, kind=node_kind.value,
        key_id=f"{node_id}:{now.strftime('%Y%m%d')}", created_at=isoformat(now),
        database_url=database_url_ or os.environ.get("HANOI_DATABASE_URL"),
        default_region=default_region or (cc if len(cc) == 2 else None), public_url=public_url,
    )
    save_config(home, config)
    node = Node.open(home)
    from hanoi.services import policy, tokens

    with node.write("system:init") as uow:
        uow.record("node.init", f"node:{node_id}", {
            "node_id": node_id, "name": config.name, "country": cc, "kind": config.kind,
            "key_id": config.key_id, "public_key": node.public_key_b64,
        })
        policy.write_default(node, uow)
        admin_token, _ = tokens.create_in(uow, name="first admin", role=Role.ADMIN)
    return node, admin_token

