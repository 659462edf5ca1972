"""Small builders shared by the node tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


@dataclass(kw_only=True)
class ServerProcess:
    """`hanoi --home HOME serve --port PORT ARGS` as a real process on loopback: launched,
    awaited until /api/v1/health answers, stopped (SIGTERM) or killed (SIGKILL). Its stderr
    goes to ``HOME.log`` beside the home, quoted when it does not start."""

    home: Path
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home.parent / f"{self.home.name}.log"

    def launch(self) -> None:
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [HANOI, "--home", str(self.home), "serve", "--port", str(self.port), *self.args],
                stdout=subprocess.DEVNULL, stderr=err, env=os.environ.copy())

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.home.name} did not start: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> None:
        start_all(self)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``check`` until it holds; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_all(*servers: ServerProcess, timeout: float = 60) -> None:
    """Launch every server at once (a start is mostly imports: two cores do two at a time) and
    wait until all of them answer."""
    for server in servers:
        server.launch()
    deadline = time.monotonic() + timeout
    waiting = list(servers)
    while waiting:
        waiting = [s for s in waiting if not s.ready()]
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"not started: {[s.home.name for s in waiting]}")
        time.sleep(0.1)


@contextmanager
def serving(home: Path, *args: str) -> Iterator[str]:
    """Run `hanoi --home HOME serve` (plus ``args``) as a real process on a free loopback port;
    yield its base URL once /api/v1/health answers; stop it afterwards."""
    server = ServerProcess(home=home, args=args)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
