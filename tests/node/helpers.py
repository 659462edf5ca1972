"""Small builders shared by the node tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from hanoi.core import keys


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def public_key() -> str:
    return keys.public_key_b64(keys.generate_private_key())


def member_body(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "PHAROS 24/7", "kind": "contact-point", "country": "FR",
        "state_status": "party", "endpoint": "https://fr.example.test",
        "keys": [{"public_key": public_key()}], "languages": ["fr", "en"],
        "available_24_7": True, "contacts": [{"name": "Duty officer", "email": "duty@example.test"}],
    }
    body.update(over)
    return body


GOOD_ASSESSMENT = {
    "standing": "good", "assessor": "A. Analyst", "findings": "Independent review; remedies exist.",
    "articles": ["6", "UNCC Art. 24"], "sources": ["UPR report 2025"],
}


HANOI = str(Path(sys.executable).parent / "hanoi")
"""The `hanoi` console script of the interpreter running the tests."""


def free_port() -> int:
    """A loopback TCP port free at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(home: Path, *args: str) -> Iterator[str]:
    """Run `hanoi --home HOME serve` (plus ``args``) as a real process on a free loopback port;
    yield its base URL once /api/v1/health answers; stop it afterwards."""
    port = free_port()
    proc = subprocess.Popen([HANOI, "--home", str(home), "serve", "--port", str(port), *args],
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
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)
