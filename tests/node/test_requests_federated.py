"""A preservation and its follow-up between two real nodes over loopback HTTP.

GB asks FR to preserve; FR preserves and the 60-day term reaches GB; GB follows with a
stored-data request; FR executes with evidence that travels in chunks with a signed manifest;
GB verifies the package offline against FR's key. Both ledgers verify.
"""

from __future__ import annotations

import io
from pathlib import Path

from hanoi.node import ledger
from hanoi.requests import custody, service
from hanoi.requests.packages import verify_package
from hanoi.requests.samples import PRESERVATION_FIELDS, STORED_DATA_FIELDS
from tests.node.helpers import wait_for
from tests.node.test_federation_nodes import Served, nodes  # noqa: F401  (fixture)


def _incoming(fr: Served, ref: str) -> dict:
    rows = [r for r in service.list_requests(fr.node, direction="incoming") if r["remote_id"] == ref]
    return rows[0] if rows else {}


def test_preservation_then_stored_data_across_nodes(nodes: tuple[Served, Served],  # noqa: F811
                                                    tmp_path: Path) -> None:
    gb, fr = nodes
    fr_id = fr.node.node_id
    gb_id = gb.node.node_id

    pres = service.create(gb.node, "gb-caseworker", {"type": "preservation", "partner": fr_id,
                                                      "fields": {**PRESERVATION_FIELDS, "language": "en"}})
    service.submit(gb.node, "gb-caseworker", pres["id"])
    wait_for("FR receives the preservation request", lambda: bool(_incoming(fr, pres["id"])))
    fr_pres = _incoming(fr, pres["id"])
    assert fr_pres["state"] == "received" and fr_pres["partner_id"] == gb_id
    assert fr_pres["decision"]["outcome"] == "allow"  # preservation: no dual criminality needed

    for ev in ("acknowledge", "start", "preserve"):
        service.act(fr.node, "fr-247", fr_pres["id"], ev)
    wait_for("GB sees the data preserved", lambda: service.show(gb.node, pres["id"])["state"] == "preserved")
    gb_view = service.show(gb.node, pres["id"])
    assert gb_view["preservation"]["state"] == "running"  # the 60-day clock, on the requester's side too

    follow = service.create(gb.node, "gb-caseworker", {"type": "stored-data", "partner": fr_id, "fields": {
        **STORED_DATA_FIELDS, "preservation_reference": pres["id"]}})
    service.submit(gb.node, "gb-caseworker", follow["id"])
    wait_for("FR receives the follow-up", lambda: bool(_incoming(fr, follow["id"])))
    fr_follow = _incoming(fr, follow["id"])
    assert fr_follow["decision"]["outcome"] == "review"  # dual criminality not yet assessed
    service.assess(fr.node, "fr-lawyer", fr_follow["id"], {"dual_criminality": "met"})
    for ev in ("acknowledge", "start"):
        service.act(fr.node, "fr-cw", fr_follow["id"], ev)
    big = bytes(range(256)) * 2000  # 512 kB: travels in several chunks
    items = []
    for name, data in (("subscriber.csv", b"holder,ip\nunknown,192.0.2.7\n"), ("mailbox.mbox", big)):
        rec = custody.add(fr.node, "fr-cw", fr_follow["id"], name=name, stream=io.BytesIO(data))
        items.append({k: rec[k] for k in ("name", "sha256", "size", "media_type")})
    service.respond(fr.node, "fr-cw", fr_follow["id"], {
        "kind": "executed", "reason": "Data disclosed by the provider.", "evidence": items,
        "conditions": {"proceedings": STORED_DATA_FIELDS["case_reference"], "specialty": True}})

    wait_for("GB receives the response", lambda: service.show(gb.node, follow["id"])["state"] == "executed", 90)
    wait_for("GB receives every file", lambda: len(service.show(gb.node, follow["id"])["evidence"]) == 2, 90)
    pkg = tmp_path / "from-fr.zip"
    custody.export_received(gb.node, "gb-caseworker", follow["id"], pkg)
    fr_key = fr.node.public_key_b64
    report = verify_package(pkg, expected_key_b64=fr_key)
    assert report.ok, report.summary()
    assert sorted(f.path for f in report.files) == ["files/mailbox.mbox", "files/subscriber.csv"]
    # specialty travels with the evidence: reuse elsewhere needs FR's consent
    use = service.check_evidence_use(gb.node, "gb-caseworker", follow["id"],
                                      {"kind": "other-proceedings", "proceedings": "another case"})
    assert use["decision"]["outcome"] == "deny"
    # the preservation term on FR's side now runs until the follow-up is decided, and was
    assert service.show(fr.node, fr_pres["id"])["preservation"]["follow_up_pending"] is False
    assert ledger.verify(gb.node).ok and ledger.verify(fr.node).ok
