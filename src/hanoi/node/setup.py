"""Making a node's home: its configuration, identity key, database, policy and first token."""

from __future__ import annotations

import os
from pathlib import Path

from hanoi.config import CONFIG_FILE, KEY_FILE, NodeConfig, save_config
from hanoi.core import keys
from hanoi.core.clock import isoformat, utcnow
from hanoi.core.errors import Conflict, InvalidInput, Problem
from hanoi.core.members import MemberKind, check_country, slugify
from hanoi.core.roles import Role
from hanoi.node import policy, tokens
from hanoi.node.runtime import Node
from hanoi.node.wings import Registry


def init_node(
    home: Path, registry: Registry, *, name: str, country: str, kind: str, database_url_: str | None = None,
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
    node = Node.open(home, registry)
    with node.write("system:init") as uow:
        uow.record("node.init", f"node:{node_id}", {
            "node_id": node_id, "name": config.name, "country": cc, "kind": config.kind,
            "key_id": config.key_id, "public_key": node.public_key_b64,
        })
        policy.write_default(node, uow)
        admin_token, _ = tokens.create_in(uow, name="first admin", role=Role.ADMIN)
    return node, admin_token

