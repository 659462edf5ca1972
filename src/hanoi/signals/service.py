"""The signals wing's use cases: report, look up, link into campaigns, feed sightings back,
name members for an AMBER report, list and export, publish to peers.

Every change is one unit of work with its ledger entries (``rows`` says how signals are
named in the ledger: by digest, never by value).

- ``report`` stores a batch of reports, validated whole first: any invalid item refuses it
  all, nothing written, unless ``best_effort`` stores the valid ones and returns every reject
  with its ``ref`` (line number, item index, STIX id). A report this node holds already (the
  same source, author, document id and signal: ``rows.report_key``) is updated, not copied.
- ``classify`` gives reports stored without an offence code (imports from other tools) one;
  until then they serve this node's own lookups only (rule SIGNAL-UNCLASSIFIED).
- ``lookup`` answers up to 10,000 values in order from the in-memory index (``read_model``),
  through the gate for the caller; an answer to a partner (or the public) that matched anything
  is ledgered (``signal.lookup``: who, how many values, the ids of the reports disclosed), since
  it is information leaving the node.
- ``campaign`` shows the signals linked to one value over the links the caller may see.
- ``feedback`` (sightings, false positives) is stored against the signal and flows back to its
  sources: local members read it with ``feedback_for_source``; a report received through
  federation sends it to the peer it came from (``send.feedback_to_peers``).
- ``name_members`` names the members this node lets receive an AMBER report on a
  need-to-know basis; staff only, AMBER only, never a suspended member; ledgered as
  ``signal.named``.
- ``publish_reports`` queues reports for peers (``send.publish``, gated per peer), and ``pull``
  asks a peer for its reports since a cursor.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from hanoi.core.bounds import is_bigint
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, invalid
from hanoi.core.gate import Decision, PartnerView, StandingPolicy, standing_reasons
from hanoi.core.members import MEMBER_ID
from hanoi.core.offences import offence
from hanoi.core.roles import Role
from hanoi.core.tlp import TLP, parse_tlp, rule_code
from hanoi.node import members as members_service
from hanoi.node import outbox
from hanoi.node.ledger import refuse
from hanoi.node.runtime import Node, Work
from hanoi.signals import read_model, rows, send
from hanoi.signals.campaigns import Link
from hanoi.signals.domains import DomainLinkPolicy
from hanoi.signals.domains import reason as domain_reason
from hanoi.signals.gate import PUBLIC, Viewer, sees
from hanoi.signals.index import Asker, Match, SignalIndex, detect_normal, looks_normal, registered_domain_of
from hanoi.signals.reports import MAX_BATCH, MAX_RECIPIENTS, ReportDraft, validate_report
from hanoi.signals.types import (
    MAX_VALUE_LENGTH,
    SIGNAL_TYPES,
    UNDETECTED,
    NormaliseContext,
    detect_type,
    signal_type,
    undetected_reason,
)
from hanoi.store.ledger_store import lock_ledger
from hanoi.store.tables import members, signal_feedback, signal_reports, signals

MAX_PROBLEMS_SHOWN = 200
MAX_RELATED_SHOWN = 100
"""Related matches shown for one looked-up domain (the URLs under its registered domain)."""


FEEDBACK_KINDS = ("sighting", "false-positive")



NAME_MODES = ("set", "add", "remove")


_LONGEST = max(MAX_VALUE_LENGTH.values())


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


def normalise_context(node: Node) -> NormaliseContext:
    region = node.config.default_region
    # A node of a State with no numbering plan of its own (a user-assigned code, e.g. QZ) reads
    # phone numbers with their country code only, instead of refusing every value it is given.
    if region and region.strip().upper() not in phonenumbers.SUPPORTED_REGIONS:
        region = None
    return NormaliseContext(region)


def viewer_for(conn: Connection, caller: Caller, policy: StandingPolicy) -> Viewer | None:
    """``None`` for node staff; the public; or the member's standing against the policy."""
    if caller.public:
        return PUBLIC
    if caller.member_id is None:
        return None
    row = members_service.find(conn, caller.member_id)
    if row is None:  # a token bound to a member that is gone: a stranger
        return Viewer(caller.member_id, False, False)
    return Viewer.of(PartnerView.from_dict(row), policy)


def validate(node: Node, items: Sequence[Any], *, defaults: Mapping[str, Any] | None = None,
             where: str = "items", progress: Callable[[int], None] | None = None,
             unclassified: bool = False) -> tuple[list[ReportDraft], list[tuple[str, Problem]]]:
    """Validate report dicts (no I/O but the node's settings): the drafts, and every problem
    with the ``ref`` of its item (the item's own ``ref``, e.g. ``line 12``, or ``items[3]``).
    ``progress(n)`` is called every 1,000 items with the number done. ``unclassified`` lets
    items without an offence code through (imports: they are stored not classified)."""
    ctx = normalise_context(node)
    now = node.now()
    drafts: list[ReportDraft] = []
    rejects: list[tuple[str, Problem]] = []
    for i, item in enumerate(items):
        ref = str(item.get("ref")) if isinstance(item, Mapping) and item.get("ref") else None
        prefix = f"{ref}: " if ref else f"{where}[{i}]."
        try:
            draft = validate_report(item, now=now, ctx=ctx, where=prefix, defaults=defaults,
                                    unclassified=unclassified)
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
    reports for federated peers the gate allows (``send.publish``).
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
          best_effort: bool = False, federate: bool = False, withdrawn: Sequence[str] = ()) -> dict[str, Any]:
    """Store validated drafts in one transaction (``validate`` made them); with ``rejects``
    and no ``best_effort`` nothing is stored and ``InvalidInput`` lists every reject.
    ``withdrawn`` are document ids of entries their author withdrew: the reports ``source``
    made from them expire now (``rows.withdraw``), in the same transaction."""
    total = received if received is not None else len(drafts) + len({r for r, _ in rejects})
    if rejects and not best_effort:
        raise _refused(list(rejects), total)
    batch = f"sb-{secrets.token_hex(8)}" if total > 1 else None
    stored: list[rows.Stored] = []
    if drafts and source is not None and source != node.node_id:
        _refuse_suspended(node, actor, source, len(drafts))
    ended = 0
    if drafts or withdrawn:
        try:
            with node.write(actor) as uow:
                src = _check_source(uow, source, drafts)
                if drafts:
                    stored = rows.insert_reports(uow, drafts, source=src, origin="local", via=None, batch=batch)
                if withdrawn:
                    ended = rows.withdraw(uow, src, withdrawn, batch=batch)
                if not ended and not any(s.status != rows.UNCHANGED for s in stored):
                    raise _Unchanged  # the same reports again: nothing to write or ledger
                if federate:
                    send.publish(uow, [s.report_id for s in stored if s.status != rows.UNCHANGED])
        except _Unchanged:
            batch = None
    counts = {status: sum(1 for s in stored if s.status == status) for status in (rows.NEW, rows.UPDATED,
                                                                                   rows.UNCHANGED)}
    out: dict[str, Any] = {
        "batch": batch, "received": total, "stored": counts[rows.NEW], "updated": counts[rows.UPDATED],
        "unchanged": counts[rows.UNCHANGED], "new_signals": sum(1 for s in stored if s.new_signal),
        "unclassified": sum(1 for s in stored if s.offence is None), "withdrawn": ended,
        "rejected": [{"ref": ref, **p.as_dict()} for ref, p in rejects],
    }
    if len(stored) <= rows.LEDGER_CHUNK:
        out["reports"] = [{"ref": s.draft.ref, "report_id": s.report_id, "signal_id": s.signal_id,
                           "type": s.key[0], "value": s.key[1], "status": s.status} for s in stored
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
    """The inbound gate for a local source: nothing is accepted from a member the standing
    rule denies (suspended); the refusal is ledgered, although nothing else is written."""
    with node.read() as conn:
        row = members_service.get(conn, source, "source", "register the source first")
    decision = Decision.of(standing_reasons(PartnerView.from_dict(row), node.policy().standing))
    if decision.denied:
        refuse(node, actor, "signal.report.refused", f"member:{source}", {"source": source, "reports": n},
               decision, f"accepting {n} report(s) from {source}")



def _check_source(uow: Work, source: str | None, drafts: Sequence[ReportDraft]) -> str:
    node = uow.node
    problems: list[Problem] = []
    if source is not None and source != node.node_id and members_service.find(uow.conn, source) is None:
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
        reason = undetected_reason(raw, ctx)
        return None, raw, None, reason + ("; give its type" if reason == UNDETECTED else "")
    return _resolve(idx, guess, raw, ctx)


def lookup(node: Node, who: Any, values: Any, *, type_: str | None = None) -> dict[str, Any]:
    """Answer each value in order: match, campaign, confidence, sources, TLP (gated)."""
    caller = Caller.of(who)
    items = _lookup_items(values, type_)
    idx = read_model.index(node)
    ctx = normalise_context(node)
    now = node.now()
    with node.read() as conn:
        viewer = viewer_for(conn, caller, node.policy().standing)
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
    domains = node.policy().section(DomainLinkPolicy)
    for i, (t, value, sid, error) in enumerate(resolved):
        m = answers.get(i)
        under = (_related_under(idx, domains, value, sid, asker, ts, disclosed)
                 if t == "domain" and error is None else [])
        extra = {"related": under} if under else {}
        if m is None:
            results.append({"value": value, "type": t, "match": False, **extra} if error is None else
                           {"value": value, "type": t, "match": False, "error": error})
            continue
        assert t is not None
        disclosed.append((t, value, m))
        results.append({"value": value, "type": t, "match": True, "signal_id": m.signal_id,
                        "campaign": m.campaign, "confidence": m.confidence, "sources": m.sources,
                        "tlp": m.tlp.value, **extra})
    if disclosed and not caller.internal:
        _ledger_disclosure(node, caller, "signal.lookup", len(items), disclosed)
    return {"count": len(results), "matches": sum(1 for r in results if r["match"]), "results": results}


def _related_under(idx: SignalIndex, domains: DomainLinkPolicy, value: str, sid: int | None, asker: Asker,
                   ts: float, disclosed: list[tuple[str, str, Match]]) -> list[dict[str, Any]]:
    """The URLs and domains under a looked-up domain's registered domain that the asker may
    see (the domain itself aside), each marked related with the reason; none if the node's
    policy does not link by registered domain or excludes this one."""
    reg = registered_domain_of("domain", value)
    if not domains.links(reg):
        return []
    assert reg is not None
    out: list[dict[str, Any]] = []
    for other in idx.under(reg)[:MAX_RELATED_SHOWN]:
        seen = idx.answer(other, asker, ts) if other != sid else None
        if seen is None:
            continue
        t, v = idx.key_of(other)
        disclosed.append((t, v, seen))
        out.append({"value": v, "type": t, "match": True, "related": True, "reason": domain_reason(reg),
                    "signal_id": other, "campaign": seen.campaign, "confidence": seen.confidence,
                    "sources": seen.sources, "tlp": seen.tlp.value})
    return out


def _ledger_disclosure(node: Node, caller: Caller, action: str, asked: int,
                       disclosed: Sequence[tuple[str, str, Match]]) -> None:
    who = caller.member_id or "public"
    with node.write(caller.actor) as uow:
        uow.record(action, f"member:{who}" if caller.member_id else "signals:public", {
            # Report ids name what was disclosed (each names its signal) in a few bytes each.
            "recipient": who, "asked": asked, "signals": len(disclosed),
            "reports": sorted({r for _, _, m in disclosed for r in m.reports}),
            "policy_digest": uow.policy.digest},
            decision="allow",
            reasons=[{"code": rule_code(m.tlp)} for m in {m.tlp: m for _, _, m in disclosed}.values()])


def _find_signal(node: Node, idx: SignalIndex, value: str, type_: str | None) -> tuple[str, str, int]:
    if not isinstance(value, str) or not value.strip():
        raise invalid("value", "give the value of a signal")
    if len(value) > _LONGEST:
        raise invalid("value", f"too long: {len(value):,} characters", "SIGNAL-LIMITS")
    if type_ is not None and type_ not in SIGNAL_TYPES:
        signal_type(type_)  # raises naming the field and the known types
    t, v, sid, error = _resolve(idx, type_, value, normalise_context(node))
    if error is not None:
        raise invalid("value", error)
    if sid is None or t is None:
        raise NotFound(f"no signal {value!r} that you may see", "value")
    return t, v, sid


def _campaign_with_domains(idx: SignalIndex, sid: int, asker: Asker, now: float, domains: DomainLinkPolicy
                           ) -> tuple[list[int], list[Link[int]], list[tuple[int, int, str]]]:
    """The campaign of ``sid`` over the report links the asker may see and, if the node's
    policy links by registered domain, over the registered domains of its URLs and domains:
    the signals of one registered domain the asker may see are linked to the smallest of them
    (one link each, with the domain as the reason), and the walk goes on from them."""
    members: set[int] = set()
    links: dict[tuple[int, int, int], Link[int]] = {}
    domain_links: list[tuple[int, int, str]] = []
    done: set[str] = set()
    queue = [sid]
    while queue:
        x = queue.pop()
        if x in members:
            continue
        part, part_links = idx.campaign(x, asker, now)
        members.update(part)
        links.update(((lk.a, lk.b, lk.evidence), lk) for lk in part_links)
        for m in part:
            reg = idx.registered_of(m)
            if reg is None or reg in done or not domains.links(reg):
                continue
            done.add(reg)
            group = [o for o in idx.under(reg) if o == sid or idx.answer(o, asker, now) is not None]
            hub = min(group) if group else None
            for o in group:
                if o != hub:
                    assert hub is not None
                    domain_links.append((hub, o, reg))
            queue.extend(o for o in group if o not in members)
    ordered = sorted(links.values(), key=lambda lk: (lk.a, lk.b, lk.evidence))
    return sorted(members), ordered, sorted(domain_links)


def campaign(node: Node, who: Any, value: str, *, type_: str | None = None) -> dict[str, Any]:
    """The campaign of ``value``: its signals and the links between them the caller may see."""
    caller = Caller.of(who)
    idx = read_model.index(node)
    t, v, sid = _find_signal(node, idx, value, type_)
    now = node.now()
    with node.read() as conn:
        viewer = viewer_for(conn, caller, node.policy().standing)
        asker = idx.asker(viewer)
        match = idx.answer(sid, asker, now.timestamp())
        if match is None:
            raise NotFound(f"no signal {value!r} that you may see", "value")
        member_ids, links, domain_links = _campaign_with_domains(
            idx, sid, asker, now.timestamp(), node.policy().section(DomainLinkPolicy))
        found: dict[int, Any] = {}
        for i in range(0, len(member_ids), rows.SQL_CHUNK):
            part = member_ids[i:i + rows.SQL_CHUNK]
            for r in conn.execute(select(signals.c.id, signals.c.type, signals.c.value,
                                         signals.c.first_seen, signals.c.last_seen)
                                  .where(signals.c.id.in_(part))):
                found[r.id] = r
    ts = now.timestamp()
    out_members = []
    disclosed: list[tuple[str, str, Match]] = []
    for m in member_ids:
        r = found[m]
        seen = idx.answer(m, asker, ts)
        out_members.append({"signal_id": m, "type": r.type, "value": r.value,
                            "first_seen": isoformat(r.first_seen), "last_seen": isoformat(r.last_seen),
                            "confidence": seen.confidence if seen else None,
                            "sources": seen.sources if seen else 0,
                            "tlp": seen.tlp.value if seen else None})
        if seen is not None:
            disclosed.append((r.type, r.value, seen))
    out_links: list[dict[str, Any]] = []
    for link in links:
        source, tlp, *_ = idx.report_fields(link.evidence)
        out_links.append({"a": link.a, "b": link.b, "report_id": link.evidence,
                          "source": source, "tlp": tlp.value,
                          "reason": f"named together by report {link.evidence}"})
    for a, b, reg in domain_links:
        out_links.append({"a": a, "b": b, "report_id": None, "source": None, "tlp": None,
                          "reason": domain_reason(reg)})
    if not caller.internal and disclosed:
        _ledger_disclosure(node, caller, "signal.campaign", 1, disclosed)
    return {"signal": {"signal_id": sid, "type": t, "value": v},
            "campaign": min(member_ids) if out_links else None, "members": out_members,
            "links": out_links}


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
    idx = read_model.index(node)
    t, v, sid = _find_signal(node, idx, data.get("value"), data.get("type"))  # type: ignore[arg-type]
    with node.read() as conn:
        asker = idx.asker(viewer_for(conn, caller, node.policy().standing))
    match = idx.answer(sid, asker, now.timestamp())
    if match is None:
        raise NotFound(f"no signal {data.get('value')!r} that you may see", "value")
    member = caller.member_id or ("public" if caller.public else node.node_id)
    with node.write(caller.actor) as uow:
        fid = uow.conn.execute(signal_feedback.insert().returning(signal_feedback.c.id).values(
            signal_id=sid, kind=kind, member=member, count=count, seen_at=seen_at, note=note,
            recorded_by=caller.actor, recorded_at=now)).scalar_one()
        uow.record(f"signal.{kind}", f"signal:{rows.digest_of(t, v)}", {
            "feedback_id": fid, "signal_id": sid, "member": member, "count": count,
            "seen_at": isoformat(seen_at), "reports": list(match.reports)})
        queued = send.feedback_to_peers(uow, match.reports, kind, count, seen_at, note)
    return {"feedback_id": fid, "kind": kind, "signal_id": sid, "type": t, "value": v,
            "count": count, "seen_at": isoformat(seen_at), "sent_to_peers": queued}


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


def _gated_rows(node: Node, caller: Caller, *, since: datetime | None, type_: str | None,
                limit: int | None, newest_first: bool, unclassified: bool = False) -> list[dict[str, Any]]:
    now = node.now()
    out: list[dict[str, Any]] = []
    with node.read() as conn:
        viewer = viewer_for(conn, caller, node.policy().standing)
        q = (select(signal_reports, signals.c.type, signals.c.value)
             .join(signals, signals.c.id == signal_reports.c.signal_id))
        if since is not None:
            q = q.where(signal_reports.c.reported_at >= since)
        if type_:
            signal_type(type_)
            q = q.where(signals.c.type == type_)
        if unclassified:
            q = q.where(signal_reports.c.abuse_type == rows.UNCLASSIFIED)
        q = q.order_by(signal_reports.c.id.desc() if newest_first else signal_reports.c.id)
        kept: list[dict[str, Any]] = []
        row: Any
        for row in conn.execution_options(yield_per=5000).execute(q).mappings():
            # ``sees`` is ``decide_signal(...).allowed`` (property-tested), without building a
            # Decision per row; node staff (viewer None) see every report.
            if viewer is not None and not sees(viewer, rows.view_of(row, node.node_id), now):
                continue
            kept.append(dict(row))
            if limit is not None and len(kept) >= limit:
                break
        related = rows.related(conn, [r["id"] for r in kept])
    for kept_row in kept:
        out.append(rows.export_row(kept_row, related.get(kept_row["id"], [])))
    return out


def list_signals(node: Node, who: Any, *, type_: str | None = None, since: datetime | None = None,
                 limit: int = 100, unclassified: bool = False) -> list[dict[str, Any]]:
    """The newest reports the caller may see (gated per report); ``unclassified``: only those
    without an offence code (which only this node's staff see)."""
    return _gated_rows(node, Caller.of(who), since=since, type_=type_,
                       limit=max(1, min(limit, 10_000)), newest_first=True, unclassified=unclassified)


def classify(node: Node, who: Any, offence_code: Any, *, report_ids: Sequence[int] | None = None,
             batch: str | None = None, creator: str | None = None) -> dict[str, Any]:
    """Give reports an offence code: the named ``report_ids`` (classified or not: a person may
    correct a code), or every report not classified yet of an import ``batch`` and/or by the
    author ``creator`` (e.g. ``URLhaus``). This node's staff only; a person's code is never
    overridden by a re-import. One ``signal.classified`` ledger entry per 1,000 reports, in the
    transaction that changes them; the reports may then be shared as the gate allows.
    Returns ``{offence, classified, report_ids}`` (the ids: the first 1,000)."""
    caller = Caller.of(who)
    if not caller.internal:
        raise Forbidden("only this node's staff classify reports; a partner's token may not")
    code = offence(offence_code, "offence").code
    wanted = _report_id_list(report_ids)
    for name, value in (("batch", batch), ("creator", creator)):
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 200):
            raise invalid(name, "must be a non-empty text of at most 200 characters")
    if not wanted and batch is None and creator is None:
        raise invalid("reports", "name the reports to classify: report ids, a batch or a creator")
    try:
        with node.write(caller.actor) as uow:
            lock_ledger(uow.conn)
            q = (select(signal_reports.c.id, signal_reports.c.signal_id, signal_reports.c.abuse_type,
                        signals.c.type, signals.c.value)
                 .join(signals, signals.c.id == signal_reports.c.signal_id))
            found: dict[int, Any] = {}
            if wanted:
                for i in range(0, len(wanted), rows.SQL_CHUNK):
                    for r in uow.conn.execute(q.where(signal_reports.c.id.in_(wanted[i:i + rows.SQL_CHUNK]))):
                        found[r.id] = r
                missing = [(i, rid) for i, rid in enumerate(wanted) if rid not in found]
                if missing:
                    raise NotFound(f"no report {missing[0][1]}", f"reports[{missing[0][0]}]")
            if batch is not None or creator is not None:
                q2 = q.where(signal_reports.c.abuse_type == rows.UNCLASSIFIED)
                if batch is not None:
                    q2 = q2.where(signal_reports.c.batch == batch.strip())
                if creator is not None:
                    q2 = q2.where(signal_reports.c.creator == creator.strip())
                for r in uow.conn.execute(q2.order_by(signal_reports.c.id)):
                    found[r.id] = r
            chosen = [found[rid] for rid in sorted(found) if found[rid].abuse_type != code]
            if not chosen:
                raise _Unchanged
            by = f"{rows.STAFF_CLASSIFIED}: {caller.actor}"[:200]
            ids = [r.id for r in chosen]
            for i in range(0, len(ids), rows.SQL_CHUNK):
                uow.conn.execute(update(signal_reports).where(signal_reports.c.id.in_(ids[i:i + rows.SQL_CHUNK]))
                                 .values(abuse_type=code, classified_by=by, updated_at=uow.now))
            chunks = range(0, len(chosen), rows.LEDGER_CHUNK)
            for n, start in enumerate(chunks):
                part = chosen[start:start + rows.LEDGER_CHUNK]
                uow.record(rows.CLASSIFIED, "signals:classification", {
                    "offence": code, "chunk": n + 1, "of": len(chunks), "batch": batch, "creator": creator,
                    "columns": ["report_id", "signal_id", "type", "digest", "was"],
                    "reports": [[r.id, r.signal_id, r.type, rows.digest_of(r.type, r.value), r.abuse_type or None]
                                for r in part]})
    except _Unchanged:
        ids = []
    return {"offence": code, "classified": len(ids), "report_ids": ids[:rows.LEDGER_CHUNK]}


def _report_id_list(report_ids: Any) -> list[int]:
    if report_ids is None:
        return []
    if isinstance(report_ids, str | bytes) or not isinstance(report_ids, Sequence):
        raise invalid("reports", "must be a list of report ids")
    problems = [Problem(f"reports[{i}]", f"{r!r} is not a report id (a whole number from 1)")
                for i, r in enumerate(report_ids) if isinstance(r, bool) or not isinstance(r, int) or r < 1]
    if problems:
        raise InvalidInput("the reports to classify are not valid", problems[:MAX_PROBLEMS_SHOWN])
    if len(report_ids) > MAX_BATCH:
        raise invalid("reports", f"{len(report_ids):,} report ids: at most {MAX_BATCH:,} per call", "SIGNAL-LIMITS")
    return list(dict.fromkeys(report_ids))


def reports_for_export(node: Node, recipient_member_id: str | None, since: datetime | None = None,
                       *, public: bool = False) -> list[dict[str, Any]]:
    """Every report ``recipient_member_id`` may receive, oldest first, as report dicts
    (``validate_report``'s shape plus ``report_id``, ``source``, ``related`` ...), for the
    STIX / TAXII / MISP / CSV writers. ``None`` is this node's own staff (everything, expired
    reports included: a staff export is complete); ``public=True`` is anyone (TLP:CLEAR)."""
    caller = Caller("system:export", recipient_member_id, public and recipient_member_id is None)
    return _gated_rows(node, caller, since=since, type_=None, limit=None, newest_first=False)


class _Unchanged(Exception):
    """What was asked for is already the case: nothing to write or ledger."""


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
            lock_ledger(uow.conn)  # read-modify-write of the list: one writer at a time
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
            uow.record(rows.NAMED, rows.subject(row["type"], row["value"]), {
                "report_id": report_id, "signal_id": row["signal_id"], "type": row["type"],
                "digest": rows.digest_of(row["type"], row["value"]), "tlp": row["tlp"],
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
        related = rows.related(conn, [report_id]).get(report_id, [])
    return {**rows.export_row(row, related), "named": list(row["named"] or ())}


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
    with node.write(caller.actor) as uow:
        conn = uow.conn
        if wanted is None:
            peers = send.federated_peers(conn)
        else:
            problems = []
            for i, p in wanted:
                if members_service.find(conn, p) is None:
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
        queued = send.publish(uow, ids, peers=peers) if ids and peers else {}
        counts = {p: len(queued.get(p, [])) for p in peers}
        uow.record("signal.publish", send.SUBJECT, {
            "peers": counts, "considered": len(ids), "since": isoformat(since) if since else None})
    return {"considered": len(ids), "since": isoformat(since) if since else None, "peers": counts,
            "queued": sum(counts.values())}


def parse_since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise invalid("since", f"{text!r} is not an ISO 8601 time") from None


def tlp_of(text: str) -> TLP:
    return parse_tlp(text).level



def pull(node: Node, actor: str, peer: str, since: int = 0) -> dict[str, Any]:
    """Ask ``peer`` (through the outbox) for the signals after report ``since`` it may send us."""
    if since < 0:
        raise invalid("since", "must be a report id cursor (0 for everything)")
    with node.write(actor) as uow:
        if not outbox.federated(uow.conn, peer):
            raise invalid("peer", f"{peer!r} is not a federated peer (add it with `hanoi peers add`)")
        send.ask_pull(uow, peer, since)
        uow.record("signal.pull.sent", f"member:{peer}", {"peer": peer, "since": since})
    return {"peer": peer, "since": since, "queued": True}
