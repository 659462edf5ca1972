"""Signals: report, look up, link into campaigns, feed sightings back; the index kept current.

Every change is one unit of work with its ledger entries. The ledger names a signal by the
SHA-256 of ``type\\0value`` (``signal:<digest>``), never by its value: phone numbers, e-mail
addresses and IBANs are personal data, and a value erased from the store must not live on in
an append-only chain.

- ``report`` stores a batch of reports. A single report is ledgered as ``signal.report``; a
  batch as ``signal.import`` entries of up to ``LEDGER_CHUNK`` reports each, every entry
  listing each report's id, type, digest and TLP (one entry per report would make a
  million-line import a million entries). A batch is validated whole first: any invalid item
  refuses it all, nothing written, unless ``best_effort`` stores the valid ones and returns
  every reject with its ``ref`` (line number, item index, STIX id).
- ``lookup`` answers up to 10,000 values in order from the in-memory index, through the gate
  for the caller; an answer to a partner (or the public) that matched anything is ledgered
  (``signal.lookup``: who, how many values, the ids of the reports disclosed), since it is
  information leaving the node.
- ``campaign`` shows the signals linked to one value over the links the caller may see.
- ``feedback`` (sightings, false positives) is stored against the signal and flows back to its
  sources: local members read it with ``feedback_for_source``; a report received through
  federation sends it to the peer it came from (``signal.feedback`` through the outbox).
- ``name_members`` names the members this node lets receive an AMBER report on a
  need-to-know basis (the gate's ``ReportView.named``); staff only, AMBER only, never a
  suspended member; ledgered as ``signal.named``.
- ``publish`` queues reports for federated peers through the same gate; ``publish_reports`` is
  the use case behind ``hanoi signals publish`` and ``POST /api/v1/signals/publish`` (staff
  choose the peers and a start time; ledgered as ``signal.publish``); ``on_signal_report`` /
  ``on_signal_feedback`` apply what peers send (``register()`` wires them into the inbox).

The index (``hanoi.signals.index``) lives on the ``Node`` object: built from the store on first
use, then refreshed before each read from the rows added since (reports, links: append-only,
so ``id > last`` is the whole delta; on PostgreSQL writers hold the ledger lock from before
their first insert to commit, so ids commit in order and no row is skipped). The one report
field that changes after it is stored, ``named``, is caught up from the ledger: each refresh
reads the ``signal.named`` entries after the last ledger position it saw and re-reads those
reports' names. Several API processes each keep their own index and catch up the same way.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from hanoi.core.bounds import is_bigint
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, invalid
from hanoi.core.gate import Decision, NodePolicy, PartnerView
from hanoi.core.members import MEMBER_ID
from hanoi.core.roles import Role
from hanoi.services import policy as policy_service
from hanoi.services.node import Node
from hanoi.signals.gate import PUBLIC, ReportView, Viewer, decide_signal, sees
from hanoi.signals.index import IndexedReport, Match, SignalIndex, detect_normal, looks_normal
from hanoi.signals.reports import MAX_BATCH, MAX_RECIPIENTS, ReportDraft, validate_report
from hanoi.signals.tlp import TLP, parse_tlp
from hanoi.signals.types import (
    MAX_VALUE_LENGTH,
    SIGNAL_TYPES,
    NormaliseContext,
    SignalKey,
    detect_type,
    signal_type,
)
from hanoi.store.ledger_store import _LEDGER_LOCK_KEY
from hanoi.store.tables import ledger_entries, members, signal_feedback, signal_links, signal_reports, signals
from hanoi.store.uow import UnitOfWork

LEDGER_CHUNK = 1000
"""Reports listed per ``signal.import`` ledger entry."""
MAX_PROBLEMS_SHOWN = 200
FEEDBACK_KINDS = ("sighting", "false-positive")
ITEM_REPORT = "signal.report"
ITEM_FEEDBACK = "signal.feedback"
NAMED = "signal.named"
"""The ledger action of a change to the members named for a report (the index catches up on it)."""
NAME_MODES = ("set", "add", "remove")
PUBLISH_CHUNK = 200
"""Reports per federation envelope (well under the default 512 KiB envelope limit)."""
_SQL_CHUNK = 500
_LONGEST = max(MAX_VALUE_LENGTH.values())


# --- who is asking ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: a partner (``member_id``), the public (``public``), or else this node's staff."""

    actor: str
    member_id: str | None = None
    public: bool = False

    @classmethod
    def of(cls, who: Any) -> Caller:
        """From a ``Caller`` or an API ``Principal``: a platform token without a member is a
        stranger to the node, so it sees what anyone may (TLP:CLEAR), never what staff see."""
        if isinstance(who, Caller):
            return who
        member = getattr(who, "member_id", None)
        public = member is None and getattr(who, "role", None) == Role.PLATFORM
        return cls(str(who.actor), member, public)

    @property
    def internal(self) -> bool:
        return self.member_id is None and not self.public


def digest_of(type_name: str, value: str) -> str:
    return hashlib.sha256(f"{type_name}\0{value}".encode()).hexdigest()


def subject(type_name: str, value: str) -> str:
    return f"signal:{digest_of(type_name, value)}"


def _ctx(node: Node) -> NormaliseContext:
    region = node.config.default_region
    # A node of a State with no numbering plan of its own (a user-assigned code, e.g. QZ) reads
    # phone numbers with their country code only, instead of refusing every value it is given.
    if region and region.strip().upper() not in phonenumbers.SUPPORTED_REGIONS:
        region = None
    return NormaliseContext(region)


_POLICY_CACHE: dict[str, tuple[tuple[int, int], NodePolicy]] = {}


def _gate_policy(node: Node) -> NodePolicy:
    """The gate's policy for a read path, re-parsed only when ``policy.yaml`` changed (a
    lookup must not parse YAML per call; a hand edit changes the file's mtime and size)."""
    path, stamp = policy_service.file_stamp(node)
    cached = _POLICY_CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    gate: NodePolicy = policy_service.load(node).gate
    _POLICY_CACHE[path] = (stamp, gate)
    return gate


def _lock(conn: Connection) -> None:
    # Take the ledger's lock before the first insert (it is re-entrant within a transaction):
    # report ids then commit in increasing order, which index refreshes rely on.
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LEDGER_LOCK_KEY})")


def _member(conn: Connection, member_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(members).where(members.c.id == member_id)).mappings().first()
    return dict(row) if row else None


def _viewer(conn: Connection, caller: Caller, policy: NodePolicy) -> Viewer | None:
    """``None`` for node staff; the public; or the member's standing against the policy."""
    if caller.public:
        return PUBLIC
    if caller.member_id is None:
        return None
    row = _member(conn, caller.member_id)
    if row is None:  # a token bound to a member that is gone: a stranger
        return Viewer(caller.member_id, False, False)
    return Viewer.of(PartnerView.from_dict(row), policy)


# --- the index ----------------------------------------------------------------------------------

_INDEX_LOCK = threading.Lock()
_ATTR = "_hanoi_signal_index"
_NAMED_SEQ = "_hanoi_signal_named_seq"  # the ledger position up to which namings are applied


def index(node: Node) -> SignalIndex:
    """This process's index for ``node``, caught up with the store."""
    with _INDEX_LOCK:
        idx: SignalIndex | None = getattr(node, _ATTR, None)
        with node.read() as conn:
            if idx is None:
                idx = SignalIndex()
                # The ledger head before the reports are read: a naming after it is applied by
                # a later refresh, one before it is already in the rows read.
                setattr(node, _NAMED_SEQ, _ledger_head(conn))
                setattr(node, _ATTR, idx)
                _refresh(conn, idx, node.node_id)
            else:
                _refresh(conn, idx, node.node_id)
                _renamed(conn, node, idx)
        return idx


def _refresh(conn: Connection, idx: SignalIndex, node_id: str) -> None:
    q = (select(signal_reports.c.id, signal_reports.c.signal_id, signals.c.type, signals.c.value,
                signal_reports.c.source, signal_reports.c.origin, signal_reports.c.tlp,
                signal_reports.c.confidence, signal_reports.c.consent,
                signal_reports.c.recipients, signal_reports.c.named, signal_reports.c.expires_at)
         .join(signals, signals.c.id == signal_reports.c.signal_id)
         .where(signal_reports.c.id > idx.last_report_id).order_by(signal_reports.c.id))
    tlps = {t.value: t for t in TLP}
    for r in conn.execution_options(yield_per=20_000).execute(q):
        idx.add(IndexedReport(
            r.id, r.signal_id, r.type, r.value, r.source, tlps[r.tlp], r.confidence,
            r.origin == "local" and r.source == node_id, bool(r.consent),
            frozenset(r.recipients or ()), frozenset(r.named or ()), r.expires_at))
    q2 = (select(signal_links.c.id, signal_links.c.a, signal_links.c.b, signal_links.c.report_id)
          .where(signal_links.c.id > idx.last_link_id).order_by(signal_links.c.id))
    for link in conn.execution_options(yield_per=20_000).execute(q2):
        idx.link(link.a, link.b, link.report_id, link.id)


def _ledger_head(conn: Connection) -> int:
    return int(conn.execute(select(func.max(ledger_entries.c.seq))).scalar() or 0)


def _renamed(conn: Connection, node: Node, idx: SignalIndex) -> None:
    """Apply the namings ledgered since the last refresh (by this process or any other): the
    ledger is the change feed of ``named``, the reports' rows its current value."""
    last = getattr(node, _NAMED_SEQ, 0)
    head = _ledger_head(conn)
    if head <= last:
        return
    changed: set[int] = set()
    for payload in conn.execute(select(ledger_entries.c.payload)
                                .where(ledger_entries.c.seq > last, ledger_entries.c.seq <= head,
                                       ledger_entries.c.action == NAMED)).scalars():
        rid = json.loads(payload).get("report_id")
        if isinstance(rid, int):
            changed.add(rid)
    ids = sorted(changed)
    for i in range(0, len(ids), _SQL_CHUNK):
        for r in conn.execute(select(signal_reports.c.id, signal_reports.c.named)
                              .where(signal_reports.c.id.in_(ids[i:i + _SQL_CHUNK]))):
            idx.set_named(r.id, frozenset(r.named or ()))
    setattr(node, _NAMED_SEQ, head)


def forget_index(node: Node) -> None:
    """Drop the in-memory index (the next read rebuilds it from the store)."""
    with _INDEX_LOCK:
        for attr in (_ATTR, _NAMED_SEQ):
            if hasattr(node, attr):
                delattr(node, attr)


# --- reporting ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stored:
    report_id: int
    signal_id: int
    draft: ReportDraft
    key: SignalKey
    new_signal: bool


def validate(node: Node, items: Sequence[Any], *, defaults: Mapping[str, Any] | None = None,
             where: str = "items", progress: Callable[[int], None] | None = None
             ) -> tuple[list[ReportDraft], list[tuple[str, Problem]]]:
    """Validate report dicts (no I/O but the node's settings): the drafts, and every problem
    with the ``ref`` of its item (the item's own ``ref``, e.g. ``line 12``, or ``items[3]``).
    ``progress(n)`` is called every 1,000 items with the number done."""
    ctx = _ctx(node)
    now = node.now()
    drafts: list[ReportDraft] = []
    rejects: list[tuple[str, Problem]] = []
    for i, item in enumerate(items):
        ref = str(item.get("ref")) if isinstance(item, Mapping) and item.get("ref") else None
        prefix = f"{ref}: " if ref else f"{where}[{i}]."
        try:
            draft = validate_report(item, now=now, ctx=ctx, where=prefix, defaults=defaults)
        except InvalidInput as err:
            rejects.extend((ref or f"{where}[{i}]", p) for p in err.problems)
        else:
            drafts.append(draft if draft.ref else replace(draft, ref=f"{where}[{i}]"))
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1)
    if progress is not None:
        progress(len(items))
    return drafts, rejects


def report(node: Node, actor: str, source: str | None, items: Sequence[Any], *,
           best_effort: bool = False, max_items: int | None = MAX_BATCH,
           defaults: Mapping[str, Any] | None = None, where: str = "items",
           federate: bool = False) -> dict[str, Any]:
    """Store reports of signals from ``source`` (a member id; ``None``: this node itself).

    ``items`` are report dicts (``hanoi.signals.reports``); ``defaults`` fill what they lack
    (an import's ``--tlp``). All or nothing unless ``best_effort``. ``federate`` also queues the
    reports for federated peers the gate allows (``publish``).
    """
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise invalid(where, "must be a list of signal reports")
    if not items:
        raise invalid(where, "is empty: give at least one signal report", "SIGNAL-LIMITS")
    if max_items is not None and len(items) > max_items:
        raise invalid(where, f"{len(items):,} reports: at most {max_items:,} per request; split "
                      "the batch (or import a file with `hanoi signals import`)", "SIGNAL-LIMITS")
    drafts, rejects = validate(node, items, defaults=defaults, where=where)
    return store(node, actor, source, drafts, rejects=rejects, received=len(items),
                 best_effort=best_effort, federate=federate)


def store(node: Node, actor: str, source: str | None, drafts: Sequence[ReportDraft], *,
          rejects: Sequence[tuple[str, Problem]] = (), received: int | None = None,
          best_effort: bool = False, federate: bool = False) -> dict[str, Any]:
    """Store validated drafts in one transaction (``validate`` made them); with ``rejects``
    and no ``best_effort`` nothing is stored and ``InvalidInput`` lists every reject."""
    total = received if received is not None else len(drafts) + len({r for r, _ in rejects})
    if rejects and not best_effort:
        raise _refused(list(rejects), total)
    batch = f"sb-{secrets.token_hex(8)}" if total > 1 else None
    stored: list[_Stored] = []
    if drafts and source is not None and source != node.node_id:
        _refuse_suspended(node, actor, source, len(drafts))
    if drafts:
        with node.write(actor) as uow:
            src = _check_source(uow, source, drafts)
            stored = _store(uow, drafts, source=src, origin="local", via=None, batch=batch)
            if federate:
                publish(uow, [s.report_id for s in stored])
    out: dict[str, Any] = {
        "batch": batch, "received": total, "stored": len(stored),
        "new_signals": sum(1 for s in stored if s.new_signal),
        "rejected": [{"ref": ref, **p.as_dict()} for ref, p in rejects],
    }
    if len(stored) <= LEDGER_CHUNK:
        out["reports"] = [{"ref": s.draft.ref, "report_id": s.report_id, "signal_id": s.signal_id,
                           "type": s.key[0], "value": s.key[1]} for s in stored
                          if s.key == s.draft.key]
    return out


def _refused(rejects: list[tuple[str, Problem]], total: int) -> InvalidInput:
    shown = [p for _, p in rejects[:MAX_PROBLEMS_SHOWN]]
    refs = len({ref for ref, _ in rejects})
    more = f" (the first {MAX_PROBLEMS_SHOWN} are listed)" if len(rejects) > MAX_PROBLEMS_SHOWN else ""
    return InvalidInput(f"{refs} of {total} signal report(s) are not valid; nothing was stored "
                        f"(ask for best effort to store the valid ones){more}: "
                        + "; ".join(str(p) for p in shown[:3]), shown, "SIGNAL-LIMITS")


def _refuse_suspended(node: Node, actor: str, source: str, n: int) -> None:
    """The inbound gate for a local source: nothing is accepted from a suspended member (the
    refusal is ledgered, although nothing else is written)."""
    with node.read() as conn:
        row = _member(conn, source)
    if row is None:
        raise NotFound(f"no member {source!r}: register the source first", "source")
    if row["standing"] != "suspended":
        return
    with node.write(actor) as uow:
        uow.record("signal.report.refused", f"member:{source}", {"source": source, "reports": n},
                   decision="deny", reasons=[{"code": "GATE-SUSPENDED",
                                              "detail": f"{source} is suspended"}])
    raise Forbidden(f"{source} is suspended after a safeguards assessment: its reports are not "
                    "accepted", "GATE-SUSPENDED")


def _check_source(uow: UnitOfWork, source: str | None, drafts: Sequence[ReportDraft]) -> str:
    node = policy_service.uow_node(uow)
    problems: list[Problem] = []
    if source is not None and source != node.node_id and _member(uow.conn, source) is None:
        raise NotFound(f"no member {source!r}: register the source first", "source")
    names = {r for d in drafts for r in d.recipients}
    if names:
        known = set(uow.conn.execute(select(members.c.id).where(members.c.id.in_(sorted(names))))
                    .scalars())
        for d in drafts:
            for r in d.recipients:
                if r not in known:
                    problems.append(Problem(f"{d.ref}: recipients", f"no member {r!r}"))
    if problems:
        raise InvalidInput("a named recipient is not a registered member", problems[:MAX_PROBLEMS_SHOWN])
    return source or node.node_id


def _signal_ids(uow: UnitOfWork, keys: Iterable[tuple[SignalKey, datetime, datetime]]
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
    for i in range(0, len(digests), _SQL_CHUNK):
        part = digests[i:i + _SQL_CHUNK]
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
        from sqlalchemy import bindparam

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


def _store(uow: UnitOfWork, drafts: Sequence[ReportDraft], *, source: str, origin: str,
           via: str | None, batch: str | None, remote_ids: Sequence[str | None] | None = None,
           related_reports: bool = True) -> list[_Stored]:
    """Insert signals, reports, links and the ledger entries, inside ``uow``.

    A draft's ``related`` identifiers get reports of their own (same terms) unless
    ``related_reports`` is False: then they are only linked to it (a peer sends those reports
    itself, each under its own id, so making them here too would hold each one twice)."""
    _lock(uow.conn)
    keys = [(d.key, d.first_seen, d.last_seen) for d in drafts]
    keys += [(k, d.first_seen, d.last_seen) for d in drafts for k in d.related]
    ids = _signal_ids(uow, keys)
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
    stored = [_Stored(rid, ids[key][0], d, key, ids[key][1])
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
    _ledger_reports(uow, stored, source=source, origin=origin, via=via, batch=batch)
    return stored


def _ledger_reports(uow: UnitOfWork, stored: Sequence[_Stored], *, source: str, origin: str,
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


# --- lookups ------------------------------------------------------------------------------------


def _lookup_items(values: Any, type_: str | None) -> list[tuple[str | None, str]]:
    """Check the transport shape of a lookup (every problem at once) before answering any."""
    if not isinstance(values, list):
        raise invalid("values", "must be a list of values (texts, or {type, value} objects)")
    if not values:
        raise invalid("values", "is empty: give at least one value to look up", "SIGNAL-LIMITS")
    if len(values) > MAX_BATCH:
        raise invalid("values", f"{len(values):,} values: at most {MAX_BATCH:,} per lookup; "
                      "split the batch", "SIGNAL-LIMITS")
    if type_ is not None and type_ not in SIGNAL_TYPES:
        signal_type(type_)  # raises naming the known types
    if all(type(v) is str for v in values):  # the common case, checked in one pass
        limit = MAX_VALUE_LENGTH[type_] if type_ else _LONGEST
        if all(len(v) <= limit for v in values):
            return [(type_, v) for v in values]
    problems: list[Problem] = []
    out: list[tuple[str | None, str]] = []
    for i, item in enumerate(values):
        t = type_
        if isinstance(item, Mapping):
            t = item.get("type") or type_
            item = item.get("value")
        if not isinstance(item, str):
            problems.append(Problem(f"values[{i}]", "must be a text (or {type, value})"))
            continue
        if t is not None and t not in SIGNAL_TYPES:
            problems.append(Problem(f"values[{i}].type", f"unknown signal type {t!r}; one of: "
                                    + ", ".join(SIGNAL_TYPES)))
            continue
        limit = MAX_VALUE_LENGTH[t] if t else _LONGEST
        if len(item) > limit:
            problems.append(Problem(f"values[{i}]", f"too long: {len(item):,} characters, a "
                                    f"{t or 'signal'} value may have at most {limit}",
                                    "SIGNAL-LIMITS"))
            continue
        out.append((t, item))
    if problems:
        raise InvalidInput(f"{len(problems)} value(s) cannot be looked up: "
                           + "; ".join(str(p) for p in problems[:3]),
                           problems[:MAX_PROBLEMS_SHOWN], "SIGNAL-LIMITS")
    return out


def _resolve(idx: SignalIndex, t: str | None, raw: str, ctx: NormaliseContext
             ) -> tuple[str | None, str, int | None, str | None]:
    """``(type, value, signal id, error)`` for one raw value, normalising only when needed."""
    if t is not None:
        sid = idx.get(t, raw)
        if sid is not None or looks_normal(t, raw):
            return t, raw, sid, None
        try:
            value = SIGNAL_TYPES[t].normalise(raw, ctx)
        except InvalidInput as err:
            return t, raw, None, "; ".join(p.message for p in err.problems) or err.detail
        return t, value, idx.get(t, value), None
    guess = detect_normal(raw)  # already canonical: its type without trying normalisers
    if guess is not None:
        return guess, raw, idx.get(guess, raw), None
    guess = detect_type(raw, ctx)
    if guess is None:
        return None, raw, None, "cannot tell what kind of signal this is; give its type"
    return _resolve(idx, guess, raw, ctx)


def lookup(node: Node, who: Any, values: Any, *, type_: str | None = None) -> dict[str, Any]:
    """Answer each value in order: match, campaign, confidence, sources, TLP (gated)."""
    caller = Caller.of(who)
    items = _lookup_items(values, type_)
    idx = index(node)
    ctx = _ctx(node)
    now = node.now()
    with node.read() as conn:
        viewer = _viewer(conn, caller, _gate_policy(node))
    asker = idx.asker(viewer)
    ts = now.timestamp()
    results: list[dict[str, Any]] = []
    disclosed: list[tuple[str, str, Match]] = []
    # Group by type, so each group is one pass of the index's hot loop.
    resolved = [_resolve(idx, t, raw, ctx) for t, raw in items]
    by_type: dict[str, list[int]] = {}
    for i, (t, _v, sid, _e) in enumerate(resolved):
        if t is not None and sid is not None:
            by_type.setdefault(t, []).append(i)
    answers: dict[int, Match | None] = {}
    for t, positions in by_type.items():
        got = idx.lookup(t, [resolved[i][1] for i in positions], asker, ts)
        answers.update(zip(positions, got, strict=True))
    for i, (t, value, _sid, error) in enumerate(resolved):
        m = answers.get(i)
        if m is None:
            results.append({"value": value, "type": t, "match": False} if error is None else
                           {"value": value, "type": t, "match": False, "error": error})
            continue
        assert t is not None
        disclosed.append((t, value, m))
        results.append({"value": value, "type": t, "match": True, "signal_id": m.signal_id,
                        "campaign": m.campaign, "confidence": m.confidence, "sources": m.sources,
                        "tlp": m.tlp.value})
    if disclosed and not caller.internal:
        _ledger_disclosure(node, caller, "signal.lookup", len(items), disclosed)
    return {"count": len(results), "matches": len(disclosed), "results": results}


def _ledger_disclosure(node: Node, caller: Caller, action: str, asked: int,
                       disclosed: Sequence[tuple[str, str, Match]]) -> None:
    who = caller.member_id or "public"
    with node.write(caller.actor) as uow:
        uow.record(action, f"member:{who}" if caller.member_id else "signals:public", {
            # Report ids name what was disclosed (each names its signal) in a few bytes each.
            "recipient": who, "asked": asked, "signals": len(disclosed),
            "reports": sorted({r for _, _, m in disclosed for r in m.reports})},
            decision="allow",
            reasons=[{"code": f"TLP-{m.tlp.value.replace('+', '-')}"}
                     for m in {m.tlp: m for _, _, m in disclosed}.values()])


# --- campaigns ----------------------------------------------------------------------------------


def _find_signal(node: Node, idx: SignalIndex, value: str, type_: str | None) -> tuple[str, str, int]:
    if not isinstance(value, str) or not value.strip():
        raise invalid("value", "give the value of a signal")
    if len(value) > _LONGEST:
        raise invalid("value", f"too long: {len(value):,} characters", "SIGNAL-LIMITS")
    if type_ is not None and type_ not in SIGNAL_TYPES:
        signal_type(type_)  # raises naming the field and the known types
    t, v, sid, error = _resolve(idx, type_, value, _ctx(node))
    if error is not None:
        raise invalid("value", error)
    if sid is None or t is None:
        raise NotFound(f"no signal {value!r} that you may see", "value")
    return t, v, sid


def campaign(node: Node, who: Any, value: str, *, type_: str | None = None) -> dict[str, Any]:
    """The campaign of ``value``: its signals and the links between them the caller may see."""
    caller = Caller.of(who)
    idx = index(node)
    t, v, sid = _find_signal(node, idx, value, type_)
    now = node.now()
    with node.read() as conn:
        viewer = _viewer(conn, caller, _gate_policy(node))
        asker = idx.asker(viewer)
        match = idx.answer(sid, asker, now.timestamp())
        if match is None:
            raise NotFound(f"no signal {value!r} that you may see", "value")
        member_ids, links = idx.campaign(sid, asker, now.timestamp())
        rows = {}
        for i in range(0, len(member_ids), _SQL_CHUNK):
            part = member_ids[i:i + _SQL_CHUNK]
            for r in conn.execute(select(signals.c.id, signals.c.type, signals.c.value,
                                         signals.c.first_seen, signals.c.last_seen)
                                  .where(signals.c.id.in_(part))):
                rows[r.id] = r
    ts = now.timestamp()
    out_members = []
    disclosed: list[tuple[str, str, Match]] = []
    for m in member_ids:
        r = rows[m]
        seen = idx.answer(m, asker, ts)
        out_members.append({"signal_id": m, "type": r.type, "value": r.value,
                            "first_seen": isoformat(r.first_seen), "last_seen": isoformat(r.last_seen),
                            "confidence": seen.confidence if seen else None,
                            "sources": seen.sources if seen else 0,
                            "tlp": seen.tlp.value if seen else None})
        if seen is not None:
            disclosed.append((r.type, r.value, seen))
    out_links = []
    for link in links:
        source, tlp, *_ = idx.report_fields(link.evidence)
        out_links.append({"a": link.a, "b": link.b, "report_id": link.evidence,
                          "source": source, "tlp": tlp.value})
    if not caller.internal and disclosed:
        _ledger_disclosure(node, caller, "signal.campaign", 1, disclosed)
    return {"signal": {"signal_id": sid, "type": t, "value": v},
            "campaign": min(member_ids) if links else None, "members": out_members,
            "links": out_links}


# --- feedback: sightings and false positives --------------------------------------------------


def feedback(node: Node, who: Any, kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Record a sighting or a false positive of a signal the caller may see; it flows back to
    the sources (members read it with ``feedback_for_source``; peers get ``signal.feedback``)."""
    if kind not in FEEDBACK_KINDS:
        raise invalid("kind", f"one of: {', '.join(FEEDBACK_KINDS)}")
    if not isinstance(data, Mapping):
        raise invalid("body", "must be an object with a value")
    caller = Caller.of(who)
    problems: list[Problem] = []
    count = data.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10**9:
        problems.append(Problem("count", "must be a whole number from 1"))
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > 2000:
        problems.append(Problem("note", "must be a text of at most 2000 characters"))
    now = node.now()
    seen_at = now
    if data.get("seen_at"):
        try:
            seen_at = parse_time(str(data["seen_at"]))
        except ValueError:
            problems.append(Problem("seen_at", f"{data['seen_at']!r} is not an ISO 8601 time"))
        else:
            if seen_at > now:
                problems.append(Problem("seen_at", "is in the future"))
    if problems:
        raise InvalidInput(f"the {kind} is not valid", problems)
    idx = index(node)
    t, v, sid = _find_signal(node, idx, data.get("value"), data.get("type"))  # type: ignore[arg-type]
    with node.read() as conn:
        asker = idx.asker(_viewer(conn, caller, _gate_policy(node)))
    match = idx.answer(sid, asker, now.timestamp())
    if match is None:
        raise NotFound(f"no signal {data.get('value')!r} that you may see", "value")
    member = caller.member_id or ("public" if caller.public else node.node_id)
    with node.write(caller.actor) as uow:
        fid = uow.conn.execute(signal_feedback.insert().returning(signal_feedback.c.id).values(
            signal_id=sid, kind=kind, member=member, count=count, seen_at=seen_at, note=note,
            recorded_by=caller.actor, recorded_at=now)).scalar_one()
        uow.record(f"signal.{kind}", f"signal:{digest_of(t, v)}", {
            "feedback_id": fid, "signal_id": sid, "member": member, "count": count,
            "seen_at": isoformat(seen_at), "reports": list(match.reports)})
        queued = _feedback_to_peers(uow, match.reports, kind, count, seen_at, note)
    return {"feedback_id": fid, "kind": kind, "signal_id": sid, "type": t, "value": v,
            "count": count, "seen_at": isoformat(seen_at), "sent_to_peers": queued}


def _feedback_to_peers(uow: UnitOfWork, report_ids: Sequence[int], kind: str, count: int,
                       seen_at: datetime, note: str) -> list[str]:
    rows = uow.conn.execute(select(signal_reports.c.via, signal_reports.c.remote_id)
                            .where(signal_reports.c.id.in_(list(report_ids)))
                            .where(signal_reports.c.origin == "received")).all()
    if not rows:
        return []
    try:
        from hanoi.services import outbox
    except ImportError:  # pragma: no cover - federation not installed
        return []
    sent = []
    for via, remote in rows:
        if not via or not remote or not outbox.federated(uow.conn, via):
            continue
        outbox.enqueue(uow, recipient=via, type=ITEM_FEEDBACK, payload={
            "report_id": remote, "kind": kind, "count": count, "seen_at": isoformat(seen_at),
            "note": note})
        sent.append(via)
    return sorted(set(sent))


def feedback_for_source(node: Node, member_id: str | None, *, limit: int = 500) -> list[dict[str, Any]]:
    """Sightings and false positives of signals ``member_id`` reported (None: this node's own)."""
    source = member_id or node.node_id
    with node.read() as conn:
        mine = select(signal_reports.c.signal_id).where(signal_reports.c.source == source)
        q = (select(signal_feedback, signals.c.type, signals.c.value)
             .join(signals, signals.c.id == signal_feedback.c.signal_id)
             .where(signal_feedback.c.signal_id.in_(mine))
             .order_by(signal_feedback.c.id.desc()).limit(max(1, min(limit, 5000))))
        rows = conn.execute(q).mappings().all()
    return [{"feedback_id": r["id"], "kind": r["kind"], "signal_id": r["signal_id"],
             "type": r["type"], "value": r["value"], "member": r["member"], "count": r["count"],
             "seen_at": isoformat(r["seen_at"]), "note": r["note"]} for r in rows]


# --- listing and export -------------------------------------------------------------------------


def _view(row: Mapping[str, Any], node_id: str) -> ReportView:
    return ReportView(TLP(row["tlp"]), row["source"],
                      row["origin"] == "local" and row["source"] == node_id,
                      frozenset(row["recipients"] or ()), frozenset(row["named"] or ()),
                      bool(row["consent"]), row["expires_at"], row["conditions"] or "")


def _export_row(row: Mapping[str, Any], related: list[dict[str, Any]]) -> dict[str, Any]:
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


def _gated_rows(node: Node, caller: Caller, *, since: datetime | None, type_: str | None,
                limit: int | None, newest_first: bool) -> list[dict[str, Any]]:
    now = node.now()
    out: list[dict[str, Any]] = []
    with node.read() as conn:
        viewer = _viewer(conn, caller, _gate_policy(node))
        q = (select(signal_reports, signals.c.type, signals.c.value)
             .join(signals, signals.c.id == signal_reports.c.signal_id))
        if since is not None:
            q = q.where(signal_reports.c.reported_at >= since)
        if type_:
            signal_type(type_)
            q = q.where(signals.c.type == type_)
        q = q.order_by(signal_reports.c.id.desc() if newest_first else signal_reports.c.id)
        kept: list[dict[str, Any]] = []
        row: Any
        for row in conn.execution_options(yield_per=5000).execute(q).mappings():
            # ``sees`` is ``decide_signal(...).allowed`` (property-tested), without building a
            # Decision per row; node staff (viewer None) see every report.
            if viewer is not None and not sees(viewer, _view(row, node.node_id), now):
                continue
            kept.append(dict(row))
            if limit is not None and len(kept) >= limit:
                break
        related = _related(conn, [r["id"] for r in kept])
    for kept_row in kept:
        out.append(_export_row(kept_row, related.get(kept_row["id"], [])))
    return out


def _related(conn: Connection, report_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """For each report, the other signals it names (its campaign links)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for i in range(0, len(report_ids), _SQL_CHUNK):
        part = report_ids[i:i + _SQL_CHUNK]
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


def list_signals(node: Node, who: Any, *, type_: str | None = None, since: datetime | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
    """The newest reports the caller may see (gated per report)."""
    return _gated_rows(node, Caller.of(who), since=since, type_=type_,
                       limit=max(1, min(limit, 10_000)), newest_first=True)


def reports_for_export(node: Node, recipient_member_id: str | None, since: datetime | None = None,
                       *, public: bool = False) -> list[dict[str, Any]]:
    """Every report ``recipient_member_id`` may receive, oldest first, as report dicts
    (``validate_report``'s shape plus ``report_id``, ``source``, ``related`` ...), for the
    STIX / TAXII / MISP / CSV writers. ``None`` is this node's own staff (everything, expired
    reports included: a staff export is complete); ``public=True`` is anyone (TLP:CLEAR)."""
    caller = Caller("system:export", recipient_member_id, public and recipient_member_id is None)
    return _gated_rows(node, caller, since=since, type_=None, limit=None, newest_first=False)


# --- naming members for an AMBER report (need-to-know) ------------------------------------------


class _Unchanged(Exception):
    """The naming asked for is already the case: nothing to write or ledger."""


def _name_list(member_ids: Any, mode: str) -> list[tuple[int, str]]:
    """``(position, member id)`` of a naming request, checked for shape (every problem at once)."""
    if mode not in NAME_MODES:
        raise invalid("mode", f"{mode!r}: one of {', '.join(NAME_MODES)}")
    if isinstance(member_ids, str) or not isinstance(member_ids, Sequence):
        raise invalid("members", "must be a list of member ids")
    if mode != "set" and not member_ids:
        raise invalid("members", "give at least one member")
    problems: list[Problem] = []
    out: list[tuple[int, str]] = []
    for i, m in enumerate(member_ids):
        if not isinstance(m, str) or not MEMBER_ID.fullmatch(m):
            problems.append(Problem(f"members[{i}]", f"{m!r} is not a member id"))
        elif m not in (x for _, x in out):
            out.append((i, m))
    if len(out) > MAX_RECIPIENTS:
        problems.append(Problem("members", f"{len(out)} members: at most {MAX_RECIPIENTS} may be named"))
    if problems:
        raise InvalidInput("the members to name are not valid: " + "; ".join(str(p) for p in problems[:3]),
                           problems[:MAX_PROBLEMS_SHOWN])
    return out


def _check_nameable(row: Mapping[str, Any], node_id: str, adding: bool) -> None:
    """Only an AMBER report takes names from this node (rules TLP-AMBER-STRICT, TLP-RED:
    nobody beyond the originator's own names; SIGNAL-NAMED: GREEN and CLEAR need none), and a
    received one only with its originator's consent to onward transfer."""
    tlp = TLP(row["tlp"])
    rid = row["id"]
    if tlp is TLP.AMBER_STRICT:
        raise Conflict(f"report {rid} is TLP:AMBER+STRICT: only the organisations its originator named may "
                       "receive it, so this node names no one",
                       [Problem("tlp", "AMBER+STRICT: only the originator names recipients", "TLP-AMBER-STRICT")],
                       "TLP-AMBER-STRICT")
    if tlp is TLP.RED:
        raise Conflict(f"report {rid} is TLP:RED: it never leaves this node, so no one can be named",
                       [Problem("tlp", "RED never leaves this node", "TLP-RED")], "TLP-RED")
    if tlp is not TLP.AMBER:
        raise Conflict(f"report {rid} is TLP:{tlp.value}: the community may receive it already; names are "
                       "for TLP:AMBER only", [Problem("tlp", f"{tlp.value} needs no names", "SIGNAL-NAMED")],
                       "SIGNAL-NAMED")
    if adding and not (row["origin"] == "local" and row["source"] == node_id) and not row["consent"]:
        raise Conflict(f"report {rid} came from {row['source']}, who did not consent to onward transfer: "
                       "naming a member would not let it through",
                       [Problem("report_id", f"{row['source']} did not consent to onward transfer",
                                "ONWARD-CONSENT")], "ONWARD-CONSENT")


def name_members(node: Node, who: Any, report_id: int, member_ids: Sequence[str], *,
                 mode: str = "set") -> dict[str, Any]:
    """Name the members that may receive AMBER report ``report_id`` on a need-to-know basis.

    ``mode`` ``set`` makes ``member_ids`` the whole list (empty: nobody), ``add`` adds them,
    ``remove`` un-names them. Only this node's staff name members; only for an AMBER report;
    each member must be registered and not suspended. One ledger entry (``signal.named``) in the
    transaction that changes the list; a request that changes nothing writes nothing. Returns
    the report (``list_signals``' shape) with its ``named`` list.
    """
    caller = Caller.of(who)
    if not caller.internal:
        raise Forbidden("only this node's staff name who may receive a report; a partner's token may not")
    if not is_bigint(report_id) or report_id < 1:
        raise invalid("report_id", "must be a report id (a whole number from 1)")
    wanted = _name_list(member_ids, mode)
    try:
        with node.write(caller.actor) as uow:
            _lock(uow.conn)  # read-modify-write of the list: one writer at a time
            found = uow.conn.execute(select(signal_reports, signals.c.type, signals.c.value)
                                     .join(signals, signals.c.id == signal_reports.c.signal_id)
                                     .where(signal_reports.c.id == report_id)).mappings().first()
            if found is None:
                raise NotFound(f"no report {report_id}", "report_id")
            row = dict(found)
            before = list(row["named"] or ())
            names = [m for _, m in wanted]
            if mode == "set":
                after = names
            elif mode == "add":
                after = before + [m for m in names if m not in before]
            else:
                after = [m for m in before if m not in names]
            added = [m for m in after if m not in before]
            _check_nameable(row, node.node_id, adding=bool(added))
            problems = _naming_problems(uow.conn, wanted, mode, before, report_id)
            if problems:
                raise InvalidInput(f"cannot name these members for report {report_id}: "
                                   + "; ".join(str(p) for p in problems[:3]), problems[:MAX_PROBLEMS_SHOWN],
                                   next((p.rule for p in problems if p.rule), None))
            removed = [m for m in before if m not in after]
            if not added and not removed:
                raise _Unchanged
            uow.conn.execute(update(signal_reports).where(signal_reports.c.id == report_id)
                             .values(named=after))
            uow.record(NAMED, subject(row["type"], row["value"]), {
                "report_id": report_id, "signal_id": row["signal_id"], "type": row["type"],
                "digest": digest_of(row["type"], row["value"]), "tlp": row["tlp"],
                "named": after, "added": added, "removed": removed})
    except _Unchanged:
        pass
    return report_detail(node, report_id)


def _naming_problems(conn: Connection, wanted: list[tuple[int, str]], mode: str, before: list[str],
                     report_id: int) -> list[Problem]:
    problems: list[Problem] = []
    if mode == "remove":
        return [Problem(f"members[{i}]", f"{m!r} is not named for report {report_id}")
                for i, m in wanted if m not in before]
    rows = {r.id: r.standing for r in conn.execute(
        select(members.c.id, members.c.standing).where(members.c.id.in_([m for _, m in wanted])))}
    for i, m in wanted:
        if m not in rows:
            problems.append(Problem(f"members[{i}]", f"no member {m!r}: register it first"))
        elif rows[m] == "suspended":
            problems.append(Problem(f"members[{i}]", f"{m} is suspended after a safeguards assessment: "
                                    "nothing is shared with it", "GATE-SUSPENDED"))
    return problems


def report_detail(node: Node, report_id: int) -> dict[str, Any]:
    """One report as this node's staff see it, with the members this node named for it."""
    with node.read() as conn:
        found = conn.execute(select(signal_reports, signals.c.type, signals.c.value)
                             .join(signals, signals.c.id == signal_reports.c.signal_id)
                             .where(signal_reports.c.id == report_id)).mappings().first()
        if found is None:
            raise NotFound(f"no report {report_id}", "report_id")
        row = dict(found)
        related = _related(conn, [report_id]).get(report_id, [])
    return {**_export_row(row, related), "named": list(row["named"] or ())}


# --- federation ---------------------------------------------------------------------------------


def _report_rows(conn: Connection, report_ids: Sequence[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(0, len(report_ids), _SQL_CHUNK):
        part = list(report_ids[i:i + _SQL_CHUNK])
        out += [dict(r) for r in conn.execute(
            select(signal_reports, signals.c.type, signals.c.value)
            .join(signals, signals.c.id == signal_reports.c.signal_id)
            .where(signal_reports.c.id.in_(part)).order_by(signal_reports.c.id)).mappings()]
    return out


def publish(uow: UnitOfWork, report_ids: Sequence[int], *,
            peers: Sequence[str] | None = None) -> dict[str, list[int]]:
    """Queue reports for federated peers, each peer getting only what the gate allows it.

    Returns ``{peer: [report ids queued]}``. Does nothing if the outbox is not installed.
    """
    try:
        from hanoi.services import outbox
    except ImportError:  # pragma: no cover - federation not installed
        return {}
    node = policy_service.uow_node(uow)
    policy = outbox.gate_policy(uow).gate
    conn = uow.conn
    if peers is None:
        peers = _federated_peers(conn)
    rows = _report_rows(conn, report_ids)
    related = _related(conn, [r["id"] for r in rows])
    queued: dict[str, list[int]] = {}
    for peer in peers:
        member = _member(conn, peer)
        if member is None:
            continue
        partner = PartnerView.from_dict(member)
        allowed = [r for r in rows
                   if decide_signal(_view(r, node.node_id), partner, now=uow.now, policy=policy).allowed
                   and r["source"] != peer and r.get("via") != peer]  # never echo back
        for start in range(0, len(allowed), PUBLISH_CHUNK):
            part = allowed[start:start + PUBLISH_CHUNK]
            payload = {"reports": [_wire(r, related.get(r["id"], [])) for r in part]}
            outbox.enqueue(uow, recipient=peer, type=ITEM_REPORT, payload=payload,
                           subject="signals:federation")
        if allowed:
            queued[peer] = [r["id"] for r in allowed]
    return queued


def _federated_peers(conn: Connection) -> list[str]:
    from hanoi.services import outbox

    return [m for m in conn.execute(select(members.c.id).where(members.c.endpoint.is_not(None))
                                    .order_by(members.c.id)).scalars() if outbox.federated(conn, m)]


def publish_reports(node: Node, who: Any, *, to: Sequence[str] | None = None,
                    since: datetime | None = None) -> dict[str, Any]:
    """Queue the reports made since ``since`` (all when None) for the peers ``to`` (every
    federated peer when None), each peer getting only what the gate lets it receive.

    This node's staff only. One ``signal.publish`` ledger entry in the transaction that writes
    the outbox rows. Returns ``{considered, since, peers: {peer: reports queued}, queued}``.
    """
    caller = Caller.of(who)
    if not caller.internal:
        raise Forbidden("only this node's staff publish its signals to peers; a partner's token may not")
    wanted: list[tuple[int, str]] | None = None
    if to is not None:
        if isinstance(to, str) or not isinstance(to, Sequence):
            raise invalid("to", "must be a list of peers (member ids)")
        if not to:
            raise invalid("to", "is empty: name at least one peer, or leave it out for every federated peer")
        problems = [Problem(f"to[{i}]", f"{p!r} is not a member id") for i, p in enumerate(to)
                    if not isinstance(p, str) or not MEMBER_ID.fullmatch(p)]
        if problems:
            raise InvalidInput("the peers are not valid", problems)
        wanted = []
        for i, p in enumerate(to):
            if p not in (x for _, x in wanted):
                wanted.append((i, p))
    from hanoi.services import outbox

    with node.write(caller.actor) as uow:
        conn = uow.conn
        if wanted is None:
            peers = _federated_peers(conn)
        else:
            problems = []
            for i, p in wanted:
                if _member(conn, p) is None:
                    problems.append(Problem(f"to[{i}]", f"no member {p!r}"))
                elif not outbox.federated(conn, p):
                    problems.append(Problem(f"to[{i}]", f"{p!r} is not a federated peer (it has no endpoint "
                                            "or key: add it with `hanoi peers add`)"))
            if problems:
                raise InvalidInput("cannot publish to these peers: " + "; ".join(str(p) for p in problems[:3]),
                                   problems)
            peers = [p for _, p in wanted]
        q = select(signal_reports.c.id).order_by(signal_reports.c.id)
        if since is not None:
            q = q.where(signal_reports.c.reported_at >= since)
        ids = list(conn.execute(q).scalars())
        queued = publish(uow, ids, peers=peers) if ids and peers else {}
        counts = {p: len(queued.get(p, [])) for p in peers}
        uow.record("signal.publish", "signals:federation", {
            "peers": counts, "considered": len(ids), "since": isoformat(since) if since else None})
    return {"considered": len(ids), "since": isoformat(since) if since else None, "peers": counts,
            "queued": sum(counts.values())}


def _wire(row: Mapping[str, Any], related: list[dict[str, Any]]) -> dict[str, Any]:
    """A report as sent to a peer: our report id (for feedback), the originator, its terms."""
    out = _export_row(row, related)
    out["id"] = str(row["id"])
    for k in ("report_id", "signal_id", "origin", "reported_at"):
        out.pop(k, None)
    out["value"] = row["value"]
    return out


def _send_gate(uow: UnitOfWork, row: dict[str, Any], member: dict[str, Any]) -> Decision:
    """Re-decide at send time (a standing or an expiry may have changed since queueing)."""
    if row.get("type") != ITEM_REPORT:
        from hanoi.services import outbox

        return outbox.default_send_gate(uow, row, member)
    from hanoi.services import outbox

    node = policy_service.uow_node(uow)
    policy = outbox.gate_policy(uow).gate
    partner = PartnerView.from_dict(member)
    ids = [int(r["id"]) for r in (row.get("payload") or {}).get("reports", []) if str(r.get("id", "")).isdigit()]
    decisions = [decide_signal(_view(r, node.node_id), partner, now=uow.now, policy=policy)
                 for r in _report_rows(uow.conn, ids)]
    if not decisions:
        return Decision.of(())
    return decisions[0].merge(*decisions[1:])


def on_signal_report(uow: UnitOfWork, envelope: Any, sender: Mapping[str, Any]) -> dict[str, Any]:
    """Store the reports a peer sent (``signal.report``), as received: idempotent per report,
    and passed on only with the originator's consent (absent consent means none)."""
    payload = envelope.payload if isinstance(envelope.payload, Mapping) else {}
    items = payload.get("reports")
    if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
        raise invalid("reports", f"must be a list of 1 to {MAX_BATCH} reports", "FED-ITEM-INVALID")
    node = policy_service.uow_node(uow)
    sender_id = str(sender["id"])
    by_source: dict[str, list[tuple[ReportDraft, str]]] = {}
    problems: list[Problem] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not str(item.get("id", "")).strip():
            problems.append(Problem(f"reports[{i}].id", "is required"))
            continue
        body = {k: v for k, v in item.items() if k in ("type", "value", "abuse_type", "confidence",
                                                    "first_seen", "last_seen", "tlp", "tags",
                                                    "expires_at", "conditions", "recipients",
                                                    "related")}
        body["consent"] = item.get("consent") is True
        try:
            draft = validate_report(body, now=uow.now, ctx=_ctx(node), where=f"reports[{i}].")
        except InvalidInput as err:
            problems.extend(err.problems)
            continue
        source = str(item.get("source") or sender_id)
        by_source.setdefault(source, []).append((draft, str(item["id"])[:120]))
    if problems:
        raise InvalidInput("the signal reports are not valid", problems[:MAX_PROBLEMS_SHOWN],
                           "FED-ITEM-INVALID")
    stored = 0
    for source, pairs in by_source.items():
        have = set(uow.conn.execute(select(signal_reports.c.remote_id)
                                    .where(signal_reports.c.via == sender_id)
                                    .where(signal_reports.c.remote_id.in_([r for _, r in pairs])))
                   .scalars())
        fresh = []
        for d, r in pairs:  # a report id given twice in one envelope is stored once
            if r not in have:
                have.add(r)
                fresh.append((d, r))
        if fresh:
            # The reports of the identifiers a report names come as reports of their own (the
            # sender's report ids, which feedback names): link to them, do not copy them.
            stored += len(_store(uow, [d for d, _ in fresh], source=source, origin="received",
                                 via=sender_id, batch=f"in-{str(getattr(envelope, 'id', ''))[:36]}",
                                 remote_ids=[r for _, r in fresh], related_reports=False))
    return {"subject": "signals:federation", "stored": stored, "received": len(items)}


def on_signal_feedback(uow: UnitOfWork, envelope: Any, sender: Mapping[str, Any]) -> dict[str, Any]:
    """A peer's sighting or false positive of a report this node sent it."""
    p = envelope.payload if isinstance(envelope.payload, Mapping) else {}
    kind = p.get("kind")
    rid = str(p.get("report_id", ""))
    if kind not in FEEDBACK_KINDS or not rid.isdigit():
        raise invalid("payload", "needs kind (sighting | false-positive) and report_id",
                      "FED-ITEM-INVALID")
    row = uow.conn.execute(select(signal_reports.c.signal_id)
                           .where(signal_reports.c.id == int(rid))).first()
    if row is None:
        raise NotFound(f"no report {rid}", "report_id")
    count = p.get("count") if isinstance(p.get("count"), int) and p.get("count", 0) > 0 else 1
    try:
        seen_at = parse_time(str(p.get("seen_at"))) if p.get("seen_at") else uow.now
    except ValueError:
        seen_at = uow.now
    note = str(p.get("note") or "")[:2000]
    fid = uow.conn.execute(signal_feedback.insert().returning(signal_feedback.c.id).values(
        signal_id=row.signal_id, kind=kind, member=str(sender["id"]), count=count,
        seen_at=min(seen_at, uow.now), note=note, recorded_by=f"peer:{sender['id']}",
        recorded_at=uow.now)).scalar_one()
    return {"subject": "signals:federation", "feedback_id": fid, "kind": kind}


def register() -> None:
    """Wire signals into federation: inbox handlers and the outbox send gate (idempotent)."""
    from hanoi.services import inbox, outbox

    inbox.register_handler(ITEM_REPORT, on_signal_report)
    inbox.register_handler(ITEM_FEEDBACK, on_signal_feedback)
    outbox.register_send_gate("signal.", _send_gate)


# --- small helpers for the API and CLI ---------------------------------------------------------


def parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise invalid("since", f"{text!r} is not an ISO 8601 time") from None


def tlp_of(text: str) -> TLP:
    return parse_tlp(text).level


__all__ = [
    "FEEDBACK_KINDS", "Caller", "campaign", "digest_of", "feedback", "feedback_for_source",
    "forget_index", "index", "list_signals", "lookup", "name_members", "on_signal_feedback",
    "on_signal_report", "publish", "publish_reports", "register", "report", "report_detail",
    "reports_for_export", "store", "validate",
]
