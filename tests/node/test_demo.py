"""`hanoi demo --once` plays the demo, verifies and exits 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanoi.cli.main import run


def test_demo_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["demo", "--once", "--dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "ledger ok:" in out
    assert "standing change without an assessment: HTTP 422 (STANDING-ASSESSED" in out
    assert "admin token: hx_" in out
