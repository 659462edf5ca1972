"""The desk's lists read an index in (created_at, id) order, filtered or not, at any depth:
never a sort of every matching request, never OFFSET (migration 0009d)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from hanoi.node.runtime import Node
from hanoi.requests.desk import Filters, list_query

FILTERS = ("type", "partner", "state")


def _plan(node: Node, filters: Filters, after: tuple[datetime, str] | None) -> str:
    sql = str(list_query(filters, after=after).compile(node.engine, compile_kwargs={"literal_binds": True}))
    assert re.search(r"OFFSET (?!0\b)", sql.upper()) is None, sql  # SQLite writes "OFFSET 0"
    with node.read() as conn:
        if node.engine.dialect.name == "sqlite":
            return "\n".join(r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.execute(text(f"SET LOCAL {setting} = off"))
        return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")))


@pytest.mark.parametrize("columns", [c for n in range(3) for c in itertools.combinations(FILTERS, n)],
                         ids=lambda c: "+".join(c) or "none")
def test_every_list_reads_a_desk_index_in_order(node: Node, columns: tuple[str, ...]) -> None:
    values = {"type": "stored-data", "partner": "fr-pharos", "state": "executed"}
    for direction in ("incoming", "outgoing"):
        filters = Filters(direction=direction, **{c: values[c] for c in columns})
        for after in (None, (datetime(2026, 1, 1, tzinfo=UTC), "GB-2026-00000000")):
            plan = _plan(node, filters, after)
            assert "SORT" not in plan.upper(), plan
            assert "ix_requests_desk" in plan, plan
