"""`hanoi members add|list|show|assess|add-key|expire-key` and `hanoi tokens`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hanoi.cli.main import run
from hanoi.node import ledger
from hanoi.node.runtime import Node
from tests.node.helpers import public_key


def hanoi(node: Node, *args: str) -> int:
    return run(["--home", str(node.home), *args])


def test_add_list_show_assess(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    key = public_key()
    assert hanoi(node, "members", "add", "--name", "PHAROS", "--kind", "contact-point", "--country", "fr",
                 "--key", key, "--language", "fr", "--24-7", "--json") == 0
    added = json.loads(capsys.readouterr().out)
    assert added["id"] == "fr-pharos" and added["country"] == "FR" and added["standing"] == "concerns"
    assert added["keys"][0]["public_key"] == key

    assert hanoi(node, "members", "assess", "fr-pharos", "--standing", "good", "--assessor", "J. Doe",
                 "--findings", "Judicial oversight of requests.", "--article", "6", "--article", "24",
                 "--source", "Ministry note 12/2025") == 0
    out = capsys.readouterr().out
    assert "standing: good" in out

    assert hanoi(node, "members", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(m["id"], m["standing"]) for m in listed] == [("fr-pharos", "good")]

    assert hanoi(node, "members", "show", "fr-pharos", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["assessments"][0]["articles"] == ["6", "24"]
    assert shown["assessments"][0]["recorded_by"].startswith("cli:")


def test_add_from_yaml_file(node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = {"id": "qz-ministry", "name": "Ministry of Order", "kind": "central-authority", "country": "QZ",
            "state_status": "non-party", "keys": [{"public_key": public_key(), "kid": "qz-1"}],
            "assessment": {"standing": "suspended", "assessor": "Safeguards board",
                           "findings": "Requests used against political opponents.",
                           "articles": ["6", "40(22)"], "sources": ["UN special rapporteur 2026"]}}
    path = tmp_path / "member.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert hanoi(node, "members", "add", "--from", str(path), "--json") == 0
    m = json.loads(capsys.readouterr().out)
    assert m["standing"] == "suspended" and m["country_name"] == "user-assigned (QZ)"
    actions = [e["action"] for e in ledger.page(node)["items"]]
    assert actions[-2:] == ["member.add", "member.assess"]


def test_errors_are_one_line_per_problem_and_write_nothing(node: Node,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = ledger.verify(node).count
    code = hanoi(node, "members", "add", "--name", "X", "--kind", "bank", "--country", "YY", "--key", "abc")
    err = capsys.readouterr().err
    assert code == 1
    lines = [line.strip() for line in err.splitlines() if line.strip().startswith("- ")]
    assert any(line.startswith("- kind:") for line in lines)
    assert any(line.startswith("- country:") and "MEMBER-STATE" in line for line in lines)
    assert any(line.startswith("- keys[0].public_key:") for line in lines)
    assert ledger.verify(node).count == before

    assert hanoi(node, "members", "assess", "nobody", "--standing", "good", "--assessor", "a",
                 "--findings", "f", "--article", "6") == 1
    assert "no member 'nobody'" in capsys.readouterr().err


def test_duplicate_member_refused(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("members", "add", "--name", "CERT-FR", "--kind", "cert", "--country", "FR")
    assert hanoi(node, *args) == 0
    assert hanoi(node, *args) == 1
    assert "already exists" in capsys.readouterr().err


def test_key_rotation_without_downtime(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(node, "members", "add", "--name", "BKA", "--kind", "law-enforcement", "--country", "DE",
                 "--key", public_key()) == 0
    # "--" ends the options: a base64url key may start with "-"
    assert hanoi(node, "members", "add-key", "de-bka", "--kid", "de-bka:2027", "--", public_key()) == 0
    capsys.readouterr()
    assert hanoi(node, "members", "show", "de-bka", "--json") == 0
    keys_now = json.loads(capsys.readouterr().out)["keys"]
    assert [k["valid_now"] for k in keys_now] == [True, True]  # overlap: both valid
    assert hanoi(node, "members", "expire-key", "de-bka", "de-bka:k1", "--json") == 0
    after = json.loads(capsys.readouterr().out)["keys"]
    assert [(k["kid"], k["valid_now"]) for k in after] == [("de-bka:k1", False), ("de-bka:2027", True)]
    assert hanoi(node, "members", "add-key", "de-bka", "not a key") == 1


def test_tokens_cli(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(node, "tokens", "create", "--role", "auditor", "--name", "Inspector", "--expires", "7d", "--json") == 0
    created = json.loads(capsys.readouterr().out)
    assert created["token"].startswith("hx_") and created["expires_at"]
    assert hanoi(node, "tokens", "create", "--role", "root", "--name", "x") == 1
    assert "role: 'root' is not one of" in capsys.readouterr().err
    assert hanoi(node, "tokens", "create", "--role", "auditor", "--name", "x", "--expires", "soon") == 1
    assert hanoi(node, "tokens", "revoke", created["id"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert hanoi(node, "tokens", "list", "--json") == 0
    listed = {t["id"]: t for t in json.loads(capsys.readouterr().out)}
    assert listed[created["id"]]["revoked_at"]


def test_no_node_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--home", str(tmp_path / "none"), "members", "list"]) == 1
    assert "run `hanoi --home" in capsys.readouterr().err
