"""The offence catalogue: every code cites its article; unknown codes are clear errors."""

from __future__ import annotations

import json

import pytest

from hanoi.core.citations import RULES
from hanoi.core.errors import InvalidInput
from hanoi.core.offences import OFFENCES, SERIOUS, catalogue, in_scope, offence


@pytest.mark.parametrize("article", range(7, 18))
def test_each_convention_offence_cites_its_own_article(article: int) -> None:
    o = offence(f"UNCC-{article}")
    assert o.in_catalogue
    assert o.article == str(article)
    assert RULES[o.rule].article == str(article)
    assert o.citation == f"UNCC Art. {article}"


def test_catalogue_is_arts_7_to_17_plus_serious_crime() -> None:
    assert set(OFFENCES) == {f"UNCC-{n}" for n in range(7, 18)} | {SERIOUS}
    serious = offence(SERIOUS)
    assert not serious.in_catalogue
    assert serious.citation == "UNCC Art. 2"


def test_lookup_ignores_case_and_spaces() -> None:
    assert offence(" uncc-13 ").code == "UNCC-13"


@pytest.mark.parametrize("bad", ["UNCC-6", "UNCC-18", "theft", "", None, 13])
def test_unknown_code_names_the_field_and_the_catalogue(bad: object) -> None:
    with pytest.raises(InvalidInput) as e:
        offence(bad, "abuse_type")
    (p,) = e.value.problems
    assert p.field == "abuse_type"
    assert p.rule == "OFFENCE-CATALOGUE"
    assert "UNCC-7" in p.message and "SERIOUS" in p.message


def test_catalogue_offences_are_always_in_scope() -> None:
    assert in_scope("UNCC-7", None)
    assert in_scope("UNCC-16", 1)


@pytest.mark.parametrize(("years", "expected"), [(None, False), (0, False), (3, False),
                                                 (4, True), (20, True)])
def test_serious_crime_needs_four_years(years: int | None, expected: bool) -> None:
    assert in_scope(SERIOUS, years) is expected


def test_a_node_may_raise_the_threshold() -> None:
    assert not in_scope(SERIOUS, 5, min_years=6)
    assert in_scope(SERIOUS, 6, min_years=6)


def test_catalogue_listing_is_json_safe_and_cites_every_entry() -> None:
    rows = json.loads(json.dumps(catalogue()))
    assert [r["code"] for r in rows] == list(OFFENCES)
    assert all(r["citation"].startswith("UNCC Art. ") and r["text"] for r in rows)
