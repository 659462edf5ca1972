"""Ledgers that peers witness, in one process: checkpoints sent to a peer, verified, kept and
countersigned; heads from receipts kept; the signed question and answer; and a tampered ledger
held against its witness. Two nodes, each on its own database (both backends); each one's API
is reached through a TestClient standing in for the network. The same with real processes and
the CLI is in test_federation_nodes.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from hanoi.api.app import create_app
from hanoi.bootstrap import init_node
from hanoi.core import keys
from hanoi.core.ledger import GENESIS, checkpoint_message, entry_hash
from hanoi.federation.witness import WitnessQuery, sign_query
from hanoi.node import ledger, members, outbox, peers, witness
from hanoi.node.runtime import Node
from hanoi.store import ledger_store
from hanoi.store.tables import witnessed_heads
from tests.node.helpers import GOOD_ASSESSMENT

A_URL = "http://127.0.0.1:18011"
B_URL = "http://127.0.0.1:18012"


@pytest.fixture
def peered(tmp_path: Path, two_urls: list[str]) -> Iterator[tuple[Node, Node, TestClient, TestClient]]:
    a, _ = init_node(tmp_path / "a", name="UK CA", country="GB", kind="central-authority",
                     database_url_=two_urls[0], public_url=A_URL)
    b, _ = init_node(tmp_path / "b", name="Pharos", country="FR", kind="contact-point",
                     database_url_=two_urls[1], public_url=B_URL)
    ca, cb = TestClient(create_app(a)), TestClient(create_app(b))
    for me, peer_url, client in ((a, B_URL, cb), (b, A_URL, ca)):
        shown = peers.fetch(me, "test", peer_url, client=client)
        peers.trust(me, "test", shown["id"], shown["fingerprint"], assessment=GOOD_ASSESSMENT)
    yield a, b, ca, cb
    a.close()
    b.close()


def held_by(witness_node: Node, about: str) -> list[dict[str, Any]]:
    with witness_node.read() as conn:
        return [dict(r) for r in conn.execute(select(witnessed_heads).where(
            witnessed_heads.c.node == about).order_by(witnessed_heads.c.seq)).mappings()]


def witnessed_checkpoint(a: Node, b: Node, cb: TestClient) -> dict[str, Any]:
    cp = ledger.checkpoint(a, "test")
    queued = witness.announce(a, "test")
    assert list(queued) == [b.node_id]
    outbox.deliver_due(a, client=cb)
    assert outbox.show(a, queued[b.node_id])["state"] == "delivered"
    return cp


def tamper(node: Node, *statements: str) -> None:
    """Edit the ledger and its checkpoints behind the node's back, triggers dropped."""
    with node.engine.connect() as conn:
        conn.begin()
        for table in ("ledger_entries", "ledger_checkpoints"):
            if node.engine.dialect.name == "sqlite":
                for verb in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
            else:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        for sql in statements:
            conn.execute(text(sql))
        conn.commit()


def test_a_checkpoint_is_witnessed_and_countersigned(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    cp = witnessed_checkpoint(a, b, cb)
    (held,) = [h for h in held_by(b, a.node_id) if h["source"] == "checkpoint"]
    assert (held["seq"], held["head_hash"], held["key_id"]) == (cp["seq"], cp["head_hash"], a.config.key_id)
    assert keys.verify(a.private_key.public_key(), bytes.fromhex(held["signature"]),
                       checkpoint_message(cp["seq"], cp["head_hash"], a.node_id))
    # B's signed receipt says what it witnessed: its countersignature, kept by A.
    (row,) = outbox.list_rows(a, state="delivered")
    assert row["type"] == witness.ITEM_TYPE
    assert row["receipt"]["detail"] == f"witnessed {a.node_id} entry {cp['seq']} head {cp['head_hash']}"
    assert witness.announce(a, "test") == {}  # sent once
    # ...and A, as B's witness, kept the head in B's receipt, signed by B.
    (from_receipt,) = held_by(a, b.node_id)
    assert from_receipt["source"] == "receipt"
    assert from_receipt["seq"] == row["receipt"]["ledger_head"]["seq"]


def test_a_checkpoint_not_signed_by_the_sender_is_refused(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    head = "ab" * 32
    forged = keys.generate_private_key().sign(checkpoint_message(7, head, a.node_id)).hex()
    with a.write("test") as uow:
        env_id = outbox.enqueue(uow, recipient=b.node_id, type=witness.ITEM_TYPE, payload={
            "seq": 7, "head_hash": head, "key_id": a.config.key_id, "signature": forged})
    outbox.deliver_due(a, client=cb)
    row = outbox.show(a, env_id)
    assert row["state"] == "rejected" and row["rule"] == "FED-SIGNATURE"
    assert held_by(b, a.node_id) == []


def test_a_suspended_peer_is_sent_no_checkpoint(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    members.assess(a, "test", b.node_id, {**GOOD_ASSESSMENT, "standing": "suspended",
                                          "findings": "Requests used against dissidents."})
    ledger.checkpoint(a, "test")
    (env_id,) = witness.announce(a, "test").values()
    outbox.deliver_due(a, client=cb)
    assert outbox.show(a, env_id)["state"] == "refused"
    assert held_by(b, a.node_id) == []


def test_only_the_node_itself_may_ask_what_was_witnessed_of_it(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    witnessed_checkpoint(a, b, cb)
    # Anyone but A (here with B's own key) asking what B witnessed of A: A's keys refuse it.
    query = WitnessQuery(a.node_id, b.node_id, b.now(), "00" * 16)
    r = cb.post("/federation/v1/witness", json=sign_query(query, b.private_key, b.config.key_id))
    assert r.status_code == 401 and r.json()["rule"] == "FED-UNKNOWN-KEY"
    # A question to another witness, or a stale one, is refused too.
    for bad in (WitnessQuery(a.node_id, "xx-other", a.now(), "11" * 16),
                WitnessQuery(a.node_id, b.node_id, a.now() - timedelta(hours=1), "22" * 16)):
        r = cb.post("/federation/v1/witness", json=sign_query(bad, a.private_key, a.config.key_id))
        assert r.status_code in (401, 422) and r.json()["rule"] in ("FED-RECIPIENT", "FED-STALE")
    report = witness.verify(a, client=cb)
    assert report["ok"] and report["witnesses"][0]["outcome"] == "consistent"


def test_a_cut_tail_is_reported_naming_the_witness_and_the_entry(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    cp = witnessed_checkpoint(a, b, cb)
    # Cut from just before the checkpoint, the checkpoints with it: the ledger alone verifies.
    tamper(a, f"DELETE FROM ledger_entries WHERE seq >= {cp['seq'] - 1}",
           f"DELETE FROM ledger_checkpoints WHERE seq >= {cp['seq'] - 1}")
    assert ledger.verify(a).ok
    report = witness.verify(a, client=cb)
    assert not report["ok"]
    (found,) = report["witnesses"]
    assert (found["witness"], found["outcome"], found["seq"]) == (b.node_id, "cut", cp["seq"])
    assert found["signed_by_this_node"] is True and b.node_id in found["detail"]


def test_a_rewritten_and_resigned_tail_is_reported_naming_the_witness_and_the_entry(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    cp = witnessed_checkpoint(a, b, cb)
    tamper(a, *rewrite_from(a, cp["seq"] - 2))
    assert ledger.verify(a).ok  # re-hashed and re-signed with the node's own key
    report = witness.verify(a, client=cb)
    (found,) = report["witnesses"]
    assert not report["ok"]
    assert (found["witness"], found["outcome"], found["seq"]) == (b.node_id, "rewritten", cp["seq"])
    assert found["signed_by_this_node"] is True


def rewrite_from(node: Node, first: int) -> list[str]:
    """What someone holding the node's key and its database does: change entry ``first``,
    re-hash every entry after it, re-sign every checkpoint after it."""
    with node.read() as conn:
        rows = list(ledger_store.iter_rows(conn))
        cps = ledger_store.checkpoints(conn)
    statements, prev, hashes = [], GENESIS, {}
    for seq, ts, actor, action, subject, decision, reasons, _payload, pdigest, _prev, old in rows:
        if seq == first:
            actor = "mallory"
        h = entry_hash(seq, ts, actor, action, subject, decision, json.loads(reasons), pdigest, prev)
        if h != old:
            statements.append(f"UPDATE ledger_entries SET actor = '{actor}', prev_hash = '{prev}', "
                              f"hash = '{h}' WHERE seq = {seq}")
        hashes[seq], prev = h, h
    for seq, _head, _kid, _sig, _ts in cps:
        if seq >= first:
            sig = node.sign(checkpoint_message(seq, hashes[seq], node.node_id)).hex()
            statements.append(f"UPDATE ledger_checkpoints SET head_hash = '{hashes[seq]}', "
                              f"signature = '{sig}' WHERE seq = {seq}")
    return statements


def test_a_witness_without_a_head_or_without_an_answer(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    import httpx

    a, _b, _ca, cb = peered
    report = witness.verify(a, client=cb)
    assert report["ok"] and report["witnesses"][0]["outcome"] == "nothing witnessed"

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(down)) as dead:
        report = witness.verify(a, client=dead)
    assert not report["ok"] and report["witnesses"][0]["outcome"] == "unanswered"
    assert a.registry.handler_types().count(witness.ITEM_TYPE) == 1
