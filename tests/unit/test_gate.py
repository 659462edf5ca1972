"""The safeguards gate: every rule, the outcome order, every reason listed, the node policy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hanoi.core.errors import InvalidInput
from hanoi.core.gate import (
    DEFAULT_STANDING,
    Decision,
    PartnerView,
    Reason,
    Review,
    StandingPolicy,
    rule_table,
    standing_reasons,
)
from hanoi.node.policy import default_yaml, parse
from hanoi.requests.gate import DEFAULT_REQUEST_POLICY, RequestFacts, RequestPolicy, decide_request

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SECTIONS = (RequestPolicy,)


def node_policy(document: dict[str, Any]) -> tuple[StandingPolicy, RequestPolicy]:
    """The standing policy and the requests wing's section of a node policy document."""
    loaded = parse(document, SECTIONS)
    return loaded.standing, loaded.section(RequestPolicy)


def partner(**kw: Any) -> PartnerView:
    base: dict[str, Any] = {"member_id": "xa-ca", "name": "Central Authority", "country": "XA",
                            "state_status": "party", "standing": "good", "other_treaties": ()}
    base.update(kw)
    return PartnerView(**base)


def facts(**kw: Any) -> RequestFacts:
    base: dict[str, Any] = {"request_type": "mla", "offence_code": "UNCC-7"}
    base.update(kw)
    return RequestFacts(**base)


def approved(**kw: Any) -> Review:
    return Review("Ana Reviewer", T0, approved=True, **kw)


def test_a_clean_request_is_allowed_with_no_reasons() -> None:
    d = decide_request(facts(), partner(), role="requesting")
    assert d.outcome == "allow" and d.reasons == () and not d.reviewer_required


# --- partner standing ------------------------------------------------------------------------


def test_suspended_partner_is_denied_even_after_an_approving_review() -> None:
    for review in (None, approved()):
        d = decide_request(facts(), partner(standing="suspended"), role="requested",
                           review=review)
        assert d.outcome == "deny"
        assert d.fired("GATE-SUSPENDED", "deny")


def test_concerns_need_a_named_reviewer() -> None:
    d = decide_request(facts(), partner(standing="concerns"), role="requesting")
    assert d.outcome == "review" and d.reviewer_required
    assert d.fired("GATE-CONCERNS", "review")


def test_an_approving_review_clears_concerns_and_is_recorded() -> None:
    d = decide_request(facts(), partner(standing="concerns"), role="requesting",
                       review=approved())
    assert d.outcome == "allow"
    (r,) = d.reasons
    assert r.code == "GATE-CONCERNS" and r.effect == "allow" and "Ana Reviewer" in r.detail


def test_policy_may_deny_on_concerns_and_a_review_does_not_clear_that() -> None:
    policy = node_policy({"concerns": "deny"})
    d = decide_request(facts(), partner(standing="concerns"), *policy, role="requesting",
                       review=approved())
    assert d.outcome == "deny" and d.fired("GATE-CONCERNS", "deny")


@pytest.mark.parametrize("status", ["non-party", "signatory"])
def test_state_not_a_party_without_treaty_goes_to_review(status: str) -> None:
    d = decide_request(facts(), partner(state_status=status), role="requesting")
    assert d.outcome == "review" and d.reviewer_required and d.fired("GATE-NON-PARTY", "review")


def test_another_treaty_is_a_basis_for_a_non_party() -> None:
    p = partner(state_status="non-party", other_treaties=("Budapest Convention (ETS 185)",))
    assert decide_request(facts(), p, role="requesting").outcome == "allow"


def test_a_reviewers_refusal_denies() -> None:
    review = Review("Ana Reviewer", T0, approved=False, note="insufficient basis")
    d = decide_request(facts(), partner(), role="requested", review=review)
    assert d.outcome == "deny" and d.fired("GATE-REVIEW-REFUSED")
    assert "insufficient basis" in d.reasons[-1].detail


def test_standing_reasons_are_reusable_for_other_items() -> None:
    assert standing_reasons(partner()) == []
    reasons = standing_reasons(partner(standing="concerns", state_status="non-party"))
    assert [r.code for r in reasons] == ["GATE-CONCERNS", "GATE-NON-PARTY"]
    tlp = Decision.of([Reason("GATE-TLP", "deny", "TLP:RED")])
    merged = Decision.of(reasons).merge(tlp)
    assert merged.outcome == "deny" and merged.codes == ("GATE-CONCERNS", "GATE-NON-PARTY",
                                                         "GATE-TLP")


# --- the request rules -------------------------------------------------------------------------


def test_discrimination_finding_denies() -> None:
    review = Review("Ana Reviewer", T0, approved=False, discrimination_found=True)
    d = decide_request(facts(), partner(), role="requested", review=review)
    assert d.outcome == "deny" and d.fired("GATE-DISCRIMINATION", "deny")


def test_a_review_cannot_approve_and_find_discrimination() -> None:
    with pytest.raises(InvalidInput) as e:
        Review("Ana", T0, approved=True, discrimination_found=True)
    assert e.value.problems[0].rule == "GATE-DISCRIMINATION"


def test_a_review_must_name_a_person() -> None:
    with pytest.raises(InvalidInput) as e:
        Review.from_dict({"reviewer": " ", "at": "2026-03-01T09:00:00Z", "approved": True})
    assert [p.field for p in e.value.problems] == ["review.reviewer"]


@pytest.mark.parametrize(("years", "outcome"), [(None, "deny"), (3, "deny"), (4, "allow")])
def test_serious_crime_below_threshold_is_denied(years: int | None, outcome: str) -> None:
    d = decide_request(facts(offence_code="SERIOUS", max_penalty_years=years), partner(),
                       role="requesting")
    assert d.outcome == outcome
    assert d.fired("GATE-OFFENCE-SCOPE") is (outcome == "deny")


def test_policy_threshold_applies() -> None:
    policy = node_policy({"serious_crime_min_years": 6})
    d = decide_request(facts(offence_code="SERIOUS", max_penalty_years=5), partner(), *policy,
                       role="requesting")
    assert d.fired("GATE-OFFENCE-SCOPE", "deny")


def test_unknown_offence_code_is_an_error() -> None:
    with pytest.raises(InvalidInput) as e:
        facts(offence_code="UNCC-99")
    assert e.value.problems[0].rule == "OFFENCE-CATALOGUE"


@pytest.mark.parametrize("rtype", ["stored-data", "real-time-traffic", "interception"])
def test_dual_criminality_for_coercive_measures(rtype: str) -> None:
    p = partner()
    not_met = decide_request(facts(request_type=rtype, dual_criminality="not-met"), p,
                             role="requested")
    assert not_met.outcome == "deny" and not_met.fired("GATE-DUAL-CRIMINALITY", "deny")
    met = decide_request(facts(request_type=rtype, dual_criminality="met"), p, role="requested")
    assert met.outcome == "allow" and met.fired("GATE-DUAL-CRIMINALITY", "allow")
    unassessed = decide_request(facts(request_type=rtype), p, role="requested")
    assert unassessed.outcome == "review" and unassessed.reviewer_required
    assert any("crime under this State's law" in c for c in unassessed.conditions)
    # The requesting side does not assess the requested State's law.
    assert decide_request(facts(request_type=rtype), p, role="requesting").outcome == "allow"


@pytest.mark.parametrize("rtype", ["mla", "law-enforcement", "emergency"])
def test_no_dual_criminality_for_non_coercive_types(rtype: str) -> None:
    d = decide_request(facts(request_type=rtype, dual_criminality="not-met"), partner(),
                       role="requested")
    assert d.outcome == "allow" and not d.fired("GATE-DUAL-CRIMINALITY")


def test_preservation_never_needs_dual_criminality_by_default() -> None:
    d = decide_request(facts(request_type="preservation", offence_code="SERIOUS",
                             max_penalty_years=5, dual_criminality="not-met"),
                       partner(), role="requested")
    assert d.outcome == "allow"
    assert d.fired("PRESERVATION-NO-DUAL-CRIMINALITY", "allow")


def test_preservation_reservation_applies_only_outside_the_catalogue() -> None:
    policy = node_policy({"preservation_dual_criminality_reserved": True})
    outside = facts(request_type="preservation", offence_code="SERIOUS", max_penalty_years=5,
                    dual_criminality="not-met")
    assert decide_request(outside, partner(), *policy, role="requested").outcome == "deny"
    inside = facts(request_type="preservation", offence_code="UNCC-7", dual_criminality="not-met")
    assert decide_request(inside, partner(), *policy, role="requested").outcome == "allow"


def test_death_penalty_needs_assurances_with_the_condition_named() -> None:
    f = facts(death_penalty=True)
    d = decide_request(f, partner(), role="requested")
    assert d.outcome == "review" and d.reviewer_required and d.fired("GATE-ASSURANCES", "review")
    assert any("death penalty" in c for c in d.conditions)
    received = facts(death_penalty=True, assurances_received=("death-penalty",))
    d2 = decide_request(received, partner(), role="requested")
    assert d2.outcome == "allow" and d2.fired("GATE-ASSURANCES", "allow")
    # The requesting node's own policy asks nothing of itself.
    assert decide_request(f, partner(), role="requesting").outcome == "allow"


def test_assurance_rule_triggers_must_all_match() -> None:
    policy = node_policy({"assurances": [{
        "id": "xb-interception", "condition": "Judicial authorisation for each target.",
        "when": {"countries": ["XB"], "request_types": ["interception"]}}]})
    f = facts(request_type="interception", dual_criminality="met")
    hit = decide_request(f, partner(country="XB"), *policy, role="requested")
    assert hit.conditions == ("Judicial authorisation for each target.",)
    miss = decide_request(f, partner(country="XA"), *policy, role="requested")
    assert miss.outcome == "allow"


def test_confidentiality_that_cannot_be_kept_is_told_before_execution() -> None:
    f = facts(confidentiality_requested=True, confidentiality_can_keep=False)
    d = decide_request(f, partner(), role="requested")
    assert d.outcome == "review" and not d.reviewer_required
    assert d.fired("GATE-CONFIDENTIALITY", "review")
    assert any("Tell the requesting State" in c for c in d.conditions)
    told = facts(confidentiality_requested=True, confidentiality_can_keep=False,
                 requester_accepts_disclosure=True)
    d2 = decide_request(told, partner(), role="requested")
    assert d2.outcome == "allow" and d2.fired("GATE-CONFIDENTIALITY", "allow")


def test_every_rule_that_fired_is_listed_and_deny_wins() -> None:
    f = facts(request_type="interception", offence_code="SERIOUS", max_penalty_years=2,
              dual_criminality="not-met", death_penalty=True, confidentiality_requested=True,
              confidentiality_can_keep=False)
    p = partner(standing="concerns", state_status="non-party")
    d = decide_request(f, p, role="requested")
    assert d.outcome == "deny" and not d.reviewer_required
    assert set(d.codes) == {"GATE-CONCERNS", "GATE-NON-PARTY", "GATE-OFFENCE-SCOPE",
                            "GATE-DUAL-CRIMINALITY", "GATE-ASSURANCES", "GATE-CONFIDENTIALITY"}


def test_unknown_role_is_an_error() -> None:
    with pytest.raises(InvalidInput):
        decide_request(facts(), partner(), role="bystander")  # type: ignore[arg-type]


# --- decisions ---------------------------------------------------------------------------------

_reasons = st.builds(Reason, st.sampled_from(["GATE-CONCERNS", "GATE-TLP", "GATE-SUSPENDED"]),
                     st.sampled_from(["allow", "review", "deny"]), st.text(max_size=20),
                     st.booleans())


@given(st.lists(_reasons, max_size=8), st.lists(st.text(min_size=1, max_size=10), max_size=4))
def test_deny_beats_review_beats_allow_and_all_reasons_are_kept(
        reasons: list[Reason], conditions: list[str]) -> None:
    d = Decision.of(reasons, conditions)
    effects = {r.effect for r in reasons}
    expected = "deny" if "deny" in effects else "review" if "review" in effects else "allow"
    assert d.outcome == expected
    assert d.reasons == tuple(reasons)
    assert set(d.conditions) == set(conditions)
    assert d.reviewer_required == (expected == "review" and any(
        r.needs_reviewer and r.effect == "review" for r in reasons))
    # JSON-safe and lossless for the ledger.
    text = json.dumps(d.as_dict())
    assert "." not in "".join(str(v) for v in _numbers(json.loads(text)))
    assert Decision.from_dict(json.loads(text)) == d


def _numbers(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [n for v in obj.values() for n in _numbers(v)]
    if isinstance(obj, list):
        return [n for v in obj for n in _numbers(v)]
    return [obj] if isinstance(obj, int | float) and not isinstance(obj, bool) else []


def test_decision_dict_carries_citation_and_plain_sentence() -> None:
    d = decide_request(facts(), partner(standing="suspended"), role="requesting")
    (r,) = d.as_dict()["reasons"]
    assert r["code"] == "GATE-SUSPENDED" and r["citation"] == "UNCC Art. 6"
    assert "suspended" in r["text"] and "Central Authority (XA)" in r["detail"]


def test_rule_table_lists_gate_rules_with_citations() -> None:
    rows = rule_table()
    assert {"GATE-SUSPENDED", "GATE-DUAL-CRIMINALITY", "GATE-ONWARD-TRANSFER"} <= {
        r["code"] for r in rows}
    assert all(r["citation"] and r["text"] for r in rows)


# --- inputs and policy ------------------------------------------------------------------------


def test_default_policy_round_trips_and_matches_the_commented_yaml() -> None:
    loaded = parse(yaml.safe_load(default_yaml(SECTIONS)), SECTIONS)
    assert loaded.standing == DEFAULT_STANDING and loaded.section(RequestPolicy) == DEFAULT_REQUEST_POLICY
    assert parse(json.loads(json.dumps(loaded.document)), SECTIONS).digest == loaded.digest


def test_policy_errors_name_every_bad_field_at_once() -> None:
    bad = {
        "concerns": "allow",
        "serious_crime_min_years": 3,
        "dual_criminality_required_for": ["stored-data", "wiretap"],
        "assurances": [{"id": "x", "when": {"death_penalty": "yes"}}],
        "colour": "blue",
    }
    with pytest.raises(InvalidInput) as e:
        node_policy(bad)
    fields = {p.field for p in e.value.problems}
    assert fields == {"policy.colour", "policy.concerns", "policy.serious_crime_min_years",
                      "policy.dual_criminality_required_for[1]",
                      "policy.assurances[0].condition", "policy.assurances[0].when.death_penalty"}


def test_policy_cannot_require_dual_criminality_for_preservation() -> None:
    with pytest.raises(InvalidInput) as e:
        node_policy({"dual_criminality_required_for": ["preservation"]})
    assert e.value.problems[0].rule == "PRESERVATION-NO-DUAL-CRIMINALITY"


def test_policy_assurance_needs_a_trigger_and_unique_ids() -> None:
    rule = {"id": "a", "condition": "c", "when": {}}
    with pytest.raises(InvalidInput) as e:
        node_policy({"assurances": [rule]})
    assert e.value.problems[0].field == "policy.assurances[0].when"
    dup = {"id": "a", "condition": "c", "when": {"death_penalty": True}}
    with pytest.raises(InvalidInput) as e:
        node_policy({"assurances": [dup, dup]})
    assert "used twice" in e.value.problems[0].message


def test_partner_view_validates() -> None:
    with pytest.raises(InvalidInput) as e:
        PartnerView.from_dict({"member_id": "x", "country": "Narnia", "standing": "meh"})
    assert {p.field for p in e.value.problems} == {"partner.country", "partner.standing"}
    p = partner(standing="concerns")
    assert PartnerView.from_dict(p.as_dict()) == p
    member = {"id": "xa-ca", "name": "Central Authority", "country": "xa", "kind": "cert",
              "state_status": "party", "standing": "concerns"}
    assert PartnerView.from_dict(member) == p


def test_facts_and_review_round_trip() -> None:
    f = facts(death_penalty=True, assurances_received=("death-penalty",))
    assert RequestFacts.from_dict(json.loads(json.dumps(f.as_dict()))) == f
    r = approved(note="ok")
    assert Review.from_dict(json.loads(json.dumps(r.as_dict()))) == r
