"""Every citation reads as a citation: an article of a treaty, a standard by name, or a node
setting a reader can look up; never "node Art. -" or "node Art. policy"."""

from __future__ import annotations

import re

from hanoi.bootstrap import REGISTRY
from hanoi.config import NodeConfig
from hanoi.core.citations import NODE, RULES
from hanoi.core.gate import Reason
from hanoi.node.policy import PLATFORM_KEYS

ARTICLE = re.compile(r"^(UNCC|CETS 224|EU 2023/1543) Art\. [0-9][0-9-]*(\(~?[0-9]+(\([a-g]\))?\))?$")


def test_no_citation_has_an_empty_or_placeholder_article() -> None:
    for rule in RULES.values():
        assert "Art. -" not in rule.citation and "Art. policy" not in rule.citation, rule.code
        assert not rule.citation.endswith("Art. "), rule.code


def test_treaty_rules_cite_an_article_and_others_their_standard_or_setting() -> None:
    policy_keys = {*PLATFORM_KEYS, *(k for section in REGISTRY.policy_sections for k in section.KEYS)}
    settings = {f"policy: {key}" for key in policy_keys} | {f"config: {key}" for key in NodeConfig.model_fields}
    for rule in RULES.values():
        if rule.instrument == NODE:
            assert rule.citation in {"node rule"} | {f"node {s}" for s in settings}, rule.code
            assert not rule.article, rule.code
        elif rule.instrument == "FIRST TLP 2.0":
            assert rule.citation == "FIRST TLP 2.0", rule.code
        else:
            assert ARTICLE.match(rule.citation), (rule.code, rule.citation)


def test_a_node_rule_decided_by_a_setting_names_it() -> None:
    assert RULES["GATE-ASSURANCES"].citation == "node policy: assurances"
    assert RULES["FED-STALE"].citation == "node config: federation_max_skew_seconds"
    assert RULES["LEDGER-APPEND-ONLY"].citation == "node rule"
    assert RULES["TLP-AMBER"].citation == "FIRST TLP 2.0"
    assert RULES["GATE-CONCERNS"].citation == "UNCC Art. 24"
    reason = Reason("GATE-ASSURANCES", "review", "death penalty")
    assert str(reason) == "review GATE-ASSURANCES (node policy: assurances): death penalty"
    assert RULES["GATE-ASSURANCES"].as_dict()["setting"] == "policy: assurances"
