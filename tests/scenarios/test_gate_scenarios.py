"""The gate governs what a caseworker can do with a request, at the CLI: each scenario asserts
the decision, the rule and its article, that nothing was done when refused, and the ledger."""

from __future__ import annotations

from hanoi.requests.samples import PRESERVATION_FIELDS, STORED_DATA_FIELDS
from tests.scenarios.conftest import Clock, Desk


def received(desk: Desk, partner: str, type_: str = "preservation", **fields: object) -> str:
    base = PRESERVATION_FIELDS if type_ == "preservation" else STORED_DATA_FIELDS
    return desk.ok("requests", "new", "--type", type_, "--incoming", "--via", "24/7 e-mail",
                   "--from", desk.file({**base, **fields}), "--partner", partner, "--quiet").strip()


def test_a_suspended_states_preservation_request_is_acknowledged_and_refused_never_carried_out(desk: Desk) -> None:
    rid = received(desk, "qz-ministry")
    shown = desk.json("requests", "show", rid)
    assert shown["decision"]["outcome"] == "deny" and shown["gate"]["rule"] == "GATE-SUSPENDED"
    assert "acknowledge" in desk.ok("requests", "show", rid)  # the text view says what stays open
    desk.ok("requests", "event", rid, "acknowledge")
    for _ in range(2):  # however often it is tried
        code, _, err = desk("requests", "event", rid, "start")
        assert code == 1 and "GATE-SUSPENDED" in err and "UNCC Art. 6" in err
    shown = desk.json("requests", "show", rid)
    assert shown["state"] == "acknowledged" and shown["preservation"] is None  # nothing preserved
    refusals = [e for e in desk.ledger(rid) if e["action"] == "request.gate.start"]
    assert [e["decision"] for e in refusals] == ["deny", "deny"]
    desk.ok("requests", "event", rid, "consult", "--note", "Assistance cannot be given")
    desk.ok("requests", "respond", rid, "--kind", "refused", "--ground", "essential interests",
            "--reason", "Safeguards assessment: prejudice to essential interests")
    assert desk.json("requests", "show", rid)["response"]["grounds"][0]["code"] == "REFUSE-ESSENTIAL-INTERESTS"


def test_a_good_partners_request_is_carried_out(desk: Desk) -> None:
    rid = received(desk, "fr-pharos")
    for act in ("acknowledge", "start", "preserve"):
        desk.ok("requests", "event", rid, act)
    shown = desk.json("requests", "show", rid)
    assert shown["state"] == "preserved" and shown["gate"] is None
    assert [e["decision"] for e in desk.ledger(rid) if e["action"] == "request.gate.preserve"] == ["allow"]


def test_a_non_party_request_waits_for_a_named_reviewer(desk: Desk) -> None:
    rid = received(desk, "platform")  # a signatory, no other treaty recorded
    desk.ok("requests", "event", rid, "acknowledge")
    code, _, err = desk("requests", "event", rid, "start")
    assert code == 1 and "GATE-NON-PARTY" in err and "needs review" in err
    desk.ok("requests", "review", rid, "--reviewer", "J. Reviewer", "--approve")
    desk.ok("requests", "event", rid, "start")


def test_fiscal_matters_in_words_are_not_a_ground(desk: Desk) -> None:
    rid = received(desk, "fr-pharos", "stored-data")
    desk.ok("requests", "event", rid, "consult")
    code, _, err = desk("requests", "respond", rid, "--kind", "refused", "--ground", "fiscal matters",
                        "--reason", "A tax case")
    assert code == 1 and "NOT-GROUND-FISCAL" in err and "Art. 40(~23)" in err
    assert desk.json("requests", "show", rid)["state"] == "consultation"


def test_dual_criminality_not_met_denies_execution_and_data_stay_home(desk: Desk) -> None:
    rid = received(desk, "fr-pharos", "stored-data")
    desk.ok("requests", "event", rid, "acknowledge")
    code, _, err = desk("requests", "event", rid, "start")
    assert code == 1 and "GATE-DUAL-CRIMINALITY" in err  # held until assessed
    desk.ok("requests", "assess", rid, "--dual-criminality", "not-met")
    code, _, err = desk("requests", "event", rid, "start")
    assert code == 1 and "denied" in err and "dual_criminality_not_met: deny" in err


def test_day_60_and_day_70_of_a_preservation(desk: Desk, clock: Clock) -> None:
    rid = received(desk, "fr-pharos")
    for act in ("acknowledge", "start", "preserve"):
        desk.ok("requests", "event", rid, act)
    clock.advance(days=59)
    code, _, err = desk("requests", "event", rid, "expire")
    assert code == 1 and "cannot expire yet" in err
    due = desk.json("requests", "due", "--within", "7d")
    assert due[0]["request_id"] == rid and due[0]["source"] == "preservation"
    clock.advance(days=2)  # day 61: the 60 days have run
    assert desk.json("requests", "due", "--within", "1d")[0]["state"] == "overdue"
    assert desk.json("requests", "event", rid, "expire")["state"] == "expired"

    held = received(desk, "fr-pharos")
    for act in ("acknowledge", "start", "preserve"):
        desk.ok("requests", "event", held, act)
    clock.advance(days=50)
    desk.ok("requests", "event", held, "extend", "--days", "30", "--reason", "MLA request on its way")
    received(desk, "fr-pharos", "stored-data", preservation_reference=held)  # the follow-up arrives
    clock.advance(days=20)  # day 70
    assert desk.json("requests", "show", held)["preservation"]["follow_up_pending"] is True
    code, _, err = desk("requests", "event", held, "expire")
    assert code == 1 and "PRESERVATION-60-DAYS" in err


def test_a_late_request_is_overdue_not_refused_and_time_makes_others_overdue(desk: Desk, clock: Clock) -> None:
    late = received(desk, "fr-pharos", "stored-data", deadline="2000-01-01T00:00:00Z",
                    deadline_reason="hearing")
    timely = received(desk, "fr-pharos", "stored-data")
    due = desk.json("requests", "due", "--within", "1d")
    assert due[0]["request_id"] == late and due[0]["state"] == "overdue"
    assert "request.overdue" in [e["action"] for e in desk.ledger(late)]
    clock.advance(days=11)  # past the 10-day production deadline of the partner agreement
    states = {(d["request_id"], d["state"]) for d in desk.json("requests", "due", "--within", "1d")}
    assert (timely, "overdue") in states
