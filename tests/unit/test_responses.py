"""Responses (grounds, reasons, evidence) and the conditions on evidence handed over."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hanoi.core.errors import InvalidInput
from hanoi.requests.lifecycle import Event
from hanoi.requests.responses import (
    Consent,
    HandoverConditions,
    ProposedUse,
    Response,
    check_use,
    parse_response,
    refusal_grounds,
    validate_response,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
EVIDENCE = [{"name": "subscriber.csv", "sha256": "ab" * 32, "media_type": "text/csv",
             "size": 120}]


def problems(data: dict[str, Any], rtype: str = "mla", **kw: Any) -> list[tuple[str, str | None]]:
    return [(p.field, p.rule) for p in validate_response(data, request_type=rtype, now=NOW, **kw)]


def test_a_refusal_without_ground_or_reason_lists_both() -> None:
    assert problems({"kind": "refused"}) == [("reason", "REFUSE-REASONS"),
                                             ("grounds", "REFUSE-REASONS")]


@pytest.mark.parametrize(("ground", "rule"), [("fiscal", "NOT-GROUND-FISCAL"),
                                              ("NOT-GROUND-FISCAL", "NOT-GROUND-FISCAL"),
                                              ("bank-secrecy", "NOT-GROUND-BANK-SECRECY"),
                                              ("NOT-GROUND-BANK-SECRECY",
                                               "NOT-GROUND-BANK-SECRECY")])
def test_fiscal_matters_and_bank_secrecy_are_not_grounds(ground: str, rule: str) -> None:
    data = {"kind": "refused", "reason": "tax case", "grounds": ["REFUSE-DOMESTIC-LAW", ground]}
    with pytest.raises(InvalidInput) as e:
        parse_response(data, request_type="mla", now=NOW)
    (p,) = e.value.problems
    assert (p.field, p.rule) == ("grounds[1]", rule)
    assert "not a ground" in p.message


def test_unknown_and_repeated_grounds() -> None:
    data = {"kind": "refused", "reason": "r",
            "grounds": ["politics", "REFUSE-LEGAL-SYSTEM", "refuse-legal-system"]}
    assert problems(data) == [("grounds[0]", "REFUSE-REASONS"), ("grounds[2]", None)]


def test_a_valid_refusal_cites_its_grounds() -> None:
    r = parse_response({"kind": "refused", "reason": "Would prejudice national security.",
                        "grounds": ["refuse-essential-interests"]}, request_type="mla", now=NOW)
    assert r.event == Event.REFUSE and r.grounds == ("REFUSE-ESSENTIAL-INTERESTS",)
    d = json.loads(json.dumps(r.as_dict()))
    assert d["grounds"][0]["citation"] == "UNCC Art. 40(~21(b))"


def test_dual_criminality_is_no_ground_to_refuse_preservation_without_reservation() -> None:
    data = {"kind": "refused", "reason": "not a crime here", "grounds": ["REFUSE-DUAL-CRIMINALITY"]}
    assert problems(data, "preservation") == [("grounds[0]", "PRESERVATION-NO-DUAL-CRIMINALITY")]
    assert problems(data, "preservation", preservation_dual_criminality_reserved=True,
                    offence_in_catalogue=False) == []
    assert problems(data, "preservation", preservation_dual_criminality_reserved=True,
                    offence_in_catalogue=True) != []
    assert problems(data, "stored-data") == []


def test_execution_needs_evidence() -> None:
    assert problems({"kind": "executed"}) == [("evidence", "RESPONSE-EVIDENCE")]
    bad = {"kind": "executed", "evidence": [{"name": "x", "sha256": "zz"}]}
    assert problems(bad) == [("evidence[0].sha256", None)]
    r = parse_response({"kind": "executed", "evidence": EVIDENCE}, request_type="mla", now=NOW)
    assert r.event == Event.EXECUTE and r.evidence[0].size == 120


def test_partial_execution_needs_evidence_and_reasons() -> None:
    assert problems({"kind": "partially-executed"}) == [("reason", "REFUSE-REASONS"),
                                                        ("evidence", "RESPONSE-EVIDENCE")]


def test_postponement_needs_a_reason_and_a_future_date() -> None:
    assert problems({"kind": "postponed"}) == [("reason", "POSTPONE-PROCEEDINGS")]
    past = {"kind": "postponed", "reason": "our trial", "postponed_until": "2026-01-01T00:00:00Z"}
    assert problems(past) == [("postponed_until", "POSTPONE-PROCEEDINGS")]
    r = parse_response({**past, "postponed_until": "2026-06-01T00:00:00Z"}, request_type="mla",
                       now=NOW)
    assert r.event == Event.POSTPONE and r.postponed_until == datetime(2026, 6, 1, tzinfo=UTC)


def test_types_that_are_not_executed() -> None:
    assert ("kind", "REQ-SPONTANEOUS") in problems({"kind": "executed", "evidence": EVIDENCE},
                                                   "spontaneous")
    assert problems({"kind": "executed", "evidence": EVIDENCE}, "preservation") == [
        ("kind", "PRESERVATION-60-DAYS")]


def test_all_problems_at_once_and_unknown_kind() -> None:
    got = problems({"kind": "refused", "at": "2027-01-01T00:00:00Z", "evidence": EVIDENCE,
                    "extra": 1})
    assert [f for f, _ in got] == ["extra", "at", "reason", "grounds", "evidence"]
    assert problems({"kind": "ignored"}) == [("kind", None)]


def test_refusal_ground_listing_includes_the_non_grounds() -> None:
    codes = [g["code"] for g in refusal_grounds()]
    assert codes[-2:] == ["NOT-GROUND-FISCAL", "NOT-GROUND-BANK-SECRECY"]
    assert "REFUSE-DISCRIMINATION" in codes


# --- conditions and later use --------------------------------------------------------------------

COND = HandoverConditions("XA prosecution 2026/17", confidential=True,
                          data_protection=("Delete after the proceedings.",))


def use(kind: str, at: datetime = NOW, **kw: Any) -> ProposedUse:
    return ProposedUse(kind, at, **kw)  # type: ignore[arg-type]


def test_use_in_the_stated_proceedings_is_allowed_with_the_conditions() -> None:
    d = check_use(COND, use("stated-proceedings"))
    assert d.outcome == "allow" and d.fired("GATE-SPECIALTY", "allow")
    assert d.conditions == ("Keep the evidence and the request confidential.",
                            "Delete after the proceedings.")


def test_reuse_for_other_proceedings_needs_the_senders_consent() -> None:
    d = check_use(COND, use("other-proceedings", proceedings="XA tax case 9"))
    assert d.outcome == "deny" and d.fired("GATE-SPECIALTY", "deny")
    consent = Consent("reuse", "xa tax case 9", "XB central authority", NOW - timedelta(days=1))
    ok = check_use(COND.with_consent(consent), use("other-proceedings", proceedings="XA tax case 9"))
    assert ok.outcome == "allow" and "XB central authority" in ok.reasons[0].detail


def test_consent_given_after_the_use_or_for_other_proceedings_does_not_count() -> None:
    late = COND.with_consent(Consent("reuse", "Case 9", "XB", NOW + timedelta(days=1)))
    assert check_use(late, use("other-proceedings", proceedings="Case 9")).denied
    other = COND.with_consent(Consent("reuse", "Case 10", "XB", NOW))
    assert check_use(other, use("other-proceedings", proceedings="Case 9")).denied


def test_without_specialty_reuse_is_allowed_but_onward_transfer_is_not() -> None:
    free = HandoverConditions("Case 1", specialty=False)
    assert check_use(free, use("other-proceedings", proceedings="Case 2")).allowed
    d = check_use(free, use("onward-transfer", recipient="XC police"))
    assert d.denied and d.fired("GATE-ONWARD-TRANSFER", "deny")
    wrong = free.with_consent(Consent("onward-transfer", "XD police", "XB", NOW))
    assert check_use(wrong, use("onward-transfer", recipient="XC police")).denied
    right = free.with_consent(Consent("onward-transfer", "XC Police", "XB", NOW))
    assert check_use(right, use("onward-transfer", recipient="XC police")).allowed


def test_use_after_the_retention_date_is_denied() -> None:
    cond = HandoverConditions("Case 1", retain_until=NOW)
    d = check_use(cond, use("stated-proceedings", NOW + timedelta(seconds=1)))
    assert d.denied and d.fired("GATE-DATA-PROTECTION", "deny")


def test_exculpatory_disclosure_is_allowed_with_notice() -> None:
    d = check_use(COND, use("exculpatory-disclosure"))
    assert d.allowed and any("Notify the sender" in c for c in d.conditions)


def test_a_proposed_use_names_what_it_needs() -> None:
    with pytest.raises(InvalidInput) as e:
        use("onward-transfer")
    assert e.value.problems[0].rule == "GATE-ONWARD-TRANSFER"
    with pytest.raises(InvalidInput):
        use("publication")


def test_conditions_round_trip_and_validate() -> None:
    cond = COND.with_consent(Consent("reuse", "Case 9", "XB", NOW))
    again = HandoverConditions.from_dict(json.loads(json.dumps(cond.as_dict())))
    assert again == cond
    with pytest.raises(InvalidInput) as e:
        HandoverConditions.from_dict({"specialty": "yes", "consents": [{"kind": "sell"}],
                                      "retain_until": "soon"})
    fields = {p.field for p in e.value.problems}
    assert {"conditions.proceedings", "conditions.specialty", "conditions.consents[0].kind",
            "conditions.retain_until"} <= fields


def test_executed_response_carries_conditions() -> None:
    r = parse_response({"kind": "executed", "evidence": EVIDENCE,
                        "conditions": {"proceedings": "Case 1", "confidential": True}},
                       request_type="stored-data", now=NOW)
    assert r.conditions is not None and r.conditions.confidential and r.conditions.specialty
    assert Response.from_dict(json.loads(json.dumps(r.as_dict()))) == r


def test_stored_refusal_and_postponement_reload() -> None:
    for data in ({"kind": "refused", "reason": "r", "grounds": ["REFUSE-DOMESTIC-LAW"]},
                 {"kind": "postponed", "reason": "our trial",
                  "postponed_until": "2026-06-01T00:00:00Z"}):
        r = parse_response(data, request_type="mla", now=NOW)
        assert Response.from_dict(json.loads(json.dumps(r.as_dict()))) == r
