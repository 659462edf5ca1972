"""The outbox sends the most urgent first, and never out of order within a subject.

A 24/7 request must not wait behind a feed of signals queued for the same peer (issue 20):
items carry their type's priority (`hanoi.node.wings.Priority`, declared in each wing's
manifest), a sender may make one more urgent, and an urgent item raises the open items queued
before it about the same subject, so a request's steps still arrive in the order they were taken.
Two nodes in one process (both backends); the arrival order is read from the receiver's ledger.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hanoi.bootstrap import WINGS
from hanoi.node import inbox, outbox
from hanoi.node.runtime import Node
from hanoi.node.wings import Item, Priority, Registry, Wing
from hanoi.requests import service
from hanoi.requests.samples import sample_fields
from hanoi.signals import service as signals_service
from hanoi.store.tables import ledger_entries
from hanoi.store.tables import outbox as outbox_t
from tests.node.test_federation import pair, peered  # noqa: F401  (fixtures)

Pair = tuple[Node, Node, TestClient, TestClient]
TYPES = {"test.bulk": Priority.BULK, "test.casework": Priority.CASEWORK, "test.urgent": Priority.URGENT}


def _with_test_items(monkeypatch: pytest.MonkeyPatch, *nodes: Node) -> None:
    wing = Wing("test", items={t: Item(inbox.ping, hands_over=False, priority=p) for t, p in TYPES.items()})
    for node in nodes:
        monkeypatch.setattr(node, "registry", Registry((*WINGS, wing)))


def _arrivals(node: Node, after_seq: int = 0) -> list[str]:
    """Envelope ids in the order the receiver accepted them."""
    with node.read() as conn:
        rows = conn.execute(select(ledger_entries.c.payload).where(
            (ledger_entries.c.action == "inbox.accepted") & (ledger_entries.c.seq > after_seq))
            .order_by(ledger_entries.c.seq)).scalars().all()
    return [json.loads(p)["envelope_id"] for p in rows]


def _head(node: Node) -> int:
    with node.read() as conn:
        return int(conn.execute(select(ledger_entries.c.seq).order_by(ledger_entries.c.seq.desc())
                                .limit(1)).scalar() or 0)


def _drain(a: Node, cb: TestClient, per_round: int) -> None:
    for _ in range(1000):
        if outbox.deliver_due(a, client=cb, limit=per_round) == 0:
            return
    raise AssertionError("the outbox did not drain")


# Items to queue, in order: (type, subject number, more urgent than its type?).
QUEUES = st.lists(st.tuples(st.sampled_from(sorted(TYPES)), st.integers(0, 3), st.booleans()),
                  min_size=1, max_size=14)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(queued=QUEUES, per_round=st.integers(1, 4))
def test_urgent_first_and_each_subject_in_its_order(peered: Pair, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                    queued: list[tuple[str, int, bool]], per_round: int) -> None:
    a, b, _ca, cb = peered
    _with_test_items(monkeypatch, a, b)
    run = datetime.now(UTC).strftime("%H%M%S%f")  # examples share the nodes: subjects of their own
    start = _head(b)
    sent: list[tuple[str, str, int]] = []  # (envelope id, subject, priority it was queued with)
    with a.write("test") as uow:
        for type_, subject, raise_it in queued:
            subj = f"case:{run}:{subject}"
            rank = Priority.URGENT if raise_it else TYPES[type_]
            env = outbox.enqueue(uow, recipient=b.node_id, type=type_, payload={"n": len(sent)},
                                 subject=subj, priority=rank)
            sent.append((env, subj, min(rank, TYPES[type_])))
    _drain(a, cb, per_round)

    order = {env: i for i, env in enumerate(_arrivals(b, start))}
    assert set(order) == {env for env, _, _ in sent}  # everything arrived, once
    # What each item goes with: its own priority, or a more urgent one queued after it about
    # the same subject (which may not arrive before it).
    effective = [min(r for _, s, r in sent[i:] if s == subj) for i, (_, subj, _) in enumerate(sent)]
    for i, (env, subj, _) in enumerate(sent):
        for j in range(i + 1, len(sent)):
            later, later_subj, _ = sent[j]
            if later_subj == subj:  # one subject: in the order queued, whatever the priorities
                assert order[env] < order[later]
            elif effective[j] < effective[i]:  # more urgent, though queued later: first
                assert order[later] < order[env]
            elif effective[j] == effective[i]:  # as urgent: in the order queued
                assert order[env] < order[later]


def test_an_emergency_request_overtakes_a_feed_of_signals(peered: Pair) -> None:  # noqa: F811
    """A 24/7 request submitted behind 40 batches of signal reports for the same peer is the
    next thing sent; a routine request waits behind none of them either; the reports follow."""
    a, b, _ca, cb = peered
    for batch in range(40):
        signals_service.report(a, "gb-analyst", None, [
            {"type": "url", "value": f"https://pay-{batch}-{i}.example/login", "tlp": "GREEN",
             "abuse_type": "UNCC-13", "confidence": 80} for i in range(5)], federate=True)
    with a.read() as conn:
        queued = conn.execute(select(outbox_t.c.priority).where(outbox_t.c.type == "signal.report")).scalars().all()
    assert len(queued) == 40 and set(queued) == {Priority.BULK}
    now = datetime.now(UTC)
    emergency = service.create(a, "gb-247", {"type": "emergency", "partner": b.node_id,
                                             "fields": sample_fields("emergency", now)[0]})
    service.submit(a, "gb-247", emergency["id"])
    routine = service.create(a, "gb-cw", {"type": "mla", "partner": b.node_id,
                                          "fields": sample_fields("mla", now)[0]})
    service.submit(a, "gb-cw", routine["id"])
    with a.read() as conn:
        priorities: dict[str, Any] = dict(conn.execute(select(outbox_t.c.subject, outbox_t.c.priority)
                                                       .where(outbox_t.c.type == "request.submit")).all())
    assert priorities == {f"request:{emergency['id']}": Priority.URGENT, f"request:{routine['id']}": Priority.CASEWORK}

    start = _head(b)
    assert outbox.deliver_due(a, client=cb, limit=2) == 2
    first_two = _arrivals(b, start)
    with a.read() as conn:
        by_id = dict(conn.execute(select(outbox_t.c.id, outbox_t.c.subject)).all())
    assert [by_id[e] for e in first_two] == [f"request:{emergency['id']}", f"request:{routine['id']}"]
    _drain(a, cb, 100)
    assert len(_arrivals(b, start)) == 2 + len(queued)  # then every batch of reports
