"""Leases in the database: one holder of a named duty at a time, across processes and machines
(the feed runner: ``hanoi serve`` with several workers, or on several machines, and ``hanoi
feeds run`` from cron, never pull one feed twice at once).

``take`` claims the lease when it is free, expired, or already the caller's, in one statement
(an UPDATE guarded by those conditions, or the INSERT of a first row; a unique key settles two
first claims): the database decides, so no two holders ever both succeed. A holder renews it
by taking it again before it expires and gives it back with ``give_back``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError

from hanoi.node.runtime import Node
from hanoi.store.tables import leases


def take(node: Node, name: str, holder: str, seconds: float, now: datetime | None = None) -> bool:
    """Hold ``name`` for ``seconds`` from now if nobody else holds it; whether it is ours."""
    now = now or node.now()
    until = now + timedelta(seconds=seconds)
    with node.writes.engine.begin() as conn:
        taken = conn.execute(update(leases).where(
            (leases.c.name == name) & ((leases.c.holder == holder) | (leases.c.until < now)))
            .values(holder=holder, until=until)).rowcount
        if taken:
            return True
    try:
        with node.writes.engine.begin() as conn:
            conn.execute(insert(leases).values(name=name, holder=holder, until=until))
        return True
    except IntegrityError:  # someone holds it (or took it first)
        return False


def give_back(node: Node, name: str, holder: str) -> None:
    with node.writes.engine.begin() as conn:
        conn.execute(delete(leases).where((leases.c.name == name) & (leases.c.holder == holder)))
