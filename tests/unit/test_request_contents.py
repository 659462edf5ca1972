"""Required contents of each request type: the checklist, every problem at once, with articles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoi.core.citations import RULES
from hanoi.core.errors import InvalidInput
from hanoi.requests.contents import (
    FIELDS,
    REQUEST_TYPES,
    checklist,
    clean_fields,
    describe_fields,
    describe_types,
    fields_for,
    require_complete,
    validate_draft,
)
from hanoi.requests.gate import gate_facts

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

_VALUES: dict[str, Any] = {
    "text": "Some text.",
    "int": 30,
    "bool": True,
    "date": "2026-01-01",
    "datetime": "2026-04-01T12:00:00Z",
    "list": ["account alice@example.org (XA national)"],
    "offence": "UNCC-13",
    "language": "en",
}


def complete(rtype: str) -> dict[str, Any]:
    """A minimal valid request: every required field, nothing else."""
    out: dict[str, Any] = {}
    for spec in fields_for(rtype):
        if spec.required(rtype):
            out[spec.name] = spec.choices[0] if spec.kind == "enum" else _VALUES[spec.kind]
    return out


def test_every_field_and_type_cites_a_rule_that_exists() -> None:
    for t in REQUEST_TYPES.values():
        assert t.rule in RULES
        for spec in fields_for(t.code):
            assert spec.rule_code(t.code) in RULES


def test_every_type_requires_authority_facts_and_language() -> None:
    for code in REQUEST_TYPES:
        required = {s.name for s in fields_for(code) if s.required(code)}
        assert {"requesting_authority", "facts_summary", "language"} <= required


@pytest.mark.parametrize("rtype", list(REQUEST_TYPES))
def test_a_complete_request_of_each_type_is_valid(rtype: str) -> None:
    assert validate_draft(rtype, complete(rtype), NOW) == []


def test_an_empty_preservation_lists_every_missing_item_with_art_42() -> None:
    problems = validate_draft("preservation", {}, NOW)
    by_field = {p.field: p.rule for p in problems}
    assert by_field == {
        "requesting_authority": "PRESERVE-AUTHORITY",
        "offence_code": "PRESERVE-OFFENCE",
        "facts_summary": "PRESERVE-OFFENCE",
        "data_concerned": "PRESERVE-DATA",
        "data_relation": "PRESERVE-DATA",
        "preservation_necessity": "PRESERVE-NECESSITY",
        "mla_to_follow": "PRESERVE-MLA-FOLLOWS",
        "language": "CONTENT-LANGUAGE",
    }
    assert all(RULES[r].article == "42" for f, r in by_field.items() if f != "language")


def test_an_empty_mla_request_cites_art_40_para_15() -> None:
    problems = validate_draft("mla", {}, NOW)
    assert {p.field for p in problems} == {
        "requesting_authority", "conducting_authority", "proceeding_nature", "offence_code",
        "facts_summary", "assistance_sought", "purpose", "language"}
    assert all(RULES[p.rule or ""].article == "40" for p in problems if p.field != "offence_code"
               ) and all(p.rule for p in problems)


def test_real_time_and_interception_need_a_period() -> None:
    for rtype in ("real-time-traffic", "interception"):
        fields = complete(rtype)
        del fields["collection_period_days"]
        (p,) = validate_draft(rtype, fields, NOW)
        assert p.field == "collection_period_days" and p.rule == "SAFEGUARD-SCOPE-DURATION"
        fields["collection_period_days"] = 0
        (p,) = validate_draft(rtype, fields, NOW)
        assert "at least 1" in p.message


def test_a_partial_draft_reports_only_invalid_values() -> None:
    assert validate_draft("mla", {}, NOW, partial=True) == []
    (p,) = validate_draft("mla", {"offence_code": "UNCC-99"}, NOW, partial=True)
    assert p.field == "offence_code" and p.rule == "OFFENCE-CATALOGUE"


def test_serious_crime_needs_its_maximum_penalty() -> None:
    fields = {**complete("mla"), "offence_code": "SERIOUS"}
    (p,) = validate_draft("mla", fields, NOW)
    assert p.field == "offence_max_penalty_years" and p.rule == "OFFENCE-SERIOUS"
    assert validate_draft("mla", {**fields, "offence_max_penalty_years": 5}, NOW) == []


def test_deadline_in_the_past_or_without_zone_or_reasons() -> None:
    base = complete("stored-data")
    past = validate_draft("stored-data", {**base, "deadline": "2026-02-01T00:00:00Z",
                                          "deadline_reason": "trial date"}, NOW)
    assert [(p.field, p.rule) for p in past] == [("deadline", "DEADLINE-REASONED")]
    assert "in the past" in past[0].message
    naive = validate_draft("stored-data", {**base, "deadline": "2026-04-01T00:00:00",
                                           "deadline_reason": "trial"}, NOW)
    assert [p.field for p in naive] == ["deadline"]
    unreasoned = validate_draft("stored-data", {**base, "deadline": NOW + timedelta(days=3)},
                                NOW)
    assert [(p.field, p.rule) for p in unreasoned] == [("deadline_reason", "DEADLINE-REASONED")]


def test_preservation_must_announce_the_follow_up_request() -> None:
    fields = {**complete("preservation"), "mla_to_follow": False}
    (p,) = validate_draft("preservation", fields, NOW)
    assert p.rule == "PRESERVE-MLA-FOLLOWS"


def test_fields_outside_the_form_are_reported() -> None:
    fields = {**complete("spontaneous"), "collection_period_days": 10, "colour": "red"}
    problems = validate_draft("spontaneous", fields, NOW)
    assert [(p.field, p.rule) for p in problems] == [
        ("collection_period_days", "REQ-SPONTANEOUS"), ("colour", None)]


def test_bad_values_are_each_reported() -> None:
    fields = {**complete("stored-data"), "language": "English!", "persons_concerned": "bob",
              "confidential": "yes", "proceeding_nature": "trial",
              "data_period_from": "2026-02-01", "data_period_to": "2026-01-01"}
    fields_with_problems = {p.field for p in validate_draft("stored-data", fields, NOW)}
    assert fields_with_problems == {"language", "persons_concerned", "confidential",
                                    "proceeding_nature", "data_period_to"}


def test_language_must_be_one_the_requested_side_accepts() -> None:
    fields = {**complete("mla"), "language": "es"}
    (p,) = validate_draft("mla", fields, NOW, accepted_languages=["en", "FR"])
    assert (p.field, p.rule) == ("language", "CONTENT-LANGUAGE") and "en, fr" in p.message
    assert validate_draft("mla", {**fields, "language": "fr"}, NOW,
                          accepted_languages=["en", "FR"]) == []


def test_unknown_type_is_an_error_on_type() -> None:
    with pytest.raises(InvalidInput) as e:
        validate_draft("extradition", {}, NOW)
    assert e.value.problems[0].field == "type" and "preservation" in e.value.problems[0].message


def test_require_complete_raises_with_every_problem_and_returns_clean_fields() -> None:
    with pytest.raises(InvalidInput) as e:
        require_complete("interception", {"offence_code": "UNCC-8"}, NOW)
    assert e.value.status == 422 and len(e.value.problems) >= 8
    assert all(p.rule for p in e.value.problems)
    fields = {**complete("interception"), "offence_code": " uncc-8 ", "language": "FR",
              "deadline": datetime(2026, 3, 2, 10, 0, tzinfo=UTC), "deadline_reason": "hearing"}
    clean = require_complete("interception", fields, NOW)
    assert clean["offence_code"] == "UNCC-8" and clean["language"] == "fr"
    assert clean["deadline"].endswith("Z")
    assert json.loads(json.dumps(clean)) == clean
    assert validate_draft("interception", clean, NOW) == []


def test_clean_fields_drops_empty_values() -> None:
    assert clean_fields("mla", {"purpose": "  ", "procedure_wished": None, "custodian": " X "}
                        ) == {"custodian": "X"}


def test_checklist_has_one_row_per_form_field() -> None:
    rows = checklist("preservation", {"requesting_authority": "XA 24/7 point"}, NOW)
    names = [r["field"] for r in rows]
    assert names == [s.name for s in fields_for("preservation")]
    row = {r["field"]: r for r in rows}
    assert row["requesting_authority"]["ok"] and row["requesting_authority"]["present"]
    assert not row["data_relation"]["ok"] and row["data_relation"]["required"]
    assert row["data_relation"]["citation"] == "UNCC Art. 42(~3(c))"
    assert row["custodian"]["ok"] and not row["custodian"]["required"]


def test_descriptions_are_json_safe() -> None:
    for code in (None, *REQUEST_TYPES):
        json.dumps(describe_fields(code))
    assert len(describe_fields()) == len(FIELDS)
    assert {t["code"] for t in describe_types()} == set(REQUEST_TYPES)
    form = {f["name"]: f for f in describe_fields("preservation")}
    assert form["mla_to_follow"]["required"] is True


def test_gate_facts_come_from_the_contents() -> None:
    f = gate_facts("stored-data", {"offence_code": "serious", "offence_max_penalty_years": 6,
                                   "offence_death_penalty": True, "confidential": True},
                   dual_criminality="met")
    assert (f.offence_code, f.max_penalty_years, f.death_penalty, f.confidentiality_requested,
            f.dual_criminality) == ("SERIOUS", 6, True, True, "met")


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(REQUEST_TYPES)), st.data())
def test_missing_problems_are_exactly_the_required_fields_left_out(rtype: str,
                                                                   data: st.DataObject) -> None:
    full = complete(rtype)
    kept = data.draw(st.sets(st.sampled_from(sorted(full))) if full else st.just(set()))
    draft = {k: v for k, v in full.items() if k in kept}
    problems = validate_draft(rtype, draft, NOW)
    assert {p.field for p in problems} == set(full) - kept
    assert all(p.rule in RULES for p in problems)
