"""Data from other tools, read as they write it and written back as theirs: the terms the
classification table reads, what is not imported (counted, never dropped silently), and the
id, author, version and OR pattern kept across export."""

from __future__ import annotations

import copy
import json
from typing import Any

from pymisp import MISPEvent
from stix2validator import ValidationOptions, validate_parsed_json

from hanoi.signals.classification import classify, terms_of
from hanoi.signals.formats import parse_document
from hanoi.signals.formats.misp import parse_events, to_event
from hanoi.signals.formats.stix import parse_bundle, to_bundle
from tests.paths import FIXTURES

BUNDLE = (FIXTURES / "signals" / "cert-bundle.json").read_bytes()
EVENT = (FIXTURES / "signals" / "misp-event.json").read_bytes()
URLHAUS = (FIXTURES / "signals" / "urlhaus-recent.csv").read_bytes()
CERT = "identity--7e3a2d40-0b8c-4c5e-9a43-3d1a1a9c7f01"
OR_INDICATOR = "indicator--5b0e8f2e-1c1d-4a49-8f0d-6a3b1e2f0a02"


def _offence(report: dict[str, Any]) -> str | None:
    found = classify(terms_of(report)) or classify(report.get("context_terms") or ())
    return found.offence if found else None


def _valid(doc: dict[str, Any]) -> list[str]:
    result = validate_parsed_json(copy.deepcopy(doc), ValidationOptions(version="2.1", strict=True))
    return [str(e) for e in result.errors] + [str(w) for w in result.warnings]


def test_a_stix2_bundle_gives_reports_with_their_terms_author_and_version() -> None:
    skipped: dict[str, int] = {}
    notes: list[str] = []
    reports, rejects = parse_bundle(BUNDLE, best_effort=False, skipped=skipped, notes=notes)
    assert rejects == []
    assert [(r["type"], r["value"], _offence(r)) for r in reports] == [
        ("url", "http://invoice-portal.example.net/pay.php", "UNCC-13"),  # labels: phishing
        ("domain", "qak-c2.example.org", "UNCC-11"),  # labels: c2 (one OR pattern, two reports)
        ("ipv4", "203.0.113.45", "UNCC-11"),
        ("ipv4", "198.51.100.23", "UNCC-7"),  # indicator_types: compromised
        ("sha256", "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c", "UNCC-11"),  # trojan
        ("domain", "bank-login-secure.example.com", None),  # anomalous-activity: nothing says which offence
        ("ipv4", "192.0.2.77", None),  # anonymization, tor: no offence (Art. 6)
    ]
    # Each keeps what names it in its bundle.
    assert {(r["external_id"], r["creator_ref"], r["source"], r["version"]) for r in reports[1:3]} == {
        (OR_INDICATOR, CERT, "CERT-Ruritania", "2025-02-03T12:30:00Z")}
    assert reports[0]["first_seen"] == "2025-01-28T00:00:00Z"  # the sighting widened it
    # The benign allow-list entry, the malware and the relationship: counted, not dropped silently.
    assert skipped == {"benign indicator (an allow-list entry)": 1, "malware": 1, "relationship": 1}
    assert all("TLP 1.0" in n for n in notes)  # stix2 writes TLP 1.0 marking ids


def test_a_misp_event_names_what_it_does_not_import() -> None:
    skipped: dict[str, int] = {}
    reports, rejects = parse_events(EVENT, best_effort=False, skipped=skipped)
    assert rejects == []
    assert skipped == {"email-dst (names a victim)": 2, "text": 1, "filename": 1, "link": 1}
    assert {r["value"] for r in reports}.isdisjoint({"accounts@victim-sme.example", "finance@other-victim.example"})
    by_value = {r["value"]: r for r in reports}
    # The event's phishing tag classifies its attributes, but an attribute's own tag comes first.
    assert _offence(by_value["https://invoice-sme.example.com/login"]) == "UNCC-13"
    assert _offence(by_value["198.51.100.200"]) == "UNCC-11"
    assert {(r["source"], r["creator_ref"]) for r in reports} == {
        ("CERT-Borduria", "0c8f4a5e-2d3b-4a6c-8e9f-1a2b3c4d5e6f")}
    assert by_value["DE89370400440532013000"]["external_id"] == "a1000000-0000-4000-8000-000000000010"
    # A composite attribute gives two reports under its one uuid.
    assert [r["external_id"] for r in reports if r["value"] in ("mail.invoice-sme.example.com", "203.0.113.99")] == [
        "a1000000-0000-4000-8000-000000000003"] * 2


def test_a_urlhaus_dump_is_classified_by_its_threat() -> None:
    reports, rejects = parse_document(URLHAUS, best_effort=False)
    assert rejects == [] and len(reports) == 40
    assert {_offence(r) for r in reports} == {"UNCC-11"}
    assert {r["source"] for r in reports} == {"URLhaus"}
    assert len({r["external_id"] for r in reports}) == 40


def test_a_foreign_indicator_keeps_its_id_author_version_and_or_pattern_across_export() -> None:
    reports, _ = parse_bundle(BUNDLE, best_effort=False)
    doc = to_bundle(reports, identity_name="UK Central Authority")
    assert _valid(doc) == []
    indicators = {o["id"]: o for o in doc["objects"] if o["type"] == "indicator"}
    original = {o["id"]: o for o in json.loads(BUNDLE)["objects"] if o["type"] == "indicator"}
    assert set(indicators) == set(original) - {"indicator--5b0e8f2e-1c1d-4a49-8f0d-6a3b1e2f0a07"}  # not benign
    for ind_id, obj in indicators.items():
        for key in ("created_by_ref", "created", "modified", "indicator_types", "confidence"):
            assert obj[key] == original[ind_id][key], (ind_id, key)
    assert indicators[OR_INDICATOR]["pattern"] == (
        "[domain-name:value = 'qak-c2.example.org'] OR [ipv4-addr:value = '203.0.113.45']")
    identities = {o["id"]: o["name"] for o in doc["objects"] if o["type"] == "identity"}
    assert identities[CERT] == "CERT-Ruritania"
    # This node shares them: it authors the grouping, not the indicators.
    grouping = next(o for o in doc["objects"] if o["type"] == "grouping")
    assert identities[grouping["created_by_ref"]] == "UK Central Authority"
    assert set(indicators) <= set(grouping["object_refs"])
    # Read back and written again: the same indicators, ids and versions (a fixpoint).
    back, rejects = parse_bundle(json.dumps(doc).encode(), best_effort=False)
    assert rejects == []
    again = {o["id"]: o for o in to_bundle(back, identity_name="UK Central Authority")["objects"]
             if o["type"] == "indicator"}
    assert {k: (v["pattern"], v["modified"], v["created_by_ref"]) for k, v in again.items()} == {
        k: (v["pattern"], v["modified"], v["created_by_ref"]) for k, v in indicators.items()}


def _report(type_name: str, value: str, signal_id: int, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"ref": str(signal_id), "type": type_name, "value": value, "tlp": "GREEN",
                           "confidence": 70, "abuse_type": "UNCC-13", "first_seen": "2025-01-01T00:00:00Z",
                           "last_seen": "2025-01-02T00:00:00Z", "expires": None, "tags": [], "description": "",
                           "source": "gb-node", "external_id": None, "signal_id": signal_id, "related": []}
    out.update(extra)
    return out


def test_linked_identifiers_are_relationships_and_a_campaign() -> None:
    page = _report("url", "http://scam.example/pay", 1, related=[
        {"type": "phone", "value": "+447700900123"}, {"type": "iban", "value": "GB33BUKB20201555555555"}])
    phone = _report("phone", "+447700900123", 2, tlp="AMBER")
    iban = _report("iban", "GB33BUKB20201555555555", 3)
    alone = _report("domain", "alone.example", 4)
    doc = to_bundle([page, phone, iban, alone], identity_name="UK Central Authority")
    assert _valid(doc) == []
    by_name = {o.get("name"): o for o in doc["objects"]}
    ids = {t: by_name[f"{t}: {v}"]["id"] for t, v in (("url", "http://scam.example/pay"), ("phone", "+447700900123"),
                                                      ("iban", "GB33BUKB20201555555555"), ("domain", "alone.example"))}
    rels = [o for o in doc["objects"] if o["type"] == "relationship"]
    related = {(r["source_ref"], r["target_ref"]) for r in rels if r["relationship_type"] == "related-to"}
    assert related == {(ids["url"], ids["phone"]), (ids["url"], ids["iban"])}
    campaigns = [o for o in doc["objects"] if o["type"] == "campaign"]
    assert len(campaigns) == 1 and campaigns[0]["name"] == "Campaign 1"
    # The campaign reveals the AMBER phone's link, so it is marked AMBER too.
    assert campaigns[0]["object_marking_refs"] == [by_name["phone: +447700900123"]["object_marking_refs"][0]]
    members = {r["source_ref"] for r in rels if r["relationship_type"] == "indicates"}
    assert members == {ids["url"], ids["phone"], ids["iban"]}  # not the domain linked to nothing
    assert to_bundle([page, phone, iban, alone], identity_name="UK Central Authority") == doc  # stable ids


def test_a_misp_export_keeps_attribute_uuids_and_loads_in_pymisp() -> None:
    reports, _ = parse_events(EVENT, best_effort=False)
    for r in reports:  # as stored reports carry them
        r["provenance"] = {"format": "misp"}  # type: ignore[typeddict-unknown-key]
    event = to_event(reports, info="Signals from UK Central Authority", org="UK Central Authority")
    uuids = [a["uuid"] for a in event["Event"]["Attribute"]]
    assert len(set(uuids)) == len(uuids)  # the composite's second part gets an id of its own
    assert "a1000000-0000-4000-8000-000000000010" in uuids and "a1000000-0000-4000-8000-000000000001" in uuids
    loaded = MISPEvent()
    loaded.from_dict(**event)
    assert len(loaded.attributes) == len(reports)
    assert {a.uuid for a in loaded.attributes} == set(uuids)


def test_what_an_author_withdrew_is_named_for_the_node_to_end() -> None:
    doc = json.loads(BUNDLE)
    for obj in doc["objects"]:
        if obj["id"] == OR_INDICATOR:
            obj.update(revoked=True, modified="2025-03-01T00:00:00.000Z")
    withdrawn: list[str] = []
    skipped: dict[str, int] = {}
    reports, _ = parse_bundle(json.dumps(doc).encode(), best_effort=False, withdrawn=withdrawn, skipped=skipped)
    assert withdrawn == [OR_INDICATOR] and skipped["revoked indicator"] == 1
    assert OR_INDICATOR not in {r["external_id"] for r in reports}
    event = json.loads(EVENT)
    event["Event"]["Attribute"][0]["deleted"] = True
    withdrawn = []
    reports, _ = parse_events(json.dumps(event).encode(), best_effort=False, withdrawn=withdrawn)
    assert withdrawn == ["a1000000-0000-4000-8000-000000000001"] and len(reports) == 7
