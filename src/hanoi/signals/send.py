"""What the signals wing sends to peers, and its gate at the moment of sending.

- ``publish`` queues reports for federated peers, each peer getting only what the gate lets it
  receive (TLP, named members, consent to onward transfer, the peer's standing), and never a
  report back to where it came from; ``send_gate`` decides again when the envelope leaves.
- ``feedback_to_peers`` sends a sighting or a false positive back to the peer a report came
  from (``signal.feedback``).
- ``ask_pull`` asks a peer for the reports after a cursor (``signal.pull``); the peer answers
  by publishing them (``receive.on_pull``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hanoi.core.clock import isoformat
from hanoi.core.gate import Decision, PartnerView
from hanoi.node import members as members_service
from hanoi.node import outbox
from hanoi.node.runtime import Work
from hanoi.signals import rows
from hanoi.signals.gate import decide_signal
from hanoi.store.tables import members, signal_reports

ITEM_REPORT = "signal.report"
ITEM_FEEDBACK = "signal.feedback"
ITEM_PULL = "signal.pull"
PUBLISH_CHUNK = 200
"""Reports per federation envelope (well under the default 512 KiB envelope limit)."""
SUBJECT = "signals:federation"
"""The outbox and ledger subject of the signal stream between peers."""


def publish(work: Work, report_ids: Sequence[int], *,
            peers: Sequence[str] | None = None) -> dict[str, list[int]]:
    """Queue reports for federated peers, each peer getting only what the gate allows it.

    Returns ``{peer: [report ids queued]}``.
    """
    node_id = work.node.node_id
    standing = work.policy.standing
    conn = work.conn
    if peers is None:
        peers = federated_peers(conn)
    reports = rows.report_rows(conn, report_ids)
    related = rows.related(conn, [r["id"] for r in reports])
    queued: dict[str, list[int]] = {}
    for peer in peers:
        member = members_service.find(conn, peer)
        if member is None:
            continue
        partner = PartnerView.from_dict(member)
        allowed = [r for r in reports
                   if decide_signal(rows.view_of(r, node_id), partner, now=work.now, policy=standing).allowed
                   and r["source"] != peer and r.get("via") != peer]  # never echo back
        for start in range(0, len(allowed), PUBLISH_CHUNK):
            part = allowed[start:start + PUBLISH_CHUNK]
            payload = {"reports": [wire(r, related.get(r["id"], [])) for r in part]}
            outbox.enqueue(work, recipient=peer, type=ITEM_REPORT, payload=payload, subject=SUBJECT)
        if allowed:
            queued[peer] = [r["id"] for r in allowed]
    return queued


def federated_peers(conn: Connection) -> list[str]:
    return [m for m in conn.execute(select(members.c.id).where(members.c.endpoint.is_not(None))
                                    .order_by(members.c.id)).scalars() if outbox.federated(conn, m)]


def wire(row: Mapping[str, Any], related: list[dict[str, Any]]) -> dict[str, Any]:
    """A report as sent to a peer: our report id (for feedback), the originator, its terms."""
    out = rows.export_row(row, related)
    out["id"] = str(row["id"])
    # How this node decided its offence, and when it last changed, are this node's business;
    # where the report came from (its author, its id and version there) travels with it.
    for k in ("report_id", "signal_id", "origin", "reported_at", "classified_by", "updated_at"):
        out.pop(k, None)
    out["value"] = row["value"]
    return out


def send_gate(work: Work, row: dict[str, Any], member: dict[str, Any]) -> Decision:
    """Re-decide at send time (a standing or an expiry may have changed since queueing)."""
    node_id = work.node.node_id
    partner = PartnerView.from_dict(member)
    ids = [int(r["id"]) for r in (row.get("payload") or {}).get("reports", []) if str(r.get("id", "")).isdigit()]
    decisions = [decide_signal(rows.view_of(r, node_id), partner, now=work.now, policy=work.policy.standing)
                 for r in rows.report_rows(work.conn, ids)]
    if not decisions:
        return Decision.of(())
    return decisions[0].merge(*decisions[1:])


def feedback_to_peers(work: Work, report_ids: Sequence[int], kind: str, count: int,
                      seen_at: datetime, note: str) -> list[str]:
    """Send a sighting or false positive to the peers the reports came from; their ids."""
    received = work.conn.execute(select(signal_reports.c.via, signal_reports.c.remote_id)
                                 .where(signal_reports.c.id.in_(list(report_ids)))
                                 .where(signal_reports.c.origin == "received")).all()
    sent = []
    for via, remote in received:
        if not via or not remote or not outbox.federated(work.conn, via):
            continue
        outbox.enqueue(work, recipient=via, type=ITEM_FEEDBACK, payload={
            "report_id": remote, "kind": kind, "count": count, "seen_at": isoformat(seen_at),
            "note": note})
        sent.append(via)
    return sorted(set(sent))


def ask_pull(work: Work, peer: str, since: int) -> str:
    """Queue a pull of the reports after ``since`` for ``peer``; the envelope id."""
    return outbox.enqueue(work, recipient=peer, type=ITEM_PULL, payload={"since": since}, subject=SUBJECT)
