"""Verify, page through and checkpoint the node's ledger; and ledger a gate's refusal.

Verification recomputes every entry's hash and link from the stored fields, checks each
signed checkpoint against the node key and the entry it names, and reports the first break.
A large ledger is checked in slices on all cores; slices are joined at their boundaries, so
the answer is the same as a single pass.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn

from hanoi.core import keys
from hanoi.core.clock import isoformat
from hanoi.core.errors import NotFound
from hanoi.core.gate import Decision, GateRefused
from hanoi.core.ledger import GENESIS, Break, check_checkpoints, check_rows
from hanoi.core.progress import ProgressCallback, counted
from hanoi.node.peers import own_keys
from hanoi.node.runtime import Node
from hanoi.store import ledger_store
from hanoi.store.db import make_engine

PARALLEL_FROM = 100_000


def refuse(node: Node, actor: str, action: str, subject: str, payload: dict[str, Any],
           decision: Decision, what: str) -> NoReturn:
    """Ledger a gate decision that stops an act (in a unit of work of its own: the act does not
    happen, but the refusal must stay on record), then raise ``GateRefused`` (403 for deny,
    409 for review)."""
    with node.write(actor) as work:
        work.record(action, subject, {**payload, "decision": decision.as_dict()},
                    decision=decision.outcome, reasons=[r.as_dict() for r in decision.reasons])
    raise GateRefused(decision, what)


@dataclass(frozen=True)
class VerifyResult:
    count: int
    head_seq: int
    head_hash: str
    checkpoints: int
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def message(self) -> str:
        if self.broken is None:
            return f"ledger ok: {self.count} entries, head {self.head_hash}"
        return f"ledger broken at entry {self.broken.seq}: {self.broken.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "count": self.count, "head_seq": self.head_seq,
                "head_hash": self.head_hash, "checkpoints": self.checkpoints,
                "broken": {"seq": self.broken.seq, "reason": self.broken.reason} if self.broken else None,
                "message": self.message()}


def _check_slice(
    url: str, start: int, stop: int | None, check_payloads: bool
) -> tuple[int, str | None, str, Break | None]:
    """Check rows ``start <= seq < stop`` in a worker; return (count, first prev_hash, last hash, break)."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            # The first slice starts below 1 (an entry inserted before the first is a break
            # there) and links to GENESIS itself, exactly as a single pass does.
            rows = ledger_store.iter_rows(conn, None if start <= 1 else start, stop)
            first = next(rows, None)
            if first is None:
                return 0, None, "", None
            first_prev = GENESIS if start <= 1 else first[9]

            def chained() -> Any:
                yield first
                yield from rows

            n, last, broken = check_rows(chained(), expect_seq=start, expect_prev=first_prev,
                                         check_payloads=check_payloads)
            return n, first_prev, last, broken
    finally:
        engine.dispose()


def verify(node: Node, *, workers: int | None = None, check_payloads: bool = True,
           progress: ProgressCallback | None = None) -> VerifyResult:
    url = node.engine.url.render_as_string(hide_password=False)
    with node.read() as conn:
        try:
            head_seq, _ = ledger_store.head(conn)
        except (TypeError, ValueError):  # SQLite keeps whatever is written, text included
            return VerifyResult(0, 0, GENESIS, 0, Break(0, "the newest entry's sequence number is "
                                                           "not a whole number (edited)"))
        cps = ledger_store.checkpoints(conn)
        workers = workers or min(os.cpu_count() or 1, 8)
        if head_seq < PARALLEL_FROM or workers <= 1 or url.startswith("sqlite:///:memory:"):
            rows = ledger_store.iter_rows(conn)
            count, last, broken = check_rows(rows if progress is None else counted(rows, head_seq, progress),
                                             check_payloads=check_payloads)
        else:
            count, last, broken = _verify_parallel(url, head_seq, workers, check_payloads, progress)
        if broken is None and count != head_seq:
            broken = Break(count + 1, f"sequence broken: {head_seq} is the newest entry but only "
                                      f"{count} entries chain up to it")
        if broken is None:
            broken = _check_checkpoints(node, conn, cps, head_seq)
    return VerifyResult(count, head_seq, last if count else GENESIS, len(cps), broken)


def _verify_parallel(url: str, head_seq: int, workers: int, check_payloads: bool,
                     progress: ProgressCallback | None = None) -> tuple[int, str, Break | None]:
    step = head_seq // workers + 1
    bounds = [(1 + i * step, min(1 + (i + 1) * step, head_seq + 1)) for i in range(workers)]
    bounds[-1] = (bounds[-1][0], None)  # type: ignore[assignment]  # the last slice takes any extra rows
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        results = []
        for result in pool.map(_check_slice, [url] * workers, [b[0] for b in bounds],
                               [b[1] for b in bounds], [check_payloads] * workers):
            results.append(result)  # in order: report the entries checked up to this slice
            if progress is not None:
                progress(sum(r[0] for r in results), head_seq)
    total, prev = 0, GENESIS
    for (start, stop), (n, first_prev, last, broken) in zip(bounds, results, strict=True):
        if n == 0 and broken is None:
            if start <= head_seq:
                return total, prev, Break(start, f"sequence broken: entry {start} is missing")
            continue
        if first_prev is not None and first_prev != prev:
            return total, prev, Break(start, "previous-hash link does not match the entry before it "
                                             "(an entry was deleted, inserted or reordered)")
        total += n
        if broken is not None:
            return total, last if n else prev, broken
        if stop is not None and n < stop - start:
            # the slice ended early: the entry after its last one is missing
            return total, last, Break(start + n, f"sequence broken: entry {start + n} is missing")
        prev = last
    return total, prev, None


def _check_checkpoints(node: Node, conn: Any, cps: list[tuple[int, str, str, str, str]],
                       head_seq: int) -> Break | None:
    # The current key and every earlier one: checkpoints signed before a rotation stay valid.
    known = {r.key_id: r.public_key for r in own_keys(node.config, node.private_key)}
    stored = ledger_store.hashes_at(conn, [c[0] for c in cps if isinstance(c[0], int) and c[0] <= head_seq])
    return check_checkpoints(cps, node_id=node.node_id, keys=known, stored_hashes=stored,
                             head_seq=head_seq, verify=keys.verify)


def checkpoint(node: Node, actor: str) -> dict[str, Any]:
    """Sign the current head now (besides the automatic checkpoints every N entries).

    The checkpoint is itself recorded in the ledger, then the new head is signed.
    """
    with node.write(actor) as uow:
        uow.record("ledger.checkpoint", f"node:{node.node_id}", {"requested_by": actor})
        seq, head_hash = ledger_store.head(uow.conn)
        existing = {c[0] for c in ledger_store.checkpoints(uow.conn)}
        if seq not in existing:
            ledger_store.write_checkpoint(uow.conn, seq, head_hash, isoformat(uow.now),
                                          node_id=node.node_id, key_id=node.config.key_id, sign=node.sign)
    return {"seq": seq, "head_hash": head_hash}


def page(node: Node, *, after: int | None = None, limit: int = 100, subject: str | None = None,
         action: str | None = None) -> dict[str, Any]:
    limit = max(1, min(limit, 1000))
    with node.read() as conn:
        entries = ledger_store.page(conn, after=after, limit=limit, subject=subject, action=action)
        head_seq, head_hash = ledger_store.head(conn)
    items = [e.as_dict() for e in entries]
    return {"items": items, "head": {"seq": head_seq, "hash": head_hash},
            "next_after": items[-1]["seq"] if len(items) == limit else None}


def browse(node: Node, *, before: int | None = None, limit: int = 50, subject: str | None = None,
           actor: str | None = None, action: str | None = None, decision: str | None = None) -> dict[str, Any]:
    """A page of entries, newest first, filtered by exact subject, actor, action and decision;
    ``next_before`` continues it (a keyset: the page after is as fast as the first)."""
    limit = max(1, min(limit, 500))
    filters = {k: v for k, v in (("subject", subject), ("actor", actor), ("action", action),
                                 ("decision", decision)) if v}
    with node.read() as conn:
        entries = ledger_store.page_newest_first(conn, before=before, limit=limit, filters=filters)
        head_seq, head_hash = ledger_store.head(conn)
    items = [e.as_dict() for e in entries]
    return {"items": items, "head": {"seq": head_seq, "hash": head_hash},
            "next_before": items[-1]["seq"] if len(items) == limit and items[-1]["seq"] > 1 else None}


def entry(node: Node, seq: int) -> dict[str, Any]:
    with node.read() as conn:
        found = ledger_store.entry_at(conn, seq)
    if found is None:
        raise NotFound(f"no ledger entry {seq}", "seq")
    return found.as_dict()
