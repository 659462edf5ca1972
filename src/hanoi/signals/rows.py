"""The signals wing's SQL: signals and reports stored (with their ledger entries), read back,
and turned into the views the gate and the writers take.

The ledger names a signal by the SHA-256 of ``type\\0value`` (``signal:<digest>``), never by
its value: phone numbers, e-mail addresses and IBANs are personal data, and a value erased from
the store must not live on in an append-only chain. A single report is ledgered as
``signal.report``; a batch as ``signal.import`` entries of up to ``LEDGER_CHUNK`` reports each,
every entry listing each report's id, type, digest and TLP. A re-import's changes to reports
held already are ``signal.updated`` entries of the same shape, and a person's classification
``signal.classified``: with ``signal.named`` they are the change feed every process's index
catches up from (``CHANGES``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import Connection

from hanoi.core.clock import isoformat
from hanoi.core.tlp import TLP
from hanoi.node.runtime import Work
from hanoi.signals.gate import ReportView
from hanoi.signals.reports import ReportDraft
from hanoi.signals.types import SignalKey, consent_for
from hanoi.store.ledger_store import lock_ledger
from hanoi.store.tables import ledger_entries, signal_links, signal_reports, signals

LEDGER_CHUNK = 1000
"""Reports listed per ``signal.import`` ledger entry."""
SQL_CHUNK = 500
"""Ids per ``IN`` list."""
NAMED = "signal.named"
"""The ledger action of a change to the members named for a report (the index catches up on it)."""
UPDATED_ACTION = "signal.updated"
"""The ledger action of a re-import's changes to reports this node held already."""
CLASSIFIED = "signal.classified"
"""The ledger action of a person giving reports an offence code (``service.classify``)."""
CHANGES = (NAMED, UPDATED_ACTION, CLASSIFIED)
"""The ledger actions that change stored reports: the index catches up on them."""
UNCLASSIFIED = ""
"""``abuse_type`` of a report not classified yet (the column is NOT NULL; see migration 0008f)."""
STAFF_CLASSIFIED = "staff"
"""``classified_by`` of a person's classification starts so: a re-import never overrides it."""
NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"


def digest_of(type_name: str, value: str) -> str:
    return hashlib.sha256(f"{type_name}\0{value}".encode()).hexdigest()


def subject(type_name: str, value: str) -> str:
    return f"signal:{digest_of(type_name, value)}"


def ledger_head(conn: Connection) -> int:
    return int(conn.execute(select(func.max(ledger_entries.c.seq))).scalar() or 0)


@dataclass(frozen=True, slots=True)
class Stored:
    """One report row an import touched: ``status`` new, updated (``changed`` names the fields)
    or unchanged (the same report again, or an older version of it)."""

    report_id: int
    signal_id: int
    draft: ReportDraft
    key: SignalKey
    new_signal: bool
    status: str = NEW
    changed: tuple[str, ...] = ()
    offence: str | None = None
    """The report's offence code after the import (None: not classified)."""


def report_key(source: str, draft: ReportDraft, key: SignalKey, *, main: bool = True) -> str:
    """A local report's identity: who reported it here (``source``), who authored it in the
    document (``draft.creator_key``), the document's id of it, and the signal. Importing the same
    document again gives the same keys, so it updates instead of adding copies. A related
    identifier's report has no document id of its own: one per source, author and signal."""
    parts = ("report", source, draft.creator_key, (draft.external_id or "") if main else "", key[0], key[1])
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


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


def _merged(old: ReportDraft, new: ReportDraft) -> ReportDraft:
    """One document naming the same report twice: the later entry, seen over both spans."""
    return replace(new, ref=old.ref, first_seen=min(old.first_seen, new.first_seen),
                   last_seen=max(old.last_seen, new.last_seen),
                   abuse_type=new.abuse_type or old.abuse_type,
                   classified_by=new.classified_by if new.abuse_type else old.classified_by)


def _row_values(uow: Work, d: ReportDraft, *, signal_id: int, source: str, origin: str, via: str | None,
                remote: str | None, batch: str | None, rkey: str | None, main: bool,
                type_: str) -> dict[str, Any]:
    return {
        "signal_id": signal_id, "source": source, "origin": origin, "via": via, "remote_id": remote,
        "abuse_type": d.abuse_type or UNCLASSIFIED, "confidence": d.confidence,
        "first_seen": d.first_seen, "last_seen": d.last_seen, "tlp": d.tlp.value,
        "tags": list(d.tags), "expires_at": d.expires_at, "conditions": d.conditions,
        "recipients": list(d.recipients), "named": [], "consent": consent_for(type_, d.consent),
        "batch": batch, "reported_by": uow.actor, "reported_at": uow.now,
        "report_key": rkey, "external_id": d.external_id if main else None, "creator": d.creator,
        "version_at": d.version, "provenance": dict(d.provenance) if d.provenance is not None else None,
        "classified_by": d.classified_by or None if d.abuse_type else None, "updated_at": None,
    }


_UPDATABLE = ("first_seen", "last_seen", "confidence", "tlp", "tags", "expires_at", "conditions",
              "recipients", "consent", "abuse_type", "classified_by", "creator", "version_at", "provenance")


def _changes(row: Mapping[str, Any], d: ReportDraft, type_: str) -> dict[str, Any]:
    """What a re-import changes in a stored report (empty: nothing, or an older version).

    The report's span widens; its terms (confidence, TLP, tags, expiry, conditions) follow the
    document. Its offence follows the document only when the document gives one, and never
    overrides a person's classification (``classified_by`` ``staff: ...``)."""
    if d.version is not None and row["version_at"] is not None and d.version < row["version_at"]:
        return {}
    want: dict[str, Any] = {
        "first_seen": min(row["first_seen"], d.first_seen), "last_seen": max(row["last_seen"], d.last_seen),
        "confidence": d.confidence, "tlp": d.tlp.value, "tags": list(d.tags), "expires_at": d.expires_at,
        "conditions": d.conditions, "recipients": list(d.recipients), "consent": consent_for(type_, d.consent),
        "creator": d.creator or row["creator"],
        "version_at": max(v for v in (row["version_at"], d.version) if v is not None)
        if (row["version_at"] or d.version) else None,
    }
    by_person = (row["classified_by"] or "").startswith(STAFF_CLASSIFIED)
    if d.abuse_type and not by_person and d.abuse_type != row["abuse_type"]:
        want["abuse_type"] = d.abuse_type  # the same code keeps the account of how it was decided
        want["classified_by"] = d.classified_by or None
    changes = {k: v for k, v in want.items() if row[k] != v}
    # How the document names it (its format, dates) follows a real change, and is none itself:
    # the same entry come back through another tool's export is the same report, unchanged.
    provenance = dict(d.provenance) if d.provenance is not None else row["provenance"]
    if changes and provenance != row["provenance"]:
        changes["provenance"] = provenance
    return changes


def insert_reports(uow: Work, drafts: Sequence[ReportDraft], *, source: str, origin: str,
           via: str | None, batch: str | None, remote_ids: Sequence[str | None] | None = None,
           related_reports: bool = True) -> list[Stored]:
    """Insert (or, for a report this node holds already, update) signals, reports, links and
    the ledger entries, inside ``uow``; one ``Stored`` per report row touched, in order.

    A local report (``origin`` local) is found again by ``report_key``: a re-import updates it
    (``_changes``) and ledgers the change as ``signal.updated``; a report received from a peer
    is idempotent on its remote id instead (``receive``). A draft's ``related`` identifiers
    get reports of their own (same terms) unless ``related_reports`` is False: then they are
    only linked to it (a peer sends those reports itself, each under its own id, so making them
    here too would hold each one twice)."""
    lock_ledger(uow.conn)
    keys = [(d.key, d.first_seen, d.last_seen) for d in drafts]
    keys += [(k, d.first_seen, d.last_seen) for d in drafts for k in d.related]
    ids = signal_ids(uow, keys)
    local = origin == "local"
    # One entry per report row: (row key, draft, signal key, whether it is a draft's main report).
    plan: dict[str, tuple[ReportDraft, SignalKey, bool, str | None]] = {}
    main_of: list[str] = []  # draft index -> its main report's plan key
    for i, d in enumerate(drafts):
        remote = remote_ids[i] if remote_ids else None
        for n, key in enumerate((d.key, *d.related) if related_reports else (d.key,)):
            rkey = report_key(source, d, key, main=n == 0) if local else None
            pkey = rkey or f"{i}#{n}"
            if n == 0:
                main_of.append(pkey)
            rid_remote = remote if n == 0 else (f"{remote}#{n}" if remote else None)
            if pkey in plan:
                old = plan[pkey]
                plan[pkey] = (_merged(old[0], d), key, old[2] or n == 0, old[3])
            else:
                plan[pkey] = (d, key, n == 0, rid_remote)
    existing: dict[str, dict[str, Any]] = {}
    if local:
        wanted = list(plan)
        for i in range(0, len(wanted), SQL_CHUNK):
            for r in uow.conn.execute(select(signal_reports).where(
                    signal_reports.c.report_key.in_(wanted[i:i + SQL_CHUNK]))).mappings():
                existing[r["report_key"]] = dict(r)
    fresh = [(pkey, entry) for pkey, entry in plan.items() if pkey not in existing]
    rows = [_row_values(uow, d, signal_id=ids[key][0], source=source, origin=origin, via=via, remote=remote,
                        batch=batch, rkey=pkey if local else None, main=main, type_=key[0])
            for pkey, (d, key, main, remote) in fresh]
    report_ids: dict[str, int] = {}
    if rows:
        result = uow.conn.execute(signal_reports.insert().returning(
            signal_reports.c.id, sort_by_parameter_order=True), rows)
        report_ids = {pkey: r.id for (pkey, _), r in zip(fresh, result, strict=True)}
    stored: list[Stored] = []
    updates: list[dict[str, Any]] = []
    for pkey, (d, key, _main, _remote) in plan.items():
        if pkey in report_ids:
            stored.append(Stored(report_ids[pkey], ids[key][0], d, key, ids[key][1], offence=d.abuse_type))
            continue
        row = existing[pkey]
        changes = _changes(row, d, key[0])
        report_ids[pkey] = row["id"]
        if changes:
            updates.append({"rid": row["id"], **{f"v_{k}": v for k, v in changes.items()}, "_keys": tuple(changes)})
        stored.append(Stored(row["id"], ids[key][0], d, key, False, UPDATED if changes else UNCHANGED,
                             tuple(changes), changes.get("abuse_type", row["abuse_type"]) or None))
    _apply_updates(uow, updates)
    _insert_links(uow, drafts, main_of, report_ids, ids)
    ledger_reports(uow, [s for s in stored if s.status == NEW], source=source, origin=origin, via=via, batch=batch)
    ledger_updates(uow, [s for s in stored if s.status == UPDATED], source=source, batch=batch)
    return stored


def _apply_updates(uow: Work, updates: list[dict[str, Any]]) -> None:
    """One executemany per set of changed columns (most re-imports change the same few)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for u in updates:
        groups.setdefault(u.pop("_keys"), []).append(u)
    for columns, params in groups.items():
        values: dict[str, Any] = {c: bindparam(f"v_{c}") for c in columns}
        values["updated_at"] = uow.now
        uow.conn.execute(update(signal_reports).where(signal_reports.c.id == bindparam("rid")).values(values),
                         params)


def _insert_links(uow: Work, drafts: Sequence[ReportDraft], main_of: list[str], report_ids: Mapping[str, int],
                  ids: Mapping[SignalKey, tuple[int, bool]]) -> None:
    links: dict[tuple[int, int, int], dict[str, Any]] = {}
    for i, d in enumerate(drafts):
        rid = report_ids[main_of[i]]
        for key in d.related:
            a, b = sorted((ids[d.key][0], ids[key][0]))
            if a != b:
                links[(a, b, rid)] = {"a": a, "b": b, "report_id": rid}
    if not links:
        return
    have: set[tuple[int, int, int]] = set()
    rids = sorted({k[2] for k in links})
    for i in range(0, len(rids), SQL_CHUNK):
        have.update((r.a, r.b, r.report_id) for r in uow.conn.execute(
            select(signal_links.c.a, signal_links.c.b, signal_links.c.report_id)
            .where(signal_links.c.report_id.in_(rids[i:i + SQL_CHUNK]))))
    missing = [v for k, v in links.items() if k not in have]
    if missing:
        uow.conn.execute(signal_links.insert(), missing)


def ledger_reports(uow: Work, stored: Sequence[Stored], *, source: str, origin: str,
                    via: str | None, batch: str | None) -> None:
    if not stored:
        return
    if batch is None:  # one report (and the reports of the identifiers it names)
        s = stored[0]
        d = s.draft
        uow.record("signal.report", f"signal:{digest_of(*s.key)}", {
            "report_id": s.report_id, "signal_id": s.signal_id, "type": s.key[0],
            "digest": digest_of(*s.key), "source": source, "origin": origin, "via": via,
            "tlp": d.tlp.value, "abuse_type": d.abuse_type, "confidence": d.confidence,
            "consent": consent_for(s.key[0], d.consent), "recipients": list(d.recipients),
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
                         s.draft.abuse_type, s.draft.confidence, consent_for(s.key[0], s.draft.consent)]
                        for s in part]})


def ledger_updates(uow: Work, stored: Sequence[Stored], *, source: str, batch: str | None) -> None:
    """``signal.updated`` entries (``LEDGER_CHUNK`` reports each): what a re-import changed.
    Every process's index catches up from them (``read_model``)."""
    _ledger_changed(uow, [[s.report_id, s.signal_id, s.key[0], digest_of(*s.key), s.draft.tlp.value, s.offence,
                           s.draft.confidence, list(s.changed)] for s in stored], source=source, batch=batch)


def _ledger_changed(uow: Work, items: list[list[Any]], *, source: str, batch: str | None) -> None:
    chunks = range(0, len(items), LEDGER_CHUNK)
    for n, start in enumerate(chunks):
        part = items[start:start + LEDGER_CHUNK]
        subject = f"signal-batch:{batch}" if batch else f"signal:{part[0][3]}"
        uow.record(UPDATED_ACTION, subject, {
            "batch": batch, "chunk": n + 1, "of": len(chunks), "source": source,
            "columns": ["report_id", "signal_id", "type", "digest", "tlp", "abuse_type", "confidence",
                        "changed"],
            "reports": part})


def withdraw(uow: Work, source: str, external_ids: Sequence[str], *, batch: str | None) -> int:
    """End now the reports ``source`` made from entries their author withdrew (a revoked STIX
    indicator, a deleted MISP attribute: ``external_ids``): they expire, so they are no longer
    shared or matched; ledgered as ``signal.updated`` (changed: ``expires_at``). The number."""
    found: list[Any] = []
    wanted = sorted(set(external_ids))
    for i in range(0, len(wanted), SQL_CHUNK):
        found += uow.conn.execute(
            select(signal_reports, signals.c.type, signals.c.value)
            .join(signals, signals.c.id == signal_reports.c.signal_id)
            .where(signal_reports.c.source == source, signal_reports.c.origin == "local",
                   signal_reports.c.external_id.in_(wanted[i:i + SQL_CHUNK]),
                   or_(signal_reports.c.expires_at.is_(None), signal_reports.c.expires_at > uow.now))
            .order_by(signal_reports.c.id)).mappings().all()
    if not found:
        return 0
    ids = [r["id"] for r in found]
    for i in range(0, len(ids), SQL_CHUNK):
        uow.conn.execute(update(signal_reports).where(signal_reports.c.id.in_(ids[i:i + SQL_CHUNK]))
                         .values(expires_at=uow.now, updated_at=uow.now))
    _ledger_changed(uow, [[r["id"], r["signal_id"], r["type"], digest_of(r["type"], r["value"]), r["tlp"],
                           r["abuse_type"] or None, r["confidence"], ["expires_at"]] for r in found],
                    source=source, batch=batch)
    return len(found)


def changed_reports(action: str, payload: Mapping[str, Any]) -> list[int]:
    """The report ids a ``CHANGES`` ledger entry changed (the read model's change feed)."""
    if action == NAMED:
        rid = payload.get("report_id")
        return [rid] if isinstance(rid, int) else []
    return [r[0] for r in payload.get("reports") or () if isinstance(r, list) and r and isinstance(r[0], int)]


def view_of(row: Mapping[str, Any], node_id: str) -> ReportView:
    return ReportView(TLP(row["tlp"]), row["source"],
                      row["origin"] == "local" and row["source"] == node_id,
                      frozenset(row["recipients"] or ()), frozenset(row["named"] or ()),
                      bool(row["consent"]), row["expires_at"], row["conditions"] or "",
                      classified=bool(row["abuse_type"]))


def export_row(row: Mapping[str, Any], related: list[dict[str, Any]]) -> dict[str, Any]:
    """A stored report as listings, exports and the API show it (``abuse_type`` None: not
    classified yet)."""
    return {
        "report_id": row["id"], "signal_id": row["signal_id"], "type": row["type"],
        "value": row["value"], "source": row["source"], "origin": row["origin"],
        "abuse_type": row["abuse_type"] or None, "confidence": row["confidence"],
        "first_seen": isoformat(row["first_seen"]), "last_seen": isoformat(row["last_seen"]),
        "tlp": row["tlp"], "tags": list(row["tags"] or ()),
        "expires_at": isoformat(row["expires_at"]) if row["expires_at"] else None,
        "conditions": row["conditions"], "recipients": list(row["recipients"] or ()),
        "consent": bool(row["consent"]), "related": related,
        "reported_at": isoformat(row["reported_at"]),
        "external_id": row["external_id"], "creator": row["creator"],
        "version": isoformat(row["version_at"]) if row["version_at"] else None,
        "provenance": dict(row["provenance"]) if row["provenance"] else None,
        "classified_by": row["classified_by"],
        "updated_at": isoformat(row["updated_at"]) if row["updated_at"] else None,
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
