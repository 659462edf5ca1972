"""What the media wing sends to members, and its gates at the moment of sending.

- ``media.hashes``: ``{list: {ref, name, category, threshold, tlp, spike_matches,
  spike_minutes}, hashes: [{ref, algorithm, value, quality}]}``, at most 2,000 hashes each;
  queued by ``distribute_in`` after the distribution gate (``hanoi.media.gate``), and gated
  again when it leaves (``hashes_send_gate``: a recipient removed from the named ones after the
  item was queued gets nothing);
- ``media.withdraw``: ``{status, reason, refs: [...]}`` sent to every member that received one
  of the hashes (``media_deliveries`` records who received what); never held, since it only
  tells a member to drop what it holds;
- ``media.feedback``: ``{items: [{hash_ref, verdict, match_ref, distance, count}]}`` back to the
  source of a received hash (the standing gate).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import select

from hanoi.core.gate import Decision, PartnerView, Reason, Review, standing_reasons
from hanoi.core.tlp import TLP
from hanoi.media import model, rows
from hanoi.media.gate import decide_distribution, tlp_reasons
from hanoi.node import members as members_service
from hanoi.node import outbox
from hanoi.node.runtime import Work
from hanoi.store.tables import media_deliveries, media_hashes, media_lists

ENVELOPE_HASHES: Final = 2_000  # hashes per media.hashes item (well under the envelope limit)
ENVELOPE_REFS: Final = 5_000  # refs per media.withdraw / media.feedback item
ITEM_HASHES: Final = "media.hashes"
ITEM_WITHDRAW: Final = "media.withdraw"
ITEM_FEEDBACK: Final = "media.feedback"


def list_payload(lst: Mapping[str, Any]) -> dict[str, Any]:
    return {"ref": lst["id"], "name": lst["name"], "category": lst["category"],
            "threshold": lst["threshold"], "tlp": lst["tlp"],
            "spike_matches": lst["spike_matches"], "spike_minutes": lst["spike_minutes"]}


def distribute_in(work: Work, lst: Mapping[str, Any], recipient: str,
                  review: Review | None, only_ids: Sequence[int] | None) -> dict[str, Any]:
    """Gate, ledger the decision, and if allowed queue every active hash of the list the
    recipient has not received (or only ``only_ids``)."""
    member = members_service.get(work.conn, recipient, "recipient", "register it first (hanoi members add)")
    decision = decide_distribution(lst, member, work.policy.standing, review)
    work.record("media.distribute.gate", rows.list_subject(lst["id"]),
                {"recipient": recipient, **decision.as_dict()},
                decision=decision.outcome, reasons=[r.as_dict() for r in decision.reasons])
    if not decision.allowed:
        return {"decision": decision, "sent": 0, "envelopes": []}
    delivered = select(media_deliveries.c.hash_id).where(media_deliveries.c.recipient == recipient)
    q = (select(media_hashes.c.id, media_hashes.c.algorithm, media_hashes.c.value,
                media_hashes.c.quality, media_hashes.c.digest)
         .where((media_hashes.c.list_id == lst["id"]) & (media_hashes.c.status == model.ACTIVE)
                & media_hashes.c.id.not_in(delivered))
         .order_by(media_hashes.c.id))
    todo = work.conn.execute(q).all()
    if only_ids is not None:
        wanted = set(only_ids)
        todo = [r for r in todo if r.id in wanted]
    envelopes = []
    for part in rows.chunks(todo, ENVELOPE_HASHES):
        payload = {"list": list_payload(lst), "hashes": [
            {"ref": str(r.id), "algorithm": r.algorithm, "value": r.value, "quality": r.quality}
            for r in part]}
        env_id = outbox.enqueue(work, recipient=recipient, type=ITEM_HASHES, payload=payload,
                                subject=rows.list_subject(lst["id"]))
        envelopes.append(env_id)
        work.conn.execute(media_deliveries.insert(), [
            {"hash_id": r.id, "recipient": recipient, "envelope_id": env_id,
             "delivered_at": work.now, "withdrawn_at": None} for r in part])
    if recipient not in lst["subscribers"]:
        subs = sorted({*lst["subscribers"], recipient})
        work.conn.execute(media_lists.update().where(media_lists.c.id == lst["id"])
                          .values(subscribers=subs, updated_at=work.now))
    work.record("media.distribute", rows.list_subject(lst["id"]), {
        "recipient": recipient, "sent": len(todo), "envelopes": envelopes,
        "digests": sorted(r.digest for r in todo)})
    return {"decision": decision, "sent": len(todo), "envelopes": envelopes}


def tell_withdrawal(work: Work, hash_ids: Sequence[int], status: str, reason: str) -> dict[str, int]:
    """Tell every member that received one of these hashes to drop it; {recipient: hashes told}."""
    by_recipient: dict[str, list[int]] = defaultdict(list)
    for part in rows.chunks(list(hash_ids)):
        for hid, rcpt in work.conn.execute(
                select(media_deliveries.c.hash_id, media_deliveries.c.recipient).where(
                    media_deliveries.c.hash_id.in_(part)
                    & media_deliveries.c.withdrawn_at.is_(None))).all():
            by_recipient[rcpt].append(int(hid))
    told: dict[str, int] = {}
    for rcpt, hids in sorted(by_recipient.items()):
        for part in rows.chunks(sorted(hids), ENVELOPE_REFS):
            outbox.enqueue(work, recipient=rcpt, type=ITEM_WITHDRAW, subject="media:withdraw",
                           payload={"status": status, "reason": reason, "refs": [str(h) for h in part]})
        for part in rows.chunks(hids):
            work.conn.execute(media_deliveries.update().where(
                (media_deliveries.c.recipient == rcpt)
                & media_deliveries.c.hash_id.in_(part)).values(withdrawn_at=work.now))
        told[rcpt] = len(hids)
    return told


def tell_sources(work: Work, items: Sequence[Mapping[str, Any]],
                 hashes: Mapping[int, Mapping[str, Any]]) -> dict[str, str]:
    """Send verdicts on received hashes back to the member each came from (``hashes``: the
    rows of the hashes the items name, by id)."""
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        r = hashes[it["hash_id"]]
        if r["origin"] is None or not r["remote_id"]:
            continue
        by_source[r["source"]].append({
            "hash_ref": r["remote_id"], "verdict": it["verdict"], "match_ref": it["match_ref"],
            "distance": it["distance"], "count": it["count"]})
    sent: dict[str, str] = {}
    for source, its in sorted(by_source.items()):
        for part in rows.chunks(its, ENVELOPE_REFS):
            sent[source] = outbox.enqueue(work, recipient=source, type=ITEM_FEEDBACK,
                                          payload={"items": list(part)}, subject="media:feedback")
    return sent


def hashes_send_gate(work: Work, row: Mapping[str, Any], member: Mapping[str, Any]) -> Decision:
    """At send time, again: the recipient's standing and the list's TLP (a recipient removed
    from the named ones after the item was queued gets nothing)."""
    reasons = standing_reasons(PartnerView.from_dict(member), work.policy.standing)
    payload = row.get("payload") or {}
    ref = payload.get("list", {}).get("ref") if isinstance(payload, Mapping) else None
    lst = work.conn.execute(select(media_lists.c.tlp, media_lists.c.recipients).where(
        (media_lists.c.id == ref) & media_lists.c.origin.is_(None))).first() if ref else None
    if lst is None:
        reasons.append(Reason("GATE-ONWARD-TRANSFER", "deny", f"list {ref!r} is not a list of this node"))
    else:
        reasons += tlp_reasons(TLP(lst.tlp), str(member["id"]), lst.recipients)
    return Decision.of(reasons)


def withdraw_send_gate(work: Work, row: Mapping[str, Any], member: Mapping[str, Any]) -> Decision:
    """A withdrawal only tells a member to drop what it holds: it goes whatever the member's
    standing (a suspended member must still drop the hash)."""
    return Decision.of(())
