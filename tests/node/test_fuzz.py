"""The adversary kept in the suite: a short schemathesis run against a live node, every phase
and every check, a fixed seed (tests/fuzz.py; `make fuzz` runs it with 100 examples per
operation). Any 5xx or schema violation fails it, with schemathesis' own account of each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz import fuzz

EXAMPLES = 5  # per operation: about a minute on two cores


@pytest.mark.timeout(900)
def test_schemathesis_finds_no_5xx_and_no_schema_violation(tmp_path: Path) -> None:
    passes = fuzz(tmp_path, examples=EXAMPLES, seed=1)
    for p in passes:
        assert p.ok, p.summary() + "\n" + p.output[-15_000:]
    api, federation = passes
    # nothing silently left out: every federation route (descriptor, inbox, batch, rotation, witness)
    assert api.operations >= 80 and federation.operations == 5
    assert api.cases > 1000 and federation.cases > 20
