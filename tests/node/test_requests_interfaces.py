"""Requests through the API and the CLI: the same service, the same errors, evidence packages."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from markupsafe import escape as html_escape

from hanoi.cli.main import run
from hanoi.core.roles import Role
from hanoi.demo import sample_partners
from hanoi.node import ledger, members
from hanoi.node.runtime import Node
from hanoi.requests.samples import PRESERVATION_FIELDS, STORED_DATA_FIELDS
from tests.node.helpers import auth

PROBLEM = "application/problem+json"


@pytest.fixture
def partners(node: Node) -> Node:
    for spec in sample_partners():
        members.add(node, "setup", spec)
    return node


def hanoi(node: Node, *args: str) -> int:
    return run(["--home", str(node.home), *args])


def test_api_draft_validate_submit_timeline(client: TestClient, partners: Node, role_tokens: dict[Role, str]) -> None:
    cw = auth(role_tokens[Role.CASEWORKER])
    r = client.post("/api/v1/requests/validate", json={"type": "preservation", "fields": {}}, headers=cw)
    assert r.status_code == 200 and r.json()["ok"] is False
    cited = {p["field"]: p["citation"] for p in r.json()["problems"]}
    assert cited["data_concerned"].startswith("UNCC Art. 42")

    r = client.post("/api/v1/requests", json={"type": "preservation", "partner": "fr-pharos",
                                              "fields": {"offence_code": "UNCC-13"}}, headers=cw)
    assert r.status_code == 201
    rid = r.json()["id"]
    r = client.post(f"/api/v1/requests/{rid}/submit", headers=cw)
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["rule"] == "CONTENT-REQUIRED"
    assert all(e.get("citation") for e in r.json()["errors"])

    r = client.patch(f"/api/v1/requests/{rid}", json={"fields": PRESERVATION_FIELDS}, headers=cw)
    assert r.status_code == 200
    r = client.post(f"/api/v1/requests/{rid}/submit", headers=cw)
    assert r.status_code == 200 and r.json()["state"] == "submitted"
    r = client.post(f"/api/v1/requests/{rid}/events", json={"event": "execute"}, headers=cw)
    assert r.status_code == 422  # a response is not an event
    r = client.post(f"/api/v1/requests/{rid}/events", json={"event": "preserve"}, headers=cw)
    assert r.status_code == 409 and "requested side's to make" in r.json()["detail"]
    r = client.post(f"/api/v1/requests/{rid}/events", json={"event": "preserve", "via": "fax"}, headers=cw)
    assert r.status_code == 409
    assert "submitted" in r.json()["detail"] and "receive" in r.json()["detail"]
    timeline = client.get(f"/api/v1/requests/{rid}/timeline", headers=cw).json()
    assert [e["action"] for e in timeline][-2:] == ["request.gate.submit", "request.submit"]


def test_api_gate_denial_is_403_with_every_reason(client: TestClient, partners: Node,
                                                  role_tokens: dict[Role, str]) -> None:
    cw = auth(role_tokens[Role.CASEWORKER])
    rid = client.post("/api/v1/requests", json={"type": "preservation", "partner": "qz-ministry",
                                                "fields": PRESERVATION_FIELDS}, headers=cw).json()["id"]
    r = client.post(f"/api/v1/requests/{rid}/submit", headers=cw)
    assert r.status_code == 403
    body = r.json()
    assert body["title"] == "Refused by the safeguards gate"
    assert body["rule"] == "GATE-SUSPENDED" and body["citation"] == "UNCC Art. 6"
    assert {e["rule"] for e in body["errors"]} >= {"GATE-SUSPENDED", "GATE-NON-PARTY"}


def test_api_roles_on_requests(client: TestClient, partners: Node, role_tokens: dict[Role, str]) -> None:
    body = {"type": "preservation", "partner": "fr-pharos", "fields": {}}
    for role, code in ((Role.CASEWORKER, 201), (Role.ADMIN, 201), (Role.ANALYST, 403), (Role.AUDITOR, 403),
                       (Role.PLATFORM, 403)):
        assert client.post("/api/v1/requests", json=body, headers=auth(role_tokens[role])).status_code == code
    for role, code in ((Role.AUDITOR, 200), (Role.CASEWORKER, 200), (Role.PLATFORM, 403), (Role.ANALYST, 403)):
        assert client.get("/api/v1/requests", headers=auth(role_tokens[role])).status_code == code
        assert client.get("/api/v1/requests/due?within=7d", headers=auth(role_tokens[role])).status_code == code


def test_api_bad_inputs(client: TestClient, partners: Node, role_tokens: dict[Role, str]) -> None:
    cw = auth(role_tokens[Role.CASEWORKER])
    cases = [
        ({"type": "wiretap", "partner": "fr-pharos"}, 422, "type"),
        ({"type": "preservation", "partner": "nobody"}, 404, "partner"),
        ({"type": "preservation", "partner": "fr-pharos", "fields": {"offence_code": "UNCC-99"}}, 422, "offence_code"),
        ({"type": "preservation", "partner": "fr-pharos", "fields": []}, 422, "fields"),
        ({"type": "preservation", "partner": "fr-pharos", "direction": "sideways"}, 422, "direction"),
    ]
    before = ledger.verify(partners).count
    for body, status, field in cases:
        r = client.post("/api/v1/requests", json=body, headers=cw)
        assert r.status_code == status, (body, r.text)
        assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert client.get("/api/v1/requests/due?within=soon", headers=cw).status_code == 422
    assert client.post("/api/v1/requests", json=[1, 2], headers=cw).status_code == 422
    assert ledger.verify(partners).count == before


def test_api_policy_show_and_replace(client: TestClient, partners: Node, role_tokens: dict[Role, str]) -> None:
    shown = client.get("/api/v1/policy", headers=auth(role_tokens[Role.CASEWORKER])).json()
    assert shown["policy"]["concerns"] == "review"
    assert any(r["code"] == "GATE-SUSPENDED" for r in shown["rules"])
    doc = {**shown["policy"], "serious_crime_min_years": 5}
    assert client.put("/api/v1/policy", json=doc, headers=auth(role_tokens[Role.CASEWORKER])).status_code == 403
    r = client.put("/api/v1/policy", json=doc, headers=auth(role_tokens[Role.ADMIN]))
    assert r.status_code == 200 and r.json()["policy"]["serious_crime_min_years"] == 5
    bad = client.put("/api/v1/policy", json={**doc, "serious_crime_min_years": 2},
                     headers=auth(role_tokens[Role.ADMIN]))
    assert bad.status_code == 422
    assert "serious_crime_min_years" in bad.json()["errors"][0]["field"]


def test_api_evidence_upload_package_and_limits(client: TestClient, partners: Node,
                                                role_tokens: dict[Role, str], tmp_path: Path) -> None:
    cw = auth(role_tokens[Role.CASEWORKER])
    rid = client.post("/api/v1/requests", json={"type": "stored-data", "partner": "fr-pharos",
                                                "direction": "incoming", "fields": STORED_DATA_FIELDS},
                      headers=cw).json()["id"]
    r = client.post(f"/api/v1/requests/{rid}/evidence", files={"file": ("log.txt", b"line 1\n", "text/plain")},
                    data={"description": "provider log"}, headers=cw)
    assert r.status_code == 201 and len(r.json()["sha256"]) == 64
    partners.config.max_evidence_bytes = 2048
    try:
        big = client.post(f"/api/v1/requests/{rid}/evidence", files={"file": ("big.bin", b"x" * 4096)}, headers=cw)
        assert big.status_code == 413
    finally:
        partners.config.max_evidence_bytes = 100 * 1_048_576
    assert [e["name"] for e in client.get(f"/api/v1/requests/{rid}", headers=cw).json()["evidence"]] == ["log.txt"]
    r = client.get(f"/api/v1/requests/{rid}/evidence/package", headers=cw)
    assert r.status_code == 409 and r.json()["rule"] == "GATE-DUAL-CRIMINALITY"  # a hand-over waits for the gate
    client.post(f"/api/v1/requests/{rid}/assessment", json={"dual_criminality": "met"}, headers=cw)
    r = client.get(f"/api/v1/requests/{rid}/evidence/package", headers=cw)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    pkg = tmp_path / "pkg.zip"
    pkg.write_bytes(r.content)
    from hanoi.requests.packages import verify_package

    assert verify_package(pkg).ok
    actions = [e["action"] for e in client.get(f"/api/v1/requests/{rid}/timeline", headers=cw).json()]
    assert "evidence.add" in actions and "evidence.export" in actions


def test_cli_validate_from_file_lists_each_problem_and_exits_1(partners: Node, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump({"type": "preservation", "partner": "fr-pharos",
                                     "offence_code": "UNCC-13", "language": "en"}))
    before = ledger.verify(partners).count
    assert hanoi(partners, "requests", "validate", "--from", str(draft)) == 1
    out = capsys.readouterr().out.splitlines()
    assert "data_concerned: is required for a preservation request (data concerned)  " \
           "[PRESERVE-DATA, UNCC Art. 42(~3(c))]" in out
    assert any(line.startswith("mla_to_follow:") and "Art. 42" in line for line in out)
    assert ledger.verify(partners).count == before  # nothing stored

    draft.write_text(yaml.safe_dump({"type": "preservation", "partner": "fr-pharos", **PRESERVATION_FIELDS}))
    assert hanoi(partners, "requests", "validate", "--from", str(draft)) == 0


def test_cli_new_submit_due_timeline_render(partners: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "incoming.json"
    f.write_text(json.dumps({"type": "preservation", "fields": PRESERVATION_FIELDS}))
    assert hanoi(partners, "requests", "new", "--from", str(f), "--partner", "fr-pharos", "--incoming",
                 "--via", "24/7 e-mail", "--json") == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    for ev in ("acknowledge", "start", "preserve"):
        assert hanoi(partners, "requests", "event", rid, ev) == 0
    capsys.readouterr()
    assert hanoi(partners, "requests", "event", rid, "acknowledge") == 1
    err = capsys.readouterr().err
    assert "preserved" in err and "extend" in err  # names the state and the allowed moves
    assert hanoi(partners, "requests", "due", "--within", "61d", "--json") == 0
    due = json.loads(capsys.readouterr().out)
    assert [d["request_id"] for d in due] == [rid]
    assert hanoi(partners, "requests", "due", "--within", "7d", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    assert hanoi(partners, "requests", "timeline", rid, "--json") == 0
    actions = [e["action"] for e in json.loads(capsys.readouterr().out)]
    assert actions[:4] == ["request.create", "request.submit", "request.receive", "request.gate.receipt"]
    assert hanoi(partners, "requests", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["state"] == "preserved"


def test_cli_refusal_needs_a_ground(partners: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "in.yaml"
    f.write_text(yaml.safe_dump({"type": "emergency", "partner": "fr-pharos", "direction": "incoming",
                                 "fields": {"requesting_authority": "PHAROS", "facts_summary": "Threat to life",
                                            "assistance_sought": "Subscriber data", "data_concerned": "IP log",
                                            "emergency_risk": "Suicide risk announced online", "language": "en"}}))
    assert hanoi(partners, "requests", "new", "--from", str(f), "--json") == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    assert hanoi(partners, "requests", "respond", rid, "--kind", "refused", "--reason", "no") == 1
    assert "grounds" in capsys.readouterr().err
    assert hanoi(partners, "requests", "respond", rid, "--kind", "refused", "--ground", "fiscal",
                 "--reason", "tax") == 1
    assert "NOT-GROUND-FISCAL" in capsys.readouterr().err


def test_cli_evidence_export_and_offline_verify_names_a_tampered_file(partners: Node, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"type": "stored-data", "partner": "fr-pharos", "direction": "incoming",
                             "fields": STORED_DATA_FIELDS}))
    assert hanoi(partners, "requests", "new", "--from", str(f), "--json") == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    for name, data in (("subscriber.csv", b"name,email\nX,contact@invest-fortune.example\n"),
                       ("traffic.log", b"2026-11-01T10:00:00Z 192.0.2.7 login\n")):
        p = tmp_path / name
        p.write_bytes(data)
        assert hanoi(partners, "evidence", "add", rid, str(p)) == 0
    assert hanoi(partners, "requests", "assess", rid, "--dual-criminality", "met") == 0
    pkg = tmp_path / "pkg.zip"
    assert hanoi(partners, "evidence", "export", rid, "-o", str(pkg)) == 0
    capsys.readouterr()
    assert run(["evidence", "verify", str(pkg)]) == 0
    assert "package ok: 2 files" in capsys.readouterr().out

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(pkg) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("traffic.log"):
                data = data.replace(b"192.0.2.7", b"192.0.2.8")
            dst.writestr(item, data)
    assert run(["evidence", "verify", str(tampered)]) == 1
    out = capsys.readouterr().out
    assert "FAILED  files/traffic.log" in out
    assert "ok      files/subscriber.csv" in out
    assert run(["evidence", "verify", str(tmp_path / "in.json")]) == 2
    custody = [e["action"] for e in ledger.page(partners, subject=f"request:{rid}")["items"]]
    assert custody.count("evidence.add") == 2 and custody.count("evidence.export") == 1


def test_cli_bad_evidence_is_refused(partners: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(partners, "evidence", "add", "GB-2026-nope", str(tmp_path / "missing.pdf")) == 1
    assert "not a readable file" in capsys.readouterr().err
    p = tmp_path / "x.txt"
    p.write_bytes(io.BytesIO(b"x").getvalue())
    assert hanoi(partners, "evidence", "add", "GB-2026-nope", str(p)) == 1
    assert "no request" in capsys.readouterr().err


def test_printable_form_through_cli_and_api(client: TestClient, partners: Node, role_tokens: dict[Role, str],
                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cw = auth(role_tokens[Role.CASEWORKER])
    rid = client.post("/api/v1/requests", json={"type": "preservation", "partner": "fr-pharos",
                                                "fields": {**PRESERVATION_FIELDS, "custodian": None}},
                      headers=cw).json()["id"]
    html = client.get(f"/api/v1/requests/{rid}/render?format=html", headers=cw)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    text = html.text
    assert rid in text and "UNCC Art. 42(~3(c))" in text
    assert str(html_escape(PRESERVATION_FIELDS["data_relation"])) in text
    pdf = client.get(f"/api/v1/requests/{rid}/render?format=pdf", headers=cw)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"/api/v1/requests/{rid}/render?format=docx", headers=cw).status_code == 422
    out = tmp_path / "form.pdf"
    assert hanoi(partners, "requests", "render", rid, "-o", str(out)) == 0
    from pypdf import PdfReader

    extracted = "".join(page.extract_text() for page in PdfReader(str(out)).pages)
    assert rid in extracted and "Art. 42" in extracted


def test_the_form_names_both_authorities_and_the_submission(client: TestClient, partners: Node,
                                                           role_tokens: dict[Role, str], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A submitted request's form says who asks whom, when it was submitted, and who signs."""
    from pypdf import PdfReader

    cw = auth(role_tokens[Role.CASEWORKER])
    rid = client.post("/api/v1/requests", json={"type": "preservation", "partner": "fr-pharos",
                                                "fields": PRESERVATION_FIELDS}, headers=cw).json()["id"]
    submitted = client.post(f"/api/v1/requests/{rid}/submit", headers=cw)
    assert submitted.status_code == 200, submitted.text
    submit_ts = next(e["ts"] for e in client.get(f"/api/v1/requests/{rid}/timeline", headers=cw).json()
                     if e["action"] == "request.submit")
    out = tmp_path / "form.pdf"
    assert hanoi(partners, "requests", "render", rid, "-o", str(out)) == 0
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(str(out)).pages)
    assert f"Requesting authority: {partners.config.name} (GB)" in text
    assert "Requested authority: PHAROS / OFAC 24/7 point of contact (FR)" in text
    assert f"Submitted: {submit_ts}" in text and "not submitted" not in text and "not given (" not in text
    assert PRESERVATION_FIELDS["requesting_authority"] in text.split("Signature")[-2]  # the signing authority
    html = client.get(f"/api/v1/requests/{rid}/render?format=html", headers=cw).text
    assert f"{partners.config.name} (GB)" in html and "PHAROS / OFAC 24/7 point of contact (FR)" in html
    assert submit_ts in html


@pytest.mark.parametrize("name", ["form.docx", "form", "form.pdf.txt"])
def test_render_refuses_a_file_it_cannot_write(partners: Node, tmp_path: Path, name: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump({"type": "preservation", "fields": PRESERVATION_FIELDS}))
    assert hanoi(partners, "requests", "new", "--from", str(f), "--partner", "fr-pharos", "--json") == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    assert hanoi(partners, "requests", "render", rid, "-o", str(tmp_path / name)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and ".pdf or an .html" in err
    assert not (tmp_path / name).exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_new_asks_for_each_field(partners: Node, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Without --from, `requests new` prompts for every field of the type, required ones first."""
    from hanoi.requests.contents import fields_for

    answers = {
        "requesting_authority": "UK Central Authority", "offence_code": "UNCC-13",
        "facts_summary": "Investment fraud against 214 victims.", "data_concerned": "Account data",
        "data_relation": "Used to contact victims", "preservation_necessity": "Deletion after 30 days",
        "mla_to_follow": "y", "language": "en",
    }
    specs = sorted(fields_for("preservation"), key=lambda s: not s.required("preservation"))
    lines = [answers.get(s.name, "") if s.kind != "bool" or s.name in answers else "n" for s in specs]
    monkeypatch.setattr("sys.stdin", _Terminal("\n".join([*lines, ""]) + "\n"))
    assert hanoi(partners, "requests", "new", "--type", "preservation", "--partner", "fr-pharos", "--json") == 0
    out = capsys.readouterr().out
    created = json.loads(out[out.index("{"):])
    assert created["fields"]["offence_code"] == "UNCC-13"
    assert created["fields"]["mla_to_follow"] is True
    assert all(r["ok"] for r in created["checklist"]), [r for r in created["checklist"] if not r["ok"]]


def test_cli_new_without_a_terminal_asks_for_a_file(partners: Node, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert hanoi(partners, "requests", "new", "--type", "preservation", "--partner", "fr-pharos") == 1
    assert "--from FILE" in capsys.readouterr().err
