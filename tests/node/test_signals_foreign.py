"""Data from other tools on a node, through the CLI and the API, on every backend.

A plain STIX bundle, a MISP event and a URLhaus dump import with no Hanoi-specific flag, twice,
with no duplicates; what nothing classifies is stored, serves this node's lookups and is kept
from every recipient until classified; a re-import updates (a newer version) or changes nothing
(the same, or an older version), never over a person's classification; exports keep the
author, id, version and OR pattern, validate, and load in PyMISP.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymisp import MISPEvent
from sqlalchemy import func, select
from stix2validator import ValidationOptions, validate_string

from hanoi.bootstrap import open_node
from hanoi.cli.main import run
from hanoi.node import ledger, members, tokens
from hanoi.node.runtime import Node
from hanoi.signals import io, receive, service
from hanoi.signals.service import Caller
from hanoi.store.tables import outbox, signal_reports
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body
from tests.paths import FIXTURES

BUNDLE = FIXTURES / "signals" / "cert-bundle.json"
EVENT = FIXTURES / "signals" / "misp-event.json"
URLHAUS = FIXTURES / "signals" / "urlhaus-recent.csv"
OR_INDICATOR = "indicator--5b0e8f2e-1c1d-4a49-8f0d-6a3b1e2f0a02"
ANOMALOUS = "bank-login-secure.example.com"  # anomalous-activity: nothing classifies it
URLHAUS_ONE = "http://115.92.210.176:8088/bins/x86"
STAFF = Caller("test")
DE = Caller("test", "de-bka")
IMPORT = "/api/v1/signals/import"


@pytest.fixture
def partners(node: Node) -> Node:
    for mid, country in (("de-bka", "DE"), ("nl-police", "NL")):
        members.add(node, "setup", member_body(id=mid, name=mid, country=country, assessment=GOOD_ASSESSMENT))
    return node


def hanoi(node: Node, *args: str) -> int:
    return run(["--home", str(node.home), *args])


def _reports(node: Node) -> int:
    with node.read() as conn:
        return int(conn.execute(select(func.count()).select_from(signal_reports)).scalar() or 0)


def _seen(node: Node, who: Caller, *values: str) -> list[bool]:
    return [r["match"] for r in service.lookup(node, who, list(values))["results"]]


def _analyst(node: Node, member: str | None = None) -> dict[str, str]:
    secret, _ = tokens.create(node, "test", name=f"analyst-{member}", role="analyst", member_id=member)
    return auth(secret)


# --- the "done when": no Hanoi flag, twice, no duplicates ---------------------------------------


def test_a_urlhaus_dump_imports_without_flags_twice_without_duplicates(
        partners: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(partners, "signals", "import", str(URLHAUS)) == 0
    out = capsys.readouterr()
    assert out.out.count("\n") == 1 and out.err == ""  # one summary line, nothing else
    assert out.out.startswith("40 rows read: 40 new reports, 0 updated, 0 unchanged (40 new signals); "
                              "offence 40 by the table; batch sb-")
    assert hanoi(partners, "signals", "import", str(URLHAUS)) == 0
    out = capsys.readouterr()
    assert out.out == "40 rows read: 0 new reports, 0 updated, 40 unchanged (0 new signals); offence 40 by the table\n"
    assert _reports(partners) == 40
    rows = service.list_signals(partners, STAFF, limit=100)
    assert {(r["abuse_type"], r["creator"], r["classified_by"]) for r in rows} == {
        ("UNCC-11", "URLhaus", "mapping: urlhaus_threat malware_download")}
    assert _seen(partners, DE, URLHAUS_ONE) == [False]  # AMBER by default: nobody named
    assert _seen(partners, STAFF, URLHAUS_ONE) == [True]


def test_a_stix_bundle_from_another_tool_imports_twice_through_the_api(client: TestClient, partners: Node) -> None:
    h = _analyst(partners)
    first = client.post(IMPORT, content=BUNDLE.read_bytes(), headers=h)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["format"], body["received"], body["stored"], body["unclassified"]) == ("stix", 7, 7, 2)
    assert body["classified"] == {"table": 5, "none": 2}
    assert body["skipped"] == {"benign indicator (an allow-list entry)": 1, "malware": 1, "relationship": 1}
    assert "2 reports not classified" in body["summary"] and "not imported: " in body["summary"]
    again = client.post(IMPORT, content=BUNDLE.read_bytes(), headers=h).json()
    assert (again["stored"], again["updated"], again["unchanged"], again["batch"]) == (0, 0, 7, None)
    assert _reports(partners) == 7
    # The OR pattern's two values are two reports of one indicator, each with its id and author.
    rows = [r for r in service.list_signals(partners, STAFF, limit=100) if r["external_id"] == OR_INDICATOR]
    assert sorted(r["value"] for r in rows) == ["203.0.113.45", "qak-c2.example.org"]
    assert {(r["creator"], r["version"], r["abuse_type"]) for r in rows} == {
        ("CERT-Ruritania", "2025-02-03T12:30:00.000000Z", "UNCC-11")}


# --- not classified: this node's lookups only ---------------------------------------------------


def test_an_unclassified_report_is_kept_from_every_recipient_until_classified(
        client: TestClient, partners: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(partners, "signals", "import", str(BUNDLE)) == 0
    capsys.readouterr()
    # The bundle's markings (TLP 1.0 GREEN, AMBER, WHITE) decide the rest for a member in good standing.
    assert _seen(partners, STAFF, ANOMALOUS, "qak-c2.example.org") == [True, True]
    assert _seen(partners, DE, ANOMALOUS, "qak-c2.example.org") == [False, False]  # AMBER c2: not named
    assert _seen(partners, DE, "http://invoice-portal.example.net/pay.php") == [True]
    exported = io.export_document(partners, "stix", member_id="de-bka")[0]
    assert ANOMALOUS not in exported and "invoice-portal" in exported
    assert ANOMALOUS in io.export_document(partners, "stix")[0]  # this node's staff: everything
    de = _analyst(partners, "de-bka")
    r = client.get("/taxii2/api/collections/partner-de-bka/objects/", headers=de)
    assert r.status_code == 200 and ANOMALOUS not in r.text and "invoice-portal" in r.text
    out = service.publish_reports(partners, STAFF, to=["de-bka"])
    assert out["peers"] == {"de-bka": 2}  # the GREEN URL and hash; never the two CLEAR unclassified
    with partners.read() as conn:
        queued = json.dumps([row.payload for row in conn.execute(select(outbox.c.payload))])
    assert ANOMALOUS not in queued and "192.0.2.77" not in queued
    assert hanoi(partners, "signals", "list", "--unclassified", "--json") == 0
    unclassified = json.loads(capsys.readouterr().out)
    assert sorted(r["value"] for r in unclassified) == ["192.0.2.77", ANOMALOUS]
    # Classified by a person (the API), it may go where its marking allows.
    staff = _analyst(partners)
    r = client.post("/api/v1/signals/classify", json={"offence": "UNCC-13", "creator": "CERT-Ruritania"},
                    headers=staff)
    assert r.status_code == 200 and r.json()["classified"] == 2
    assert ledger.page(partners, limit=1000)["items"][-1]["action"] == "signal.classified"
    assert _seen(partners, DE, ANOMALOUS) == [True]
    r = client.post("/api/v1/signals/classify", json={"offence": "UNCC-13", "creator": "CERT-Ruritania"},
                    headers=staff)
    assert r.json()["classified"] == 0  # nothing left: nothing written
    # Only staff classify; a code must be one of the catalogue.
    r = client.post("/api/v1/signals/classify", json={"offence": "UNCC-13", "reports": [1]}, headers=de)
    assert r.status_code == 403
    r = client.post("/api/v1/signals/classify", json={"offence": "UNCC-99", "reports": [1]}, headers=staff)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "offence"
    r = client.post("/api/v1/signals/classify", json={"offence": "UNCC-13"}, headers=staff)
    assert r.status_code == 422


def test_the_default_offence_fills_what_the_table_leaves(partners: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(partners, "signals", "import", str(BUNDLE), "--offence", "UNCC-12") == 0
    assert "offence 5 by the table, 2 by the import's default" in capsys.readouterr().out
    rows = {r["value"]: r for r in service.list_signals(partners, STAFF, limit=100)}
    assert (rows[ANOMALOUS]["abuse_type"], rows[ANOMALOUS]["classified_by"]) == ("UNCC-12", "import default")
    assert rows["198.51.100.23"]["abuse_type"] == "UNCC-7"  # the table first: compromised
    assert service.list_signals(partners, STAFF, unclassified=True) == []


# --- re-import: versions update, a person's code stays --------------------------------------------


def _bundle_with(**changes: Any) -> bytes:
    doc = json.loads(BUNDLE.read_bytes())
    for obj in doc["objects"]:
        if obj["id"] == OR_INDICATOR:
            obj.update(changes)
    return json.dumps(doc).encode()


def test_a_newer_version_updates_an_older_changes_nothing(partners: Node) -> None:
    first = io.import_document(partners, "t", None, BUNDLE.read_bytes())
    other = open_node(partners.home, migrate=False)  # another process with its own index
    try:
        assert [r["confidence"] for r in service.lookup(other, STAFF, ["qak-c2.example.org"])["results"]] == [90]
        newer = _bundle_with(modified="2025-03-01T00:00:00.000Z", confidence=40)
        out = io.import_document(partners, "t", None, newer)
        assert (out["stored"], out["updated"], out["unchanged"]) == (0, 2, 5)
        assert [r["confidence"] for r in service.lookup(other, STAFF, ["qak-c2.example.org"])["results"]] == [40]
    finally:
        other.close()
    entry = ledger.page(partners, limit=1000)["items"][-1]
    assert entry["action"] == "signal.updated" and entry["subject"] == f"signal-batch:{out['batch']}"
    assert [r[-1] for r in entry["payload"]["reports"]] == [["confidence", "version_at"]] * 2
    older = _bundle_with(modified="2025-02-10T00:00:00.000Z", confidence=99)
    out = io.import_document(partners, "t", None, older)
    assert (out["stored"], out["updated"], out["unchanged"]) == (0, 0, 7)
    assert _reports(partners) == first["stored"] == 7


def test_a_reimport_never_overrides_a_persons_classification(partners: Node) -> None:
    io.import_document(partners, "t", None, BUNDLE.read_bytes())
    ids = [r["report_id"] for r in service.list_signals(partners, STAFF, limit=100)
           if r["external_id"] == OR_INDICATOR]
    out = service.classify(partners, STAFF, "uncc-13", report_ids=ids)
    assert (out["offence"], out["classified"], sorted(out["report_ids"])) == ("UNCC-13", 2, sorted(ids))
    io.import_document(partners, "t", None, _bundle_with(modified="2025-03-01T00:00:00.000Z", confidence=41))
    rows = [r for r in service.list_signals(partners, STAFF, limit=100) if r["report_id"] in ids]
    assert {(r["abuse_type"], r["classified_by"], r["confidence"]) for r in rows} == {
        ("UNCC-13", "staff: test", 41)}


# --- MISP, rejects, one line ---------------------------------------------------------------------


def test_a_misp_event_names_what_it_does_not_import(partners: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(partners, "signals", "import", str(EVENT)) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert "8 entries read: 8 new reports" in out
    assert "not imported: email-dst (names a victim) 2, filename 1, link 1, text 1" in out
    assert hanoi(partners, "signals", "import", str(EVENT)) == 0
    assert "0 new reports, 0 updated, 8 unchanged" in capsys.readouterr().out
    values = {r["value"] for r in service.list_signals(partners, STAFF, limit=100)}
    assert "accounts@victim-sme.example" not in values and len(values) == 8


def test_rejects_are_one_line_and_the_errors_file_lists_them_all(
        partners: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = URLHAUS.read_text().splitlines()
    bad = [f'"{9000 + i}","2025-03-02 09:00:00","http://bad host {i}.example/x","online","","malware_download",'
           f'"exe","https://urlhaus.abuse.ch/url/{9000 + i}/","x"' for i in range(250)]
    dump = tmp_path / "dump.csv"
    dump.write_text("\n".join(lines + bad) + "\n")
    errors = tmp_path / "errors.txt"
    assert hanoi(partners, "signals", "import", str(dump), "--errors", str(errors)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "250 rejected, so nothing was stored" in err and "line 50" in err
    assert len(errors.read_text().splitlines()) == 250 and _reports(partners) == 0
    assert hanoi(partners, "signals", "import", str(dump), "--best-effort") == 0
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "250 rejected; first: line 50" in out.err and "--errors FILE" in out.err
    assert out.out.count("\n") == 1 and "40 new reports" in out.out and "250 rows rejected" in out.out


# --- exports keep the author, id, version and OR pattern --------------------------------------


def test_exports_keep_authors_ids_and_versions_validate_and_load_in_pymisp(partners: Node) -> None:
    io.import_document(partners, "t", None, BUNDLE.read_bytes())
    io.import_document(partners, "t", None, URLHAUS.read_bytes())
    text, _ = io.export_document(partners, "stix")
    result = validate_string(text, ValidationOptions(version="2.1", strict=True))
    assert result.is_valid and not result.warnings, [str(e) for e in result.errors + result.warnings]
    doc = json.loads(text)
    names = {o["id"]: o["name"] for o in doc["objects"] if o["type"] == "identity"}
    indicators = [o for o in doc["objects"] if o["type"] == "indicator"]
    authors = {names.get(o["created_by_ref"]) for o in indicators}
    assert authors == {"CERT-Ruritania", "URLhaus"}  # never this node: it is the sharer
    grouping = next(o for o in doc["objects"] if o["type"] == "grouping")
    assert names[grouping["created_by_ref"]] == partners.config.name
    or_ind = next(o for o in indicators if o["id"] == OR_INDICATOR)
    assert or_ind["modified"] == "2025-02-03T12:30:00.000Z" and " OR " in or_ind["pattern"]
    # Our export imported again: the same reports (URLhaus's entries too), not copies.
    again = io.import_document(partners, "t", None, text.encode())
    assert (again["stored"], again["updated"], again["unchanged"]) == (0, 0, 47)
    misp_text, _ = io.export_document(partners, "misp")
    event = MISPEvent()
    event.from_dict(**json.loads(misp_text))
    assert len(event.attributes) >= 45


def test_a_report_sent_to_a_peer_keeps_its_author_and_id_but_not_how_we_classified_it(partners: Node) -> None:
    io.import_document(partners, "t", None, BUNDLE.read_bytes())
    service.publish_reports(partners, STAFF, to=["de-bka"])
    with partners.read() as conn:
        sent = [r for row in conn.execute(select(outbox.c.payload)) for r in row.payload["reports"]]
    url = next(r for r in sent if r["type"] == "url")
    assert (url["creator"], url["external_id"], url["version"]) == (
        "CERT-Ruritania", "indicator--5b0e8f2e-1c1d-4a49-8f0d-6a3b1e2f0a01", "2025-02-03T12:30:00.000000Z")
    assert "classified_by" not in url and "updated_at" not in url
    # The peer stores it with its author, so its own exports name CERT-Ruritania, not us.
    envelope = SimpleNamespace(id="env-foreign-1", payload={"reports": [{**url, "id": "901", "value": "http://x.example/a"}]})
    with partners.write("peer") as uow:
        assert receive.on_report(uow, envelope, {"id": "nl-police"})["stored"] == 1
    row = next(r for r in service.list_signals(partners, STAFF, limit=100) if r["value"] == "http://x.example/a")
    assert (row["origin"], row["creator"], row["external_id"]) == (
        "received", "CERT-Ruritania", "indicator--5b0e8f2e-1c1d-4a49-8f0d-6a3b1e2f0a01")


def test_a_revoked_indicator_ends_the_reports_it_gave(partners: Node) -> None:
    io.import_document(partners, "t", None, BUNDLE.read_bytes())
    other = open_node(partners.home, migrate=False)  # another process's index catches up too
    try:
        assert _seen(other, STAFF, "qak-c2.example.org", "203.0.113.45") == [True, True]
        out = io.import_document(partners, "t", None, _bundle_with(modified="2025-03-01T00:00:00.000Z", revoked=True))
        assert (out["withdrawn"], out["unchanged"]) == (2, 5)
        assert "2 reports withdrawn by their author" in out["summary"]
        assert _seen(other, STAFF, "qak-c2.example.org", "203.0.113.45") == [False, False]
    finally:
        other.close()
    entry = ledger.page(partners, limit=1000)["items"][-1]
    assert entry["action"] == "signal.updated" and [r[-1] for r in entry["payload"]["reports"]] == [["expires_at"]] * 2
    again = io.import_document(partners, "t", None, _bundle_with(modified="2025-03-01T00:00:00.000Z", revoked=True))
    assert (again["withdrawn"], again["batch"]) == (0, None)  # already ended: nothing written
    assert _reports(partners) == 7


def test_taxii_serves_a_foreign_indicator_under_its_own_id_and_takes_foreign_objects(
        client: TestClient, partners: Node) -> None:
    io.import_document(partners, "t", None, BUNDLE.read_bytes())
    staff = _analyst(partners)
    objects = client.get("/taxii2/api/collections/node/objects/", headers=staff).json()["objects"]
    # Seven reports, one indicator with an OR pattern: six objects, each under its bundle's id.
    assert len(objects) == 6 and {o["id"] for o in objects} == {
        o["id"] for o in json.loads(BUNDLE.read_bytes())["objects"]
        if o["type"] == "indicator" and o["indicator_types"] != ["benign"]}
    one = client.get(f"/taxii2/api/collections/node/objects/{OR_INDICATOR}/", headers=staff).json()["objects"]
    assert [(o["pattern"], o["modified"]) for o in one] == [
        ("[domain-name:value = 'qak-c2.example.org'] OR [ipv4-addr:value = '203.0.113.45']",
         "2025-02-03T12:30:00.000Z")]
    # A partner pushes the same bundle twice: stored once, as its own reports, the unclassified
    # ones kept from everyone but itself and this node's staff.
    de = _analyst(partners, "de-bka")
    before = _reports(partners)
    for _ in range(2):
        r = client.post("/taxii2/api/collections/partner-de-bka/objects/", content=BUNDLE.read_bytes(), headers=de)
        assert r.status_code == 202 and r.json()["failure_count"] == 0, r.text
    assert _reports(partners) == before + 7
    nl = Caller("test", "nl-police")
    assert _seen(partners, Caller("test", "de-bka"), ANOMALOUS) == [True]  # its own report
    assert _seen(partners, nl, ANOMALOUS) == [False]
