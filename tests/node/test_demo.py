"""`hanoi demo --once`: five nodes as processes, the whole scenario, every ledger verified, exit 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanoi.cli.main import run


def test_demo_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["demo", "--once", "--dir", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "verified FR's evidence package offline: package ok: 2 files" in out
    assert "refused by the gate: GATE-SUSPENDED" in out
    assert out.count("ledger ok:") >= 5
    assert "admin token hx_" in out
    assert "Open the console" in out and out.count("/console/   password ") == 5
    assert "preserved the data; 60-day term until" in out
    assert "the RED account: no match" in out and "RED account: False" in out
    assert "edited copy found" in out and "unrelated image: no match" in out
    assert "feedback from" in out and "confirmed" in out
