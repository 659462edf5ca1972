"""Signals on a node: service, API and CLI on every backend; the gate on every way out."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hanoi.bootstrap import open_node
from hanoi.cli.main import run
from hanoi.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from hanoi.node import ledger, members, tokens
from hanoi.node.runtime import Node
from hanoi.signals import read_model, receive, rows, send, service
from hanoi.signals.service import Caller
from hanoi.store.tables import ledger_entries, outbox, signal_reports
from hanoi.store.tables import signals as signals_t
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body

PROBLEM = "application/problem+json"
URL = "http://scam.example.com/login"


@pytest.fixture
def partners(node: Node) -> Node:
    members.add(node, "setup", member_body(id="fr-cert", name="CERT-FR", assessment=GOOD_ASSESSMENT))
    members.add(node, "setup", member_body(id="de-bka", name="BKA", country="DE",
                                           assessment=GOOD_ASSESSMENT))
    members.add(node, "setup", member_body(id="nl-police", name="Politie", country="NL",
                                           assessment=GOOD_ASSESSMENT))
    members.add(node, "setup", member_body(id="qz-ministry", name="Ministry", country="QZ",
                                           state_status="non-party",
                                           assessment={**GOOD_ASSESSMENT, "standing": "suspended"}))
    return node


def item(value: str = URL, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "url", "value": value, "tlp": "GREEN", "abuse_type": "UNCC-13",
                            "confidence": 80}
    body.update(over)
    return body


def seen(node: Node, who: Caller, *values: Any) -> list[bool]:
    return [r["match"] for r in service.lookup(node, who, list(values))["results"]]


def hanoi(node: Node, *args: str) -> int:
    return run(["--home", str(node.home), *args])


STAFF = Caller("test")
DE = Caller("test", "de-bka")
NL = Caller("test", "nl-police")
FR = Caller("test", "fr-cert")
QZ = Caller("test", "qz-ministry")
PUBLIC = Caller("test", public=True)


def test_each_marking_reaches_only_whom_it_may(partners: Node) -> None:
    node = partners
    service.report(node, "t", "fr-cert", [
        item("hxxp://scam.example[.]com/login"),  # defanged: stored live
        item("red.example.com", type="domain", tlp="RED"),
        item("amber.example.com", type="domain", tlp="AMBER", recipients=["de-bka"]),
        item("strict.example.com", type="domain", tlp="AMBER+STRICT", recipients=["nl-police"]),
        item("clear.example.com", type="domain", tlp="CLEAR"),
        item("private.example.com", type="domain", tlp="GREEN", consent=False),
    ])
    values = [URL, "red.example.com", "amber.example.com", "strict.example.com",
              "clear.example.com", "private.example.com"]
    assert seen(node, STAFF, *values) == [True] * 6
    assert seen(node, FR, *values) == [True] * 6  # the originator sees its own reports
    assert seen(node, DE, *values) == [True, False, True, False, True, False]
    assert seen(node, NL, *values) == [True, False, False, True, True, False]
    assert seen(node, QZ, *values) == [False] * 6
    assert seen(node, PUBLIC, *values) == [False, False, False, False, True, False]


def test_lookup_normalises_and_answers_in_order(partners: Node) -> None:
    node = partners
    service.report(node, "t", None, [item(), item("+33 6 12 34 56 78", type="phone"),
                                     item(URL, confidence=30, tlp="AMBER")])
    out = service.lookup(node, STAFF, [
        "HTTP://SCAM.example.com:80/login#x", {"type": "phone", "value": "0033612345678"},
        "nothing.example", {"type": "ipv4", "value": "999.1.1.1"}])
    first, phone, miss, bad = out["results"]
    # The same source reporting the same URL twice is one report: the later terms hold.
    assert first == {"value": URL, "type": "url", "match": True, "signal_id": 1, "campaign": None,
                     "confidence": 30, "sources": 1, "tlp": "AMBER"}
    assert phone["match"] and phone["value"] == "+33612345678"
    assert miss == {"value": "nothing.example", "type": "domain", "match": False}
    assert not bad["match"] and "IPv4" in bad["error"]


def test_bad_batches_are_refused_whole(partners: Node) -> None:
    node = partners
    with pytest.raises(InvalidInput) as err:
        service.report(node, "t", None, [item(), item("x" * 3000), item(abuse_type="THEFT")])
    fields = {p.field for p in err.value.problems}
    assert fields == {"items[1].value", "items[2].abuse_type"}
    with node.read() as conn:
        assert conn.execute(select(func.count()).select_from(signal_reports)).scalar() == 0
    out = service.report(node, "t", None, [item(), item("x" * 3000)], best_effort=True)
    assert out["stored"] == 1 and [r["ref"] for r in out["rejected"]] == ["items[1]"]
    with pytest.raises(InvalidInput, match="at most 10,000"):
        service.lookup(node, STAFF, ["a.example"] * 10_001)
    with pytest.raises(InvalidInput) as err:
        service.lookup(node, STAFF, ["ok.example", {"type": "domain", "value": "a" * 400}])
    assert err.value.problems[0].field == "values[1]"
    with pytest.raises(InvalidInput, match="empty"):
        service.lookup(node, STAFF, [])


def test_ledger_names_digests_never_values(partners: Node) -> None:
    node = partners
    service.report(node, "t", "fr-cert", [item(related=[{"type": "iban",
                                                         "value": "FR76 3000 6000 0112 3456 7890 189"}])])
    service.report(node, "t", "fr-cert", [item(f"http://x{i}.example.com/") for i in range(3)])
    entries = ledger.page(node, limit=1000)["items"]
    single = next(e for e in entries if e["action"] == "signal.report")
    assert single["subject"] == rows.subject("url", URL)
    assert single["payload"]["related"][0]["type"] == "iban"
    batch = next(e for e in entries if e["action"] == "signal.import")
    assert len(batch["payload"]["reports"]) == 3
    text = json.dumps(entries)
    assert "scam.example.com" not in text and "FR763000" not in text and "x1.example.com" not in text


def test_related_identifiers_make_a_campaign_shown_through_the_gate(partners: Node) -> None:
    node = partners
    # fr-cert consents to onward transfer: the phone and the IBAN are personal data (Art. 36)
    service.report(node, "t", "fr-cert", [item(consent=True,
                                               related=[{"type": "phone", "value": "+33612345678"},
                                                        {"type": "iban", "value": "DE89370400440532013000"}])])
    service.report(node, "t", None, [item("+33612345678", type="phone", tlp="RED",
                                          related=[{"type": "email", "value": "mule@example.org"}])])
    staff = service.campaign(node, STAFF, "DE89 3704 0044 0532 0130 00")
    assert {m["value"] for m in staff["members"]} == {URL, "+33612345678", "DE89370400440532013000",
                                                      "mule@example.org"}
    assert staff["campaign"] == 1 and len(staff["links"]) == 3
    de = service.campaign(node, DE, "+33612345678")
    assert {m["value"] for m in de["members"]} == {URL, "+33612345678", "DE89370400440532013000"}
    assert all(lk["tlp"] == "GREEN" for lk in de["links"])  # the RED link stays home
    with pytest.raises(Exception, match="that you may see"):
        service.campaign(node, DE, "mule@example.org")


def test_feedback_flows_back_to_the_source(partners: Node) -> None:
    node = partners
    service.report(node, "t", "fr-cert", [item()])
    service.feedback(node, DE, "sighting", {"value": URL, "count": 3})
    service.feedback(node, NL, "false-positive", {"value": URL, "note": "our own page"})
    got = service.feedback_for_source(node, "fr-cert")
    assert [(f["kind"], f["member"], f["count"]) for f in got] == [
        ("false-positive", "nl-police", 1), ("sighting", "de-bka", 3)]
    assert service.feedback_for_source(node, "de-bka") == []
    with pytest.raises(Exception, match="that you may see"):
        service.feedback(node, QZ, "sighting", {"value": URL})


def test_a_suspended_source_is_refused_and_the_refusal_ledgered(partners: Node) -> None:
    with pytest.raises(Forbidden) as err:
        service.report(partners, "t", "qz-ministry", [item()])
    assert err.value.rule == "GATE-SUSPENDED"
    last = ledger.page(partners, limit=1000)["items"][-1]
    assert last["action"] == "signal.report.refused" and last["decision"] == "deny"


def test_a_second_process_catches_up_from_the_store(partners: Node) -> None:
    other = open_node(partners.home, migrate=False)
    try:
        assert seen(other, STAFF, URL) == [False]
        service.report(partners, "t", None, [item()])
        assert seen(other, STAFF, URL) == [True]
        other.forget_read_model(read_model.SignalReadModel)
        assert seen(other, DE, URL) == [True]  # rebuilt from the store
    finally:
        other.close()


def test_federation_publish_and_receive_keep_consent(partners: Node) -> None:
    node = partners
    service.report(node, "t", "fr-cert", [item(), item("red.example.com", type="domain", tlp="RED")])
    with node.write("t") as uow:
        queued = send.publish(uow, [1, 2], peers=["de-bka", "qz-ministry"])
    assert queued == {"de-bka": [1]}
    with node.read() as conn:
        rows = conn.execute(select(outbox.c.recipient, outbox.c.payload)).all()
    assert [r.recipient for r in rows] == ["de-bka"]
    assert [r["value"] for r in rows[0].payload["reports"]] == [URL]
    env = SimpleNamespace(id="env-1", payload={"reports": [
        {"id": "77", "source": "at-cert", "type": "domain", "value": "fed.example.com",
         "tlp": "GREEN", "abuse_type": "UNCC-13"}]})
    with node.write("peer") as uow:
        out = receive.on_report(uow, env, {"id": "de-bka"})
    with node.write("peer") as uow:  # the same reports again: applied once
        again = receive.on_report(uow, env, {"id": "de-bka"})
        uow.record("inbox.accepted", "test", {})  # what the inbox writes around a handler
    assert out["stored"] == 1 and again["stored"] == 0
    twice = SimpleNamespace(id="env-2", payload={"reports": [
        {"id": "78", "source": "at-cert", "type": "domain", "value": f"twice-{n}.example.com",
         "tlp": "GREEN", "abuse_type": "UNCC-13"} for n in (1, 2)]})
    with node.write("peer") as uow:  # one id given twice in one envelope: the first is kept
        assert receive.on_report(uow, twice, {"id": "de-bka"})["stored"] == 1
    assert seen(node, STAFF, "twice-1.example.com", "twice-2.example.com") == [True, False]
    assert seen(node, STAFF, "fed.example.com") == [True]
    assert seen(node, NL, "fed.example.com") == [False]  # no consent to onward transfer
    with node.read() as conn:
        assert "fed.example.com" in conn.execute(select(signals_t.c.value)).scalars().all()


# --- the API ---------------------------------------------------------------------------------


def _token(node: Node, role: str, member: str | None = None) -> dict[str, str]:
    secret, _ = tokens.create(node, "test", name=f"{role}-{member}", role=role, member_id=member)
    return auth(secret)


def test_api_report_lookup_campaign_feedback(client: TestClient, partners: Node) -> None:
    node = partners
    fr = _token(node, "analyst", "fr-cert")
    de = _token(node, "analyst", "de-bka")
    platform = _token(node, "platform")
    # The phone is personal data: passed on to another member because FR consents to it.
    r = client.post("/api/v1/signals", json=item(related=[{"type": "phone", "value": "+33612345678"}],
                                                  consent=True), headers=fr)
    assert r.status_code == 201 and r.json()["stored"] == 2
    r = client.post("/api/v1/signals", json={"items": [item("b.example.com", type="domain", tlp="AMBER")],
                                             "source": "de-bka"}, headers=fr)
    assert r.status_code == 403  # a partner reports as itself only
    r = client.post("/api/v1/signals/lookup", json={"values": [URL, "+33 6 12 34 56 78", "no.example"]},
                    headers=de)
    assert r.status_code == 200
    assert [x["match"] for x in r.json()["results"]] == [True, True, False]
    assert r.json()["results"][0]["campaign"] == 1
    r = client.post("/api/v1/signals/lookup", json={"values": [URL]}, headers=platform)
    assert r.json()["results"][0]["match"] is False  # a stranger sees TLP:CLEAR only
    assert client.post("/api/v1/signals", json=item(), headers=platform).status_code == 403
    r = client.get("/api/v1/signals/campaigns", params={"value": "+33612345678"}, headers=de)
    assert r.status_code == 200 and len(r.json()["members"]) == 2
    r = client.post("/api/v1/signals/sightings", json={"value": URL}, headers=de)
    assert r.status_code == 201
    r = client.get("/api/v1/signals/feedback", headers=fr)
    assert [f["member"] for f in r.json()] == ["de-bka"]
    r = client.get("/api/v1/signals", headers=de)
    assert r.status_code == 200 and {x["value"] for x in r.json()} == {URL, "+33612345678"}


def test_api_bad_lookups_are_clear_4xx(client: TestClient, partners: Node) -> None:
    h = _token(partners, "analyst")
    r = client.post("/api/v1/signals/lookup", json={"values": ["a.example"] * 10_001}, headers=h)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["field"] == "values" and r.json()["rule"] == "SIGNAL-LIMITS"
    r = client.post("/api/v1/signals/lookup", json={"values": ["ok.example", "a" * 3000]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "values[1]"
    r = client.post("/api/v1/signals/lookup", content=b"", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    r = client.post("/api/v1/signals/lookup", json={"values": []}, headers=h)
    assert r.status_code == 422
    big = json.dumps({"values": ["a.example"] * 200_000}).encode()
    r = client.post("/api/v1/signals/lookup", content=big, headers={**h, "content-type": "application/json"})
    assert r.status_code == 413
    r = client.post("/api/v1/signals", json={"items": [item(), item("y" * 5000)]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items[1].value"
    # A misspelt field is named, never ignored.
    r = client.post("/api/v1/signals/lookup", json={"values": ["a.example"], "tpye": "domain"}, headers=h)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["tpye"]
    staff = _token(partners, "admin")
    r = client.put("/api/v1/signals/reports/1/named", json={"members": [], "memebrs": []}, headers=staff)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["memebrs"]
    r = client.post("/api/v1/signals/publish", json={"too": ["de-bka"], "since": None}, headers=staff)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["too"]


# --- the CLI ---------------------------------------------------------------------------------

URLHAUS = """################################################################
# abuse.ch URLhaus Database Dump (CSV)
# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter
"1","2026-11-01 10:00:01","http://1.2.3.4:8080/bins/x86","online","","malware_download","elf,mirai","https://urlhaus.abuse.ch/url/1/","abuse_ch"
"2","2026-11-01 10:00:02","ftp://not a url with spaces","offline","","malware_download","exe","https://urlhaus.abuse.ch/url/2/","x"
"3","2026-11-01 10:00:03","http://evil.example.com/a.exe","offline","","malware_download","exe","https://urlhaus.abuse.ch/url/3/","x"
"""


def test_cli_import_is_all_or_nothing_unless_best_effort(partners: Node, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "urlhaus.csv"
    f.write_text(URLHAUS)
    assert hanoi(partners, "signals", "import", str(f), "--tlp", "CLEAR", "--abuse-type", "UNCC-11") == 1
    assert "line 5" in capsys.readouterr().err
    with partners.read() as conn:
        assert conn.execute(select(func.count()).select_from(signal_reports)).scalar() == 0
    assert hanoi(partners, "signals", "import", str(f), "--tlp", "CLEAR", "--abuse-type", "UNCC-11",
                 "--best-effort") == 0
    out = capsys.readouterr()
    assert "3 rows read: 2 new reports" in out.out and "1 rejected; first: line 5" in out.err
    values = tmp_path / "values.txt"
    values.write_text("http://evil.example.com/a.exe\n\nhttp://1.2.3.4:8080/bins/x86\nclean.example\n")
    assert hanoi(partners, "signals", "lookup", str(values), "--json", "--as-member", "de-bka") == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["line"], x["match"]) for x in lines] == [(1, True), (3, True), (4, False)]
    long = tmp_path / "long.txt"
    long.write_text("ok.example\n" + "a" * 5000 + "\n")
    assert hanoi(partners, "signals", "lookup", str(long)) == 1
    assert "line 2" in capsys.readouterr().err


def test_cli_add_campaign_sighting(partners: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(partners, "signals", "add", URL, "--tlp", "GREEN", "--abuse-type", "UNCC-13",
                 "--related", "phone:+33612345678", "--source", "fr-cert") == 0
    assert hanoi(partners, "signals", "campaign", "+33612345678", "--json") == 0
    out = json.loads(_last_json(capsys))
    assert {m["value"] for m in out["members"]} == {URL, "+33612345678"}
    assert hanoi(partners, "signals", "sighting", URL, "--as-member", "de-bka") == 0
    assert hanoi(partners, "signals", "add", URL, "--tlp", "PURPLE", "--abuse-type", "UNCC-13") == 1
    assert "tlp" in capsys.readouterr().err


def _last_json(capsys: pytest.CaptureFixture[str]) -> str:
    text = capsys.readouterr().out
    return text[text.index("{"):]


# --- naming members for an AMBER report -----------------------------------------------------


def _count(node: Node, table: Any) -> int:
    with node.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)


def _named(node: Node, report_id: int) -> list[str]:
    with node.read() as conn:
        return list(conn.execute(select(signal_reports.c.named).where(signal_reports.c.id == report_id)).scalar_one())


def _ids(out: dict[str, Any]) -> list[int]:
    return [r["report_id"] for r in out["reports"]]


AMBER = "amber.example.com"


def test_a_named_member_receives_the_amber_report_everywhere(partners: Node) -> None:
    node = partners
    (amber,) = _ids(service.report(node, "t", None, [item(AMBER, type="domain", tlp="AMBER")]))
    other = open_node(node.home, migrate=False)  # a second API process with its own index
    try:
        assert seen(node, DE, AMBER) == seen(other, DE, AMBER) == [False]  # both indexes built
        got = service.name_members(node, STAFF, amber, ["de-bka"], mode="add")
        assert got["named"] == ["de-bka"] and got["report_id"] == amber and got["tlp"] == "AMBER"
        assert _named(node, amber) == ["de-bka"]
        for process in (node, other):
            assert seen(process, DE, AMBER) == [True] and seen(process, NL, AMBER) == [False]
        assert AMBER in {r["value"] for r in service.list_signals(node, DE)}
        assert AMBER not in {r["value"] for r in service.list_signals(node, NL)}
        assert AMBER in {r["value"] for r in service.reports_for_export(node, "de-bka")}
        assert AMBER not in {r["value"] for r in service.reports_for_export(node, "nl-police")}
        service.name_members(node, STAFF, amber, ["nl-police"], mode="add")
        assert _named(node, amber) == ["de-bka", "nl-police"]
        got = service.name_members(node, STAFF, amber, ["de-bka"], mode="remove")
        assert got["named"] == ["nl-police"]
        for process in (node, other):
            assert seen(process, DE, AMBER) == [False] and seen(process, NL, AMBER) == [True]
        assert AMBER not in {r["value"] for r in service.reports_for_export(node, "de-bka")}
        other.forget_read_model(read_model.SignalReadModel)  # a rebuilt index reads the names from the store
        assert seen(other, NL, AMBER) == [True] and seen(other, DE, AMBER) == [False]
    finally:
        other.close()
    entries = [e for e in ledger.page(node, limit=1000)["items"] if e["action"] == "signal.named"]
    assert [(e["payload"]["added"], e["payload"]["removed"]) for e in entries] == [
        (["de-bka"], []), (["nl-police"], []), ([], ["de-bka"])]
    assert entries[0]["subject"] == rows.subject("domain", AMBER)
    assert AMBER not in json.dumps(entries)  # the ledger names the signal by digest


def test_naming_refuses_what_the_rules_forbid_and_writes_nothing(partners: Node) -> None:
    node = partners
    amber, strict, red, green = _ids(service.report(node, "t", None, [
        item(AMBER, type="domain", tlp="AMBER"), item("strict.example.com", type="domain", tlp="AMBER+STRICT"),
        item("red.example.com", type="domain", tlp="RED"), item("green.example.com", type="domain")]))
    (private,) = _ids(service.report(node, "t", "fr-cert", [item("fr.example.com", type="domain", tlp="AMBER",
                                                                  consent=False)]))
    service.name_members(node, STAFF, amber, ["nl-police"])
    entries, reports = _count(node, ledger_entries), _count(node, signal_reports)

    def refused(kind: type[Exception], report_id: Any, names: Any, mode: str = "set",
                who: Caller = STAFF) -> Any:
        with pytest.raises(kind) as err:
            service.name_members(node, who, report_id, names, mode=mode)
        return err.value

    assert isinstance(refused(Forbidden, amber, ["de-bka"], who=DE), Forbidden)
    assert refused(Conflict, red, ["de-bka"]).rule == "TLP-RED"
    assert refused(Conflict, strict, ["de-bka"]).rule == "TLP-AMBER-STRICT"
    assert refused(Conflict, green, ["de-bka"]).rule == "SIGNAL-NAMED"
    assert refused(Conflict, private, ["de-bka"]).rule == "ONWARD-CONSENT"
    err = refused(InvalidInput, amber, ["de-bka", "xx-nobody"])
    assert [(p.field, p.rule) for p in err.problems] == [("members[1]", None)]
    err = refused(InvalidInput, amber, ["qz-ministry"], mode="add")
    assert [(p.field, p.rule) for p in err.problems] == [("members[0]", "GATE-SUSPENDED")]
    assert refused(InvalidInput, amber, ["Not An Id!"]).problems[0].field == "members[0]"
    assert refused(InvalidInput, amber, "de-bka").problems[0].field == "members"
    assert refused(InvalidInput, amber, ["de-bka"], mode="remove").problems[0].field == "members[0]"
    assert refused(InvalidInput, amber, [], mode="add").problems[0].field == "members"
    assert refused(NotFound, 999, ["de-bka"]).problems[0].field == "report_id"
    assert service.name_members(node, STAFF, amber, ["nl-police"], mode="add")["named"] == ["nl-police"]
    assert (_count(node, ledger_entries), _count(node, signal_reports)) == (entries, reports)
    assert _named(node, amber) == ["nl-police"] and _named(node, red) == []
    assert seen(node, DE, AMBER) == [False]


def test_api_and_cli_name_members(client: TestClient, partners: Node, role_tokens: dict[Any, str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from hanoi.core.roles import Role

    node = partners
    amber, red = _ids(service.report(node, "t", None, [item(AMBER, type="domain", tlp="AMBER"),
                                                       item("red.example.com", type="domain", tlp="RED")]))
    de = _token(node, "analyst", "de-bka")
    url = f"/api/v1/signals/reports/{amber}/named"
    r = client.put(url, json={"members": ["de-bka"]}, headers=auth(role_tokens[Role.ANALYST]))
    assert r.status_code == 200 and r.json()["named"] == ["de-bka"] and r.json()["value"] == AMBER
    r = client.post("/api/v1/signals/lookup", json={"values": [AMBER]}, headers=de)
    assert r.json()["results"][0]["match"] is True
    r = client.get("/api/v1/signals/export", params={"format": "csv"}, headers=de)
    assert AMBER in r.text
    entries = _count(node, ledger_entries)
    for headers, status in ((de, 403), (auth(role_tokens[Role.AUDITOR]), 403),
                            (auth(role_tokens[Role.PLATFORM]), 403)):
        assert client.put(url, json={"members": []}, headers=headers).status_code == status
    admin = auth(role_tokens[Role.ADMIN])
    r = client.put(f"/api/v1/signals/reports/{red}/named", json={"members": ["de-bka"]}, headers=admin)
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM and r.json()["rule"] == "TLP-RED"
    r = client.put(url, json={"members": ["de-bka", "nobody-here"]}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "members[1]"
    r = client.put(url, json={"names": ["de-bka"]}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "names"
    assert client.put("/api/v1/signals/reports/424242/named", json={"members": []}, headers=admin).status_code == 404
    assert _count(node, ledger_entries) == entries and _named(node, amber) == ["de-bka"]
    # The CLI: add, remove, refuse.
    assert hanoi(node, "signals", "name", str(amber), "nl-police", "--json") == 0
    assert json.loads(_last_json(capsys))["named"] == ["de-bka", "nl-police"]
    assert hanoi(node, "signals", "name", str(amber), "de-bka", "--remove") == 0
    assert "named nl-police" in capsys.readouterr().out
    assert seen(node, DE, AMBER) == [False] and seen(node, NL, AMBER) == [True]
    assert hanoi(node, "signals", "name", str(red), "de-bka") == 1
    assert "TLP-RED" in capsys.readouterr().err
    assert hanoi(node, "signals", "name", str(amber), "qz-ministry") == 1
    assert "GATE-SUSPENDED" in capsys.readouterr().err


# --- publishing to federated peers ------------------------------------------------------------


def _queued(node: Node) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with node.read() as conn:
        for row in conn.execute(select(outbox.c.recipient, outbox.c.type, outbox.c.payload).order_by(outbox.c.id)):
            assert row.type == "signal.report"
            out.setdefault(row.recipient, []).extend(r["value"] for r in row.payload["reports"])
    return out


def test_publish_queues_for_each_peer_what_the_gate_allows(partners: Node) -> None:
    node = partners
    service.report(node, "t", None, [item(), item("red.example.com", type="domain", tlp="RED"),
                                     item(AMBER, type="domain", tlp="AMBER", recipients=["nl-police"])])
    out = service.publish_reports(node, STAFF)
    assert out["peers"] == {"de-bka": 1, "fr-cert": 1, "nl-police": 2, "qz-ministry": 0}
    assert out["considered"] == 3 and out["queued"] == 4
    assert _queued(node) == {"de-bka": [URL], "fr-cert": [URL], "nl-police": [URL, AMBER]}  # no RED; QZ nothing
    last = ledger.page(node, limit=1000)["items"][-1]
    assert last["action"] == "signal.publish" and last["payload"]["peers"]["qz-ministry"] == 0
    # Only what was reported since a time; only the peers named.
    later = service.parse_since("2999-01-01T00:00:00Z")
    assert service.publish_reports(node, STAFF, to=["de-bka"], since=later)["peers"] == {"de-bka": 0}
    out = service.publish_reports(node, STAFF, to=["qz-ministry", "de-bka", "de-bka"])
    assert out["peers"] == {"qz-ministry": 0, "de-bka": 1}
    assert "qz-ministry" not in _queued(node)
    rows, entries = _count(node, outbox), _count(node, ledger_entries)
    with pytest.raises(InvalidInput) as err:
        service.publish_reports(node, STAFF, to=["de-bka", "xx-nobody"])
    assert [p.field for p in err.value.problems] == ["to[1]"]
    with pytest.raises(InvalidInput):
        service.publish_reports(node, STAFF, to=[])
    with pytest.raises(Forbidden):
        service.publish_reports(node, DE)
    assert (_count(node, outbox), _count(node, ledger_entries)) == (rows, entries)


def test_api_and_cli_publish(client: TestClient, partners: Node, role_tokens: dict[Any, str],
                             capsys: pytest.CaptureFixture[str]) -> None:
    from hanoi.core.roles import Role

    node = partners
    service.report(node, "t", None, [item(), item("red.example.com", type="domain", tlp="RED")])
    for role in (Role.CASEWORKER, Role.AUDITOR, Role.PLATFORM):
        r = client.post("/api/v1/signals/publish", json={}, headers=auth(role_tokens[role]))
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    r = client.post("/api/v1/signals/publish", json={}, headers=_token(node, "analyst", "de-bka"))
    assert r.status_code == 403  # a partner's token
    r = client.post("/api/v1/signals/publish", json={"to": ["de-bka"], "since": "yesterday"},
                    headers=auth(role_tokens[Role.ANALYST]))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "since"
    assert _count(node, outbox) == 0
    r = client.post("/api/v1/signals/publish", json={"to": ["de-bka", "qz-ministry"],
                                                     "since": "2000-01-01T00:00:00Z"},
                    headers=auth(role_tokens[Role.ANALYST]))
    assert r.status_code == 202 and r.json()["peers"] == {"de-bka": 1, "qz-ministry": 0}
    assert _queued(node) == {"de-bka": [URL]}
    assert hanoi(node, "signals", "publish", "--to", "nl-police", "--json") == 0
    assert json.loads(_last_json(capsys))["peers"] == {"nl-police": 1}
    assert hanoi(node, "signals", "publish", "--to", "qz-ministry") == 0
    assert "nothing for qz-ministry" in capsys.readouterr().out
    assert hanoi(node, "signals", "publish", "--to", "nobody-here") == 1
    assert "to[0]" in capsys.readouterr().err
    assert _queued(node) == {"de-bka": [URL], "nl-police": [URL]}


def test_a_hand_edit_of_the_policy_is_ledgered_before_a_lookup_decides_under_it(partners: Node) -> None:
    """The read paths read the policy through the one accessor: a partner under concerns is
    shown GREEN reports while the policy says review; once an admin edits the file by hand to
    deny, the very next lookup first ledgers policy.changed, then decides under it."""
    node = partners
    members.assess(node, "t", "de-bka", {**GOOD_ASSESSMENT, "standing": "concerns",
                                         "findings": "Unanswered questions on data retention"})
    service.report(node, "t", None, [item(tlp="CLEAR"), item("green.example.com", type="domain")])
    assert seen(node, DE, URL) == [True]  # CLEAR goes to anyone not suspended
    before = ledger.page(node, subject="policy")["items"]
    path = node.home / "policy.yaml"
    path.write_text(path.read_text().replace("concerns: review", "concerns: deny"))
    out = service.lookup(node, DE, [URL, "green.example.com"])
    after = ledger.page(node, subject="policy")["items"]
    changed = [e for e in after if e not in before]
    assert [e["action"] for e in changed] == ["policy.changed"]
    assert changed[0]["payload"]["policy"]["concerns"] == "deny"
    disclosed = ledger.page(node, subject="member:de-bka")["items"][-1]
    assert disclosed["action"] == "signal.lookup"
    assert disclosed["seq"] > changed[0]["seq"]  # the decision came after the change was on record
    assert disclosed["payload"]["policy_digest"] == changed[0]["payload"]["digest"]
    assert [r["match"] for r in out["results"]] == [True, False]
