"""Deadlines: the 60-day preservation term, extensions, profiles, due / overdue status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.requests.deadlines import (
    DEFAULT_PROFILES,
    DEFAULT_PROFILES_DICT,
    Deadline,
    Extension,
    PreservationTerm,
    classify,
    profiles_from_dict,
    profiles_to_dict,
    request_deadlines,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_preservation_lasts_sixty_days_from_the_date_preserved() -> None:
    term = PreservationTerm(T0)
    assert term.until == T0 + 60 * DAY
    assert term.state(T0 + 59 * DAY) == "running"
    assert term.state(T0 + 60 * DAY) == "expired"
    status = term.status(T0 + 10 * DAY)
    assert status["state"] == "running" and status["due"] == "ok"
    assert status["remaining_seconds"] == 50 * 86400 and status["rule"] == "PRESERVATION-60-DAYS"


def test_preservation_runs_on_until_the_follow_up_request_is_decided() -> None:
    term = PreservationTerm(T0, follow_up_submitted_at=T0 + 30 * DAY)
    assert term.state(T0 + 90 * DAY) == "held"
    assert term.status(T0 + 90 * DAY)["may_expire"] is False
    decided = PreservationTerm(T0, follow_up_submitted_at=T0 + 30 * DAY,
                               follow_up_decided_at=T0 + 100 * DAY)
    assert decided.state(T0 + 99 * DAY) == "held"
    assert decided.state(T0 + 100 * DAY) == "expired"
    # A decision before day 60 does not shorten the minimum term.
    early = PreservationTerm(T0, follow_up_submitted_at=T0 + DAY, follow_up_decided_at=T0 + 2 * DAY)
    assert early.state(T0 + 59 * DAY) == "running"


def test_extensions_are_recorded_and_add_to_the_term() -> None:
    term = PreservationTerm(T0).extend(Extension(T0 + 50 * DAY, 30, "awaiting MLA"),
                                       T0 + 50 * DAY)
    assert term.until == T0 + 90 * DAY
    assert [e.days for e in term.extensions] == [30]
    assert PreservationTerm.from_dict(json.loads(json.dumps(term.as_dict()))) == term


def test_an_expired_preservation_cannot_be_extended() -> None:
    with pytest.raises(InvalidInput) as e:
        PreservationTerm(T0).extend(Extension(T0 + 61 * DAY, 30, "late"), T0 + 61 * DAY)
    assert e.value.problems[0].rule == "PRESERVATION-60-DAYS"


def test_a_held_preservation_can_be_extended() -> None:
    term = PreservationTerm(T0, follow_up_submitted_at=T0 + 10 * DAY)
    assert term.extend(Extension(T0 + 70 * DAY, 30, "x"), T0 + 70 * DAY).until == T0 + 90 * DAY


def test_an_extension_cannot_be_dated_in_the_future_or_be_empty() -> None:
    with pytest.raises(InvalidInput):
        PreservationTerm(T0).extend(Extension(T0 + 5 * DAY, 30, "x"), T0 + DAY)
    with pytest.raises(InvalidInput) as e:
        Extension.from_dict({"at": "2026-03-02T00:00:00Z", "days": 0, "reason": ""})
    assert {p.field for p in e.value.problems} == {"extension.days", "extension.reason"}


def test_minimum_term_cannot_be_shortened() -> None:
    with pytest.raises(InvalidInput) as e:
        PreservationTerm(T0, minimum_days=30)
    assert e.value.problems[0].rule == "PRESERVATION-60-DAYS"


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput):
        PreservationTerm(datetime(2026, 3, 1))


@given(st.lists(st.integers(min_value=1, max_value=90), max_size=5),
       st.integers(min_value=0, max_value=400), st.booleans())
def test_term_arithmetic_and_never_expired_while_follow_up_pending(
        days: list[int], day: int, pending: bool) -> None:
    term = PreservationTerm(T0, extensions=tuple(Extension(T0, d, "x") for d in days),
                            follow_up_submitted_at=T0 if pending else None)
    assert term.until == T0 + timedelta(days=60 + sum(days))
    state = term.state(T0 + day * DAY)
    assert state == ("running" if day < 60 + sum(days) else "held" if pending else "expired")


def test_classify_boundaries() -> None:
    due = T0 + DAY
    assert classify(due, T0) == "due-soon"
    assert classify(due, T0 - DAY) == "ok"
    assert classify(due, due) == "due-soon"
    assert classify(due, due + timedelta(seconds=1)) == "overdue"


def test_default_profiles_follow_the_neighbouring_instruments() -> None:
    hours = {c: p.hours for c, p in DEFAULT_PROFILES.items()}
    assert hours["emergency-8h"] == 8
    assert hours["production-10d"] == 240
    assert hours["subscriber-20d"] == 480
    assert hours["direct-order-30d"] == 720
    assert hours["traffic-45d"] == 1080
    assert hours["preservation-60d"] == 1440
    assert profiles_from_dict(DEFAULT_PROFILES_DICT) == DEFAULT_PROFILES
    assert profiles_to_dict(DEFAULT_PROFILES) == DEFAULT_PROFILES_DICT


def test_a_partner_agreement_profile() -> None:
    profiles = profiles_from_dict({"xa-mou-15d": {"label": "XA MoU", "days": 15,
                                                  "applies_to": ["stored-data"]}})
    (d,) = request_deadlines("stored-data", T0, profile_codes=["xa-mou-15d"], profiles=profiles)
    assert d.due_at == T0 + 15 * DAY and d.source == "profile:xa-mou-15d"


def test_bad_profiles_name_every_field() -> None:
    with pytest.raises(InvalidInput) as e:
        profiles_from_dict({
            "both": {"days": 1, "hours": 2},
            "preservation-60d": {"days": 30},
            "typo": {"days": 3, "applies_to": ["wiretap"], "rule": "NOPE"},
            "Bad Code": {"hours": 1},
        })
    fields = {p.field for p in e.value.problems}
    assert fields == {"deadlines.both", "deadlines.preservation-60d",
                      "deadlines.typo.applies_to[0]", "deadlines.typo.rule",
                      "deadlines.Bad Code"}


def test_request_deadlines_default_and_requester_deadline() -> None:
    (d,) = request_deadlines("emergency", T0)
    assert d.due_at == T0 + timedelta(hours=8) and d.rule == "DEADLINE-EMERGENCY-8H"
    out = request_deadlines("stored-data", T0, requester_deadline=T0 + 5 * DAY,
                            requester_reason="trial on 10 March")
    assert [x.source for x in out] == ["requester", "profile:production-10d"]
    assert out[0].rule == "DEADLINE-REASONED" and "trial" in out[0].label
    assert request_deadlines("mla", T0) == []


def test_request_deadline_errors() -> None:
    with pytest.raises(InvalidInput) as e:
        request_deadlines("emergency", T0, profile_codes=["nope", "traffic-45d"])
    assert [p.field for p in e.value.problems] == ["profile_codes[0]", "profile_codes[1]"]
    (late,) = request_deadlines("mla", T0, requester_deadline=T0 - DAY)  # arrived late: recorded
    assert late.state(T0) == "overdue" and "already passed" in late.label


def test_deadline_status_is_json_safe() -> None:
    (d,) = request_deadlines("emergency", T0)
    assert d.state(T0 + timedelta(hours=1)) == "ok"
    assert d.state(T0 + timedelta(hours=7)) == "due-soon"
    s = json.loads(json.dumps(d.status(T0 + timedelta(hours=9))))
    assert s["state"] == "overdue" and s["remaining_seconds"] == -3600
    assert Deadline.from_dict(d.as_dict()) == d
