"""`hanoi serve` with several worker processes: concurrent writes keep one linear chain."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hanoi.services import ledger
from hanoi.services.node import Node
from tests.node.helpers import auth, member_body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(node_and_admin: tuple[Node, str]) -> tuple[Node, str, str]:
    node, admin = node_and_admin
    port = _free_port()
    hanoi = Path(sys.executable).parent / "hanoi"
    proc = subprocess.Popen([str(hanoi), "--home", str(node.home), "serve", "--port", str(port), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr.read() if proc.stderr else ''!r}")
            time.sleep(0.2)
        yield node, admin, base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


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
