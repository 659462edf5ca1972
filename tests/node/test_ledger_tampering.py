"""Ledger verification has no blind spots (issue 11 item 5): an entry numbered 0 or below is a
break and shows in every reading of the ledger, an edited checkpoint is named and never crashes
verification, and no value written behind the node's back (triggers dropped, as someone with
database access would) makes `hanoi ledger verify` raise instead of naming the entry."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hanoi.api.app import create_app
from hanoi.cli.main import run
from hanoi.core.bounds import BIGINT_MIN
from hanoi.node import ledger, members
from hanoi.node.runtime import Node
from tests.node.helpers import auth, member_body

TABLES = ("ledger_entries", "ledger_checkpoints")


def _tamper(node: Node, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Edit the ledger and its checkpoints behind the node's back, the append-only triggers
    dropped (SQLite) or disabled (PostgreSQL) first."""
    with node.engine.connect() as conn:
        conn.begin()
        for table in TABLES:
            if node.engine.dialect.name == "sqlite":
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
            else:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        for sql in statements:
            conn.execute(text(sql), params or {})
        conn.commit()


def _members(node: Node, n: int) -> None:
    for i in range(n):
        members.add(node, "test", member_body(id=f"m{i:03d}", name=f"Member {i}"))


COPY_OF_ENTRY_4 = ("INSERT INTO ledger_entries (seq, ts, actor, action, subject, decision, reasons, payload, "
                   "payload_digest, prev_hash, hash) SELECT {seq}, ts, actor, action, subject, decision, "
                   "reasons, payload, payload_digest, prev_hash, hash FROM ledger_entries WHERE seq = 4")


@pytest.mark.parametrize("seq", [0, -5, BIGINT_MIN])
def test_an_entry_numbered_below_one_is_a_break_and_is_seen(node: Node, seq: int,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _members(node, 3)
    assert ledger.verify(node).ok
    _tamper(node, COPY_OF_ENTRY_4.format(seq=seq))
    result = ledger.verify(node)
    assert not result.ok and result.broken is not None
    assert result.broken.seq == seq
    assert "below 1: an entry was inserted before the first one" in result.broken.reason
    assert run(["--home", str(node.home), "ledger", "verify"]) == 1
    assert capsys.readouterr().out.startswith(f"ledger broken at entry {seq}: ")
    # Every reading shows it: the ledger from the start, a subject's timeline, the API.
    assert ledger.page(node)["items"][0]["seq"] == seq
    timeline = ledger.page(node, subject="member:m000")["items"]
    assert [e["seq"] for e in timeline] == [seq, 4]
    admin = _admin(node)
    with TestClient(create_app(node)) as c:
        assert c.get("/api/v1/ledger", headers=auth(admin)).json()["items"][0]["seq"] == seq
        page = c.get(f"/api/v1/ledger?after={seq}", headers=auth(admin)).json()
        assert page["items"][0]["seq"] > seq


def test_parallel_verification_sees_an_entry_below_one_too(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    _members(node, 6)
    _tamper(node, COPY_OF_ENTRY_4.format(seq=0))
    single = ledger.verify(node, workers=1)
    monkeypatch.setattr(ledger, "PARALLEL_FROM", 1)
    parallel = ledger.verify(node, workers=3)
    assert single.broken == parallel.broken and single.broken is not None and single.broken.seq == 0


@pytest.mark.parametrize(("signature", "reason"), [
    ("not-hex-at-all", "checkpoint signature is not hexadecimal ('not-hex-at-all')"),
    ("abc", "checkpoint signature is not hexadecimal"),  # odd length
    ("00" * 64, "checkpoint signature is not valid"),
    ("00", "checkpoint signature is not valid"),  # hex, but too short to be a signature
])
def test_an_edited_checkpoint_signature_is_named(node: Node, signature: str, reason: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _members(node, 2)
    cp = ledger.checkpoint(node, "test")
    _tamper(node, "UPDATE ledger_checkpoints SET signature = :sig WHERE seq = :seq",
            params={"sig": signature, "seq": cp["seq"]})
    result = ledger.verify(node)
    assert result.broken is not None and result.broken.seq == cp["seq"]
    assert reason in result.broken.reason
    assert run(["--home", str(node.home), "ledger", "verify"]) == 1
    assert capsys.readouterr().out.startswith(f"ledger broken at entry {cp['seq']}: checkpoint signature")


def _admin(node: Node) -> str:
    from hanoi.node import tokens

    secret, _ = tokens.create(node, "test", name="auditor", role="auditor")
    return secret


# Values someone with database access might write into any column: numbers where text belongs,
# text where numbers belong (SQLite keeps either), empty and oversized text, non-hex hashes.
hostile_values = st.one_of(
    st.integers(min_value=BIGINT_MIN, max_value=2**63 - 1),
    st.sampled_from(["", "0", "-1", "zz", "null", "[]", "{}", "not json", "é" * 3, "0" * 64, "x" * 300]),
    st.text(max_size=20),
)
ENTRY_COLUMNS = ("seq", "ts", "actor", "action", "subject", "decision", "reasons", "payload",
                 "payload_digest", "prev_hash", "hash")
# A checkpoint's ts is when it was taken, for people: the signature covers (node, seq, head).
CHECKPOINT_COLUMNS = ("seq", "head_hash", "key_id", "signature")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=st.sampled_from(TABLES), data=st.data(), value=hostile_values)
def test_no_edit_makes_verification_raise(node: Node, table: str, data: st.DataObject, value: Any) -> None:
    """Whatever single value is written into whichever column of an entry or a checkpoint,
    verification answers (and names a break unless the value is the one already there); the
    edit is then undone and the ledger verifies again."""
    if ledger.verify(node).count < 6:
        _members(node, 4)
        ledger.checkpoint(node, "test")
    columns = ENTRY_COLUMNS if table == "ledger_entries" else CHECKPOINT_COLUMNS
    column = data.draw(st.sampled_from(columns))
    with node.read() as conn:
        row_key = conn.execute(text(f"SELECT max(seq) FROM {table}")).scalar_one()
        if table == "ledger_entries":
            row_key = data.draw(st.integers(min_value=1, max_value=int(row_key)))
        original = conn.execute(text(f"SELECT {column} FROM {table} WHERE seq = :k"), {"k": row_key}).scalar_one()
    assume(value != original)
    try:
        _tamper(node, f"UPDATE {table} SET {column} = :v WHERE seq = :k", params={"v": value, "k": row_key})
    except DBAPIError:
        assume(False)  # the database refuses the value (a type, a length, a duplicate key)
    try:
        result = ledger.verify(node)
        assert not result.ok, (table, column, value)
        assert result.broken is not None and isinstance(result.broken.seq, int)
    finally:
        where = value if column == "seq" else row_key
        _tamper(node, f"UPDATE {table} SET {column} = :o WHERE seq = :k", params={"o": original, "k": where})
    assert ledger.verify(node).ok
