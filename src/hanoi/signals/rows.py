"""The signals wing's SQL: signals and reports stored (with their ledger entries), read back,
and turned into the views the gate and the writers take.

The ledger names a signal by the SHA-256 of ``type\\0value`` (``signal:<digest>``), never by
its value: phone numbers, e-mail addresses and IBANs are personal data, and a value erased from
the store must not live on in an append-only chain. A single report is ledgered as
``signal.report``; a batch as ``signal.import`` entries of up to ``LEDGER_CHUNK`` reports each,
every entry listing each report's id, type, digest and TLP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Connection

from hanoi.core.clock import isoformat
from hanoi.core.tlp import TLP
from hanoi.node.runtime import Work
from hanoi.signals.gate import ReportView
from hanoi.signals.reports import ReportDraft
from hanoi.signals.types import SignalKey
from hanoi.store.ledger_store import lock_ledger
from hanoi.store.tables import ledger_entries, signal_links, signal_reports, signals

LEDGER_CHUNK = 1000
"""Reports listed per ``signal.import`` ledger entry."""
SQL_CHUNK = 500
"""Ids per ``IN`` list."""
NAMED = "signal.named"
"""The ledger action of a change to the members named for a report (the index catches up on it)."""


def digest_of(type_name: str, value: str) -> str:
    return hashlib.sha256(f"{type_name}\0{value}".encode()).hexdigest()


def subject(type_name: str, value: str) -> str:
    return f"signal:{digest_of(type_name, value)}"


def ledger_head(conn: Connection) -> int:
    return int(conn.execute(select(func.max(ledger_entries.c.seq))).scalar() or 0)


@dataclass(frozen=True, slots=True)
class Stored:
    report_id: int
    signal_id: int
    draft: ReportDraft
    key: SignalKey
    new_signal: bool


def signal_ids(uow: Work, keys: Iterable[tuple[SignalKey, datetime, datetime]]
                ) -> dict[SignalKey, tuple[int, bool]]:
    """Get or create each signal; ``(id, created)``. Widens first/last seen of existing ones."""
    wanted: dict[str, tuple[SignalKey, datetime, datetime]] = {}
    for key, first, last in keys:
        d = digest_of(*key)
        if d in wanted:
            _, f0, l0 = wanted[d]
            wanted[d] = (key, min(f0, first), max(l0, last))
        else:
            wanted[d] = (key, first, last)
    conn = uow.conn
    digests = list(wanted)
    found: dict[str, tuple[int, datetime, datetime]] = {}
    for i in range(0, len(digests), SQL_CHUNK):
        part = digests[i:i + SQL_CHUNK]
        for r in conn.execute(select(signals.c.id, signals.c.digest, signals.c.first_seen,
                                     signals.c.last_seen).where(signals.c.digest.in_(part))):
            found[r.digest] = (r.id, r.first_seen, r.last_seen)
    out: dict[SignalKey, tuple[int, bool]] = {}
    widen = []
    for d, (sid, f0, l0) in found.items():
        key, first, last = wanted[d]
        out[key] = (sid, False)
        if first < f0 or last > l0:
            widen.append({"sid": sid, "f": min(f0, first), "l": max(l0, last)})
    if widen:
        conn.execute(update(signals).where(signals.c.id == bindparam("sid"))
                     .values(first_seen=bindparam("f"), last_seen=bindparam("l")), widen)
    missing = [d for d in digests if d not in found]
    if missing:
        rows = [{"type": wanted[d][0][0], "value": wanted[d][0][1], "digest": d,
                 "first_seen": wanted[d][1], "last_seen": wanted[d][2], "created_at": uow.now}
                for d in missing]
        result = conn.execute(signals.insert().returning(signals.c.id, signals.c.digest,
                                                         sort_by_parameter_order=True), rows)
        for r in result:
            out[wanted[r.digest][0]] = (r.id, True)
    return out


def insert_reports(uow: Work, drafts: Sequence[ReportDraft], *, source: str, origin: str,
           via: str | None, batch: str | None, remote_ids: Sequence[str | None] | None = None,
           related_reports: bool = True) -> list[Stored]:
    """Insert signals, reports, links and the ledger entries, inside ``uow``.

    A draft's ``related`` identifiers get reports of their own (same terms) unless
    ``related_reports`` is False: then they are only linked to it (a peer sends those reports
    itself, each under its own id, so making them here too would hold each one twice)."""
    lock_ledger(uow.conn)
    keys = [(d.key, d.first_seen, d.last_seen) for d in drafts]
    keys += [(k, d.first_seen, d.last_seen) for d in drafts for k in d.related]
    ids = signal_ids(uow, keys)
    rows: list[dict[str, Any]] = []
    plan: list[tuple[int, ReportDraft, SignalKey]] = []  # (index of main report, draft, key)
    for i, d in enumerate(drafts):
        remote = remote_ids[i] if remote_ids else None
        for n, key in enumerate((d.key, *d.related) if related_reports else (d.key,)):
            plan.append((i, d, key))
            rows.append({
                "signal_id": ids[key][0], "source": source, "origin": origin, "via": via,
                "remote_id": remote if n == 0 else (f"{remote}#{n}" if remote else None),
                "abuse_type": d.abuse_type, "confidence": d.confidence,
                "first_seen": d.first_seen, "last_seen": d.last_seen, "tlp": d.tlp.value,
                "tags": list(d.tags), "expires_at": d.expires_at, "conditions": d.conditions,
                "recipients": list(d.recipients), "named": [], "consent": d.consent,
                "batch": batch, "reported_by": uow.actor, "reported_at": uow.now})
    result = uow.conn.execute(signal_reports.insert().returning(
        signal_reports.c.id, sort_by_parameter_order=True), rows)
    report_ids = [r.id for r in result]
    stored = [Stored(rid, ids[key][0], d, key, ids[key][1])
              for rid, (_, d, key) in zip(report_ids, plan, strict=True)]
    main = {i: s for s, (i, d, key) in zip(stored, plan, strict=True) if key == d.key}
    links: list[dict[str, Any]] = []
    for i, d in enumerate(drafts):
        for key in d.related:
            a, b = sorted((main[i].signal_id, ids[key][0]))
            if a != b:
                links.append({"a": a, "b": b, "report_id": main[i].report_id})
    if links:
        uow.conn.execute(signal_links.insert(), list({(x["a"], x["b"], x["report_id"]): x
                                                      for x in links}.values()))
    ledger_reports(uow, stored, source=source, origin=origin, via=via, batch=batch)
    return stored


def ledger_reports(uow: Work, stored: Sequence[Stored], *, source: str, origin: str,
                    via: str | None, batch: str | None) -> None:
    if batch is None:  # one report (and the reports of the identifiers it names)
        s = stored[0]
        d = s.draft
        uow.record("signal.report", f"signal:{digest_of(*s.key)}", {
            "report_id": s.report_id, "signal_id": s.signal_id, "type": s.key[0],
            "digest": digest_of(*s.key), "source": source, "origin": origin, "via": via,
            "tlp": d.tlp.value, "abuse_type": d.abuse_type, "confidence": d.confidence,
            "consent": d.consent, "recipients": list(d.recipients),
            "expires_at": isoformat(d.expires_at) if d.expires_at else None,
            "related": [{"report_id": x.report_id, "type": x.key[0], "digest": digest_of(*x.key)}
                        for x in stored[1:]]})
        return
    chunks = range(0, len(stored), LEDGER_CHUNK)
    for n, start in enumerate(chunks):
        part = stored[start:start + LEDGER_CHUNK]
        uow.record("signal.import", f"signal-batch:{batch}", {
            "batch": batch, "chunk": n + 1, "of": len(chunks), "source": source,
            "origin": origin, "via": via,
            "columns": ["report_id", "signal_id", "type", "digest", "tlp", "abuse_type",
                        "confidence", "consent"],
            "reports": [[s.report_id, s.signal_id, s.key[0], digest_of(*s.key), s.draft.tlp.value,
                         s.draft.abuse_type, s.draft.confidence, s.draft.consent] for s in part]})


def view_of(row: Mapping[str, Any], node_id: str) -> ReportView:
    return ReportView(TLP(row["tlp"]), row["source"],
                      row["origin"] == "local" and row["source"] == node_id,
                      frozenset(row["recipients"] or ()), frozenset(row["named"] or ()),
                      bool(row["consent"]), row["expires_at"], row["conditions"] or "")


def export_row(row: Mapping[str, Any], related: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "report_id": row["id"], "signal_id": row["signal_id"], "type": row["type"],
        "value": row["value"], "source": row["source"], "origin": row["origin"],
        "abuse_type": row["abuse_type"], "confidence": row["confidence"],
        "first_seen": isoformat(row["first_seen"]), "last_seen": isoformat(row["last_seen"]),
        "tlp": row["tlp"], "tags": list(row["tags"] or ()),
        "expires_at": isoformat(row["expires_at"]) if row["expires_at"] else None,
        "conditions": row["conditions"], "recipients": list(row["recipients"] or ()),
        "consent": bool(row["consent"]), "related": related,
        "reported_at": isoformat(row["reported_at"]),
    }


def related(conn: Connection, report_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """For each report, the other signals it names (its campaign links)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(report_ids), SQL_CHUNK):
        part = report_ids[i:i + SQL_CHUNK]
        links = conn.execute(select(signal_links.c.report_id, signal_links.c.a, signal_links.c.b,
                                    signal_reports.c.signal_id)
                             .join(signal_reports, signal_reports.c.id == signal_links.c.report_id)
                             .where(signal_links.c.report_id.in_(part))).all()
        others = {lk.b if lk.a == lk.signal_id else lk.a for lk in links}
        names = {r.id: (r.type, r.value) for r in conn.execute(
            select(signals.c.id, signals.c.type, signals.c.value).where(signals.c.id.in_(sorted(others))))}
        for lk in links:
            other = lk.b if lk.a == lk.signal_id else lk.a
            t, v = names[other]
            out.setdefault(lk.report_id, []).append({"type": t, "value": v})
    return out


def report_rows(conn: Connection, report_ids: Sequence[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(0, len(report_ids), SQL_CHUNK):
        part = list(report_ids[i:i + SQL_CHUNK])
        out += [dict(r) for r in conn.execute(
            select(signal_reports, signals.c.type, signals.c.value)
            .join(signals, signals.c.id == signal_reports.c.signal_id)
            .where(signal_reports.c.id.in_(part)).order_by(signal_reports.c.id)).mappings()]
    return out
