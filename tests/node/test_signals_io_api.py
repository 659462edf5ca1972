"""`POST /api/v1/signals/import` and `GET /api/v1/signals/export` on every backend.

Import: STIX, MISP and CSV bodies, the format detected or given; all or nothing unless
best_effort (a bad line or object is a problem+json naming it, and nothing is stored); the body
limit; roles; the CLI reading a file exactly as the API reads the same body. Export: every
format, through the gate for the member asking (never RED, AMBER+STRICT only to the named
recipient, nothing to a suspended member); the STIX output valid under `stix2-validator`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hanoi.api.app import create_app
from hanoi.cli.main import run
from hanoi.core.roles import Role
from hanoi.node import members, tokens
from hanoi.node.runtime import Node
from hanoi.signals import service
from hanoi.signals.formats import misp
from hanoi.store.tables import ledger_entries, signal_reports
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body

PROBLEM = "application/problem+json"
IMPORT = "/api/v1/signals/import"
EXPORT = "/api/v1/signals/export"
STAFF = service.Caller("test")

EXT = "extension-definition--04348bf0-74f0-4afe-a471-b9041b596a38"
GOOD_ID = "indicator--0f9ad1a3-5c1e-4f0e-9d3a-2b8f1f0b7c10"
BAD_ID = "indicator--0f9ad1a3-5c1e-4f0e-9d3a-2b8f1f0b7c11"


@pytest.fixture
def partners(node: Node) -> Node:
    for mid, country in (("de-bka", "DE"), ("nl-police", "NL"), ("fr-cert", "FR")):
        members.add(node, "setup", member_body(id=mid, name=mid, country=country, assessment=GOOD_ASSESSMENT))
    members.add(node, "setup", member_body(id="qz-ministry", name="Ministry", country="QZ",
                                           state_status="non-party",
                                           assessment={**GOOD_ASSESSMENT, "standing": "suspended"}))
    return node


def _token(node: Node, role: str, member: str | None = None) -> dict[str, str]:
    secret, _ = tokens.create(node, "test", name=f"{role}-{member}", role=role, member_id=member)
    return auth(secret)


def _count(node: Node, table: Any) -> int:
    with node.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def _matches(node: Node, *values: str) -> list[bool]:
    return [r["match"] for r in service.lookup(node, STAFF, list(values))["results"]]


def _indicator(ident: str, pattern: str) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": ident,
            "created": "2025-01-01T00:00:00.000Z", "modified": "2025-01-01T00:00:00.000Z",
            "pattern": pattern, "pattern_type": "stix", "valid_from": "2025-01-01T00:00:00Z",
            "extensions": {EXT: {"extension_type": "property-extension", "abuse_type": "UNCC-13"}}}


def _bundle(*objects: dict[str, Any]) -> bytes:
    return json.dumps({"type": "bundle", "id": "bundle--6d5b1c2a-0c43-4c1b-9a7e-3f0b9e7d1a22",
                       "objects": list(objects)}).encode()


def _misp(*values: tuple[str, str]) -> dict[str, Any]:
    reports = [{"ref": str(i), "type": t, "value": v, "tlp": "GREEN", "confidence": 60, "abuse_type": "UNCC-13",
                "first_seen": None, "last_seen": None, "expires": None, "tags": [], "description": "",
                "source": None, "external_id": None} for i, (t, v) in enumerate(values)]
    return misp.to_event(reports, info="test event", org="CERT-X")


URLHAUS = """################################################################
# abuse.ch URLhaus Database Dump (CSV)
# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
"1","2026-11-01 10:00:01","http://1.2.3.4:8080/bins/x86","online","","malware_download","elf,mirai","https://urlhaus.abuse.ch/url/1/","abuse_ch"
"2","2026-11-01 10:00:02","ftp://not a url with spaces","offline","","malware_download","exe","https://urlhaus.abuse.ch/url/2/","x"
"3","2026-11-01 10:00:03","http://evil.example.com/a.exe","offline","","malware_download","exe","https://urlhaus.abuse.ch/url/3/","x"
"""


# --- import -------------------------------------------------------------------------------------


def test_stix_import_detected_or_given(client: TestClient, partners: Node) -> None:
    h = _token(partners, "analyst")
    body = _bundle(_indicator(GOOD_ID, "[domain-name:value = 'stix-one.example.org']"))
    r = client.post(IMPORT, content=body, params={"tlp": "GREEN"}, headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["format"], r.json()["stored"], r.json()["rejected"]) == ("stix", 1, [])
    other = _bundle(_indicator(GOOD_ID.replace("10", "12"), "[url:value = 'http://stix-two.example.org/x']"))
    r = client.post(IMPORT, content=other, params={"format": "stix"}, headers=h)
    assert r.status_code == 201 and r.json()["format"] == "stix"
    assert _matches(partners, "stix-one.example.org", "http://stix-two.example.org/x") == [True, True]
    # Given as another format than it is: refused, nothing stored.
    r = client.post(IMPORT, content=body, params={"format": "misp"}, headers=h)
    assert 400 <= r.status_code < 500 and r.headers["content-type"] == PROBLEM
    r = client.post(IMPORT, content=body, params={"format": "yaml"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format"
    assert _count(partners, signal_reports) == 2


def test_a_bad_stix_object_refuses_the_bundle_unless_best_effort(client: TestClient, partners: Node) -> None:
    h = _token(partners, "analyst")
    body = _bundle(_indicator(GOOD_ID, "[domain-name:value = 'good.example.org']"),
                   _indicator(BAD_ID, "[domain-name:value = 'x' AND"))
    entries = _count(partners, ledger_entries)
    r = client.post(IMPORT, content=body, headers=h)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert [e["field"] for e in r.json()["errors"]] == [BAD_ID]
    assert _count(partners, signal_reports) == 0 and _count(partners, ledger_entries) == entries
    r = client.post(IMPORT, content=body, params={"best_effort": "true"}, headers=h)
    assert r.status_code == 201
    assert r.json()["stored"] == 1 and [x["ref"] for x in r.json()["rejected"]] == [BAD_ID]
    assert _matches(partners, "good.example.org") == [True]


def test_misp_import_names_a_bad_attribute(client: TestClient, partners: Node) -> None:
    h = _token(partners, "analyst")
    r = client.post(IMPORT, content=json.dumps(_misp(("domain", "misp.example.net"))), headers=h)
    assert r.status_code == 201 and (r.json()["format"], r.json()["stored"]) == ("misp", 1)
    event = _misp(("domain", "misp-two.example.net"), ("domain", "not a domain"))
    bad_uuid = event["Event"]["Attribute"][1]["uuid"]
    r = client.post(IMPORT, content=json.dumps(event), params={"format": "misp"}, headers=h)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert [e["field"] for e in r.json()["errors"]] == [bad_uuid]
    assert _matches(partners, "misp-two.example.net") == [False]
    r = client.post(IMPORT, content=json.dumps(event), params={"best_effort": "true"}, headers=h)
    assert r.status_code == 201 and r.json()["stored"] == 1
    assert [x["ref"] for x in r.json()["rejected"]] == [bad_uuid]
    assert _matches(partners, "misp.example.net", "misp-two.example.net") == [True, True]


def test_csv_import_names_the_line_and_stores_nothing_unless_best_effort(client: TestClient,
                                                                          partners: Node) -> None:
    h = _token(partners, "analyst")
    params = {"tlp": "CLEAR", "abuse_type": "UNCC-11"}
    entries = _count(partners, ledger_entries)
    r = client.post(IMPORT, content=URLHAUS.encode(), params=params, headers=h)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert [e["field"] for e in r.json()["errors"]] == ["line 5"]
    assert r.json()["rule"] == "SIGNAL-LIMITS"
    assert _count(partners, signal_reports) == 0 and _count(partners, ledger_entries) == entries
    r = client.post(IMPORT, content=URLHAUS.encode(), params={**params, "best_effort": "true"}, headers=h)
    assert r.status_code == 201
    out = r.json()
    assert (out["format"], out["received"], out["stored"]) == ("csv", 3, 2)
    assert [x["ref"] for x in out["rejected"]] == ["line 5"]
    assert _matches(partners, "http://evil.example.com/a.exe") == [True]
    # A line the validation refuses (not the parser) is named by its line too.
    ours = ("type,value,tlp,abuse_type,expires\ndomain,ok.example.org,GREEN,UNCC-13,\n"
            "domain,nope.example.org,GREEN,UNCC-13,2001-01-01\ndomain,bad.example.org,GREEN,THEFT,\n")
    r = client.post(IMPORT, content=ours.encode(), headers=h)
    assert r.status_code == 422
    assert [(e["field"], e.get("rule")) for e in r.json()["errors"]] == [
        ("line 3: expires_at", "SIGNAL-EXPIRED"), ("line 4", "SIGNAL-LIMITS")]
    assert _matches(partners, "ok.example.org") == [False]


def test_a_value_list_takes_its_type_tags_and_defaults_from_the_query(client: TestClient, partners: Node) -> None:
    h = _token(partners, "analyst")
    r = client.post(IMPORT, content=b"# from the helpline\nexample.com\nexample.org\n",
                    params={"type": "domain", "tlp": "GREEN", "abuse_type": "UNCC-13", "confidence": "90",
                            "tag": ["helpline", "sms"]}, headers=h)
    assert r.status_code == 201 and r.json()["stored"] == 2
    rows = service.list_signals(partners, STAFF)
    assert {(x["type"], x["value"], x["tlp"], x["confidence"]) for x in rows} == {
        ("domain", "example.com", "GREEN", 90), ("domain", "example.org", "GREEN", 90)}
    assert all(x["tags"] == ["helpline", "sms"] for x in rows)
    r = client.post(IMPORT, content=b"example.net\n", params={"type": "colour", "abuse_type": "UNCC-13"},
                    headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "type"
    r = client.post(IMPORT, content=_bundle(_indicator(GOOD_ID, "[domain-name:value = 'a.example.org']")),
                    params={"type": "domain"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "type"
    r = client.post(IMPORT, content=b"  \n", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    assert _count(partners, signal_reports) == 2


def test_the_cli_reads_a_file_as_the_api_reads_the_body(client: TestClient, partners: Node, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data = URLHAUS + '"4","2026-11-01 10:00:04","http://fine.example.com/b","online"\n'
    f = tmp_path / "urlhaus.csv"
    f.write_text(data)
    args = ["--home", str(partners.home), "signals", "import", str(f), "--tlp", "CLEAR", "--abuse-type", "UNCC-11",
            "--best-effort", "--json"]
    assert run(args) == 0
    cli = json.loads(capsys.readouterr().out)
    r = client.post(IMPORT, content=data.encode(), params={"tlp": "CLEAR", "abuse_type": "UNCC-11",
                                                           "best_effort": "true"},
                    headers=_token(partners, "analyst"))
    api = r.json()
    assert [(x["ref"], x["field"], x["message"]) for x in cli["rejected"]] == \
        [(x["ref"], x["field"], x["message"]) for x in api["rejected"]] == [
            ("line 5", "line 5", cli["rejected"][0]["message"]), ("line 7", "line 7", cli["rejected"][1]["message"])]
    assert (cli["format"], cli["received"]) == (api["format"], api["received"]) == ("csv", 4)
    # The same rows from the same source are the same reports: the second import changes nothing.
    assert (cli["stored"], cli["unchanged"]) == (2, 0) and (api["stored"], api["unchanged"]) == (0, 2)


def test_import_refuses_an_oversized_body_and_the_wrong_roles(partners: Node,
                                                              role_tokens: dict[Role, str]) -> None:
    partners.config.max_import_bytes = 4096  # the import limit, the same as the CLI's
    with TestClient(create_app(partners), raise_server_exceptions=False) as client:
        big = ("value\n" + "".join(f"d{i}.example.org\n" for i in range(300))).encode()
        assert len(big) > 4096
        r = client.post(IMPORT, content=big, params={"tlp": "GREEN", "abuse_type": "UNCC-13"},
                        headers=auth(role_tokens[Role.ANALYST]))
        assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
        body = b"value\nrole.example.org\n"
        for role in (Role.AUDITOR, Role.PLATFORM, Role.CASEWORKER):
            r = client.post(IMPORT, content=body, params={"abuse_type": "UNCC-13"}, headers=auth(role_tokens[role]))
            assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
        assert client.post(IMPORT, content=body).status_code == 401
        assert _count(partners, signal_reports) == 0
        # A partner imports as itself only; its reports are its own.
        de = _token(partners, "analyst", "de-bka")
        r = client.post(IMPORT, content=body, params={"abuse_type": "UNCC-13", "source": "nl-police"}, headers=de)
        assert r.status_code == 403
        r = client.post(IMPORT, content=body, params={"abuse_type": "UNCC-13"}, headers=de)
        assert r.status_code == 201
        assert [x["source"] for x in service.list_signals(partners, STAFF)] == ["de-bka"]
        # A suspended member's reports are not accepted.
        r = client.post(IMPORT, content=body, params={"abuse_type": "UNCC-13"},
                        headers=_token(partners, "analyst", "qz-ministry"))
        assert r.status_code == 403 and r.json()["rule"] == "GATE-SUSPENDED"
    assert _count(partners, signal_reports) == 1


# --- export -------------------------------------------------------------------------------------

VALUES = {
    "GREEN": "green.example.com", "CLEAR": "clear.example.com", "RED": "red.example.com",
    "STRICT": "strict.example.com", "AMBER": "amber.example.com",
}


@pytest.fixture
def stocked(partners: Node) -> Node:
    def one(value: str, tlp: str, **over: Any) -> dict[str, Any]:
        return {"type": "domain", "value": value, "tlp": tlp, "abuse_type": "UNCC-13", "confidence": 70, **over}

    service.report(partners, "t", None, [
        one(VALUES["GREEN"], "GREEN"), one(VALUES["CLEAR"], "CLEAR"), one(VALUES["RED"], "RED"),
        one(VALUES["STRICT"], "AMBER+STRICT", recipients=["nl-police"]),
        one(VALUES["AMBER"], "AMBER", recipients=["de-bka"]),
    ])
    return partners


def _shown(text: str) -> set[str]:
    return {k for k, v in VALUES.items() if v in text}


@pytest.mark.parametrize("fmt", ["stix", "misp", "csv"])
def test_export_goes_through_the_gate_in_every_format(client: TestClient, stocked: Node, fmt: str) -> None:
    node = stocked
    expected = {
        ("analyst", None): {"GREEN", "CLEAR", "RED", "STRICT", "AMBER"},  # this node's staff
        ("analyst", "de-bka"): {"GREEN", "CLEAR", "AMBER"},
        ("auditor", "nl-police"): {"GREEN", "CLEAR", "STRICT"},
        ("analyst", "fr-cert"): {"GREEN", "CLEAR"},
    }
    media = {"stix": "application/stix+json", "misp": "application/json", "csv": "text/csv"}[fmt]
    for (role, member), shown in expected.items():
        r = client.get(EXPORT, params={"format": fmt}, headers=_token(node, role, member))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith(media)
        assert _shown(r.text) == shown, (member, fmt)
    # Staff export what one member may receive.
    r = client.get(EXPORT, params={"format": fmt, "for": "nl-police"}, headers=_token(node, "admin"))
    assert _shown(r.text) == {"GREEN", "CLEAR", "STRICT"}
    # A suspended member gets nothing, in any format (MISP: an event without attributes).
    r = client.get(EXPORT, params={"format": fmt}, headers=_token(node, "analyst", "qz-ministry"))
    assert _shown(r.text) == set()
    assert r.status_code == 200
    if fmt == "misp":
        assert r.json()["Event"]["Attribute"] == []


def test_export_refuses_what_a_caller_may_not_ask(client: TestClient, stocked: Node,
                                                  role_tokens: dict[Role, str]) -> None:
    de = _token(stocked, "analyst", "de-bka")
    r = client.get(EXPORT, params={"format": "csv", "for": "nl-police"}, headers=de)
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    for role in (Role.PLATFORM, Role.CASEWORKER):
        assert client.get(EXPORT, params={"format": "csv"}, headers=auth(role_tokens[role])).status_code == 403
    r = client.get(EXPORT, params={"format": "xml"}, headers=de)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "format"
    r = client.get(EXPORT, params={"format": "csv", "since": "last week"}, headers=de)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "since"


def test_exported_stix_is_valid_and_exported_csv_reads_back(client: TestClient, stocked: Node) -> None:
    validator = pytest.importorskip("stix2validator")
    r = client.get(EXPORT, params={"format": "stix"}, headers=_token(stocked, "analyst", "de-bka"))
    result = validator.validate_string(r.text, validator.ValidationOptions(strict=True))
    assert result.is_valid, result.as_dict()
    marked = {o["id"] for o in json.loads(r.text)["objects"] if o["type"] == "indicator"}
    assert len(marked) == 3
    # Staff's CSV, everything with its marking, imports again whole (strict) through the API.
    staff = _token(stocked, "admin")
    text = client.get(EXPORT, params={"format": "csv"}, headers=staff).text
    r = client.post(IMPORT, content=text.encode(), headers=staff)
    assert r.status_code == 201 and (r.json()["stored"], r.json()["rejected"]) == (5, [])
    again = client.get(EXPORT, params={"format": "csv"}, headers=staff).text.splitlines()
    rows = text.splitlines()
    assert again[0] == rows[0] and sorted(again[1:]) == sorted(rows[1:] * 2)
