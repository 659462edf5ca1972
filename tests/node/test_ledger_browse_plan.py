"""The auditor's ledger pages read one index range, whatever the filter: each filter column
has an index ending in seq (migration 0007), so a page never sorts or scans the ledger."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from hanoi.node import ledger
from hanoi.node.runtime import Node
from hanoi.store.ledger_store import FILTERABLE, newest_first_query


def _plan(node: Node, filters: dict[str, str], before: int | None) -> str:
    query = newest_first_query(before=before, limit=50, filters=filters)
    sql = str(query.compile(node.engine, compile_kwargs={"literal_binds": True}))
    with node.read() as conn:
        if node.engine.dialect.name == "sqlite":
            return "\n".join(r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        # On a tiny table any plan is cheap: forbid scans and sorts, so the plan shows whether
        # an index can deliver the page in order (if none can, PostgreSQL still sorts, and the
        # test fails). bench/console_ledger.py checks the plans at a million entries.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(text(f"SET LOCAL {setting} = off"))
        return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")))


@pytest.mark.parametrize("columns", [c for n in range(3) for c in itertools.combinations(FILTERABLE, n)],
                         ids=lambda c: "+".join(c) or "none")
def test_every_filter_reads_an_index_in_seq_order_without_sorting(node: Node, columns: tuple[str, ...]) -> None:
    filters = {c: "x" for c in columns}
    for before in (None, 1000):
        plan = _plan(node, filters, before)
        assert "SORT" not in plan.upper(), plan  # neither "USE TEMP B-TREE FOR ORDER BY" nor a Sort node
        if node.engine.dialect.name == "sqlite":
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan or "PRIMARY KEY" in plan, plan
            assert "SCAN ledger_entries\n" not in plan + "\n", plan
            if columns:
                assert any(f"ix_ledger_{c}_seq" in plan for c in columns), plan
        else:
            assert "Index Scan Backward" in plan, plan
            if columns:
                assert any(f"ix_ledger_{c}_seq" in plan for c in columns), plan


def test_pages_chain_without_gaps_or_repeats(node: Node) -> None:
    with node.write("test") as uow:
        for i in range(230):
            uow.record("demo.note", f"note:{i % 3}", {"n": i}, decision="deny" if i % 7 == 0 else None)
    for filters in ({}, {"subject": "note:1"}, {"decision": "deny", "action": "demo.note"}):
        seen: list[int] = []
        before = None
        while True:
            page = ledger.browse(node, before=before, limit=40, **filters)
            seen += [e["seq"] for e in page["items"]]
            assert all(all(e[k] == v for k, v in filters.items()) for e in page["items"])
            before = page["next_before"]
            if before is None:
                break
        expected = [e["seq"] for e in ledger.page(node, limit=1000)["items"]
                    if all(e[k] == v for k, v in filters.items())]
        assert seen == sorted(expected, reverse=True)
