"""Evidence received under conditions (specialty, no onward transfer without consent), at the
CLI: the use check denies, the consent is recorded with `hanoi requests consent`, the check
allows; every check is ledgered (issue 13 item 2, in part)."""

from __future__ import annotations

from hanoi.requests.samples import STORED_DATA_FIELDS
from tests.scenarios.conftest import Desk


def test_reuse_and_onward_transfer_wait_for_the_senders_recorded_consent(desk: Desk) -> None:
    rid = desk.ok("requests", "new", "--type", "stored-data", "--from", desk.file(STORED_DATA_FIELDS),
                  "--partner", "fr-pharos", "--quiet").strip()
    desk.ok("requests", "submit", rid)
    for ev in ("receive", "acknowledge", "start"):
        desk.ok("requests", "event", rid, ev, "--via", "e-mail from PHAROS")
    answer = desk.file({"via": "e-mail", "kind": "partially-executed", "reason": "Content data not retained.",
                        "conditions": {"proceedings": "NCA-2026-FR-0413", "specialty": True,
                                       "data_protection": ["Delete when the case is closed"]}})
    received = desk.tmp / "subscriber.csv"
    received.write_bytes(b"name,ip\nX,192.0.2.1\n")
    desk.ok("evidence", "add", rid, str(received))
    desk.ok("requests", "respond", rid, "--from", answer, "--evidence", "subscriber.csv")

    code, out, _ = desk("requests", "use-check", rid, "--kind", "other-proceedings", "--proceedings", "NCA-2027-1")
    assert code == 1 and "deny" in out and "GATE-SPECIALTY" in out
    code, out, _ = desk("requests", "use-check", rid, "--kind", "onward-transfer", "--recipient", "US DOJ")
    assert code == 1 and "GATE-ONWARD-TRANSFER" in out and "UNCC Art. 36" in out
    assert desk("requests", "use-check", rid, "--kind", "stated-proceedings")[0] == 0

    desk.ok("requests", "consent", rid, "--kind", "reuse", "--scope", "NCA-2027-1",
            "--given-by", "French central authority")
    assert desk("requests", "use-check", rid, "--kind", "other-proceedings", "--proceedings", "NCA-2027-1")[0] == 0
    code, _, _ = desk("requests", "use-check", rid, "--kind", "onward-transfer", "--recipient", "US DOJ")
    assert code == 1  # a consent to reuse is not a consent to pass the evidence on
    checks = [e["decision"] for e in desk.ledger(rid) if e["action"] == "request.use-check"]
    assert checks == ["deny", "deny", "allow", "allow", "deny"]
    assert "request.consent" in [e["action"] for e in desk.ledger(rid)]
