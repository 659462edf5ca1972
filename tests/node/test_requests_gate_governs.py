"""The gate governs what the node does with an incoming request, not only what it sends
(issue 13 item 1): every act that carries a request out runs the gate again with the partner's
standing and the request's facts as they are now; deny is 403, review 409 until a named person
or the assessment decides; each refusal is ledgered; acknowledging receipt and refusing with a
ground stay open, and the request says so."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanoi.cli.main import run
from hanoi.core.gate import PartnerView, Review
from hanoi.core.roles import Role
from hanoi.node.runtime import Node
from hanoi.requests.gate import decide_request, gate_facts
from hanoi.requests.samples import PRESERVATION_FIELDS, STORED_DATA_FIELDS
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body

_ids = itertools.count()


class Api:
    def __init__(self, client: TestClient, tokens: dict[Role, str]) -> None:
        self.c = client
        self.admin = auth(tokens[Role.ADMIN])
        self.cw = auth(tokens[Role.CASEWORKER])

    def partner(self, standing: str = "good", state_status: str = "party", endpoint: bool = True) -> str:
        mid = f"xx-{next(_ids)}"
        body = member_body(id=mid, name=f"Partner {mid}", state_status=state_status)
        if not endpoint:
            body.pop("endpoint")
        r = self.c.post("/api/v1/members", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        self.standing(mid, standing)
        return mid

    def standing(self, mid: str, standing: str) -> None:
        r = self.c.post(f"/api/v1/members/{mid}/assessments", json={**GOOD_ASSESSMENT, "standing": standing},
                        headers=self.admin)
        assert r.status_code == 201, r.text

    def incoming(self, partner: str, type_: str = "preservation", fields: dict[str, Any] | None = None) -> str:
        f = fields or (PRESERVATION_FIELDS if type_ == "preservation" else STORED_DATA_FIELDS)
        r = self.c.post("/api/v1/requests", json={"type": type_, "partner": partner, "direction": "incoming",
                                                  "via": "e-mail", "fields": dict(f)}, headers=self.cw)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def event(self, rid: str, event: str, **extra: Any) -> Any:
        return self.c.post(f"/api/v1/requests/{rid}/events", json={"event": event, **extra}, headers=self.cw)

    def ok(self, rid: str, event: str, **extra: Any) -> dict[str, Any]:
        r = self.event(rid, event, **extra)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def show(self, rid: str) -> dict[str, Any]:
        return dict(self.c.get(f"/api/v1/requests/{rid}", headers=self.cw).json())

    def timeline(self, rid: str) -> list[dict[str, Any]]:
        return list(self.c.get(f"/api/v1/requests/{rid}/timeline", headers=self.cw).json())

    def outbox(self) -> int:
        return len(self.c.get("/api/v1/outbox?state=all", headers=self.admin).json()["items"])

    def evidence(self, rid: str) -> dict[str, Any]:
        r = self.c.post(f"/api/v1/requests/{rid}/evidence", headers=self.cw,
                        files={"file": ("subscriber.csv", io.BytesIO(b"account,name\nx@example.test,J\n"), "text/csv")})
        assert r.status_code == 201, r.text
        return dict(r.json())


@pytest.fixture
def api(client: TestClient, role_tokens: dict[Role, str]) -> Api:
    return Api(client, role_tokens)


def refusals(api: Api, rid: str, event: str) -> list[dict[str, Any]]:
    return [e for e in api.timeline(rid) if e["action"] == f"request.gate.{event}" and e["payload"]["blocked"]]


def test_a_suspended_partners_request_is_answered_not_carried_out(api: Api) -> None:
    qz = api.partner("suspended")
    rid = api.incoming(qz)
    shown = api.show(rid)
    assert shown["state"] == "received" and shown["decision"]["outcome"] == "deny"
    assert shown["gate"]["rule"] == "GATE-SUSPENDED" and "acknowledge" in shown["gate"]["open_events"]

    acked = api.ok(rid, "acknowledge")  # receipt is acknowledged, and the answer says what is left
    assert acked["state"] == "acknowledged"
    assert acked["gate"]["outcome"] == "deny" and acked["gate"]["blocked_events"] == ["start"]
    assert "refuse it with a treaty ground" in acked["gate"]["note"]
    assert "consult" in acked["gate"]["open_events"]
    ack_entry = next(e for e in api.timeline(rid) if e["action"] == "request.acknowledge")
    assert ack_entry["payload"]["gate"]["outcome"] == "deny"

    before = api.outbox()
    r = api.event(rid, "start")
    assert r.status_code == 403
    body = r.json()
    assert (body["rule"], body["citation"]) == ("GATE-SUSPENDED", "UNCC Art. 6")
    assert "Still open: request-info, consult" in body["detail"]
    assert api.show(rid)["state"] == "acknowledged"
    assert api.outbox() == before  # nothing told to the partner
    [refusal] = refusals(api, rid, "start")
    assert refusal["decision"] == "deny" and refusal["payload"]["event"] == "start"

    api.ok(rid, "consult", note="Assistance cannot be given to this authority")
    r = api.c.post(f"/api/v1/requests/{rid}/response", headers=api.cw, json={
        "kind": "refused", "grounds": ["REFUSE-ESSENTIAL-INTERESTS"],
        "reason": "Execution would prejudice essential interests: safeguards assessment of 2026."})
    assert r.status_code == 200 and r.json()["state"] == "refused"


def test_a_partner_suspended_during_execution_stops_the_remaining_acts(api: Api) -> None:
    fr = api.partner("good")
    pres = api.incoming(fr)
    for ev in ("acknowledge", "start", "preserve"):
        api.ok(pres, ev)
    data = api.incoming(fr, "stored-data")
    api.ok(data, "acknowledge")
    assert api.c.post(f"/api/v1/requests/{data}/assessment", json={"dual_criminality": "met"},
                      headers=api.cw).status_code == 200
    api.ok(data, "start")
    ev = api.evidence(data)

    api.standing(fr, "suspended")
    before = api.outbox()
    r = api.event(pres, "extend", days=30, reason="MLA request on its way")
    assert r.status_code == 403 and r.json()["rule"] == "GATE-SUSPENDED"
    assert api.show(pres)["state"] == "preserved"
    assert api.show(pres)["gate"]["blocked_events"] == ["extend"]
    r = api.c.post(f"/api/v1/requests/{data}/response", headers=api.cw, json={
        "kind": "executed", "evidence": [{k: ev[k] for k in ("name", "sha256", "size", "media_type")}]})
    assert r.status_code == 403 and r.json()["rule"] == "GATE-SUSPENDED"
    shown = api.show(data)
    assert shown["state"] == "in-progress" and shown["response"] is None
    assert api.outbox() == before  # no evidence, no event left for the partner
    assert refusals(api, pres, "extend") and refusals(api, data, "send")
    assert api.ok(pres, "release")["state"] == "released"  # letting go of the data stays open


def test_concerns_hold_preservation_until_a_named_reviewer_decides(api: Api, node: Node,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    de = api.partner("concerns")
    rid = api.incoming(de)
    api.ok(rid, "acknowledge")
    # the CLI refuses the same way: one line, the rule and its article, no traceback
    assert run(["--home", str(node.home), "requests", "event", rid, "start"]) == 1
    err = capsys.readouterr().err
    assert "needs review by a named person" in err and "GATE-CONCERNS" in err and "UNCC Art. 24" in err
    assert "Traceback" not in err
    r = api.event(rid, "start")
    assert r.status_code == 409 and r.json()["rule"] == "GATE-CONCERNS"
    assert len(refusals(api, rid, "start")) == 2
    assert run(["--home", str(node.home), "requests", "review", rid, "--reviewer", "Jane Reviewer",
                "--approve"]) == 0
    assert api.ok(rid, "start")["state"] == "in-progress"
    assert api.ok(rid, "preserve")["state"] == "preserved"
    gate = [e for e in api.timeline(rid) if e["action"] == "request.gate.preserve"][-1]
    assert gate["decision"] == "allow" and not gate["payload"]["blocked"]


def test_a_non_party_request_is_held_and_a_refusing_reviewer_denies(api: Api) -> None:
    nz = api.partner("good", state_status="non-party")
    rid = api.incoming(nz)
    api.ok(rid, "acknowledge")
    assert api.event(rid, "start").json()["rule"] == "GATE-NON-PARTY"
    r = api.c.post(f"/api/v1/requests/{rid}/review", headers=api.cw,
                   json={"reviewer": "Legal adviser", "approved": False, "note": "No treaty basis"})
    assert r.status_code == 200 and r.json()["gate"]["outcome"] == "deny"
    r = api.event(rid, "start")
    assert r.status_code == 403 and r.json()["rule"] == "GATE-REVIEW-REFUSED"


def test_an_outgoing_requests_partner_steps_are_recorded_whatever_the_standing(api: Api) -> None:
    """Recording what a partner did (by hand, with the channel) is not carrying anything out."""
    qz = api.partner("good")
    rid = api.c.post("/api/v1/requests", json={"type": "preservation", "partner": qz,
                                               "fields": PRESERVATION_FIELDS}, headers=api.cw).json()["id"]
    assert api.c.post(f"/api/v1/requests/{rid}/submit", headers=api.cw).status_code == 200
    api.standing(qz, "suspended")
    for ev in ("receive", "acknowledge", "start", "preserve"):
        api.ok(rid, ev, via="e-mail from the partner")
    assert api.show(rid)["gate"] is None


# --- the property: whatever the gate denies or holds, no act succeeds, each attempt ledgered ---

STANDINGS = st.sampled_from(["good", "concerns", "suspended"])
STATUSES = st.sampled_from(["party", "signatory", "non-party"])
DUAL = st.sampled_from(["met", "not-met", "unassessed"])
REVIEW = st.sampled_from([None, "approved", "refused", "discrimination"])
STAGE = st.sampled_from(["acknowledged", "in-progress", "preserved"])


def _review(kind: str | None) -> dict[str, Any] | None:
    if kind is None:
        return None
    return {"reviewer": "R. Eviewer", "approved": kind == "approved",
            "discrimination_found": kind == "discrimination", "note": ""}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(type_=st.sampled_from(["preservation", "stored-data"]), standing=STANDINGS, dual=DUAL, review=REVIEW,
       stage=STAGE)
def test_no_act_succeeds_on_what_the_gate_does_not_allow(api: Api, type_: str, standing: str, dual: str,
                                                         review: str | None, stage: str) -> None:
    # Carried out as far as the stage while everything is in order ...
    pid = api.partner("good", state_status="party")
    rid = api.incoming(pid, type_)
    api.ok(rid, "acknowledge")
    api.c.post(f"/api/v1/requests/{rid}/assessment", json={"dual_criminality": "met"}, headers=api.cw)
    if stage != "acknowledged":
        api.ok(rid, "start")
    if stage == "preserved":
        if type_ == "preservation":
            api.ok(rid, "preserve")
        else:
            stage = "in-progress"
    # ... then the standing and the facts change.
    api.standing(pid, standing)
    api.c.post(f"/api/v1/requests/{rid}/assessment", json={"dual_criminality": dual}, headers=api.cw)
    rev = _review(review)
    if rev:
        assert api.c.post(f"/api/v1/requests/{rid}/review", json=rev, headers=api.cw).status_code == 200
    partner = PartnerView(pid, pid, "FR", "party", standing)  # type: ignore[arg-type]
    facts = gate_facts(type_, PRESERVATION_FIELDS if type_ == "preservation" else STORED_DATA_FIELDS,
                       dual_criminality=dual)  # type: ignore[arg-type]
    expected = decide_request(facts, partner, role="requested",
                              review=Review.from_dict({**rev, "at": "2026-01-01T00:00:00Z"}) if rev else None)
    acts: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "acknowledged": [("start", {})],
        "in-progress": [("preserve", {})] if type_ == "preservation" else [("respond", {})],
        "preserved": [("extend", {"days": 30, "reason": "MLA on its way"})],
    }
    state = api.show(rid)["state"]
    for event, extra in acts[stage]:
        if event == "respond":
            ev = api.evidence(rid)
            r = api.c.post(f"/api/v1/requests/{rid}/response", headers=api.cw, json={
                "kind": "executed", "evidence": [{k: ev[k] for k in ("name", "sha256", "size", "media_type")}]})
            moment = "send"
        else:
            r = api.event(rid, event, **extra)
            moment = event
        if expected.allowed:
            assert r.status_code == 200, r.text
            continue
        assert r.status_code == (403 if expected.denied else 409), r.text
        blocking = {x.code for x in expected.reasons if x.effect == expected.outcome}
        assert r.json()["rule"] in blocking and r.json()["citation"]
        assert api.show(rid)["state"] == state
        [refusal] = refusals(api, rid, moment)
        assert refusal["decision"] == expected.outcome


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(standing=STANDINGS, status=STATUSES)
def test_a_request_received_from_a_partner_the_gate_does_not_allow_cannot_start(
        api: Api, standing: str, status: str) -> None:
    pid = api.partner(standing, state_status=status)
    rid = api.incoming(pid)
    api.ok(rid, "acknowledge")
    expected = decide_request(gate_facts("preservation", PRESERVATION_FIELDS),
                              PartnerView(pid, pid, "FR", status, standing),  # type: ignore[arg-type]
                              role="requested")
    r = api.event(rid, "start")
    if expected.allowed:
        assert r.status_code == 200
        return
    assert r.status_code == (403 if expected.denied else 409)
    assert api.show(rid)["state"] == "acknowledged"
    assert len(refusals(api, rid, "start")) == 1


def test_no_evidence_package_for_a_suspended_partner(api: Api, node: Node, tmp_path: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    fr = api.partner("good")
    rid = api.incoming(fr, "stored-data")
    api.evidence(rid)
    api.standing(fr, "suspended")
    out = tmp_path / "package.zip"
    assert run(["--home", str(node.home), "evidence", "export", rid, "-o", str(out)]) == 1
    assert "GATE-SUSPENDED" in capsys.readouterr().err and not out.exists()
    assert [e["decision"] for e in api.timeline(rid) if e["action"] == "request.gate.export"] == ["deny"]
    assert not [e for e in api.timeline(rid) if e["action"] == "evidence.export"]
