"""A node per test (on every backend), its API client and one token per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hanoi.api.app import create_app
from hanoi.bootstrap import init_node
from hanoi.core.roles import Role
from hanoi.node import tokens
from hanoi.node.runtime import Node
from tests.node.contract import Contract


@pytest.fixture
def node_home(tmp_path: Path) -> Path:
    return tmp_path / "gb-node"


@pytest.fixture
def node_and_admin(node_home: Path, database_url: str) -> Iterator[tuple[Node, str]]:
    node, admin = init_node(node_home, name="UK Central Authority", country="GB",
                            kind="central-authority", database_url_=database_url)
    yield node, admin
    node.close()


@pytest.fixture
def node(node_and_admin: tuple[Node, str]) -> Node:
    return node_and_admin[0]


@pytest.fixture
def role_tokens(node_and_admin: tuple[Node, str]) -> dict[Role, str]:
    node, admin = node_and_admin
    out = {Role.ADMIN: admin}
    for role in Role:
        if role is not Role.ADMIN:
            out[role], _ = tokens.create(node, "test", name=f"{role.value} user", role=role.value)
    return out


@pytest.fixture
def client(node: Node) -> Iterator[TestClient]:
    """The node's API; every response it gives is held to the OpenAPI document (``contract``)."""
    app = create_app(node)
    contract = Contract(app.openapi())
    with TestClient(app, raise_server_exceptions=False) as c:
        c.event_hooks["response"].append(contract.check)
        yield c


@pytest.fixture
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its lowest cost: the tests check what is hashed and when, not the cost
    (the browser tests run a real server at the real cost)."""
    from argon2 import PasswordHasher

    from hanoi.node import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
