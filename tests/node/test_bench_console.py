"""`bench/console.py --quick` runs end to end: seeds a node in bulk, serves it, signs in and
fetches every desk page (a smoke run: no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_console_benchmark_runs_quickly_end_to_end() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "console.py"), "--quick"], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("desk (inbox and board)", "desk, 11th page", "a request's page", "compose check", "partners"):
        assert page in done.stdout, done.stdout
