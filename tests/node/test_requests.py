"""Cooperation requests end to end on a node: drafting, the gate, lifecycle, deadlines, responses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanoi.core.errors import Conflict, Forbidden, InvalidInput
from hanoi.demo import sample_partners
from hanoi.node import ledger, members, policy
from hanoi.node.runtime import Node
from hanoi.requests import custody, service
from hanoi.requests.lifecycle import Event
from hanoi.requests.samples import PRESERVATION_FIELDS, STORED_DATA_FIELDS
from tests.unit.test_request_contents import complete


@pytest.fixture
def partners(node: Node) -> Node:
    for spec in sample_partners():
        members.add(node, "setup", spec)
    members.add(node, "setup", {"id": "de-bka", "name": "BKA", "kind": "law-enforcement", "country": "DE",
                                "languages": ["de", "en"]})  # never assessed: standing 'concerns'
    return node


def outgoing(node: Node, partner: str = "fr-pharos", type_: str = "preservation",
             fields: dict[str, Any] | None = None) -> dict[str, Any]:
    f = PRESERVATION_FIELDS if type_ == "preservation" else STORED_DATA_FIELDS
    return service.create(node, "caseworker", {"type": type_, "partner": partner, "fields": dict(fields or f)})


def incoming(node: Node, partner: str = "fr-pharos", type_: str = "preservation",
             fields: dict[str, Any] | None = None) -> dict[str, Any]:
    f = PRESERVATION_FIELDS if type_ == "preservation" else STORED_DATA_FIELDS
    return service.create(node, "247-desk", {"type": type_, "partner": partner, "direction": "incoming",
                                              "via": "24/7 network e-mail", "fields": dict(fields or f)})


def entries(node: Node) -> int:
    return ledger.verify(node).count


def test_draft_then_submit_with_gate_decision_ledgered(partners: Node) -> None:
    node = partners
    draft = service.create(node, "caseworker", {"type": "preservation", "partner": "fr-pharos",
                                                 "fields": {"offence_code": "UNCC-13"}})
    assert draft["state"] == "draft"
    missing = {r["field"] for r in draft["checklist"] if not r["ok"]}
    assert {"requesting_authority", "data_concerned", "mla_to_follow"} <= missing
    with pytest.raises(InvalidInput) as err:
        service.submit(node, "caseworker", draft["id"])
    assert all(p.rule for p in err.value.problems)  # every problem cites its article
    assert {p.field for p in err.value.problems} == missing

    service.update(node, "caseworker", draft["id"], {"fields": PRESERVATION_FIELDS})
    submitted = service.submit(node, "caseworker", draft["id"])
    assert submitted["state"] == "submitted"
    assert submitted["decision"]["outcome"] == "allow" and submitted["decision"]["moment"] == "submit"
    actions = [e["action"] for e in service.timeline(node, draft["id"])]
    assert actions == ["request.create", "request.update", "request.gate.submit", "request.submit"]
    assert ledger.verify(node).ok


def test_submit_with_missing_contents_writes_nothing(partners: Node) -> None:
    draft = service.create(partners, "cw", {"type": "stored-data", "partner": "fr-pharos", "fields": {}})
    before = entries(partners)
    with pytest.raises(InvalidInput) as err:
        service.submit(partners, "cw", draft["id"])
    fields = {p.field: p.rule for p in err.value.problems}
    assert fields["requesting_authority"] == "CONTENT-AUTHORITY"
    assert fields["purpose"] == "CONTENT-PURPOSE"
    assert entries(partners) == before
    assert service.show(partners, draft["id"])["state"] == "draft"


@pytest.mark.parametrize(("fields", "field", "rule"), [
    ({"offence_code": "UNCC-99"}, "offence_code", "OFFENCE-CATALOGUE"),
    ({"deadline": "2001-01-01T00:00:00Z", "deadline_reason": "late"}, "deadline", "DEADLINE-REASONED"),
    ({"language": "english language"}, "language", "CONTENT-LANGUAGE"),
    ({"favourite_colour": "red"}, "favourite_colour", None),
])
def test_bad_values_are_refused_even_in_a_draft(partners: Node, fields: dict[str, Any], field: str,
                                                 rule: str | None) -> None:
    before = entries(partners)
    with pytest.raises(InvalidInput) as err:
        service.create(partners, "cw", {"type": "preservation", "partner": "fr-pharos", "fields": fields})
    assert (err.value.problems[0].field, err.value.problems[0].rule) == (field, rule)
    assert entries(partners) == before


def test_suspended_partner_is_denied_and_the_denial_is_on_record(partners: Node) -> None:
    draft = outgoing(partners, partner="qz-ministry")
    with pytest.raises(Forbidden) as err:
        service.submit(partners, "cw", draft["id"])
    assert err.value.rule == "GATE-SUSPENDED" and err.value.status == 403
    shown = service.show(partners, draft["id"])
    assert shown["state"] == "draft"
    assert shown["decision"]["outcome"] == "deny"
    codes = {r["code"] for r in shown["decision"]["reasons"]}
    assert {"GATE-SUSPENDED", "GATE-NON-PARTY"} <= codes  # every rule that fired
    gate_entries = [e for e in service.timeline(partners, draft["id"]) if e["action"] == "request.gate.submit"]
    assert gate_entries[-1]["decision"] == "deny"


def test_partner_with_concerns_needs_a_named_reviewer(partners: Node) -> None:
    draft = outgoing(partners, partner="de-bka", fields={**PRESERVATION_FIELDS, "language": "de"})
    with pytest.raises(Forbidden) as err:
        service.submit(partners, "cw", draft["id"])
    assert err.value.status == 409 and err.value.rule == "GATE-CONCERNS"
    service.review(partners, "cw", draft["id"], {"reviewer": "Jane Reviewer", "approved": True})
    done = service.submit(partners, "cw", draft["id"])
    assert done["state"] == "submitted"
    concerns = next(r for r in done["decision"]["reasons"] if r["code"] == "GATE-CONCERNS")
    assert concerns["effect"] == "allow" and "Jane Reviewer" in concerns["detail"]


def test_discrimination_finding_denies(partners: Node) -> None:
    req = incoming(partners, type_="stored-data")
    shown = service.review(partners, "lawyer", req["id"], {
        "reviewer": "Legal adviser", "approved": False, "discrimination_found": True,
        "note": "Targets the account holder for political opinions"})
    assert shown["decision"]["outcome"] == "deny"
    assert "GATE-DISCRIMINATION" in {r["code"] for r in shown["decision"]["reasons"]}


def test_language_not_accepted_by_the_partner(partners: Node) -> None:
    draft = outgoing(partners, partner="fr-pharos", fields={**PRESERVATION_FIELDS, "language": "de"})
    with pytest.raises(InvalidInput) as err:
        service.submit(partners, "cw", draft["id"])
    assert [(p.field, p.rule) for p in err.value.problems] == [("language", "CONTENT-LANGUAGE")]


def test_incoming_preservation_lifecycle_and_60_day_term(partners: Node) -> None:
    node = partners
    req = incoming(node)
    assert req["state"] == "received" and req["decision"]["moment"] == "receipt"
    for ev in ("acknowledge", "start", "preserve"):
        shown = service.act(node, "247-desk", req["id"], ev)
    assert shown["state"] == "preserved"
    term = shown["preservation"]
    assert term["state"] == "running"
    assert term["until"] > (node.now() + timedelta(days=59)).isoformat()

    due = service.due(node, timedelta(days=61))
    assert [d["request_id"] for d in due if d["source"] == "preservation"] == [req["id"]]
    assert service.due(node, timedelta(days=7)) == [d for d in service.due(node, timedelta(days=7))
                                                     if d["source"] != "preservation"]

    with pytest.raises(Conflict) as err:
        service.act(node, "247-desk", req["id"], "expire")
    assert "cannot expire yet" in err.value.detail

    extended = service.act(node, "247-desk", req["id"], "extend", {"days": 30, "reason": "MLA request in preparation"})
    assert extended["state"] == "extended"
    assert extended["preservation"]["until"] > term["until"]

    # the follow-up MLA request names the preservation: the term now runs until it is decided
    follow = incoming(node, type_="stored-data", fields={**STORED_DATA_FIELDS, "preservation_reference": req["id"]})
    pres = service.show(node, req["id"])["preservation"]
    assert pres["follow_up_pending"] is True
    assert follow["state"] == "received"


def test_preservation_cannot_expire_while_follow_up_pending(partners: Node) -> None:
    node = partners
    req = incoming(node)
    for ev in ("acknowledge", "start"):
        service.act(node, "d", req["id"], ev)
    long_ago = (node.now() - timedelta(days=90)).isoformat()
    service.act(node, "d", req["id"], "preserve", {"preserved_at": long_ago})
    incoming(node, type_="stored-data", fields={**STORED_DATA_FIELDS, "preservation_reference": req["id"]})
    assert service.show(node, req["id"])["preservation"]["state"] == "held"
    with pytest.raises(Conflict) as err:
        service.act(node, "d", req["id"], "expire")
    assert "PRESERVATION-60-DAYS" in str(err.value.problems) or "60" in err.value.detail
    overdue = [d for d in service.due(node, timedelta(0)) if d["request_id"] == req["id"]]
    assert overdue and overdue[0]["remaining_seconds"] < 0


def test_responses_need_grounds_and_consultation(partners: Node) -> None:
    node = partners
    req = incoming(node, type_="stored-data")
    service.act(node, "d", req["id"], "acknowledge")
    service.assess(node, "d", req["id"], {"dual_criminality": "met"})
    service.act(node, "d", req["id"], "start")
    before = entries(node)
    with pytest.raises(InvalidInput) as err:
        service.respond(node, "d", req["id"], {"kind": "refused", "reason": "No."})
    assert err.value.problems[0].field == "grounds"
    with pytest.raises(InvalidInput) as err:
        service.respond(node, "d", req["id"], {"kind": "refused", "grounds": ["fiscal"], "reason": "Tax case."})
    assert "NOT-GROUND-FISCAL" in {p.rule for p in err.value.problems}
    with pytest.raises(InvalidInput) as err:
        service.respond(node, "d", req["id"], {"kind": "refused", "grounds": ["bank-secrecy"], "reason": "Bank."})
    assert "NOT-GROUND-BANK-SECRECY" in {p.rule for p in err.value.problems}
    with pytest.raises(Conflict) as conflict:  # Art. 40(~28): consult first
        service.respond(node, "d", req["id"], {"kind": "refused", "grounds": ["REFUSE-DOMESTIC-LAW"],
                                                "reason": "Our law forbids it."})
    assert conflict.value.rule == "CONSULT-BEFORE-REFUSAL" or "consult" in conflict.value.detail
    assert entries(node) == before
    service.act(node, "d", req["id"], "consult", {"note": "Could assistance be given on conditions?"})
    refused = service.respond(node, "d", req["id"], {"kind": "refused", "grounds": ["REFUSE-DOMESTIC-LAW"],
                                                      "reason": "Our law forbids it."})
    assert refused["state"] == "refused"
    assert refused["response"]["grounds"][0]["code"] == "REFUSE-DOMESTIC-LAW"
    with pytest.raises(Conflict) as terminal:
        service.act(node, "d", req["id"], "resume")
    assert "refused" in terminal.value.detail


def test_outgoing_side_cannot_record_the_partners_steps_without_a_channel(partners: Node) -> None:
    req = outgoing(partners)
    service.submit(partners, "cw", req["id"])
    with pytest.raises(Conflict) as err:
        service.act(partners, "cw", req["id"], "receive")
    assert "via" in err.value.detail
    shown = service.act(partners, "cw", req["id"], "receive", {"via": "e-mail from PHAROS"})
    assert shown["state"] == "received"
    with pytest.raises(Conflict):
        service.act(partners, "cw", req["id"], "acknowledge")


def test_handover_conditions_are_enforced_later(partners: Node) -> None:
    node = partners
    req = outgoing(node, type_="stored-data", fields=STORED_DATA_FIELDS)
    service.submit(node, "cw", req["id"])
    for ev in ("receive", "acknowledge", "start"):
        service.act(node, "cw", req["id"], ev, {"via": "e-mail"})
    import io

    ev = custody.add(node, "cw", req["id"], name="subscriber.csv", stream=io.BytesIO(b"name,ip\nX,192.0.2.1\n"),
                      media_type="text/csv")
    service.respond(node, "cw", req["id"], {
        "via": "e-mail", "kind": "partially-executed", "reason": "Content data not retained.",
        "evidence": [{k: ev[k] for k in ("name", "sha256", "size", "media_type")}],
        "conditions": {"proceedings": "NCA-2026-FR-0413", "specialty": True,
                       "data_protection": ["Delete when the case is closed"]}})
    other = service.check_evidence_use(node, "cw", req["id"], {"kind": "other-proceedings",
                                                                "proceedings": "NCA-2027-0001"})
    assert other["decision"]["outcome"] == "deny"
    onward = service.check_evidence_use(node, "cw", req["id"], {"kind": "onward-transfer", "recipient": "US DOJ"})
    assert onward["decision"]["outcome"] == "deny"
    assert "GATE-ONWARD-TRANSFER" in {r["code"] for r in onward["decision"]["reasons"]}
    service.record_consent(node, "cw", req["id"], {"kind": "reuse", "scope": "NCA-2027-0001",
                                                    "given_by": "French central authority"})
    again = service.check_evidence_use(node, "cw", req["id"], {"kind": "other-proceedings",
                                                                "proceedings": "NCA-2027-0001"})
    assert again["decision"]["outcome"] == "allow"
    checks = [e for e in service.timeline(node, req["id"]) if e["action"] == "request.use-check"]
    assert [e["decision"] for e in checks] == ["deny", "deny", "allow"]


def test_policy_change_is_ledgered_and_hand_edits_are_noticed(partners: Node) -> None:
    node = partners
    doc = policy.show(node)["policy"]
    policy.update(node, "admin", {**doc, "concerns": "deny"})
    assert [e["action"] for e in ledger.page(node, subject="policy")["items"]][-1] == "policy.update"
    draft = outgoing(node, partner="de-bka", fields={**PRESERVATION_FIELDS, "language": "de"})
    with pytest.raises(Forbidden) as err:
        service.submit(node, "cw", draft["id"])
    assert err.value.status == 403  # concerns now deny

    path = node.home / "policy.yaml"
    path.write_text(path.read_text().replace("concerns: deny", "concerns: review"))
    with pytest.raises(Forbidden) as err:
        service.submit(node, "cw", draft["id"])
    assert err.value.status == 409  # the hand edit applies...
    changed = [e for e in ledger.page(node, subject="policy")["items"] if e["action"] == "policy.changed"]
    assert changed and changed[-1]["actor"] == "file:policy.yaml"  # ...and was ledgered first

    path.write_text("concerns: maybe\n")
    with pytest.raises(InvalidInput) as bad:
        service.submit(node, "cw", draft["id"])
    assert "concerns" in {p.field.split(".")[-1] for p in bad.value.problems}


EVENTS = [e.value for e in Event if e not in (Event.SUBMIT,)]
EVIDENCE_ITEM = {"name": "walk.txt", "sha256": "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
                 "size": 11, "media_type": "text/plain"}
RESPONSES = {
    "execute": {"kind": "executed", "reason": "Done.", "evidence": [EVIDENCE_ITEM]},
    "execute-partially": {"kind": "partially-executed", "reason": "Part of the data only.",
                          "evidence": [EVIDENCE_ITEM]},
    "refuse": {"kind": "refused", "grounds": ["REFUSE-ESSENTIAL-INTERESTS"], "reason": "Security."},
    "postpone": {"kind": "postponed", "reason": "Our own investigation would be harmed."},
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(walk=st.lists(st.sampled_from(EVENTS), min_size=1, max_size=12),
       type_=st.sampled_from(["preservation", "stored-data", "emergency", "law-enforcement"]))
def test_random_walks_never_skip_a_ledger_entry(partners: Node, walk: list[str], type_: str) -> None:
    """Every accepted step adds its ledger entries; every refused step adds none and moves nothing."""
    from hanoi.requests import lifecycle

    node = partners
    req = service.create(node, "d", {"type": type_, "partner": "fr-pharos", "direction": "incoming",
                                      "fields": {**complete(type_), "language": "fr"}})
    import io

    custody.add(node, "d", req["id"], name="walk.txt", stream=io.BytesIO(b"hello world"), media_type="text/plain")
    state = req["state"]
    for ev in walk:
        before = entries(node)
        try:
            if ev in RESPONSES:
                shown = service.respond(node, "d", req["id"], RESPONSES[ev])
            else:
                shown = service.act(node, "d", req["id"], ev, {"days": 30, "reason": "more time"})
        except (Conflict, InvalidInput, Forbidden) as err:
            added = ledger.page(node, after=before, limit=1000)["items"]
            if isinstance(err, Forbidden):  # the gate's refusal is itself on record, nothing else
                moment = "send" if ev in RESPONSES else ev
                assert [e["action"] for e in added] == [f"request.gate.{moment}"]
                assert added[0]["payload"]["blocked"] is True
            else:
                assert added == []
            assert service.show(node, req["id"])["state"] == state
            continue
        assert entries(node) > before
        assert shown["state"] in {s.value for s in lifecycle.State}
        last = service.timeline(node, req["id"])[-1]
        assert last["payload"].get("to", shown["state"]) == shown["state"] or last["action"].startswith(
            "request.response")
        state = shown["state"]
    assert ledger.verify(node).ok
