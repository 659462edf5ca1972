"""What a newcomer looks for on the command line: this node's identity for partners, the offence
catalogue, a request template, the id of a new request, what a submission to a member without
an endpoint means, and one delivery round."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hanoi.cli.main import run
from hanoi.config import load_config, save_config
from hanoi.core import keys
from hanoi.core.offences import catalogue
from hanoi.demo import sample_partners
from hanoi.node import members
from hanoi.node.runtime import Node
from hanoi.requests.samples import PRESERVATION_FIELDS


def hanoi(node: Node, *args: str) -> int:
    return run(["--home", str(node.home), *args])


def out_json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_node_show_gives_a_partner_what_it_needs(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(node, "node", "show", "--json") == 0
    me = out_json(capsys)
    assert me["node_id"] == node.node_id and me["public_key"] == node.public_key_b64
    assert me["fingerprint"] == keys.fingerprint(node.public_key_b64)
    assert me["descriptor_url"] is None  # no public URL yet
    assert hanoi(node, "node", "show", "--public-key") == 0
    assert capsys.readouterr().out.strip() == node.public_key_b64
    assert hanoi(node, "node", "show") == 0
    text = capsys.readouterr().out
    assert node.public_key_b64 in text and me["fingerprint"] in text and "public_url" in text

    config = load_config(node.home)
    config.public_url = "https://gb.example.org/"
    save_config(node.home, config)
    assert hanoi(node, "node", "show", "--json") == 0
    assert out_json(capsys)["descriptor_url"] == "https://gb.example.org/federation/v1/descriptor"


def test_offences_lists_every_code_with_its_article(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(node, "offences", "--json") == 0
    assert out_json(capsys) == catalogue()
    assert hanoi(node, "offences") == 0
    text = capsys.readouterr().out
    assert all(o["code"] in text and o["citation"] in text for o in catalogue())


@pytest.fixture
def partner(node: Node) -> str:
    spec = next(p for p in sample_partners() if p["id"] == "fr-pharos")
    members.add(node, "setup", {**spec, "endpoint": None})
    return "fr-pharos"


def new_request(node: Node, partner: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump({"type": "preservation", "fields": PRESERVATION_FIELDS}))
    assert hanoi(node, "requests", "new", "--from", str(f), "--partner", partner, "--quiet") == 0
    rid = capsys.readouterr().out
    assert rid.count("\n") == 1 and rid.startswith("GB-")  # the id alone, for ID=$(...)
    return rid.strip()


def test_a_template_makes_a_request_at_once(node: Node, partner: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(node, "requests", "template", "--type", "stored-data", "-o", str(tmp_path / "s.yaml")) == 0
    assert hanoi(node, "requests", "validate", "--from", str(tmp_path / "s.yaml")) == 0
    capsys.readouterr()
    assert hanoi(node, "requests", "template", "--type", "stored-data", "--json") == 0
    doc = out_json(capsys)
    assert doc["type"] == "stored-data" and doc["fields"]["offence_code"] == "UNCC-13"
    assert yaml.safe_load(doc["yaml"])["fields"] == doc["fields"]
    assert hanoi(node, "requests", "template", "--type", "no-such-type") == 1
    assert "is not a request type" in capsys.readouterr().err


def test_submitting_to_a_member_without_endpoint_says_nothing_will_be_delivered(
        node: Node, partner: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rid = new_request(node, partner, tmp_path, capsys)
    assert hanoi(node, "requests", "submit", rid) == 0
    text = capsys.readouterr().out
    assert "fr-pharos has no endpoint: nothing will be delivered" in text
    assert f"hanoi requests render {rid}" in text


def test_submitting_to_a_peer_says_it_is_queued(node: Node, partner: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with node.write("test") as uow:
        from hanoi.store.tables import members as members_t

        uow.conn.execute(members_t.update().where(members_t.c.id == partner)
                         .values(endpoint="https://fr.example.org"))
        uow.record("test.endpoint", "member:fr-pharos", {})
    rid = new_request(node, partner, tmp_path, capsys)
    assert hanoi(node, "requests", "submit", rid, "--json") == 0
    delivery = out_json(capsys)["delivery"]
    assert delivery["federated"] is True and delivery["endpoint"] == "https://fr.example.org"


def test_outbox_deliver_is_one_round(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(node, "outbox", "deliver") == 0  # returns: one round, not a loop
    assert "0 row(s) handled" in capsys.readouterr().out
    assert hanoi(node, "outbox", "deliver", "--once", "--json") == 0  # the old flag still works
    assert out_json(capsys)["handled"] == 0
    assert hanoi(node, "outbox", "deliver", "--watch", "--json") == 2
