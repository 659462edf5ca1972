"""Peers that stopped answering, watched so that delivery resumes as soon as they are back.

When a peer cannot be reached at all (connection refused or reset, a timeout: a transport
error, not an HTTP answer), every row for it backs off exponentially, up to
``outbox_backoff_cap`` (five minutes by default). That is right for a peer that is down for a
day, and wrong for one restarted a few seconds after a crash: its backlog would wait minutes
more for nothing. So the delivery worker watches the peers it could not reach: every
``PROBE_EVERY`` seconds it asks each of them for its descriptor (a GET with no effect on the
peer), and once one answers, the rows waiting for it are made due at once. A peer stays
watched until it answers. What is watched lives in this process only: a restarted sender
learns again at its first failed attempt.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import bindparam, update

from hanoi.node.runtime import Node
from hanoi.store.tables import outbox

PROBE_EVERY = 1.0
"""Seconds between two probes of a peer that could not be reached."""
PROBE_TIMEOUT = 2.0
DESCRIPTOR_PATH = "/federation/v1/descriptor"


@dataclass
class _Watched:
    base: str
    next_probe: float


_lock = threading.Lock()
# (node home, peer id) -> what to probe and when: several nodes may run in one process.
_watched: dict[tuple[str, str], _Watched] = {}

_DUE_NOW = update(outbox).where(
    (outbox.c.recipient == bindparam("peer")) & (outbox.c.state == "pending")
    & (outbox.c.next_attempt_at > bindparam("now"))
).values(next_attempt_at=bindparam("now"))


def unreachable(node: Node, peer_id: str, base: str) -> None:
    """Note that ``peer_id`` (at ``base``) could not be reached: probe it from now on."""
    key = (str(node.home), peer_id)
    with _lock:
        if key not in _watched:
            _watched[key] = _Watched(base.rstrip("/"), time.monotonic() + PROBE_EVERY)


def watched(node: Node) -> list[str]:
    """The peers of ``node`` being watched (for tests and display)."""
    home = str(node.home)
    with _lock:
        return sorted(peer for h, peer in _watched if h == home)


def probe(node: Node, client: httpx.Client) -> int:
    """Probe the watched peers whose time has come; make the rows of each one that answers
    due now. Returns the number of rows made due."""
    home = str(node.home)
    now = time.monotonic()
    with _lock:
        due = [(peer, w) for (h, peer), w in _watched.items() if h == home and w.next_probe <= now]
        for _, w in due:
            w.next_probe = now + PROBE_EVERY
    made_due = 0
    for peer, w in due:
        try:
            answered = client.get(w.base + DESCRIPTOR_PATH, timeout=PROBE_TIMEOUT).status_code < 500
        except httpx.HTTPError:
            answered = False
        if not answered:
            continue
        with _lock:
            _watched.pop((home, peer), None)
        with node.writes.engine.begin() as conn:  # bookkeeping, like a retry schedule: no entry
            made_due += conn.execute(_DUE_NOW, {"peer": peer, "now": node.now()}).rowcount
    return made_due
