"""docs/gate.md lists every gate rule with its article, its default and its policy key."""

from __future__ import annotations

from pathlib import Path

from hanoi.core.citations import RULES
from hanoi.core.gate import StandingPolicy, rule_table
from hanoi.requests.gate import RequestPolicy

DOC = (Path(__file__).resolve().parents[2] / "docs" / "gate.md").read_text()
SIGNAL_RULES = ("GATE-TLP", "TLP-CLEAR", "TLP-RED", "ONWARD-CONSENT", "SIGNAL-UNCLASSIFIED", "SIGNAL-EXPIRED",
                "SIGNAL-ORIGINATOR")


def test_every_gate_rule_is_documented_with_its_article() -> None:
    for rule in [r["code"] for r in rule_table()] + list(SIGNAL_RULES):
        rows = [line for line in DOC.splitlines() if line.startswith("| ") and f"`{rule}`" in line.split("|")[1]]
        assert rows, f"{rule} is not in docs/gate.md"
        cited = RULES[rule].citation
        article = "node" if cited.startswith("node") else cited.split("(")[0]
        assert any(article in row for row in rows), f"{rule}: {cited} not cited"


def test_every_policy_choice_of_the_gate_is_documented() -> None:
    for key in (*StandingPolicy.KEYS, *RequestPolicy.CHOICES, "serious_crime_min_years",
                "dual_criminality_required_for", "preservation_dual_criminality_reserved", "assurances"):
        assert f"`{key}" in DOC, key
