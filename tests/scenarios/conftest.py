"""Scenarios: a caseworker's day driven through the public surfaces (the `hanoi` CLI, in
process, and the HTTP API), with a clock the scenario moves instead of back-dated inputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from hanoi.bootstrap import init_node
from hanoi.cli.main import run
from hanoi.core.clock import utcnow
from hanoi.demo import sample_partners
from hanoi.node import members
from hanoi.node.runtime import Node


class Clock:
    """The time every node opened in this process reads; moved forward by the scenario."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(utcnow())
    original = Node.__post_init__

    def with_clock(self: Node) -> None:
        original(self)
        self.clock = c

    monkeypatch.setattr(Node, "__post_init__", with_clock)
    return c


@dataclass
class Desk:
    """One node's CLI, as a caseworker types it: exit code, standard output and error."""

    home: Path
    capsys: pytest.CaptureFixture[str]
    tmp: Path
    files: int = field(default=0)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run(["--home", str(self.home), *args])
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, f"hanoi {' '.join(args)} -> {code}: {err}"
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def file(self, data: dict[str, Any]) -> str:
        self.files += 1
        f = self.tmp / f"input-{self.files}.yaml"
        f.write_text(yaml.safe_dump(data))
        return str(f)

    def ledger(self, request_id: str) -> list[dict[str, Any]]:
        return list(self.json("requests", "timeline", request_id))


@pytest.fixture
def desk(tmp_path: Path, database_url: str, clock: Clock, capsys: pytest.CaptureFixture[str]) -> Iterator[Desk]:
    node, _ = init_node(tmp_path / "gb", name="UK Central Authority", country="GB", kind="central-authority",
                        database_url_=database_url)
    for spec in sample_partners():
        members.add(node, "setup", spec)
    node.close()
    yield Desk(tmp_path / "gb", capsys, tmp_path)
