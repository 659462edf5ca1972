"""The law tables reviewed (issue 13 item 6): where the Convention leaves a choice to the
requested State the node policy makes it (refuse or review); grounds written in words are
recognised like their codes; a mistyped IBAN or Ethereum address is a checksum error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from hanoi.cli.main import run
from hanoi.core.roles import Role
from hanoi.demo import sample_partners
from hanoi.node import members
from hanoi.node.runtime import Node
from hanoi.requests.samples import STORED_DATA_FIELDS
from tests.node.helpers import auth


@pytest.fixture
def partners(node: Node) -> Node:
    for spec in sample_partners():
        members.add(node, "setup", spec)
    return node


def hanoi(node: Node, *args: str) -> int:
    return run(["--home", str(node.home), *args])


def set_policy(node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str], **changes: Any) -> None:
    assert hanoi(node, "policy", "show", "--json") == 0
    import json

    doc = json.loads(capsys.readouterr().out)["policy"]
    f = tmp_path / "policy.yaml"
    f.write_text(yaml.safe_dump({**doc, **changes}))
    assert hanoi(node, "policy", "set", str(f)) == 0, capsys.readouterr().err
    capsys.readouterr()


def incoming(client: TestClient, cw: dict[str, str]) -> str:
    r = client.post("/api/v1/requests", json={"type": "stored-data", "partner": "fr-pharos", "direction": "incoming",
                                              "via": "e-mail", "fields": STORED_DATA_FIELDS}, headers=cw)
    assert r.status_code == 201, r.text
    rid = str(r.json()["id"])
    assert client.post(f"/api/v1/requests/{rid}/events", json={"event": "acknowledge"}, headers=cw).status_code == 200
    return rid


@pytest.mark.parametrize("choice", ["deny", "review"])
def test_dual_criminality_not_met_follows_the_node_policy(client: TestClient, partners: Node,
                                                          role_tokens: dict[Role, str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str], choice: str) -> None:
    cw = auth(role_tokens[Role.CASEWORKER])
    if choice == "review":
        set_policy(partners, tmp_path, capsys, dual_criminality_not_met="review")
    rid = incoming(client, cw)
    shown = client.post(f"/api/v1/requests/{rid}/assessment", json={"dual_criminality": "not-met"},
                        headers=cw).json()
    reason = next(r for r in shown["decision"]["reasons"] if r["code"] == "GATE-DUAL-CRIMINALITY")
    assert reason["effect"] == choice and f"dual_criminality_not_met: {choice}" in reason["detail"]
    r = client.post(f"/api/v1/requests/{rid}/events", json={"event": "start"}, headers=cw)
    assert r.status_code == (403 if choice == "deny" else 409) and r.json()["rule"] == "GATE-DUAL-CRIMINALITY"
    client.post(f"/api/v1/requests/{rid}/review", json={"reviewer": "Legal adviser", "approved": True,
                                                      "note": "Assist: the conduct is close enough"}, headers=cw)
    r = client.post(f"/api/v1/requests/{rid}/events", json={"event": "start"}, headers=cw)
    assert r.status_code == (403 if choice == "deny" else 200)  # a deny policy is not reviewable


@pytest.mark.parametrize("choice", ["deny", "review"])
def test_the_discrimination_ground_follows_the_node_policy(client: TestClient, partners: Node,
                                                           role_tokens: dict[Role, str], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str], choice: str) -> None:
    cw = auth(role_tokens[Role.CASEWORKER])
    if choice == "review":
        set_policy(partners, tmp_path, capsys, discrimination_found="review")
    rid = incoming(client, cw)
    client.post(f"/api/v1/requests/{rid}/assessment", json={"dual_criminality": "met"}, headers=cw)
    shown = client.post(f"/api/v1/requests/{rid}/review", headers=cw, json={
        "reviewer": "Legal adviser", "approved": False, "discrimination_found": True,
        "note": "The account holder is a journalist"}).json()
    assert shown["decision"]["outcome"] == choice
    assert shown["gate"]["rule"] == "GATE-DISCRIMINATION"
    r = client.post(f"/api/v1/requests/{rid}/events", json={"event": "start"}, headers=cw)
    assert r.status_code == (403 if choice == "deny" else 409) and r.json()["rule"] == "GATE-DISCRIMINATION"


def test_a_bad_policy_choice_names_the_key_and_the_rule(partners: Node, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(partners, "policy", "show", "--json") == 0
    import json

    doc = json.loads(capsys.readouterr().out)["policy"]
    f = tmp_path / "policy.yaml"
    f.write_text(yaml.safe_dump({**doc, "dual_criminality_not_met": "allow"}))
    assert hanoi(partners, "policy", "set", str(f)) == 1
    err = capsys.readouterr().err
    assert "policy.dual_criminality_not_met" in err and "GATE-DUAL-CRIMINALITY" in err


@pytest.mark.parametrize(("written", "rule"), [
    ("fiscal matters", "NOT-GROUND-FISCAL"), ("Tax matters", "NOT-GROUND-FISCAL"),
    ("bank secrecy", "NOT-GROUND-BANK-SECRECY"), ("Banking secrecy.", "NOT-GROUND-BANK-SECRECY"),
])
def test_a_ground_that_is_not_one_is_recognised_in_words(client: TestClient, partners: Node,
                                                         role_tokens: dict[Role, str], written: str,
                                                         rule: str) -> None:
    cw = auth(role_tokens[Role.CASEWORKER])
    rid = incoming(client, cw)
    client.post(f"/api/v1/requests/{rid}/events", json={"event": "consult"}, headers=cw)
    r = client.post(f"/api/v1/requests/{rid}/response", headers=cw,
                    json={"kind": "refused", "grounds": [written], "reason": "Because."})
    assert r.status_code == 422 and rule in {e.get("rule") for e in r.json()["errors"]}
    assert client.get(f"/api/v1/requests/{rid}", headers=cw).json()["state"] == "consultation"


@pytest.mark.parametrize(("written", "code"), [
    ("essential interests", "REFUSE-ESSENTIAL-INTERESTS"), ("ordre public", "REFUSE-ESSENTIAL-INTERESTS"),
    ("Domestic law", "REFUSE-DOMESTIC-LAW"), ("discrimination", "REFUSE-DISCRIMINATION"),
])
def test_a_ground_in_words_is_recorded_as_its_code(client: TestClient, partners: Node,
                                                   role_tokens: dict[Role, str], written: str, code: str) -> None:
    cw = auth(role_tokens[Role.CASEWORKER])
    rid = incoming(client, cw)
    client.post(f"/api/v1/requests/{rid}/events", json={"event": "consult"}, headers=cw)
    r = client.post(f"/api/v1/requests/{rid}/response", headers=cw,
                    json={"kind": "refused", "grounds": [written], "reason": "Reasons given."})
    assert r.status_code == 200, r.text
    assert r.json()["response"]["grounds"][0]["code"] == code


@pytest.mark.parametrize(("value", "kind"), [
    ("GB82 WEST 1234 5698 7654 33", "iban"),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "eth"),
])
def test_a_checksum_error_is_reported_as_one_without_a_type(partners: Node, capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path, value: str, kind: str) -> None:
    assert hanoi(partners, "signals", "add", value, "--tlp", "GREEN", "--offence", "UNCC-13") == 1
    err = capsys.readouterr().err
    assert "checksum" in err and f"({kind})" in err and "cannot tell" not in err
    values = tmp_path / "values.txt"
    values.write_text(value + "\n")
    assert hanoi(partners, "signals", "lookup", str(values)) in (0, 1)
    out = capsys.readouterr()
    assert "checksum" in out.out + out.err and "cannot tell" not in out.out + out.err
