"""`hanoi serve` with several worker processes: concurrent writes keep one linear chain."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from hanoi.node import ledger
from hanoi.node.runtime import Node
from tests.node.helpers import auth, member_body, serving


@pytest.fixture
def served(node_and_admin: tuple[Node, str]) -> Iterator[tuple[Node, str, str]]:
    node, admin = node_and_admin
    with serving(node.home, "--workers", "2") as base:
        yield node, admin, base


def test_two_workers_write_one_chain(served: tuple[Node, str, str]) -> None:
    node, admin, base = served

    def add(i: int) -> int:
        r = httpx.post(f"{base}/api/v1/members", json=member_body(id=f"m-{i:03d}", name=f"Member {i}"),
                       headers=auth(admin), timeout=30)
        return r.status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(add, range(40)))
    assert codes == [201] * 40
    result = ledger.verify(node)
    assert result.ok, result.message()
    assert result.count == 3 + 40
    r = httpx.get(f"{base}/api/v1/ledger/verify", headers=auth(admin), timeout=30)
    assert r.json()["ok"] is True and r.json()["count"] == 43
