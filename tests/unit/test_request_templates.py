"""`hanoi requests template`: a file for every request type with every field of its form, each
under a comment citing its article, whose sample values validate as written and with every
optional field uncommented."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import yaml

from hanoi.core.citations import RULES
from hanoi.requests import contents
from hanoi.requests.samples import EXAMPLES, template

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TYPES = sorted(contents.REQUEST_TYPES)


def uncommented(text: str) -> str:
    """The template with every commented-out field line restored (not the explanations)."""
    out = []
    for line in text.splitlines():
        m = re.fullmatch(r"  # ((?:[a-z_]+:.*)|(?:- .*))", line)
        out.append(f"  {m.group(1)}" if m else line)
    return "\n".join(out)


@pytest.mark.parametrize("code", TYPES)
def test_the_template_validates_as_written(code: str) -> None:
    doc = yaml.safe_load(template(code, NOW))
    assert doc["type"] == code
    assert contents.validate_draft(code, doc["fields"], NOW) == []
    required = {f.name for f in contents.fields_for(code) if f.required(code)}
    assert required <= set(doc["fields"])


@pytest.mark.parametrize("code", TYPES)
def test_every_optional_field_validates_once_uncommented(code: str) -> None:
    doc = yaml.safe_load(uncommented(template(code, NOW)))
    assert set(doc["fields"]) == {f.name for f in contents.fields_for(code)}
    assert contents.validate_draft(code, doc["fields"], NOW) == []


@pytest.mark.parametrize("code", TYPES)
def test_every_field_comes_under_a_comment_citing_its_article(code: str) -> None:
    lines = template(code, NOW).splitlines()
    rt = contents.REQUEST_TYPES[code]
    assert RULES[rt.rule].citation in lines[0]
    for spec in contents.fields_for(code):
        at = next(i for i, line in enumerate(lines) if re.match(rf"  (# )?{spec.name}:", line))
        comment = next(line for line in reversed(lines[:at]) if line.startswith(f"  # {spec.label} ("))
        rule = RULES[spec.rule_code(code)]
        assert rule.citation in comment and rule.code in comment
        assert ("required" if spec.required(code) else "optional") in comment


def test_every_field_has_an_example() -> None:
    assert {f.name for f in contents.FIELDS} <= set(EXAMPLES) | {"deadline"}


def test_the_sample_deadline_lies_ahead_of_the_clock() -> None:
    later = datetime(2031, 1, 1, tzinfo=UTC)
    doc = yaml.safe_load(uncommented(template("mla", later)))
    assert doc["fields"]["deadline"].startswith("2031-01-15T12:00:00")
