"""What the signals wing applies from peers: reports (stored as received, idempotent per report,
passed on only with the originator's consent, with their author, id and version in the
document they first came from, so this node's exports name that author too), feedback on
reports this node sent, and a peer's pull (answered by publishing what the gate lets it receive
after its cursor)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from hanoi.core.clock import parse_time
from hanoi.core.errors import InvalidInput, NotFound, Problem, invalid
from hanoi.federation.envelope import Envelope
from hanoi.node.runtime import Work
from hanoi.signals import rows, send, service
from hanoi.signals.reports import MAX_BATCH, ReportDraft, validate_report
from hanoi.store.tables import signal_feedback, signal_reports

MAX_PULL = 10_000
"""Reports considered per pull; the answer says whether there are more."""


def on_report(uow: Work, envelope: Envelope, sender: Mapping[str, Any]) -> dict[str, Any]:
    """Store the reports a peer sent (``signal.report``), as received: idempotent per report,
    and passed on only with the originator's consent (absent consent means none)."""
    payload = envelope.payload if isinstance(envelope.payload, Mapping) else {}
    items = payload.get("reports")
    if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
        raise invalid("reports", f"must be a list of 1 to {MAX_BATCH} reports", "FED-ITEM-INVALID")
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
                                                    "related", "external_id", "creator", "version",
                                                    "provenance")}
        body["consent"] = item.get("consent") is True
        try:
            draft = validate_report(body, now=uow.now, ctx=service.normalise_context(uow.node), where=f"reports[{i}].")
        except InvalidInput as err:
            problems.extend(err.problems)
            continue
        source = str(item.get("source") or sender_id)
        by_source.setdefault(source, []).append((draft, str(item["id"])[:120]))
    if problems:
        raise InvalidInput("the signal reports are not valid", problems[:service.MAX_PROBLEMS_SHOWN],
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
            stored += len(rows.insert_reports(uow, [d for d, _ in fresh], source=source, origin="received",
                                              via=sender_id, batch=f"in-{envelope.id[:36]}",
                                              remote_ids=[r for _, r in fresh], related_reports=False))
    return {"subject": send.SUBJECT, "stored": stored, "received": len(items)}


def on_feedback(uow: Work, envelope: Envelope, sender: Mapping[str, Any]) -> dict[str, Any]:
    """A peer's sighting or false positive of a report this node sent it."""
    p = envelope.payload if isinstance(envelope.payload, Mapping) else {}
    kind = p.get("kind")
    rid = str(p.get("report_id", ""))
    if kind not in service.FEEDBACK_KINDS or not rid.isdigit():
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
    return {"subject": send.SUBJECT, "feedback_id": fid, "kind": kind}



def on_pull(uow: Work, envelope: Envelope, sender: Mapping[str, Any]) -> dict[str, Any]:
    """A peer's pull: queue back what the gate lets it receive after its cursor."""
    payload = envelope.payload if isinstance(envelope.payload, Mapping) else {}
    since = payload.get("since", 0)
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise InvalidInput("the pull is not valid",
                           [Problem("since", "must be a report id cursor (0 for everything)")],
                           "FED-ITEM-INVALID")
    ids = list(uow.conn.execute(select(signal_reports.c.id).where(signal_reports.c.id > since)
                                .order_by(signal_reports.c.id).limit(MAX_PULL)).scalars())
    peer = str(sender["id"])
    queued = send.publish(uow, ids, peers=[peer]).get(peer, []) if ids else []
    cursor = ids[-1] if ids else since
    return {"subject": send.SUBJECT, "queued": len(queued), "cursor": cursor,
            "more": len(ids) == MAX_PULL}
