"""TAXII 2.1 against a real `hanoi serve`, read by `taxii2-client`; file import and export.

The TAXII client is the reference one (``taxii2client.v21``) with HTTP Basic, the token as the
password. Collections hold what the gate lets their audience receive; pages walked with
``as_pages`` must give every visible object exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from stix2validator import ValidationOptions, validate_string
from taxii2client.v21 import Collection, Server, as_pages

from hanoi.cli.main import run
from hanoi.node import members, tokens
from hanoi.node.runtime import Node
from hanoi.signals import io, service, taxii
from hanoi.signals.formats import misp
from tests.node.helpers import GOOD_ASSESSMENT, member_body, serving

BULK = 2500


def _item(value: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "url", "value": value, "tlp": "GREEN", "abuse_type": "UNCC-13",
                            "confidence": 70}
    body.update(over)
    return body


@pytest.fixture
def stocked(node_and_admin: tuple[Node, str]) -> tuple[Node, str]:
    node, admin = node_and_admin
    for mid, country in (("de-bka", "DE"), ("nl-police", "NL")):
        members.add(node, "setup", member_body(id=mid, name=mid, country=country, assessment=GOOD_ASSESSMENT))
    service.report(node, "t", None, [_item(f"http://bulk.example.com/{i}") for i in range(BULK)])
    service.report(node, "t", None, [
        _item("red.example.com", type="domain", tlp="RED"),
        _item("strict-nl.example.com", type="domain", tlp="AMBER+STRICT", recipients=["nl-police"]),
        _item("strict-de.example.com", type="domain", tlp="AMBER+STRICT", recipients=["de-bka"]),
        _item("clear.example.com", type="domain", tlp="CLEAR"),
    ])
    return node, admin


@pytest.fixture
def served(stocked: tuple[Node, str]) -> Iterator[tuple[Node, str, str]]:
    node, admin = stocked
    with serving(node.home) as base:
        yield node, admin, base


def _all(collection: Collection, per_request: int, **filters: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for envelope in as_pages(collection.get_objects, per_request=per_request, **filters):
        out += envelope.get("objects", [])
    return out


def _values(objects: list[dict[str, Any]]) -> list[str]:
    return [o["pattern"].split("'")[1] for o in objects]


def test_taxii_collections_pages_and_gate(served: tuple[Node, str, str]) -> None:
    node, admin, base = served
    de_token, _ = tokens.create(node, "t", name="BKA feed", role="analyst", member_id="de-bka")

    server = Server(f"{base}/taxii2/", user="staff", password=admin)
    assert server.title.startswith("Hanoi Exchange")
    root = server.api_roots[0]
    assert {c.alias for c in root.collections} == {"node", "community", "public"}
    by_alias = {c.alias: c for c in root.collections}

    # Staff: every report, each exactly once across pages of 1,000 (ties on date added included).
    everything = _all(by_alias["node"], 1000)
    assert len(everything) == BULK + 4
    assert len({o["id"] for o in everything}) == BULK + 4
    assert "red.example.com" in _values(everything)

    # The public collection: CLEAR only; the community one: GREEN and CLEAR, no AMBER, no RED.
    assert _values(_all(by_alias["public"], 100)) == ["clear.example.com"]
    community = set(_values(_all(by_alias["community"], 1000)))
    assert len(community) == BULK + 1 and "strict-de.example.com" not in community

    # A partner sees only its own collection, and only what the gate lets it receive.
    partner_root = Server(f"{base}/taxii2/", user="bka", password=de_token).api_roots[0]
    (mine,) = partner_root.collections
    assert mine.alias == "partner-de-bka"
    seen = _values(_all(mine, 700))
    assert len(seen) == len(set(seen)) == BULK + 2
    assert "strict-de.example.com" in seen
    assert "red.example.com" not in seen and "strict-nl.example.com" not in seen
    r = httpx.get(f"{base}/taxii2/api/collections/node/objects/", auth=("bka", de_token))
    assert r.status_code == 404

    # added_after: only what was added after the first batch's date.
    manifest = by_alias["node"].get_manifest(limit=1)
    first_added = manifest["objects"][0]["date_added"]
    later = _values(_all(by_alias["node"], 1000, added_after=first_added))
    assert sorted(later) == sorted(["red.example.com", "strict-nl.example.com",
                                    "strict-de.example.com", "clear.example.com"])

    # match[type] and match[id]; one object's versions.
    assert by_alias["node"].get_objects(type="malware") == {"more": False}
    one = everything[7]
    got = by_alias["node"].get_object(one["id"])
    assert [o["id"] for o in got["objects"]] == [one["id"]]
    assert by_alias["node"].object_versions(one["id"])["versions"] == [one["modified"]]

    # Without credentials: 401 asking for Basic, as TAXII 2.1 requires.
    r = httpx.get(f"{base}/taxii2/")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert r.headers["content-type"].startswith("application/taxii+json")
    # A bearer token works too.
    r = httpx.get(f"{base}/taxii2/api/collections/", headers={"Authorization": f"Bearer {admin}",
                                                             "Accept": taxii.MEDIA_TYPE})
    assert r.status_code == 200 and len(r.json()["collections"]) == 3


def test_taxii_add_objects_reports_each_bad_object(served: tuple[Node, str, str]) -> None:
    node, admin, base = served
    coll = next(c for c in Server(f"{base}/taxii2/", user="x", password=admin).api_roots[0].collections
                if c.alias == "node")
    good = {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "pattern": "[domain-name:value = 'pushed.example.org']", "pattern_type": "stix",
            "valid_from": "2025-01-01T00:00:00Z",
            "extensions": {"extension-definition--04348bf0-74f0-4afe-a471-b9041b596a38": {
                "extension_type": "property-extension", "abuse_type": "UNCC-13"}}}
    bad = {**good, "id": "indicator--0f9ad1a3-5c1e-4f0e-9d3a-2b8f1f0b7c11", "pattern": "[domain-name:value = 'x' AND"}
    status = coll.add_objects({"objects": [good, bad]})
    assert status.status == "complete"
    assert status.success_count == 1 and status.failure_count == 1
    assert status.failures[0]["id"] == bad["id"]
    assert service.lookup(node, service.Caller("t"), ["pushed.example.org"])["results"][0]["match"]


def test_stix_export_validates_and_csv_round_trips(stocked: tuple[Node, str], tmp_path: Path) -> None:
    node, _ = stocked
    # The second batch only (the validator takes ~8 ms an object).
    since = service.parse_since(service.list_signals(node, service.Caller("t"), limit=1)[0]["reported_at"])
    text, media = io.export_document(node, "stix", member_id="de-bka", since=since)
    assert media.startswith("application/stix+json")
    result = validate_string(text, ValidationOptions(strict=True))
    assert result.is_valid, result.as_dict()
    names = {o.get("name", "") for o in json.loads(text)["objects"]}
    assert "domain: strict-de.example.com" in names and "domain: red.example.com" not in names

    out = tmp_path / "all.csv"
    assert run(["--home", str(node.home), "signals", "export", "--format", "csv", "-o", str(out)]) == 0
    other = tmp_path / "other"
    from hanoi.bootstrap import init_node

    second, _ = init_node(other, name="Second", country="FR", kind="cert",
                          database_url_=f"sqlite:///{tmp_path / 'second.db'}")
    try:
        assert run(["--home", str(other), "signals", "import", str(out)]) == 0
        staff = service.Caller("t")
        got = service.lookup(second, staff, ["red.example.com", "http://bulk.example.com/2499"])
        assert [r["match"] for r in got["results"]] == [True, True]
        assert got["results"][0]["tlp"] == "RED"
    finally:
        second.close()


def test_malformed_stix_names_the_object_and_imports_nothing(node: Node, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    bundle = {"type": "bundle", "id": "bundle--6d5b1c2a-0c43-4c1b-9a7e-3f0b9e7d1a22", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--11111111-1111-4111-8111-111111111111",
         "created": "2025-01-01T00:00:00Z", "modified": "2025-01-01T00:00:00Z", "valid_from": "2025-01-01T00:00:00Z",
         "pattern": "[url:value = 'http://ok.example.com/']", "pattern_type": "stix"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--22222222-2222-4222-8222-222222222222",
         "created": "2025-01-01T00:00:00Z", "modified": "2025-01-01T00:00:00Z", "valid_from": "2025-01-01T00:00:00Z",
         "pattern": "[url:value = 'http://x' WITHIN 5 SECONDS", "pattern_type": "stix"},
    ]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))
    code = run(["--home", str(node.home), "signals", "import", str(path), "--abuse-type", "UNCC-13"])
    assert code == 1
    assert "indicator--22222222-2222-4222-8222-222222222222" in capsys.readouterr().err
    staff = service.Caller("t")
    assert not service.lookup(node, staff, ["http://ok.example.com/"])["results"][0]["match"]
    # Best effort stores the good one.
    code = run(["--home", str(node.home), "signals", "import", str(path), "--abuse-type", "UNCC-13",
                "--best-effort", "--format", "stix"])
    assert code == 0
    assert service.lookup(node, staff, ["http://ok.example.com/"])["results"][0]["match"]


def test_misp_feed_folder_imports(node: Node, tmp_path: Path) -> None:
    reports = [{"ref": "1", "type": "domain", "value": "feed.example.net", "tlp": "GREEN", "confidence": 60,
                "abuse_type": "UNCC-13", "first_seen": None, "last_seen": None, "expires": None, "tags": [],
                "description": "", "source": None, "external_id": None}]
    event = misp.to_event(reports, info="test feed", org="CERT-X")
    feed = tmp_path / "feed"
    feed.mkdir()
    entry = misp.manifest_entry(event)
    (feed / "manifest.json").write_text(json.dumps(entry))
    (feed / f"{next(iter(entry))}.json").write_text(json.dumps(event))
    assert run(["--home", str(node.home), "signals", "import", str(feed), "--abuse-type", "UNCC-13"]) == 0
    assert service.lookup(node, service.Caller("t"), ["feed.example.net"])["results"][0]["match"]
