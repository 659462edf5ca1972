"""MISP feed and event import, event export: type mapping, TLP tags, victims left out, rejects."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from hanoi.core.errors import InvalidInput
from hanoi.core.tlp import TLP
from hanoi.signals.formats import detect_format, parse_document
from hanoi.signals.formats.misp import manifest_entry, parse_event, parse_feed, to_event

EV1 = "5e8b7c1a-0f4d-4c59-9a8e-2b1c3d4e5f60"
EV2 = "7a9d2e3f-4b5c-4d6e-8f70-8192a3b4c5d6"
ORG = {"name": "CERT-Example", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"}


def attr(uuid: str, type_: str, value: str, category: str = "Network activity", **extra: Any) -> dict[str, Any]:
    out = {"uuid": uuid, "type": type_, "category": category, "value": value, "to_ids": True,
           "comment": "", "timestamp": "1714557600", "deleted": False, "distribution": "5", "Tag": []}
    out.update(extra)
    return out


# A realistic feed folder: manifest.json plus two event files, as MISP's "feed generator" writes.
MANIFEST: dict[str, Any] = {
    EV1: {"info": "Bank phishing campaign", "Orgc": ORG, "analysis": "2", "date": "2024-05-01",
          "threat_level_id": "2", "timestamp": "1714557600",
          "Tag": [{"name": "tlp:amber+strict", "colour": "#ffc000"}, {"name": "type:OSINT", "colour": "#004646"}]},
    EV2: {"info": "Investment fraud infrastructure", "Orgc": ORG, "analysis": "1", "date": "2024-06-10",
          "threat_level_id": "1", "timestamp": "1718000000", "Tag": []},
}
EVENT1: dict[str, Any] = {"Event": {
    "uuid": EV1, "info": "Bank phishing campaign", "date": "2024-05-01", "threat_level_id": "2",
    "analysis": "2", "distribution": "1", "published": True, "timestamp": "1714557600", "Orgc": ORG,
    "Tag": [{"name": "tlp:amber+strict"}, {"name": "type:OSINT"},
            {"name": 'hanoi:abuse-type="UNCC-13"'}],
    "Attribute": [
        attr("a0000001-0000-4000-8000-000000000001", "url", "hxxps://login-bank[.]example/verify",
             comment="landing page", first_seen="2024-05-01T08:00:00+00:00"),
        attr("a0000001-0000-4000-8000-000000000002", "domain", "Login-Bank.example"),
        attr("a0000001-0000-4000-8000-000000000003", "ip-dst", "198.51.100.7",
             Tag=[{"name": "tlp:green"}]),
        attr("a0000001-0000-4000-8000-000000000004", "domain|ip", "mail.login-bank.example|2001:db8::25"),
        attr("a0000001-0000-4000-8000-000000000005", "email-src", "security@login-bank.example",
             category="Payload delivery"),
        attr("a0000001-0000-4000-8000-000000000006", "email-dst", "victim@customer.example",
             category="Payload delivery"),
        attr("a0000001-0000-4000-8000-000000000007", "phone-number", "+44 20 7946 0958",
             category="Financial fraud", Tag=[{"name": 'estimative-language:confidence-in-analytic-judgment="high"'}]),
        attr("a0000001-0000-4000-8000-000000000008", "iban", "GB82 WEST 1234 5698 7654 32",
             category="Financial fraud"),
        attr("a0000001-0000-4000-8000-000000000009", "btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
             category="Financial fraud"),
        attr("a0000001-0000-4000-8000-00000000000a", "filename|sha256",
             "invoice.pdf.exe|2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
             category="Payload delivery"),
        attr("a0000001-0000-4000-8000-00000000000b", "text", "Campaign uses SMS lures", category="Other"),
        attr("a0000001-0000-4000-8000-00000000000c", "ip-src", "999.1.1.1"),
    ],
    "Object": [{
        "uuid": "b0000001-0000-4000-8000-000000000001", "name": "coin-address", "meta-category": "financial",
        "Attribute": [
            attr("a0000001-0000-4000-8000-00000000000d", "text", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
                 category="Financial fraud", object_relation="address-crypto"),
            attr("a0000001-0000-4000-8000-00000000000e", "text", "ETH", category="Other",
                 object_relation="symbol", to_ids=False),
        ],
    }],
}}
EVENT2: dict[str, Any] = {"Event": {
    "uuid": EV2, "info": "Investment fraud infrastructure", "date": "2024-06-10", "threat_level_id": "1",
    "analysis": "1", "distribution": "0", "timestamp": "1718000000", "Orgc": ORG, "Tag": [],
    "Attribute": [
        attr("a0000002-0000-4000-8000-000000000001", "hostname", "crypto-yield.example"),
        attr("a0000002-0000-4000-8000-000000000002", "url", "http://crypto-yield.example/signup",
             Tag=[{"name": "tlp:white"}]),
        attr("a0000002-0000-4000-8000-000000000003", "domain", "deleted.example", deleted=True),
        attr("a0000002-0000-4000-8000-000000000004", "ip-dst", "203.0.113.9", category="Targeting data"),
        attr("a0000002-0000-4000-8000-000000000005", "domain", "odd-tag.example", Tag=[{"name": "tlp:ex:chr"}]),
        attr("a0000002-0000-4000-8000-000000000006", "sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
             category="Payload delivery", to_ids=False),
    ],
}}
EVENTS = {EV1: EVENT1, EV2: EVENT2}


def by_uuid(reports: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for r in reports:
        out.setdefault(r["external_id"], []).append((r["type"], r["value"]))
    return out


def test_feed_maps_every_attribute_type_and_leaves_victims_out() -> None:
    reports, rejects = parse_feed(MANIFEST, EVENTS, best_effort=True)
    got = by_uuid(reports)  # type: ignore[arg-type]
    assert got == {
        "a0000001-0000-4000-8000-000000000001": [("url", "https://login-bank.example/verify")],
        "a0000001-0000-4000-8000-000000000002": [("domain", "login-bank.example")],
        "a0000001-0000-4000-8000-000000000003": [("ipv4", "198.51.100.7")],
        "a0000001-0000-4000-8000-000000000004": [("domain", "mail.login-bank.example"), ("ipv6", "2001:db8::25")],
        "a0000001-0000-4000-8000-000000000005": [("email", "security@login-bank.example")],
        "a0000001-0000-4000-8000-000000000007": [("phone", "+442079460958")],
        "a0000001-0000-4000-8000-000000000008": [("iban", "GB82WEST12345698765432")],
        "a0000001-0000-4000-8000-000000000009": [("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")],
        "a0000001-0000-4000-8000-00000000000a": [
            ("sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")],
        "a0000001-0000-4000-8000-00000000000d": [("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")],
        "a0000002-0000-4000-8000-000000000001": [("domain", "crypto-yield.example")],
        "a0000002-0000-4000-8000-000000000002": [("url", "http://crypto-yield.example/signup")],
        "a0000002-0000-4000-8000-000000000006": [("sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")],
    }
    assert {r.ref: r.reason for r in rejects}.keys() == {
        "a0000001-0000-4000-8000-00000000000c", "a0000002-0000-4000-8000-000000000005"}
    assert "not an IPv4 address" in next(r.reason for r in rejects if r.type == "ipv4")


def test_tlp_confidence_tags_and_context_come_from_the_right_level() -> None:
    notes: list[str] = []
    reports, _ = parse_feed(MANIFEST, EVENTS, best_effort=True, notes=notes)
    r = {x["external_id"]: x for x in reports}
    url = r["a0000001-0000-4000-8000-000000000001"]
    assert url["tlp"] == "AMBER+STRICT"  # the event's tag
    assert url["confidence"] == 50  # threat level medium
    assert url["abuse_type"] == "UNCC-13"
    assert url["tags"] == ["type:OSINT"]
    assert url["description"] == "landing page"
    assert url["source"] == "CERT-Example"
    assert url["first_seen"] == "2024-05-01T08:00:00Z"
    assert r["a0000001-0000-4000-8000-000000000002"]["description"] == "Bank phishing campaign"
    assert r["a0000001-0000-4000-8000-000000000002"]["first_seen"] == "2024-05-01T00:00:00Z"
    assert r["a0000001-0000-4000-8000-000000000003"]["tlp"] == "GREEN"  # the attribute's own tag
    assert r["a0000001-0000-4000-8000-000000000007"]["confidence"] == 90  # analytic judgment: high
    # Event 2 has no TLP tag: distribution 0 ("your organisation only") is read as AMBER+STRICT.
    assert r["a0000002-0000-4000-8000-000000000001"]["tlp"] == "AMBER+STRICT"
    assert r["a0000002-0000-4000-8000-000000000001"]["confidence"] == 75
    assert r["a0000002-0000-4000-8000-000000000002"]["tlp"] == "CLEAR"
    assert any("a0000002-0000-4000-8000-000000000002" in n and "WHITE" in n for n in notes)


def test_ids_only_keeps_only_attributes_marked_for_detection() -> None:
    reports, _ = parse_feed(MANIFEST, EVENTS, best_effort=True, ids_only=True)
    assert "a0000002-0000-4000-8000-000000000006" not in {r["external_id"] for r in reports}


def test_strict_feed_import_refuses_naming_each_bad_attribute_and_missing_event() -> None:
    manifest = {**MANIFEST, "0b0b0b0b-0000-4000-8000-000000000000": {"info": "gone", "Orgc": ORG}}
    with pytest.raises(InvalidInput) as caught:
        parse_feed(manifest, EVENTS, best_effort=False)
    fields = [p.field for p in caught.value.problems]
    assert fields == ["a0000001-0000-4000-8000-00000000000c", "a0000002-0000-4000-8000-000000000005",
                      "event 0b0b0b0b-0000-4000-8000-000000000000"]
    assert "event file is missing" in caught.value.problems[2].message


def test_manifest_fills_what_an_event_file_leaves_out() -> None:
    bare = copy.deepcopy(EVENT1)
    del bare["Event"]["Tag"], bare["Event"]["Orgc"]
    reports, _ = parse_feed({EV1: MANIFEST[EV1]}, {EV1: bare}, best_effort=True)
    assert {r["tlp"] for r in reports} >= {"AMBER+STRICT"}
    assert {r["source"] for r in reports} == {"CERT-Example"}


def test_single_event_files_and_detection() -> None:
    data = json.dumps(EVENT2).encode()
    assert detect_format(data[:200], "event.json").name == "misp"
    assert detect_format(json.dumps(MANIFEST).encode(), "manifest.json").name == "misp"
    reports, rejects = parse_document(data, best_effort=True)
    assert len(reports) == 3 and len(rejects) == 1
    with pytest.raises(InvalidInput, match="manifest"):
        parse_document(json.dumps(MANIFEST).encode(), fmt="misp", best_effort=True)
    one, _ = parse_event(EVENT2["Event"], best_effort=True)
    assert one == reports


def test_bad_event_json_raises() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_event(b"{", best_effort=True)
    with pytest.raises(InvalidInput):
        parse_event({"Event": []}, best_effort=True)


def report(type_name: str, value: str, tlp: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"ref": "r", "type": type_name, "value": value, "tlp": tlp, "confidence": None,
                           "abuse_type": None, "first_seen": None, "last_seen": None, "expires": None,
                           "tags": [], "description": "", "source": None, "external_id": None}
    out.update(extra)
    return out


EXPORT = [
    report("url", "https://login-bank.example/verify", "AMBER", abuse_type="UNCC-13", tags=["phishing"],
           description="landing page", first_seen="2024-05-01T08:00:00Z"),
    report("domain", "login-bank.example", "GREEN"),
    report("ipv4", "198.51.100.7", "CLEAR"),
    report("cidr", "198.51.100.0/24", "GREEN"),
    report("ipv6", "2001:db8::25", "GREEN"),
    report("email", "security@login-bank.example", "AMBER"),
    report("phone", "+442079460958", "AMBER+STRICT"),
    report("iban", "GB82WEST12345698765432", "RED"),
    report("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "AMBER"),
    report("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "AMBER"),
    report("md5", "5d41402abc4b2a76b9719d911017c592", "GREEN"),
    report("sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d", "GREEN"),
    report("sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "GREEN"),
]


def test_export_writes_misp_types_tlp_tags_and_reads_back() -> None:
    event = to_event(EXPORT, info="Signals from Hanoi", org="CERT-Example")
    body = event["Event"]
    assert body["Tag"][0]["name"] == "tlp:red"  # the strictest level marks the event
    assert body["distribution"] == "0"
    types = [a["type"] for a in body["Attribute"]]
    assert types == ["url", "domain", "ip-dst", "ip-dst", "ip-dst", "email-src", "phone-number", "iban", "btc",
                     "md5", "sha1", "sha256"]
    assert body["Object"][0]["name"] == "coin-address"
    url_tags = [t["name"] for t in body["Attribute"][0]["Tag"]]
    assert url_tags == ["tlp:amber", 'hanoi:abuse-type="UNCC-13"', "phishing"]
    assert body["date"] == "2024-05-01"
    back, rejects = parse_event(event, best_effort=False)
    assert rejects == []
    assert [(r["type"], r["value"], r["tlp"]) for r in back] == [
        (r["type"], r["value"], r["tlp"]) for r in EXPORT if r["type"] != "eth"
    ] + [("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "AMBER")]
    assert back[0]["abuse_type"] == "UNCC-13" and back[0]["tags"] == ["phishing"]


def test_export_is_stable_and_makes_a_feed_manifest_entry() -> None:
    a = to_event(EXPORT, info="Signals", org="CERT-Example")
    b = to_event(EXPORT, info="Signals", org="CERT-Example")
    assert a == b
    entry = manifest_entry(a)
    (uuid,) = entry
    assert uuid == a["Event"]["uuid"]
    reports, rejects = parse_feed(entry, {uuid: a}, best_effort=False)
    assert len(reports) == len(EXPORT) and rejects == []


def test_export_merges_duplicates_to_the_strictest_tlp() -> None:
    event = to_event([report("domain", "a.example", "GREEN"), report("domain", "a.example", "RED")],
                     info="x", org="y")
    assert len(event["Event"]["Attribute"]) == 1
    assert event["Event"]["Attribute"][0]["Tag"][0]["name"] == "tlp:red"
    assert TLP.RED.value == parse_event(event, best_effort=False)[0][0]["tlp"]
