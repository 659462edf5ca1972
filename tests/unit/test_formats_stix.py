"""STIX 2.1 import and export: patterns, observables, TLP 2.0 markings, rejects, validity."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_parsed_json

from hanoi.core.errors import InvalidInput
from hanoi.core.tlp import STIX_TLP2_IDS, TLP, TLP2_EXTENSION_ID
from hanoi.signals.classification import terms_of
from hanoi.signals.formats import detect_format, parse_document
from hanoi.signals.formats.stix import (
    HANOI_EXTENSION_ID,
    parse_bundle,
    parse_pattern,
    pattern_for,
    to_bundle,
)

AMBER_STRICT = STIX_TLP2_IDS[TLP.AMBER_STRICT]
TLP1_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"


def indicator(n: int, pattern: str, **extra: Any) -> dict[str, Any]:
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
        "created": "2024-05-01T10:00:00.000Z",
        "modified": "2024-05-01T10:00:00.000Z",
        "name": f"indicator {n}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-05-01T10:00:00Z",
        "indicator_types": ["malicious-activity"],
    }
    obj.update(extra)
    return obj


def bundle(*objects: dict[str, Any]) -> bytes:
    return json.dumps(
        {"type": "bundle", "id": "bundle--11111111-1111-4111-8111-111111111111", "objects": list(objects)}
    ).encode()


def report(type_name: str, value: str, tlp: str = "AMBER", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ref": "r", "type": type_name, "value": value, "tlp": tlp, "confidence": None, "abuse_type": None,
        "first_seen": None, "last_seen": None, "expires": None, "tags": [], "description": "",
        "source": None, "external_id": None,
    }
    out.update(extra)
    return out


def validate(doc: dict[str, Any]) -> Any:
    return validate_parsed_json(copy.deepcopy(doc), ValidationOptions(version="2.1", strict=True))


# --------------------------------------------------------------------------- import


def test_indicator_gives_a_normalised_report_with_every_field() -> None:
    identity = {"type": "identity", "spec_version": "2.1", "id": "identity--22222222-2222-4222-8222-222222222222",
                "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "name": "CERT-Example"}
    ind = indicator(
        1, "[url:value = 'hxxps://Login.Example[.]com/verify?id=1']",
        confidence=85, labels=["phishing", "bank"], description="Fake bank login",
        valid_until="2025-05-01T10:00:00Z", created_by_ref=identity["id"],
        object_marking_refs=[AMBER_STRICT],
        extensions={HANOI_EXTENSION_ID: {"extension_type": "property-extension", "abuse_type": "uncc-13",
                                         "last_seen": "2024-06-01T12:00:00+02:00"}},
    )
    reports, rejects = parse_bundle(bundle(ind, identity), best_effort=False)
    assert rejects == []
    assert reports == [{
        "ref": ind["id"], "type": "url", "value": "https://login.example.com/verify?id=1",
        "tlp": "AMBER+STRICT", "confidence": 85, "abuse_type": "UNCC-13",
        "first_seen": "2024-05-01T10:00:00Z", "last_seen": "2024-06-01T10:00:00Z",
        "expires": "2025-05-01T10:00:00Z", "tags": ["phishing", "bank"], "description": "Fake bank login",
        "source": "CERT-Example", "external_id": ind["id"],
        # What names it in its bundle, and the words the classification table reads:
        "creator_ref": identity["id"], "created": "2024-05-01T10:00:00Z", "version": "2024-05-01T10:00:00Z",
        "indicator_types": ["malicious-activity"],
    }]
    assert terms_of(reports[0]) == [("indicator_type", "malicious-activity"), ("tag", "phishing"), ("tag", "bank")]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[domain-name:value = 'Example.COM']", [("domain", "example.com")]),
        ("[ipv4-addr:value = '198.51.100.7']", [("ipv4", "198.51.100.7")]),
        ("[ipv4-addr:value = '198.51.100.0/24']", [("cidr", "198.51.100.0/24")]),
        ("[ipv6-addr:value = '2001:DB8::1']", [("ipv6", "2001:db8::1")]),
        ("[email-addr:value = 'payments@Example.com']", [("email", "payments@example.com")]),
        ("[file:hashes.MD5 = '5D41402ABC4B2A76B9719D911017C592']", [("md5", "5d41402abc4b2a76b9719d911017c592")]),
        ("[file:hashes.'SHA-1' = 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d']",
         [("sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")]),
        ("[file:hashes.'SHA-256' = '2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824']",
         [("sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")]),
        ("[phone-number:value = '+1 650-253-0000']", [("phone", "+16502530000")]),
        ("[bank-account:iban = 'DE89 3704 0044 0532 0130 00']", [("iban", "DE89370400440532013000")]),
        ("[cryptocurrency-wallet:value = '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa']",
         [("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")]),
        ("[cryptocurrency-wallet:value = '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed']",
         [("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]),
        ("[url:value = 'http://a.example/' OR url:value = 'http://b.example/']",
         [("url", "http://a.example/"), ("url", "http://b.example/")]),
        ("[domain-name:value = 'a.example'] OR [ipv4-addr:value = '192.0.2.1']",
         [("domain", "a.example"), ("ipv4", "192.0.2.1")]),
        ("[domain-name:value IN ('a.example', 'b.example')]", [("domain", "a.example"), ("domain", "b.example")]),
        ("[file:hashes.MD5 = '5d41402abc4b2a76b9719d911017c592' AND "
         "file:hashes.'SHA-1' = 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d']",
         [("md5", "5d41402abc4b2a76b9719d911017c592"), ("sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d")]),
        # The same signal twice in one pattern is one report.
        ("[domain-name:value = 'a.example' OR domain-name:value = 'A.EXAMPLE.']", [("domain", "a.example")]),
    ],
)
def test_supported_patterns(pattern: str, expected: list[tuple[str, str]]) -> None:
    reports, rejects = parse_bundle(bundle(indicator(1, pattern)), best_effort=False)
    assert rejects == []
    assert [(r["type"], r["value"]) for r in reports] == expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("[url:value = 'http://a.example/'", "ends early"),
        ("url:value = 'http://a.example/'", "expected '['"),
        ("[url:value LIKE 'http://%']", "operator LIKE"),
        ("[url:value = 'a'] WITHIN 5 SECONDS", "WITHIN"),
        ("[url:value = 'http://a.example/'] AND [domain-name:value = 'b.example']", "AND between observations"),
        ("[url:value = 'http://a.example/' AND domain-name:value = 'b.example']", "only hashes of one file"),
        ("[process:name = 'evil.exe']", "'process' is not a kind of signal"),
        ("[file:hashes.'SHA-512' = 'ab']", "SHA512"),
        ("[url:value = 'bad\\nescape']", "invalid escape"),
        ("[domain-name:value = 'not a domain']", "not allowed in a host name"),
    ],
)
def test_bad_patterns_are_rejected_naming_the_indicator(pattern: str, reason: str) -> None:
    ind = indicator(7, pattern)
    reports, rejects = parse_bundle(bundle(ind, indicator(8, "[domain-name:value = 'ok.example']")),
                                    best_effort=True)
    assert [r["value"] for r in reports] == ["ok.example"]
    assert len(rejects) == 1
    assert rejects[0].ref == ind["id"]
    assert reason in rejects[0].reason


def test_malformed_objects_are_rejected_with_their_id_or_position() -> None:
    no_id = indicator(1, "[domain-name:value = 'a.example']")
    del no_id["id"]
    wrong_id = indicator(2, "[domain-name:value = 'b.example']", id="malware--00000000-0000-4000-8000-000000000002")
    bad_conf = indicator(3, "[domain-name:value = 'c.example']", confidence="high")
    bad_time = indicator(4, "[domain-name:value = 'd.example']", valid_from="yesterday")
    yara = indicator(5, "rule x { condition: true }", pattern_type="yara")
    no_pattern = indicator(6, "")
    del no_pattern["pattern"]
    pattern_not_text = indicator(9, "")
    pattern_not_text["pattern"] = ["[domain-name:value = 'e.example']"]
    too_long = indicator(10, "[domain-name:value = '" + "a" * 400 + ".example']")
    reports, rejects = parse_bundle(
        bundle(no_id, wrong_id, bad_conf, bad_time, yara, no_pattern, pattern_not_text, too_long),
        best_effort=True,
    )
    assert reports == []
    by_ref = {r.ref: r.reason for r in rejects}
    assert by_ref["objects[0]"] == "id: missing"
    assert "not a valid STIX id for a indicator" in by_ref[wrong_id["id"]]
    assert "confidence" in by_ref[bad_conf["id"]]
    assert "valid_from" in by_ref[bad_time["id"]]
    assert "pattern_type: 'yara' is not supported" in by_ref[yara["id"]]
    assert by_ref[no_pattern["id"]] == "pattern: missing"
    assert "pattern: must be text" in by_ref[pattern_not_text["id"]]
    assert "too long" in by_ref[too_long["id"]]


def test_strict_mode_refuses_the_batch_listing_every_bad_object() -> None:
    good = indicator(1, "[domain-name:value = 'a.example']")
    bad1 = indicator(2, "[url:value LIKE 'x']")
    bad2 = indicator(3, "[domain-name:value = 'b.example']", object_marking_refs=["marking-definition--"
                                                                                  "99999999-9999-4999-8999-999999999999"])
    with pytest.raises(InvalidInput) as caught:
        parse_bundle(bundle(good, bad1, bad2), best_effort=False)
    assert [p.field for p in caught.value.problems] == [bad1["id"], bad2["id"]]
    assert "unknown marking" in caught.value.problems[1].message


@pytest.mark.parametrize("level", list(TLP))
def test_tlp2_marking_ids_are_read(level: TLP) -> None:
    ind = indicator(1, "[domain-name:value = 'a.example']", object_marking_refs=[level.stix_id])
    reports, _ = parse_bundle(bundle(level.stix_marking_definition(), ind), best_effort=False)
    assert reports[0]["tlp"] == level.value


def test_tlp1_ids_are_mapped_and_noted_and_strictest_marking_wins() -> None:
    white = indicator(1, "[domain-name:value = 'a.example']", object_marking_refs=[TLP1_WHITE])
    both = indicator(2, "[domain-name:value = 'b.example']",
                     object_marking_refs=[STIX_TLP2_IDS[TLP.GREEN], TLP1_AMBER])
    unmarked = indicator(3, "[domain-name:value = 'c.example']")
    notes: list[str] = []
    reports, _ = parse_bundle(bundle(white, both, unmarked), best_effort=False, default_tlp=TLP.RED, notes=notes)
    assert [r["tlp"] for r in reports] == ["CLEAR", "AMBER", "RED"]
    assert any(white["id"] in n and "TLP 1.0" in n for n in notes)


def test_markings_defined_in_the_bundle() -> None:
    statement = {"type": "marking-definition", "spec_version": "2.1",
                 "id": "marking-definition--33333333-3333-4333-8333-333333333333",
                 "created": "2024-01-01T00:00:00Z", "definition_type": "statement",
                 "definition": {"statement": "Copyright CERT-Example"}}
    custom_tlp = {"type": "marking-definition", "spec_version": "2.1",
                  "id": "marking-definition--44444444-4444-4444-8444-444444444444",
                  "created": "2024-01-01T00:00:00Z", "definition_type": "tlp", "definition": {"tlp": "red"}}
    pap = {"type": "marking-definition", "spec_version": "2.1",
           "id": "marking-definition--55555555-5555-4555-8555-555555555555",
           "created": "2024-01-01T00:00:00Z", "name": "PAP:RED",
           "extensions": {"extension-definition--f8d78575-edfd-406e-8e84-6162a8450f5b": {"pap": "red"}}}
    a = indicator(1, "[domain-name:value = 'a.example']", object_marking_refs=[statement["id"]])
    b = indicator(2, "[domain-name:value = 'b.example']", object_marking_refs=[custom_tlp["id"]])
    c = indicator(3, "[domain-name:value = 'c.example']", object_marking_refs=[pap["id"]])
    reports, rejects = parse_bundle(bundle(statement, custom_tlp, pap, a, b, c), best_effort=True)
    assert [(r["value"], r["tlp"]) for r in reports] == [("a.example", "AMBER"), ("b.example", "RED")]
    assert [r.ref for r in rejects] == [c["id"]]
    assert "cannot be honoured" in rejects[0].reason


def test_observables_given_directly_but_not_those_that_are_context() -> None:
    url = {"type": "url", "spec_version": "2.1", "id": "url--66666666-6666-4666-8666-666666666666",
           "value": "http://evil.example/pay", "object_marking_refs": [STIX_TLP2_IDS[TLP.GREEN]]}
    sender = {"type": "email-addr", "spec_version": "2.1", "id": "email-addr--77777777-7777-4777-8777-777777777777",
              "value": "scam@evil.example"}
    victim = {"type": "email-addr", "spec_version": "2.1", "id": "email-addr--88888888-8888-4888-8888-888888888888",
              "value": "victim@bank.example"}
    message = {"type": "email-message", "spec_version": "2.1",
               "id": "email-message--99999999-9999-4999-8999-999999999999", "is_multipart": False,
               "to_refs": [victim["id"]]}
    file_ = {"type": "file", "spec_version": "2.1", "id": "file--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
             "hashes": {"SHA-256": "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
                        "SHA-512": "ab"}, "name": "invoice.exe"}
    reports, rejects = parse_bundle(bundle(url, sender, victim, message, file_), best_effort=False)
    assert rejects == []
    assert [(r["type"], r["value"], r["tlp"], r["external_id"]) for r in reports] == [
        ("url", "http://evil.example/pay", "GREEN", url["id"]),
        ("email", "scam@evil.example", "AMBER", sender["id"]),
        ("sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", "AMBER", file_["id"]),
    ]


def test_versions_revocation_and_sightings() -> None:
    old = indicator(1, "[domain-name:value = 'old.example']")
    new = indicator(1, "[domain-name:value = 'new.example']", modified="2024-06-01T00:00:00.000Z")
    revoked = indicator(2, "[domain-name:value = 'gone.example']", revoked=True)
    sighting = {"type": "sighting", "spec_version": "2.1", "id": "sighting--bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
                "created": "2024-07-01T00:00:00Z", "modified": "2024-07-01T00:00:00Z",
                "sighting_of_ref": new["id"], "first_seen": "2024-04-01T00:00:00Z",
                "last_seen": "2024-07-01T00:00:00Z"}
    skipped: dict[str, int] = {}
    reports, rejects = parse_bundle(bundle(new, old, revoked, sighting), best_effort=False, skipped=skipped)
    assert rejects == []
    assert [(r["value"], r["first_seen"], r["last_seen"], r["version"]) for r in reports] == [
        ("new.example", "2024-04-01T00:00:00Z", "2024-07-01T00:00:00Z", "2024-06-01T00:00:00Z")
    ]
    assert skipped == {"revoked indicator": 1}  # counted, never dropped silently (the sighting is read)


def test_unreadable_documents_always_raise() -> None:
    for data, message in [(b"{not json", "not valid JSON"), (b"42", "expected a STIX bundle"),
                          (b'{"type": "bundle", "objects": {}}', "must be a list")]:
        with pytest.raises(InvalidInput, match=message):
            parse_bundle(data, best_effort=True)


def test_taxii_envelope_and_lists_of_objects_are_read() -> None:
    ind = indicator(1, "[domain-name:value = 'a.example']")
    for doc in ({"objects": [ind], "more": False}, [ind], ind):
        reports, _ = parse_bundle(json.dumps(doc).encode(), best_effort=False)
        assert [r["value"] for r in reports] == ["a.example"]


def test_detect_format_and_parse_document() -> None:
    data = bundle(indicator(1, "[domain-name:value = 'a.example']"))
    assert detect_format(data[:100], "feed.json").name == "stix"
    reports, _ = parse_document(data, best_effort=False)
    assert reports[0]["value"] == "a.example"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_pattern_string_escaping_round_trips(text: str) -> None:
    assert parse_pattern(pattern_for("url", text)) == [("url", "value", text)]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_patterns_never_crash(text: str) -> None:
    ind = indicator(1, text)
    reports, rejects = parse_bundle(bundle(ind), best_effort=True)
    assert len(reports) + len(rejects) >= 1 or text.strip() == ""
    assert all(r.ref == ind["id"] for r in rejects)


# --------------------------------------------------------------------------- export

ALL_TYPES = [
    ("url", "http://login.example.com/verify?id=1&q=%27x%27"),
    ("domain", "example.co.uk"),
    ("ipv4", "192.0.2.1"),
    ("ipv6", "2001:db8::1"),
    ("cidr", "198.51.100.0/24"),
    ("cidr", "2001:db8::/32"),
    ("email", "o'brien@example.com"),
    ("phone", "+16502530000"),
    ("iban", "DE89370400440532013000"),
    ("btc", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
    ("eth", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
    ("md5", "5d41402abc4b2a76b9719d911017c592"),
    ("sha1", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
    ("sha256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
]


@pytest.mark.parametrize("level", list(TLP))
def test_export_is_valid_stix_for_every_tlp_level(level: TLP) -> None:
    reports = [
        report(t, v, level.value, confidence=70, tags=["phishing"], first_seen="2024-05-01T10:00:00Z",
               last_seen="2024-06-01T10:00:00Z", expires="2025-01-01T00:00:00Z",
               abuse_type="UNCC-13" if i % 2 else None)
        for i, (t, v) in enumerate(ALL_TYPES)
    ]
    doc = to_bundle(reports, identity_name="CERT-Example")
    result = validate(doc)
    assert result.is_valid, [str(e) for e in result.errors]
    assert not result.warnings, [str(w) for w in result.warnings]  # clean even with --strict
    markings = [o for o in doc["objects"] if o["type"] == "marking-definition"]
    assert markings == [level.stix_marking_definition()]
    assert any(o["id"] == TLP2_EXTENSION_ID and o["type"] == "extension-definition" for o in doc["objects"])
    indicators = [o for o in doc["objects"] if o["type"] == "indicator"]
    assert len(indicators) == len(ALL_TYPES)
    assert all(o["object_marking_refs"] == [level.stix_id] for o in indicators)


def test_export_round_trips_through_import() -> None:
    reports = [
        report(t, v, tlp, confidence=60, tags=["fraud"], description="seen in a scam",
               first_seen="2024-05-01T10:00:00Z", last_seen="2024-06-01T10:00:00Z",
               expires="2025-01-01T00:00:00Z", abuse_type="UNCC-13", source="CERT-Origin")
        for (t, v), tlp in zip(ALL_TYPES, ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"] * 3, strict=False)
    ]
    doc = to_bundle(reports, identity_name="CERT-Example")
    back, rejects = parse_bundle(json.dumps(doc).encode(), best_effort=False)
    assert rejects == []
    kept = set(reports[0]) - {"ref", "external_id"}
    assert [{k: v for k, v in r.items() if k in kept} for r in back] == [
        {k: v for k, v in r.items() if k in kept} for r in reports
    ]
    # ... and the author is CERT-Origin, not the exporter (which appears as the sharer).
    authors = {o["id"]: o["name"] for o in doc["objects"] if o["type"] == "identity"}
    assert {authors[o["created_by_ref"]] for o in doc["objects"] if o["type"] == "indicator"} == {"CERT-Origin"}
    grouping = next(o for o in doc["objects"] if o["type"] == "grouping")
    assert authors[grouping["created_by_ref"]] == "CERT-Example"


def test_export_ids_are_stable_and_duplicates_keep_the_strictest_tlp() -> None:
    first = to_bundle([report("domain", "a.example", "GREEN"), report("domain", "b.example", "AMBER")],
                      identity_name="CERT-Example")
    again = to_bundle([report("domain", "a.example", "GREEN"), report("domain", "b.example", "AMBER")],
                      identity_name="CERT-Example")
    assert first == again
    merged = to_bundle([report("domain", "a.example", "GREEN"), report("domain", "a.example", "RED")],
                       identity_name="CERT-Example")
    indicators = [o for o in merged["objects"] if o["type"] == "indicator"]
    assert len(indicators) == 1
    assert indicators[0]["object_marking_refs"] == [TLP.RED.stix_id]
    assert indicators[0]["id"] == next(o["id"] for o in first["objects"] if o.get("name") == "domain: a.example")
    assert validate(merged).is_valid


def test_export_never_writes_valid_until_before_valid_from() -> None:
    doc = to_bundle([report("domain", "a.example", first_seen="2024-05-01T00:00:00Z",
                            expires="2024-04-01T00:00:00Z")], identity_name="X")
    assert "valid_until" not in next(o for o in doc["objects"] if o["type"] == "indicator")
    assert validate(doc).is_valid
