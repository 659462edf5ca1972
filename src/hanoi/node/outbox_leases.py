"""Outbox leases: short, and renewed while the worker that holds them lives.

A delivery round claims rows under a lease so that no other worker sends them meanwhile, and
holds no transaction across the network. If the worker dies (``kill -9``, a crash, a lost
host), its rows come back when the lease ends, so the lease is what a restarted sender waits
for. It is therefore short (``LEASE``), and a round that lasts (a slow peer, a large batch, a
busy database) has it renewed every ``RENEW_EVERY`` seconds by a heartbeat thread while it
runs. A live worker keeps its rows however long a send takes; a dead one lets them go within
``LEASE``. A lease lost anyway (the heartbeat starved for longer than ``LEASE``) costs a
duplicate send at worst, which the peer answers with its original receipt and does not apply.

Leases compare the clocks of the processes that set and read them: workers on several hosts
of one PostgreSQL need clocks within a fraction of ``LEASE`` (NTP does far better).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import bindparam, update

from hanoi.node.runtime import Node
from hanoi.store.tables import outbox

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=5)
RENEW_EVERY = LEASE.total_seconds() / 4
"""Seconds between renewals: three may fail or be late before the lease runs out."""

_OPEN = ("pending", "held")
_RENEW = update(outbox).where(
    outbox.c.id.in_(bindparam("ids", expanding=True)) & outbox.c.state.in_(_OPEN)
    # A row whose lease was cleared (finished, put back, held) is no longer this round's.
    & outbox.c.lease_until.is_not(None)
).values(lease_until=bindparam("until"))


def renew(node: Node, ids: Sequence[str]) -> None:
    """Extend the lease of the rows ``ids`` that are still out on one (bookkeeping: no entry)."""
    if ids:
        with node.writes.engine.begin() as conn:  # the write-marked engine, built once
            conn.execute(_RENEW, {"ids": list(ids), "until": node.now() + LEASE})


def keep_alive(node: Node, ids: Sequence[str], every: float | None = None) -> Callable[[], None]:
    """Keep the leases of ``ids`` alive until the returned function is called (it stops the
    heartbeat and waits for it). A round shorter than ``every`` seconds (default
    ``RENEW_EVERY``; nearly all rounds) writes nothing more than its claim did."""
    stop = threading.Event()
    interval = RENEW_EVERY if every is None else every

    def beat() -> None:
        while not stop.wait(interval):
            try:
                renew(node, ids)
            except Exception:  # the next beat tries again; the round itself goes on
                log.exception("could not renew the outbox leases of %d rows", len(ids))

    thread = threading.Thread(target=beat, name="hanoi-outbox-lease", daemon=True)
    thread.start()

    def end() -> None:
        stop.set()
        thread.join()

    return end
