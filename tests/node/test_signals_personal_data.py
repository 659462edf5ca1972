"""Onward transfer of signals carrying personal data needs the originator's consent; values of
infrastructure follow their TLP (issue 13 item 3, UNCC Art. 36)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hanoi.cli.main import run
from hanoi.demo import sample_partners
from hanoi.node import members
from hanoi.node.runtime import Node


@pytest.fixture
def partners(node: Node) -> Node:
    for spec in sample_partners():
        members.add(node, "setup", spec)
    return node


def hanoi(node: Node, *args: str) -> int:
    return run(["--home", str(node.home), *args])


def lookup(node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, to: str) -> dict[str, object]:
    f = tmp_path / "values.txt"
    f.write_text(value + "\n")
    capsys.readouterr()
    assert hanoi(node, "signals", "lookup", str(f), "--to", to, "--json") == 0
    return dict(json.loads(capsys.readouterr().out.splitlines()[0]))


@pytest.mark.parametrize(("value", "personal"), [
    ("+33 6 12 34 56 78", True), ("victim@example.com", True), ("DE89 3704 0044 0532 0130 00", True),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", True),
    ("invest-fortune.example", False), ("https://invest-fortune.example/login", False), ("192.0.2.7", False),
])
def test_a_partners_personal_data_stays_here_without_its_consent(partners: Node, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str],
                                                                value: str, personal: bool) -> None:
    node = partners
    # PHAROS reported it (by e-mail, recorded here), GREEN, and said nothing about onward transfer.
    assert hanoi(node, "signals", "add", value, "--tlp", "GREEN", "--offence", "UNCC-13",
                 "--source", "fr-pharos") == 0
    seen_by_source = lookup(node, tmp_path, capsys, value, "fr-pharos")
    assert seen_by_source["match"]
    third = lookup(node, tmp_path, capsys, value, "gb-helpline")
    assert bool(third["match"]) is (not personal), third


def test_stated_consent_passes_personal_data_on_and_a_refusal_holds_infrastructure(
        partners: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node = partners
    assert hanoi(node, "signals", "add", "+33 6 98 76 54 32", "--tlp", "GREEN", "--offence", "UNCC-13",
                 "--source", "fr-pharos", "--consent") == 0
    assert lookup(node, tmp_path, capsys, "+33 6 98 76 54 32", "gb-helpline")["match"]
    assert hanoi(node, "signals", "add", "scam-shop.example", "--tlp", "GREEN", "--offence", "UNCC-13",
                 "--source", "fr-pharos", "--no-consent") == 0
    assert not lookup(node, tmp_path, capsys, "scam-shop.example", "gb-helpline")["match"]


def test_a_report_made_here_follows_its_tlp_whatever_its_type(partners: Node, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    node = partners
    assert hanoi(node, "signals", "add", "+33 6 11 22 33 44", "--tlp", "GREEN", "--offence", "UNCC-13") == 0
    assert lookup(node, tmp_path, capsys, "+33 6 11 22 33 44", "gb-helpline")["match"]
