"""Where the shared reference data lives: ``shared/`` beside the project (as in CI and the
work tree), or ``HANOI_SHARED`` when set."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HANOI_SHARED") or ROOT.parent / "shared")
PDQ_FIXTURES = SHARED / "fixtures" / "pdq"
