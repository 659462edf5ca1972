"""A request that arrives late is recorded as overdue, never refused on arrival; only a draft's
own deadline must lie ahead (issue 13 item 4)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from hanoi.cli.main import run
from hanoi.core.clock import isoformat
from hanoi.demo import sample_partners
from hanoi.node import members
from hanoi.node.runtime import Node
from hanoi.requests.samples import PRESERVATION_FIELDS, STORED_DATA_FIELDS


@pytest.fixture
def partners(node: Node) -> Node:
    for spec in sample_partners():
        members.add(node, "setup", spec)
    return node


def hanoi(node: Node, *args: str) -> int:
    return run(["--home", str(node.home), *args])


def test_a_late_request_is_recorded_overdue_and_listed_first(partners: Node, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    node = partners
    passed = isoformat(node.now() - timedelta(days=2))
    ahead = isoformat(node.now() + timedelta(days=3))
    timely = tmp_path / "timely.yaml"
    timely.write_text(yaml.safe_dump({**STORED_DATA_FIELDS, "deadline": ahead, "deadline_reason": "hearing"}))
    late = tmp_path / "late.yaml"
    late.write_text(yaml.safe_dump({**PRESERVATION_FIELDS, "deadline": passed,
                                    "deadline_reason": "the provider deletes logs after 90 days"}))
    assert hanoi(node, "requests", "new", "--type", "stored-data", "--incoming", "--via", "post",
                 "--from", str(timely), "--partner", "fr-pharos", "--quiet") == 0
    timely_id = capsys.readouterr().out.strip()
    assert hanoi(node, "requests", "new", "--type", "preservation", "--incoming", "--via", "post, delivered late",
                 "--from", str(late), "--partner", "fr-pharos", "--quiet") == 0
    late_id = capsys.readouterr().out.strip()

    assert hanoi(node, "requests", "due", "--within", "7d", "--json") == 0
    due = json.loads(capsys.readouterr().out)
    assert (due[0]["request_id"], due[0]["state"], due[0]["source"]) == (late_id, "overdue", "requester")
    assert "already passed" in due[0]["label"]
    assert timely_id in [d["request_id"] for d in due[1:]]
    assert all(d["state"] != "overdue" for d in due[1:])

    assert hanoi(node, "requests", "timeline", late_id, "--json") == 0
    actions = [e["action"] for e in json.loads(capsys.readouterr().out)]
    assert actions[-1] == "request.overdue" and "request.receive" in actions

    assert hanoi(node, "requests", "due") == 0  # the table shows it too, first
    table = capsys.readouterr().out
    assert table.index(late_id) < table.index(timely_id) and "overdue" in table


def test_a_draft_with_a_deadline_already_passed_is_refused(partners: Node, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump({**PRESERVATION_FIELDS, "deadline": isoformat(partners.now() - timedelta(days=1)),
                                     "deadline_reason": "too late"}))
    assert hanoi(partners, "requests", "new", "--type", "preservation", "--from", str(draft),
                 "--partner", "fr-pharos", "--quiet") == 1
    err = capsys.readouterr().err
    assert "deadline" in err and "in the past" in err and "DEADLINE-REASONED" in err
