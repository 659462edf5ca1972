"""The ledger: every change ledgered, appends linear under concurrency, tampering detected."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from hanoi.bootstrap import open_node
from hanoi.cli.main import run
from hanoi.core.errors import Conflict, InvalidInput
from hanoi.node import ledger, members
from hanoi.node.runtime import Node
from hanoi.store.tables import ledger_entries
from tests.node.helpers import GOOD_ASSESSMENT, member_body


def _members(node: Node, n: int) -> None:
    for i in range(n):
        members.add(node, "test", member_body(id=f"m{i:03d}", name=f"Member {i}"))


def _raw(node: Node, *statements: str) -> None:
    """Edit the ledger behind the node's back, as someone with database access would."""
    with node.engine.connect() as conn:
        conn.begin()
        if node.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS ledger_entries_no_delete"))
        else:
            conn.execute(text("ALTER TABLE ledger_entries DISABLE TRIGGER USER"))
        for sql in statements:
            conn.execute(text(sql))
        conn.commit()


def test_every_change_writes_one_entry_in_order(node: Node) -> None:
    _members(node, 2)
    members.assess(node, "alice", "m000", GOOD_ASSESSMENT)
    page = ledger.page(node)
    actions = [e["action"] for e in page["items"]]
    assert actions == ["node.init", "policy.init", "token.create", "member.add", "member.add", "member.assess"]
    assert page["items"][-1]["actor"] == "alice"
    assert page["items"][-1]["decision"] == "good"
    for prev, entry in zip(page["items"], page["items"][1:], strict=False):
        assert entry["prev_hash"] == prev["hash"]
        assert entry["seq"] == prev["seq"] + 1


def test_a_refused_change_writes_nothing(node: Node) -> None:
    before = ledger.verify(node).count
    with pytest.raises(InvalidInput):
        members.add(node, "test", member_body(country="XX1"))
    with pytest.raises(InvalidInput):
        members.assess(node, "test", "nobody", {"standing": "good"})
    assert ledger.verify(node).count == before
    assert members.list_members(node) == []


@pytest.mark.parametrize("sql", [
    "UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 2",
    "DELETE FROM ledger_entries WHERE seq = 2",
])
def test_database_refuses_update_and_delete(node: Node, sql: str) -> None:
    with node.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text(sql))
    assert ledger.verify(node).ok


def test_checkpoints_cannot_be_edited_either(node: Node) -> None:
    ledger.checkpoint(node, "test")
    with node.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("DELETE FROM ledger_checkpoints"))


TAMPERING: dict[str, tuple[list[str], int, str]] = {
    "edited actor": (["UPDATE ledger_entries SET actor = 'mallory' WHERE seq = 3"], 3, "edited"),
    "edited payload": (["UPDATE ledger_entries SET payload = '{\"id\":\"forged\"}' WHERE seq = 4"], 4,
                       "payload does not match"),
    "edited decision": (["UPDATE ledger_entries SET decision = 'allow' WHERE seq = 3"], 3, "edited"),
    "deleted entry": (["DELETE FROM ledger_entries WHERE seq = 3"], 3, "missing"),
    "inserted entry": ([
        "UPDATE ledger_entries SET seq = seq + 1000 WHERE seq >= 3",
        "UPDATE ledger_entries SET seq = seq - 999 WHERE seq >= 1003",
        "INSERT INTO ledger_entries (seq, ts, actor, action, subject, decision, reasons, payload, "
        "payload_digest, prev_hash, hash) SELECT 3, ts, actor, action, subject, decision, reasons, "
        "payload, payload_digest, prev_hash, hash FROM ledger_entries WHERE seq = 2",
    ], 3, "previous-hash link"),
    "reordered entries": ([
        "UPDATE ledger_entries SET seq = -1 WHERE seq = 3",
        "UPDATE ledger_entries SET seq = 3 WHERE seq = 4",
        "UPDATE ledger_entries SET seq = 4 WHERE seq = -1",
    ], 3, "previous-hash link"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_verify_names_the_first_broken_entry(node: Node, case: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _members(node, 4)
    assert ledger.verify(node).ok
    statements, seq, reason = TAMPERING[case]
    _raw(node, *statements)
    result = ledger.verify(node)
    assert not result.ok
    assert result.broken is not None
    assert result.broken.seq == seq, result.message()
    assert reason in result.broken.reason
    # the CLI says the same and exits 1
    assert run(["--home", str(node.home), "ledger", "verify"]) == 1
    assert capsys.readouterr().out.startswith(f"ledger broken at entry {seq}: ")


def test_truncation_after_a_checkpoint_is_detected(node: Node) -> None:
    _members(node, 3)
    cp = ledger.checkpoint(node, "test")
    _raw(node, f"DELETE FROM ledger_entries WHERE seq >= {cp['seq'] - 1}")
    result = ledger.verify(node)
    assert not result.ok and "truncated" in result.broken.reason  # type: ignore[union-attr]


def test_rewritten_chain_is_caught_by_the_signed_checkpoint(node: Node) -> None:
    """An attacker who rewrites an entry and re-hashes everything after it still fails."""
    from hanoi.core.ledger import GENESIS, entry_hash
    from hanoi.store import ledger_store

    _members(node, 2)
    cp = ledger.checkpoint(node, "test")
    with node.read() as conn:
        rows = list(ledger_store.iter_rows(conn))
    prev = GENESIS
    statements = []
    for row in rows:
        seq, ts, actor, action, subject, decision, reasons, _payload, pdigest, _prev, _h = row
        if seq == 3:
            actor = "mallory"
        h = entry_hash(seq, ts, actor, action, subject, decision, json.loads(reasons), pdigest, prev)
        statements.append(f"UPDATE ledger_entries SET actor = '{actor}', prev_hash = '{prev}', "
                          f"hash = '{h}' WHERE seq = {seq}")
        prev = h
    _raw(node, *statements)
    result = ledger.verify(node)
    assert not result.ok
    assert result.broken is not None and result.broken.seq == cp["seq"]
    assert "checkpoint" in result.broken.reason


def test_automatic_checkpoints_every_interval(node: Node) -> None:
    node.config.checkpoint_interval = 5
    _members(node, 6)  # entries 3..8
    with node.read() as conn:
        from hanoi.store import ledger_store

        assert [c[0] for c in ledger_store.checkpoints(conn)] == [5]
    assert ledger.verify(node).checkpoints == 1


def test_concurrent_writers_keep_one_linear_chain(node: Node) -> None:
    errors: list[BaseException] = []

    def worker(k: int) -> Callable[[], None]:
        def go() -> None:
            try:
                for i in range(10):
                    members.add(node, f"w{k}", member_body(id=f"w{k}-{i}", name=f"W {k} {i}"))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
        return go

    threads = [threading.Thread(target=worker(k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = ledger.verify(node)
    assert result.ok and result.count == 3 + 40


def test_parallel_verification_agrees_with_a_single_pass(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    _members(node, 30)
    monkeypatch.setattr(ledger, "PARALLEL_FROM", 10)
    single = ledger.verify(node, workers=1)
    parallel = ledger.verify(node, workers=3)
    assert single.ok and parallel.ok
    assert (parallel.count, parallel.head_hash) == (single.count, single.head_hash)
    _raw(node, "UPDATE ledger_entries SET subject = 'x' WHERE seq = 17")
    assert ledger.verify(node, workers=3).broken.seq == 17  # type: ignore[union-attr]
    _raw(node, "DELETE FROM ledger_entries WHERE seq = 12")
    assert ledger.verify(node, workers=3).broken.seq == 12  # type: ignore[union-attr]


def test_ledger_show_cli(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    _members(node, 1)
    assert run(["--home", str(node.home), "ledger", "show", "--json"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in page["items"]][-1] == "member.add"
    assert page["head"]["seq"] == 4


def test_checkpoints_signed_before_a_key_rotation_still_verify(node: Node) -> None:
    from hanoi.node import peers

    _members(node, 2)
    ledger.checkpoint(node, "test")
    old_key = node.config.key_id
    peers.rotate_key(node, "test")
    rotated = open_node(node.home)  # what a restarted node sees: the new key, the old one kept
    try:
        assert rotated.config.key_id != old_key
        ledger.checkpoint(rotated, "test")
        result = ledger.verify(rotated)
        assert result.ok, result.message()
        assert result.checkpoints == 2
    finally:
        rotated.close()


# --- entries are chained at once and written together before the commit ----------------------


def _subject_rows(conn: Any, subject: str) -> list[tuple[int, dict[str, Any]]]:
    rows = conn.execute(select(ledger_entries.c.seq, ledger_entries.c.payload)
                        .where(ledger_entries.c.subject == subject).order_by(ledger_entries.c.seq))
    return [(int(seq), json.loads(payload)) for seq, payload in rows]


def test_a_unit_of_work_reads_its_own_entries_before_they_are_written(node: Node) -> None:
    with node.write("test") as uow:
        first = uow.record("test.one", "own", {"n": 1})
        second = uow.record("test.two", "own", {"n": 2})
        assert (first.seq + 1, first.hash) == (second.seq, second.prev_hash)
        # A statement of the same transaction that reads the ledger sees both entries.
        assert _subject_rows(uow.conn, "own") == [(first.seq, {"n": 1}), (second.seq, {"n": 2})]
        third = uow.record("test.three", "own", {"n": 3})
    with node.read() as conn:
        assert [seq for seq, _ in _subject_rows(conn, "own")] == [first.seq, second.seq, third.seq]
    assert ledger.verify(node).ok


def test_a_conflicting_entry_fails_the_commit_and_writes_nothing(node: Node) -> None:
    before = ledger.verify(node).count
    with pytest.raises(Conflict), node.write("test") as uow:
        entry = uow.record("test.one", "fork", {})
        # Someone writes the next sequence number inside the transaction (the chain is
        # forked): the entry chained after it cannot be written, so nothing commits.
        uow.conn.execute(ledger_entries.insert().values(
            seq=entry.seq + 1, ts=entry.ts, actor="x", action="x", subject="fork", decision=None,
            reasons="[]", payload="{}", payload_digest="sha256:" + "0" * 64, prev_hash=entry.hash,
            hash="0" * 64))
        uow.record("test.two", "fork", {})
    result = ledger.verify(node)
    assert result.ok and result.count == before


OPERATIONS = st.lists(st.sampled_from(["record", "savepoint", "read", "rollback", "release"]),
                      max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_entries_survive_savepoints_exactly_as_the_database_does(node: Node,
                                                                  operations: list[str]) -> None:
    """Whatever mix of entries, reads (which write the entries chained so far), savepoints and
    rollbacks to them: what commits is exactly the entries not rolled back, in order, and the
    chain verifies. This is the inbox's pattern (one savepoint per item, a handler that reads
    the ledger or refuses) in every order."""
    subject = f"prop:{uuid.uuid4().hex}"
    kept: list[int] = []  # the model: payloads of the entries that should commit
    marks: list[tuple[str, tuple[int, int], int]] = []  # savepoint name, uow mark, len(kept)
    with node.write("test") as uow:
        for i, op in enumerate(operations):
            if op == "record":
                uow.record("test.prop", subject, {"n": i})
                kept.append(i)
            elif op == "savepoint":
                name = f"sp{i}"
                marks.append((name, uow.mark(), len(kept)))
                uow.conn.exec_driver_sql(f"SAVEPOINT {name}")
            elif op == "read":
                assert [p["n"] for _, p in _subject_rows(uow.conn, subject)] == kept
            elif op == "rollback" and marks:
                name, mark, length = marks[-1]
                uow.conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
                uow.rolled_back_to(mark)
                del kept[length:]
            elif op == "release" and marks:
                name, _, _ = marks.pop()
                uow.conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        uow.record("test.prop", subject, {"n": "end"})
    with node.read() as conn:
        assert [p["n"] for _, p in _subject_rows(conn, subject)] == [*kept, "end"]
    assert ledger.verify(node).ok
