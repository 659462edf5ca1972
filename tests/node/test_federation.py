"""Federation service in one process: peering, the outbox and its worker, the inbox and its
rejections, key rotation, and the admin API and CLI. Two nodes, each on its own database (both
backends); the receiver's API is reached through a TestClient standing in for the network."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hanoi.api.app import create_app
from hanoi.bootstrap import WINGS, init_node, open_node
from hanoi.cli.main import run
from hanoi.core import keys
from hanoi.core.errors import InvalidInput, NotFound, Problem
from hanoi.federation.envelope import Envelope, sign_envelope
from hanoi.node import inbox, ledger, members, outbox, peers
from hanoi.node.runtime import Node
from hanoi.node.wings import Handler, Item, Registry, SendGate, Wing
from hanoi.store.tables import inbox as inbox_t
from hanoi.store.tables import ledger_entries
from hanoi.store.uow import UnitOfWork
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body


def with_test_item(monkeypatch: pytest.MonkeyPatch, node: Node, type_: str, *,
                   receive: Handler | None = None, send_gate: SendGate | None = None) -> None:
    """Open ``node`` with one more wing declaring ``type_``, checked like every manifest."""
    wing = Wing("test", items={type_: Item(receive or inbox.ping, send_gate, hands_over=send_gate is not None)})
    monkeypatch.setattr(node, "registry", Registry((*WINGS, wing)))


A_URL = "http://127.0.0.1:18001"
B_URL = "http://127.0.0.1:18002"
SUSPENDED = {**GOOD_ASSESSMENT, "standing": "suspended", "findings": "Requests used against dissidents."}


@pytest.fixture
def pair(tmp_path: Path, two_urls: list[str]) -> Iterator[tuple[Node, Node, TestClient, TestClient]]:
    """Node A (GB) and node B (FR), not yet peered, with a TestClient on each one's API."""
    a, _ = init_node(tmp_path / "a", name="UK CA", country="GB", kind="central-authority",
                     database_url_=two_urls[0], public_url=A_URL)
    b, _ = init_node(tmp_path / "b", name="Pharos", country="FR", kind="contact-point",
                     database_url_=two_urls[1], public_url=B_URL)
    ca, cb = TestClient(create_app(a)), TestClient(create_app(b))
    yield a, b, ca, cb
    a.close()
    b.close()


@pytest.fixture
def peered(pair: tuple[Node, Node, TestClient, TestClient]) -> tuple[Node, Node, TestClient, TestClient]:
    """A and B trust each other (fingerprints confirmed) and assessed each other good."""
    a, b, ca, cb = pair
    shown = peers.fetch(a, "test", B_URL, client=cb)
    peers.trust(a, "test", shown["id"], shown["fingerprint"], assessment=GOOD_ASSESSMENT)
    shown = peers.fetch(b, "test", A_URL, client=ca)
    peers.trust(b, "test", shown["id"], shown["fingerprint"], assessment=GOOD_ASSESSMENT)
    return pair


def entries(node: Node, action: str) -> list[dict[str, Any]]:
    with node.read() as conn:
        rows = conn.execute(select(ledger_entries).where(ledger_entries.c.action == action)
                            .order_by(ledger_entries.c.seq)).mappings().all()
    return [{**r, "payload": json.loads(r["payload"]), "reasons": json.loads(r["reasons"])} for r in rows]


def inbox_rows(node: Node) -> list[dict[str, Any]]:
    with node.read() as conn:
        return [dict(r) for r in conn.execute(select(inbox_t)).mappings().all()]


def outbox_row(node: Node, env_id: str) -> dict[str, Any]:
    return outbox.show(node, env_id)


def ledger_count(node: Node) -> int:
    with node.read() as conn:
        return int(conn.execute(select(func.count()).select_from(ledger_entries)).scalar_one())


# --- peering -----------------------------------------------------------------------------------


def test_descriptor_is_signed_and_peering_needs_the_confirmed_fingerprint(
        pair: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = pair
    r = cb.get("/federation/v1/descriptor")
    assert r.status_code == 200 and set(r.json()) == {"payload", "protected", "signature"}

    shown = peers.fetch(a, "test", B_URL + "/federation/v1/descriptor", client=cb)
    b_fp = keys.fingerprint(b.private_key.public_key())
    assert shown["id"] == b.node_id and shown["endpoint"] == B_URL and shown["country"] == "FR"
    assert shown["fingerprint"] == b_fp and shown["trusted"] is False
    with a.read() as conn:  # fetched, not trusted: no member, nothing can be sent
        assert members.key_records(conn, b.node_id) == []

    with pytest.raises(InvalidInput) as err:
        peers.trust(a, "test", b.node_id, "0000 1111 2222 3333 4444 5555 6666 7777")
    assert err.value.rule == "PEER-FINGERPRINT"
    with pytest.raises(NotFound):
        members.show(a, b.node_id)

    m = peers.trust(a, "test", b.node_id, b_fp.replace(" ", "").upper())
    assert m["endpoint"] == B_URL and m["standing"] == "concerns"  # not yet assessed
    assert [k["public_key"] for k in m["keys"]] == [b.public_key_b64]
    trust = entries(a, "peer.trust")[-1]
    assert trust["payload"]["fingerprint"] == b_fp and trust["subject"] == f"member:{b.node_id}"
    assert peers.list_peers(a)[0]["trusted"] is True


def test_a_key_id_reused_with_another_key_is_refused(pair: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = pair
    shown = peers.fetch(a, "test", B_URL, client=cb)
    peers.trust(a, "test", shown["id"], shown["fingerprint"])
    b.private_key = keys.generate_private_key()  # same key id, another key: not a rotation
    shown = peers.fetch(a, "test", B_URL, client=cb)
    with pytest.raises(Exception) as err:
        peers.trust(a, "test", shown["id"], shown["fingerprint"])
    assert getattr(err.value, "rule", None) == "FED-ROTATION"


# --- the outbox ---------------------------------------------------------------------------------


def test_item_and_outbox_row_commit_together(peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, _cb = peered

    class Boom(Exception):
        pass

    with pytest.raises(Boom), a.write("test") as uow:
        outbox.enqueue(uow, recipient=b.node_id, type="ping", payload={})
        uow.record("test.item", "item:1", {})
        raise Boom
    assert outbox.counts(a)["pending"] == 0
    with pytest.raises(NotFound), a.write("test") as uow:
        outbox.enqueue(uow, recipient="xx-nobody", type="ping", payload={})
    with pytest.raises(InvalidInput), a.write("test") as uow:
        outbox.enqueue(uow, recipient=b.node_id, type="Not A Type", payload={})
    # A member registered by hand, without a federation endpoint, cannot be sent to.
    members.add(a, "test", member_body(id="fr-offline", endpoint=None))
    with pytest.raises(InvalidInput) as err, a.write("test") as uow:
        outbox.enqueue(uow, recipient="fr-offline", type="ping", payload={})
    assert err.value.problems[0].field == "recipient"
    assert err.value.problems[0].rule == "FED-UNDELIVERABLE"
    assert outbox.counts(a)["pending"] == 0


def test_delivery_stores_the_receipt_and_both_ledgers_agree(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    with a.write("test") as uow:
        uow.record("test.item", "item:1", {"what": "an item"})
        env_id = outbox.enqueue(uow, recipient=b.node_id, type="ping", payload={"hello": "b"},
                                subject="item:1")
    assert outbox_row(a, env_id)["state"] == "pending"
    assert outbox.deliver_due(a, client=cb) == 1
    assert outbox.deliver_due(a, client=cb) == 0  # nothing due any more

    row = outbox_row(a, env_id)
    assert row["state"] == "delivered" and row["attempts"] == 1 and row["receipt"]["status"] == "accepted"
    (accepted,) = entries(b, "inbox.accepted")
    assert accepted["payload"]["envelope_id"] == env_id and accepted["payload"]["sender"] == a.node_id
    # The receipt carries B's ledger head right after it recorded the envelope...
    head = row["receipt"]["ledger_head"]
    assert (head["seq"], head["hash"]) == (accepted["seq"], accepted["hash"])
    # ...and A ledgers the delivery with that receipt, under the item's subject.
    (delivered,) = entries(a, "outbox.delivered")
    assert delivered["subject"] == "item:1" and delivered["payload"]["peer_ledger_head"] == head
    assert [e["action"] for e in ledger.page(a, subject="item:1")["items"]] == \
        ["test.item", "outbox.queued", "outbox.delivered"]
    (stored,) = inbox_rows(b)
    assert stored["envelope_id"] == env_id and stored["status"] == "accepted"
    assert ledger.verify(a).ok and ledger.verify(b).ok


def test_send_gate_suspended_partner_gets_nothing_concerns_wait(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    (first,) = peers.ping(a, "test", b.node_id)
    members.assess(a, "test", b.node_id, SUSPENDED)  # suspended after queueing
    outbox.deliver_due(a, client=cb)
    row = outbox_row(a, first)
    assert row["state"] == "refused" and row["rule"] == "GATE-SUSPENDED"
    (refused,) = entries(a, "outbox.refused")
    assert refused["decision"] == "deny" and refused["reasons"][0]["code"] == "GATE-SUSPENDED"
    assert inbox_rows(b) == []

    members.assess(a, "test", b.node_id, {**GOOD_ASSESSMENT, "standing": "concerns"})
    (second,) = peers.ping(a, "test", b.node_id)
    outbox.deliver_due(a, client=cb)
    row = outbox_row(a, second)
    assert row["state"] == "held" and "GATE-CONCERNS" in row["last_error"]
    assert len(entries(a, "outbox.held")) == 1 and inbox_rows(b) == []
    outbox.retry(a, "test", second)
    outbox.deliver_due(a, client=cb)  # still concerns: held again, not ledgered twice
    assert outbox_row(a, second)["state"] == "held" and len(entries(a, "outbox.held")) == 1

    members.assess(a, "test", b.node_id, GOOD_ASSESSMENT)
    outbox.retry(a, "test", second)
    outbox.deliver_due(a, client=cb)
    assert outbox_row(a, second)["state"] == "delivered"
    assert [r["envelope_id"] for r in inbox_rows(b)] == [second]
    assert outbox_row(a, first)["state"] == "refused"  # a refusal is final


def test_registered_send_gate_decides_for_its_types(
        peered: tuple[Node, Node, TestClient, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    from hanoi.core.gate import Decision, Reason

    a, b, _ca, cb = peered
    seen: list[str] = []

    def gate(uow: UnitOfWork, row: dict[str, Any], member: dict[str, Any]) -> Decision:
        seen.append(row["id"])
        return Decision.of([Reason("GATE-REVIEW-REFUSED", "deny", "test refusal")])

    with_test_item(monkeypatch, a, "test.item", send_gate=gate)
    with_test_item(monkeypatch, b, "test.item")
    assert outbox.send_gate_for(a, "test.item") is gate
    assert outbox.send_gate_for(a, "ping") is outbox.default_send_gate
    with a.write("test") as uow:
        env_id = outbox.enqueue(uow, recipient=b.node_id, type="test.item", payload={})
    outbox.deliver_due(a, client=cb)
    assert seen == [env_id]
    assert outbox_row(a, env_id)["rule"] == "GATE-REVIEW-REFUSED"


def test_network_error_retries_later_without_ledgering_each_attempt(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    (env_id,) = peers.ping(a, "test", b.node_id)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    before = ledger_count(a)
    with httpx.Client(transport=httpx.MockTransport(down)) as dead:
        assert outbox.deliver_due(a, client=dead) == 1
    row = outbox_row(a, env_id)
    assert row["state"] == "pending" and row["attempts"] == 1 and "ConnectError" in row["last_error"]
    assert datetime.fromisoformat(row["next_attempt_at"].replace("Z", "+00:00")) > datetime.now(UTC) - \
        timedelta(seconds=1)
    assert ledger_count(a) == before  # a retry is bookkeeping, not an outcome
    assert outbox.list_rows(a, state="pending")[0]["last_error"] == row["last_error"]

    outbox.retry(a, "test", env_id)
    outbox.deliver_due(a, client=cb)
    assert outbox_row(a, env_id)["state"] == "delivered" and outbox_row(a, env_id)["attempts"] == 2


@pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument with the TestClient")
def test_a_peer_back_from_a_crash_gets_its_backlog_at_once_not_after_its_backoff(
        peered: tuple[Node, Node, TestClient, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    from hanoi.node import peer_watch

    a, b, _ca, cb = peered
    monkeypatch.setattr(peer_watch, "PROBE_EVERY", 0.0)
    (env_id,) = peers.ping(a, "test", b.node_id)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with httpx.Client(transport=httpx.MockTransport(down)) as dead:
        outbox.deliver_due(a, client=dead)
        assert peer_watch.watched(a) == [b.node_id]
        # Down a while: its rows have backed off for minutes.
        outbox._bookkeep(a, {env_id: {"next_attempt_at": a.now() + timedelta(minutes=5)}}, a.now())
        assert peer_watch.probe(a, dead) == 0 and peer_watch.watched(a) == [b.node_id]
    assert outbox.deliver_due(a, client=cb) == 0  # nothing due: the backoff says wait
    assert peer_watch.probe(a, cb) == 1  # B answers again: its backlog is due now
    assert peer_watch.watched(a) == []
    assert outbox.deliver_due(a, client=cb) == 1
    assert outbox_row(a, env_id)["state"] == "delivered"


def test_a_lost_receipt_is_answered_again_and_the_item_applied_once(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    (env_id,) = peers.ping(a, "test", b.node_id)

    def lose_answer(request: httpx.Request) -> httpx.Response:
        cb.post(str(request.url), content=request.content, headers=dict(request.headers))
        raise httpx.ReadTimeout("the answer was lost", request=request)

    with httpx.Client(transport=httpx.MockTransport(lose_answer)) as lossy:
        outbox.deliver_due(a, client=lossy)
    assert outbox_row(a, env_id)["state"] == "pending" and len(inbox_rows(b)) == 1
    outbox.retry(a, "test", env_id)
    outbox.deliver_due(a, client=cb)
    assert outbox_row(a, env_id)["state"] == "delivered"
    assert [e["payload"]["envelope_id"] for e in entries(b, "inbox.accepted")] == [env_id]
    assert len(entries(b, "inbox.repeat")) == 1


def test_peer_refusal_is_final_and_ledgered_with_its_rule(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    members.assess(b, "test", a.node_id, SUSPENDED)  # B no longer accepts anything from A
    (env_id,) = peers.ping(a, "test", b.node_id)
    outbox.deliver_due(a, client=cb)
    row = outbox_row(a, env_id)
    assert row["state"] == "rejected" and row["rule"] == "GATE-SUSPENDED"
    assert row["receipt"]["status"] == "rejected"
    (rejected,) = entries(a, "outbox.rejected")
    assert rejected["reasons"][0]["code"] == "GATE-SUSPENDED"
    (on_b,) = entries(b, "inbox.rejected")
    assert on_b["decision"] == "rejected" and on_b["reasons"][0]["code"] == "GATE-SUSPENDED"
    assert entries(b, "inbox.accepted") == []
    assert [r["id"] for r in outbox.list_rows(a, state="failed")] == [env_id]


def _junk_under_the_same_ids(sent: list[dict[str, str]]) -> list[Any]:
    """What a party in the middle sends B instead: junk claiming each envelope's id, one with
    the genuine envelope's signature spoiled, one a bare object that is no envelope at all."""
    junk: list[Any] = []
    for i, jws in enumerate(sent):
        raw = jws["payload"]
        env_id = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))["id"]
        if i % 2:
            bare = json.dumps({"id": env_id}).encode()
            junk.append({**jws, "payload": base64.urlsafe_b64encode(bare).rstrip(b"=").decode()})
        else:
            junk.append({**jws, "signature": jws["signature"][::-1]})
    return junk


def test_a_rejection_of_junk_sent_under_our_id_does_not_settle_our_envelope(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    sent_ids = peers.ping(a, "test", b.node_id, count=2)

    def in_the_middle(request: httpx.Request) -> httpx.Response:
        # B's genuine, signed rejections of the junk are handed to A as B's answer.
        r = cb.post(request.url.path, content=json.dumps(_junk_under_the_same_ids(
            json.loads(request.content))))
        return httpx.Response(r.status_code, content=r.content,
                              headers={"content-type": "application/json"})

    with httpx.Client(transport=httpx.MockTransport(in_the_middle)) as mitm:
        outbox.deliver_due(a, client=mitm)
    rules = {e["payload"]["rule"] for e in entries(b, "inbox.rejected")}
    assert rules == {"FED-SIGNATURE", "FED-MALFORMED"}  # B did reject the junk, and signed it
    for env_id in sent_ids:
        row = outbox_row(a, env_id)
        assert row["state"] == "pending" and "FED-UNBOUND-RECEIPT" in row["last_error"]
    unbound = entries(a, "outbox.receipt.unbound")
    assert sorted(e["payload"]["envelope_id"] for e in unbound) == sorted(sent_ids)
    assert all(e["payload"]["receipt"]["status"] == "rejected" for e in unbound)
    assert entries(a, "outbox.rejected") == []

    with httpx.Client(transport=httpx.MockTransport(in_the_middle)) as mitm:
        for env_id in sent_ids:
            outbox.retry(a, "test", env_id)
        outbox.deliver_due(a, client=mitm)
    assert len(entries(a, "outbox.receipt.unbound")) == 2  # once per run, not at each retry

    for env_id in sent_ids:  # the party in the middle is gone: the real answer settles it
        outbox.retry(a, "test", env_id)
    outbox.deliver_due(a, client=cb)
    assert {outbox_row(a, i)["state"] for i in sent_ids} == {"delivered"}
    assert sorted(e["payload"]["envelope_id"] for e in entries(b, "inbox.accepted")) == sorted(sent_ids)
    assert ledger.verify(a).ok and ledger.verify(b).ok


def test_a_genuine_rejection_of_what_we_sent_is_still_final(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    members.expire_key(b, "test", a.node_id, a.config.key_id)  # B no longer takes A's key
    (env_id,) = peers.ping(a, "test", b.node_id)
    outbox.deliver_due(a, client=cb)
    row = outbox_row(a, env_id)
    assert row["state"] == "rejected" and row["rule"] == "FED-KEY-EXPIRED"
    assert row["receipt"]["received_digest"] and row["receipt"]["envelope_digest"] is None


# --- the inbox: every rejection ledgered, nothing applied ------------------------------------


def _envelope(a: Node, b: Node, **over: Any) -> Envelope:
    fields: dict[str, Any] = {"id": f"env-{uuid.uuid4().hex[:24]}", "sender": a.node_id,
                              "recipient": b.node_id, "type": "ping", "created": b.now(),
                              "payload": {"n": 1}}
    fields.update(over)
    return Envelope(**fields)


def _assert_rejected(b: Node, receipt_text: str, env_id: str, rule: str) -> None:
    receipt = inbox.receipt_payload(receipt_text)
    assert receipt["status"] == "rejected" and receipt["rule"] == rule
    assert receipt["envelope_id"] == env_id and receipt["receiver"] == b.node_id
    last = entries(b, "inbox.rejected")[-1]
    assert last["reasons"][0]["code"] == rule and last["payload"]["envelope_id"] == env_id
    assert last["decision"] == "rejected"
    assert receipt["ledger_head"]["seq"] == last["seq"]
    assert env_id not in {e["payload"]["envelope_id"] for e in entries(b, "inbox.accepted")}
    assert env_id not in {r["envelope_id"] for r in inbox_rows(b)}


def test_inbox_rejects_and_ledgers_every_bad_envelope(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, _cb = peered
    kid = a.config.key_id

    forged = _envelope(a, b)
    text_ = inbox.receive(b, sign_envelope(forged, keys.generate_private_key(), kid))
    _assert_rejected(b, text_, forged.id, "FED-SIGNATURE")

    stranger = keys.generate_private_key()
    unknown = _envelope(a, b, sender="zz-nobody")
    _assert_rejected(b, inbox.receive(b, sign_envelope(unknown, stranger, "zz-nobody:1")),
                     unknown.id, "FED-UNKNOWN-SENDER")

    retired = keys.generate_private_key()
    members.add_key(b, "test", a.node_id, {"public_key": keys.public_key_b64(retired), "kid": "gb-old",
                                           "not_before": "2020-01-01T00:00:00Z",
                                           "not_after": "2021-01-01T00:00:00Z"})
    expired = _envelope(a, b)
    _assert_rejected(b, inbox.receive(b, sign_envelope(expired, retired, "gb-old")),
                     expired.id, "FED-KEY-EXPIRED")

    elsewhere = _envelope(a, b, recipient="de-someone-else")
    _assert_rejected(b, inbox.receive(b, sign_envelope(elsewhere, a.private_key, kid)),
                     elsewhere.id, "FED-RECIPIENT")

    ahead = _envelope(a, b, created=b.now() + timedelta(minutes=10))  # A's clock runs fast
    _assert_rejected(b, inbox.receive(b, sign_envelope(ahead, a.private_key, kid)), ahead.id, "FED-STALE")
    behind = _envelope(a, b, created=b.now())
    b.clock = lambda: datetime.now(UTC) + timedelta(minutes=10)  # B's clock runs fast
    _assert_rejected(b, inbox.receive(b, sign_envelope(behind, a.private_key, kid)), behind.id, "FED-STALE")
    b.clock = lambda: datetime.now(UTC)

    big = _envelope(a, b, payload={"blob": "x" * (b.config.federation_max_envelope_bytes + 10)})
    _assert_rejected(b, inbox.receive(b, sign_envelope(big, a.private_key, kid)), big.id, "FED-TOO-LARGE")

    good = _envelope(a, b)
    signed = sign_envelope(good, a.private_key, kid)
    first = inbox.receive(b, signed)
    assert inbox.receipt_payload(first)["status"] == "accepted"
    # The same envelope again: the original receipt byte for byte, nothing applied again.
    assert inbox.receive(b, signed) == first
    resigned = sign_envelope(_envelope(a, b, id=good.id, created=b.now()), a.private_key, kid)
    assert inbox.receive(b, resigned) == first
    # The same id with other contents: a replay, refused.
    other = sign_envelope(_envelope(a, b, id=good.id, payload={"n": 2}), a.private_key, kid)
    replay = inbox.receipt_payload(inbox.receive(b, other))
    assert replay["status"] == "rejected" and replay["rule"] == "FED-REPLAY"
    assert entries(b, "inbox.rejected")[-1]["reasons"][0]["code"] == "FED-REPLAY"
    assert [e["payload"]["envelope_id"] for e in entries(b, "inbox.accepted")] == [good.id]
    assert len(entries(b, "inbox.repeat")) == 2
    assert len(inbox_rows(b)) == 1
    assert ledger.verify(b).ok


def test_inbox_handlers_unknown_type_and_refusal_roll_back(
        peered: tuple[Node, Node, TestClient, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, _ca, _cb = peered
    kid = a.config.key_id

    def apply(uow: UnitOfWork, env: Envelope, sender: dict[str, Any]) -> dict[str, Any]:
        uow.record("test.applied", "item:x", {"n": env.payload["n"]})
        if env.payload["n"] < 0:
            raise InvalidInput("n must not be negative", [Problem("n", "negative")])
        assert sender["inbound_decision"]["outcome"] == "allow"
        return {"subject": "item:x", "n": env.payload["n"]}

    with_test_item(monkeypatch, b, "test.item", receive=apply)
    ok = _envelope(a, b, type="test.item", payload={"n": 1})
    assert inbox.receipt_payload(inbox.receive(b, sign_envelope(ok, a.private_key, kid)))["status"] == "accepted"
    assert [e["action"] for e in ledger.page(b, subject="item:x")["items"]] == ["test.applied", "inbox.accepted"]

    bad = _envelope(a, b, type="test.item", payload={"n": -1})
    receipt = inbox.receipt_payload(inbox.receive(b, sign_envelope(bad, a.private_key, kid)))
    assert receipt["status"] == "rejected" and receipt["rule"] == "FED-ITEM-INVALID"
    assert "negative" in receipt["detail"]
    assert len(entries(b, "test.applied")) == 1  # the refused item's entry was rolled back
    stored = {r["envelope_id"]: r["status"] for r in inbox_rows(b)}
    assert stored[bad.id] == "rejected"  # a retry gets the same refusal

    odd = _envelope(a, b, type="test.unknown")
    receipt = inbox.receipt_payload(inbox.receive(b, sign_envelope(odd, a.private_key, kid)))
    assert receipt["rule"] == "FED-UNKNOWN-TYPE"


def test_concerns_are_accepted_with_the_decision_ledgered(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, _cb = peered
    members.assess(b, "test", a.node_id, {**GOOD_ASSESSMENT, "standing": "concerns"})
    env = _envelope(a, b)
    receipt = inbox.receipt_payload(inbox.receive(b, sign_envelope(env, a.private_key, a.config.key_id)))
    assert receipt["status"] == "accepted"
    (accepted,) = entries(b, "inbox.accepted")
    assert accepted["decision"] == "review" and accepted["reasons"][0]["code"] == "GATE-CONCERNS"


def test_inbox_http_answers(peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    r = cb.post("/federation/v1/inbox", content=b"not json")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["rule"] == "FED-MALFORMED"
    assert entries(b, "inbox.rejected")[-1]["reasons"][0]["code"] == "FED-MALFORMED"

    forged = sign_envelope(_envelope(a, b), keys.generate_private_key(), a.config.key_id)
    r = cb.post("/federation/v1/inbox", json=forged)
    assert r.status_code == 200 and inbox.receipt_payload(r.text)["rule"] == "FED-SIGNATURE"

    good = sign_envelope(_envelope(a, b), a.private_key, a.config.key_id)
    r = cb.post("/federation/v1/inbox/batch", json=[good, forged, {"junk": 1}])
    assert r.status_code == 200
    first, second, third = r.json()
    assert inbox.receipt_payload(json.dumps(first))["status"] == "accepted"
    assert inbox.receipt_payload(json.dumps(second))["rule"] == "FED-SIGNATURE"
    assert third["error"]["rule"] == "FED-MALFORMED"
    r = cb.post("/federation/v1/inbox", content=b"x" * (b.config.max_body_bytes + 1))
    assert r.status_code == 413


# --- key rotation -----------------------------------------------------------------------------


def test_key_rotation_is_announced_signed_by_the_old_key(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    old_kid, old_public = a.config.key_id, a.public_key_b64
    out = peers.rotate_key(a, "test", grace=timedelta(hours=1))
    assert a.config.key_id == out["new_key_id"] != old_kid
    assert a.config.previous_keys[0]["kid"] == old_kid
    assert open_node(a.home).config.key_id == out["new_key_id"]  # saved, key file replaced
    assert open_node(a.home).public_key_b64 == a.public_key_b64 != old_public
    (ping_id,) = peers.ping(a, "test", b.node_id)  # queued after: signed with the new key
    outbox.deliver_due(a, client=cb)
    rotation_id = out["announcements"][b.node_id]
    assert outbox_row(a, rotation_id)["state"] == "delivered"
    assert outbox_row(a, ping_id)["state"] == "delivered"
    on_b = {k["kid"]: k for k in members.show(b, a.node_id)["keys"]}
    assert set(on_b) == {old_kid, out["new_key_id"]}
    assert on_b[old_kid]["not_after"] == out["old_key_valid_until"]
    assert entries(b, "peer.key.rotated")[0]["payload"]["rotation"]["old_key_id"] == old_kid
    # The descriptor now lists both keys, signed by the new one.
    desc = peers.fetch(b, "test", A_URL, client=TestClient(create_app(a)))
    assert desc["signed_by"] == out["new_key_id"] and len(desc["keys"]) == 2


def test_a_rotation_not_signed_by_a_registered_key_is_refused(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    from hanoi.federation.descriptor import KeyRotation, sign_rotation

    a, b, _ca, cb = peered
    impostor = keys.generate_private_key()
    now = b.now()
    rotation = KeyRotation(a.node_id, "gb-stolen", keys.PublicKeyRecord.of("gb-new", impostor, now), now)
    r = cb.post("/federation/v1/rotation", json={"id": "env-rot1", "rotation": sign_rotation(rotation, impostor)})
    assert r.status_code == 200
    assert inbox.receipt_payload(r.text)["rule"] == "FED-UNKNOWN-KEY"
    assert [k["kid"] for k in members.show(b, a.node_id)["keys"]] == [a.config.key_id]
    assert entries(b, "inbox.rejected")[-1]["payload"]["claimed_type"] == "key.rotation"


def _rotate_with_a_stolen_key(b: Node, cb: TestClient, peer: str, stolen_kid: str,
                              stolen: Ed25519PrivateKey, announced_at: datetime,
                              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """What an attacker holding an old key of ``peer`` does: post B a rotation signed with it,
    announcing a key of the attacker's, then an envelope signed with that key. Both answers."""
    from hanoi.federation.descriptor import KeyRotation, sign_rotation

    mallory = keys.generate_private_key()
    rotation = KeyRotation(peer, stolen_kid, keys.PublicKeyRecord.of("gb-mallory", mallory, announced_at),
                           announced_at)
    r = cb.post("/federation/v1/rotation",
                json={"id": "env-rot-stolen", "rotation": sign_rotation(rotation, stolen)})
    assert r.status_code == 200
    env = Envelope(f"env-{uuid.uuid4().hex}", peer, b.node_id, "ping", b.now(), {"n": 1})
    r2 = cb.post("/federation/v1/inbox", content=json.dumps(sign_envelope(env, mallory, "gb-mallory")))
    assert r2.status_code == 200
    return inbox.receipt_payload(r.text), inbox.receipt_payload(r2.text)


def test_an_expired_key_cannot_introduce_a_key(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    stolen_kid, stolen = a.config.key_id, a.private_key
    members.expire_key(b, "test", a.node_id, stolen_kid)  # B ended the key (say, A lost it)
    (registered,) = members.show(b, a.node_id)["keys"]
    start, end = (datetime.fromisoformat(registered[k].replace("Z", "+00:00"))
                  for k in ("not_before", "not_after"))
    # Backdated to a time the key was valid: the signer chooses announced_at.
    rotation, envelope = _rotate_with_a_stolen_key(b, cb, a.node_id, stolen_kid, stolen,
                                                   start + (end - start) / 2)
    assert (rotation["status"], rotation["rule"]) == ("rejected", "FED-KEY-EXPIRED")
    assert [k["kid"] for k in members.show(b, a.node_id)["keys"]] == [stolen_kid]
    assert (envelope["status"], envelope["rule"]) == ("rejected", "FED-UNKNOWN-KEY")
    assert entries(b, "peer.key.rotated") == []
    assert entries(b, "inbox.rejected")[-2]["payload"]["rule"] == "FED-KEY-EXPIRED"


def test_a_key_retired_by_rotation_cannot_introduce_a_key(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    stolen_kid, stolen = a.config.key_id, a.private_key
    out = peers.rotate_key(a, "test", grace=timedelta(minutes=10))
    outbox.deliver_due(a, client=cb)
    assert outbox_row(a, out["announcements"][b.node_id])["state"] == "delivered"
    retired = datetime.fromisoformat(out["old_key_valid_until"].replace("Z", "+00:00"))
    b.clock = lambda: datetime.now(UTC) + timedelta(hours=1)  # the grace is over
    rotation, envelope = _rotate_with_a_stolen_key(b, cb, a.node_id, stolen_kid, stolen,
                                                   retired - timedelta(minutes=1))
    assert (rotation["status"], rotation["rule"]) == ("rejected", "FED-KEY-EXPIRED")
    assert {k["kid"] for k in members.show(b, a.node_id)["keys"]} == {stolen_kid, out["new_key_id"]}
    assert (envelope["status"], envelope["rule"]) == ("rejected", "FED-UNKNOWN-KEY")
    assert len(entries(b, "peer.key.rotated")) == 1  # A's own rotation only


def test_a_rotation_announced_long_ago_is_refused_even_by_a_valid_key(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    announced = b.now()
    b.clock = lambda: datetime.now(UTC) + timedelta(hours=1)  # a genuine rotation, replayed later
    rotation, _ = _rotate_with_a_stolen_key(b, cb, a.node_id, a.config.key_id, a.private_key,
                                            announced)
    assert (rotation["status"], rotation["rule"]) == ("rejected", "FED-STALE")


def test_a_rotation_reaches_a_peer_that_was_away_longer_than_the_skew_window(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    out = peers.rotate_key(a, "test", grace=timedelta(hours=1))
    later = timedelta(minutes=20)  # B was unreachable; the queued announcement is 20 min old
    a.clock = b.clock = lambda: datetime.now(UTC) + later
    (ping_id,) = peers.ping(a, "test", b.node_id)
    outbox.deliver_due(a, client=cb)
    assert outbox_row(a, out["announcements"][b.node_id])["state"] == "delivered"
    assert outbox_row(a, ping_id)["state"] == "delivered"  # signed with the new key
    announced = entries(b, "peer.key.rotated")[0]["payload"]["rotation"]["announced_at"]
    assert datetime.fromisoformat(announced.replace("Z", "+00:00")) > datetime.now(UTC) + later / 2


def test_rotation_without_grace_announces_nothing_and_keeps_no_key(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, ca, _cb = peered
    out = peers.rotate_key(a, "test", grace=timedelta(0))
    assert out["announcements"] == {} and out["readd_by"] == [b.node_id]
    assert not list((a.home / "retired-keys").glob("*"))
    # B adds A again and confirms the new fingerprint: the old key ends on B too.
    shown = peers.fetch(b, "test", A_URL, client=ca)
    peers.trust(b, "test", a.node_id, shown["fingerprint"])
    on_b = {k["kid"]: k for k in members.show(b, a.node_id)["keys"]}
    assert on_b[out["old_key_id"]]["valid_now"] is False and on_b[out["new_key_id"]]["valid_now"]


# --- admin API and CLI --------------------------------------------------------------------------


def test_outbox_api_and_cli(peered: tuple[Node, Node, TestClient, TestClient],
                            capsys: pytest.CaptureFixture[str]) -> None:
    a, b, ca, cb = peered
    token = init_token(a)
    r = ca.post(f"/api/v1/peers/{b.node_id}/ping?count=2", headers=auth(token))
    assert r.status_code == 202 and len(r.json()["queued"]) == 2
    r = ca.get("/api/v1/outbox?state=pending", headers=auth(token))
    assert r.status_code == 200 and r.json()["counts"]["pending"] == 2
    assert ca.get("/api/v1/outbox").status_code == 401
    assert ca.get("/api/v1/outbox?state=bogus", headers=auth(token)).status_code == 422

    assert run(["--home", str(a.home), "outbox", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [i["state"] for i in shown["items"]] == ["pending", "pending"]
    outbox.deliver_due(a, client=cb)
    assert run(["--home", str(a.home), "outbox", "--state", "delivered"]) == 0
    out = capsys.readouterr().out
    assert "2 delivered" in out and "env-" in out
    r = ca.get("/api/v1/peers", headers=auth(token))
    assert r.status_code == 200 and r.json()[0]["id"] == b.node_id and r.json()[0]["open_outbox"] == 0


def init_token(node: Node) -> str:
    from hanoi.node import tokens

    token, _ = tokens.create(node, "test", name="fed admin", role="admin")
    return token



def test_cli_peers_add_asks_before_trusting(pair: tuple[Node, Node, TestClient, TestClient],
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import io

    a, b, _ca, cb = pair
    class PeerApi(TestClient):  # the peer's API stands in for the network
        def close(self) -> None:
            pass

    peer_api = PeerApi(cb.app)
    monkeypatch.setattr(httpx, "Client", lambda **_: peer_api)
    fp = keys.fingerprint(b.private_key.public_key())
    hanoi = ["--home", str(a.home), "peers"]

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert run([*hanoi, "add", B_URL]) == 1
    out = capsys.readouterr()
    assert fp in out.out and "not trusted" in out.err
    with pytest.raises(NotFound):
        members.show(a, b.node_id)

    assert run([*hanoi, "add", B_URL, "--fingerprint", "ffff " * 8]) == 1
    assert "PEER-FINGERPRINT" in capsys.readouterr().err

    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    assert run([*hanoi, "add", B_URL]) == 0
    assert "trusted fr-pharos: standing concerns" in capsys.readouterr().out
    assert run([*hanoi, "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["id"] == b.node_id and listed["trusted"] is True and listed["fingerprint"] == fp

    assert run([*hanoi, "rotate-key", "--grace-hours", "2", "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["old_key_id"] != rotated["new_key_id"] and b.node_id in rotated["announcements"]
    assert run(["--home", str(a.home), "outbox", "--json"]) == 0
    assert [i["type"] for i in json.loads(capsys.readouterr().out)["items"]] == ["key.rotation"]


def test_cli_deliver_once_and_api_retry(peered: tuple[Node, Node, TestClient, TestClient],
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    a, b, ca, cb = peered
    token = init_token(a)
    (env_id,) = peers.ping(a, "test", b.node_id)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    monkeypatch.setattr(outbox, "make_client", lambda: httpx.Client(transport=httpx.MockTransport(down)))
    assert run(["--home", str(a.home), "outbox", "deliver", "--once"]) == 0
    assert "1 row(s) handled" in capsys.readouterr().out
    assert run(["--home", str(a.home), "outbox", "--state", "pending", "--json"]) == 0
    (waiting,) = json.loads(capsys.readouterr().out)["items"]
    assert waiting["attempts"] == 1 and "ConnectError" in waiting["last_error"]  # why it waits

    r = ca.post(f"/api/v1/outbox/{env_id}/retry", headers=auth(token))
    assert r.status_code == 200 and r.json()["state"] == "pending"
    assert entries(a, "outbox.retry")[0]["payload"]["envelope_id"] == env_id
    monkeypatch.setattr(outbox, "make_client", lambda: cb)
    assert run(["--home", str(a.home), "outbox", "deliver", "--once"]) == 0
    assert outbox_row(a, env_id)["state"] == "delivered"
    r = ca.post(f"/api/v1/outbox/{env_id}/retry", headers=auth(token))
    assert r.status_code == 422  # a delivered row is final


def test_descriptor_needs_a_public_url(tmp_path: Path, database_url: str) -> None:
    node, _ = init_node(tmp_path / "n", name="No URL", country="DE", kind="cert", database_url_=database_url)
    try:
        r = TestClient(create_app(node)).get("/federation/v1/descriptor")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "public_url"
    finally:
        node.close()


# --- items about one subject: in order, and together -------------------------------------------


def _queue(a: Node, b: Node, subject: str, n: int, type_: str = "ping") -> list[str]:
    with a.write("test") as uow:
        ids = [outbox.enqueue(uow, recipient=b.node_id, type=type_, payload={"n": i}, subject=subject)
               for i in range(n)]
        uow.record("test.queue", subject, {"n": n})
    return ids


def test_a_run_of_items_about_one_subject_goes_in_one_round_in_order(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    shared = _queue(a, b, "signals:federation", 30)
    other = _queue(a, b, "item:other", 3)
    # One round claims the whole run (it used to send one item of a subject per round).
    assert outbox.deliver_due(a, client=cb) == 33
    assert all(outbox_row(a, i)["state"] == "delivered" for i in shared + other)
    accepted = [e["payload"]["envelope_id"] for e in entries(b, "inbox.accepted")]
    assert [i for i in accepted if i in shared] == shared  # applied in the order queued


def test_items_behind_another_workers_lease_wait_and_do_not_starve_other_subjects(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, _cb = peered
    waiting = _queue(a, b, "request:long", 40)
    others = _queue(a, b, "request:short", 2)
    now = a.now()
    # Another worker has the first item out on its lease: the 39 after it must wait for it,
    # and the claim looks past all of them (more than one page) to the other subject's items.
    assert [r["id"] for r in outbox._claim(a, 1, now)] == waiting[:1]
    assert [r["id"] for r in outbox._claim(a, 2, now)] == others
    assert outbox._claim(a, 10, now) == []
    # Once the first item is back in the queue (its worker gave up), the whole run goes.
    outbox._bookkeep(a, {waiting[0]: {}}, now)
    assert [r["id"] for r in outbox._claim(a, 100, now)] == waiting


def test_a_live_worker_keeps_its_lease_however_long_the_send_takes(
        peered: tuple[Node, Node, TestClient, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    from hanoi.node import outbox_leases
    from hanoi.store.tables import outbox as outbox_t
    from tests.node.helpers import wait_for

    a, b, _ca, cb = peered
    monkeypatch.setattr(outbox_leases, "RENEW_EVERY", 0.02)
    (env_id,) = peers.ping(a, "test", b.node_id)
    ahead = {"by": timedelta(0)}
    a.clock = lambda: datetime.now(UTC) + ahead["by"]
    taken_meanwhile: list[dict[str, Any]] = []

    def lease_until() -> datetime:
        with a.read() as conn:
            until = conn.execute(select(outbox_t.c.lease_until).where(outbox_t.c.id == env_id)).scalar_one()
        return until if until.tzinfo else until.replace(tzinfo=UTC)

    def slow_peer(request: httpx.Request) -> httpx.Response:
        ahead["by"] = 3 * outbox.LEASE  # the send outlasts its first lease, and then some
        wait_for("the heartbeat to renew the lease", lambda: lease_until() > a.now(), timeout=30)
        taken_meanwhile.extend(outbox._claim(a, 10, a.now()))  # another worker looks
        r = cb.post(request.url.path, content=request.content)
        return httpx.Response(r.status_code, content=r.content, headers={"content-type": "application/json"})

    with httpx.Client(transport=httpx.MockTransport(slow_peer)) as slow:
        outbox.deliver_due(a, client=slow)
    assert taken_meanwhile == []
    assert outbox_row(a, env_id)["state"] == "delivered" and len(entries(b, "inbox.accepted")) == 1


def test_a_held_item_holds_the_later_items_about_its_subject_only(
        peered: tuple[Node, Node, TestClient, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    from hanoi.core.gate import Decision, Reason

    a, b, _ca, cb = peered
    hold_first = {"on": True}

    def gate(uow: UnitOfWork, row: dict[str, Any], member: dict[str, Any]) -> Decision:
        if hold_first["on"] and row["subject"] == "request:1" and row["payload"]["n"] == 0:
            return Decision.of([Reason("GATE-CONCERNS", "review", "a person must look first")])
        return Decision.of(())

    with_test_item(monkeypatch, a, "test.ping", send_gate=gate)
    with_test_item(monkeypatch, b, "test.ping")
    run = _queue(a, b, "request:1", 3, "test.ping")
    free = _queue(a, b, "request:2", 2, "test.ping")
    outbox.deliver_due(a, client=cb)
    assert outbox_row(a, run[0])["state"] == "held"
    # The items after the held one wait (not sent, no attempt counted); another subject goes.
    assert [outbox_row(a, i)["state"] for i in run[1:]] == ["pending", "pending"]
    assert [outbox_row(a, i)["attempts"] for i in run[1:]] == [0, 0]
    assert [outbox_row(a, i)["state"] for i in free] == ["delivered", "delivered"]
    assert outbox.deliver_due(a, client=cb) == 0  # still waiting behind the held item

    hold_first["on"] = False
    outbox.retry(a, "test", run[0])
    outbox.deliver_due(a, client=cb)
    assert all(outbox_row(a, i)["state"] == "delivered" for i in run)
    received = [r["envelope_id"] for r in sorted(inbox_rows(b), key=lambda r: r["ledger_seq"])]
    assert [i for i in received if i in run] == run


def test_a_failed_send_defers_the_rest_of_its_subject(
        peered: tuple[Node, Node, TestClient, TestClient]) -> None:
    a, b, _ca, cb = peered
    run = _queue(a, b, "request:9", 4)
    outbox_batch = outbox.BATCH_MAX_ITEMS
    calls: list[int] = []

    def first_batch_fails(request: httpx.Request) -> httpx.Response:
        calls.append(len(json.loads(request.content)))
        if len(calls) == 1:
            raise httpx.ReadTimeout("peer too slow", request=request)
        return cb.post(request.url.path, content=request.content, headers=dict(request.headers))

    try:
        outbox.BATCH_MAX_ITEMS = 2  # two batches of two: the first fails
        with httpx.Client(transport=httpx.MockTransport(first_batch_fails)) as flaky:
            outbox.deliver_due(a, client=flaky)
    finally:
        outbox.BATCH_MAX_ITEMS = outbox_batch
    assert calls == [2]  # the second batch was not sent: it would have overtaken the first
    assert [outbox_row(a, i)["attempts"] for i in run] == [1, 1, 0, 0]
    assert inbox_rows(b) == []
    outbox.retry(a, "test", run[0])
    outbox.retry(a, "test", run[1])
    outbox.deliver_due(a, client=cb)
    received = [r["envelope_id"] for r in sorted(inbox_rows(b), key=lambda r: r["ledger_seq"])]
    assert received == run


def test_a_refused_item_in_a_batch_rolls_back_its_own_writes_only(
        peered: tuple[Node, Node, TestClient, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, _ca, _cb = peered
    kid = a.config.key_id

    def apply(uow: UnitOfWork, env: Envelope, sender: dict[str, Any]) -> dict[str, Any]:
        uow.record("test.applied", f"item:{env.payload['n']}", {"n": env.payload["n"]})
        if env.payload["n"] < 0:
            raise InvalidInput("n must not be negative", [Problem("n", "negative")])
        return {"subject": f"item:{env.payload['n']}"}

    with_test_item(monkeypatch, b, "test.item", receive=apply)
    ns = [1, -1, -2, 2, -3, 3]
    envs = [_envelope(a, b, type="test.item", payload={"n": n}) for n in ns]
    outcomes = inbox.receive_batch(b, [sign_envelope(e, a.private_key, kid) for e in envs])
    statuses = [inbox.receipt_payload(o)["status"] for o in outcomes if isinstance(o, str)]
    assert statuses == ["accepted" if n > 0 else "rejected" for n in ns]
    # Each accepted item keeps its handler's entry and its acceptance, even when the next
    # item was refused; each refused item's own writes are gone.
    assert sorted(e["payload"]["n"] for e in entries(b, "test.applied")) == [1, 2, 3]
    assert len(entries(b, "inbox.accepted")) == 3 and len(entries(b, "inbox.rejected")) == 3
    assert {r["envelope_id"]: r["status"] for r in inbox_rows(b)} == \
        {e.id: ("accepted" if n > 0 else "rejected") for e, n in zip(envs, ns, strict=True)}
    assert ledger.verify(b).ok
