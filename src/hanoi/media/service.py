"""The media wing's use cases for hash lists: lists, submission, distribution and withdrawal.

Ledger: one entry per submission batch (``media.submit``, listing the batch's digests), per
distribution (``media.distribute.gate`` with the gate's reasons, then ``media.distribute``), per
withdrawal batch. Distribution runs the gate (``hanoi.media.gate``): the recipient's standing and
the list's TLP (CLEAR / GREEN: any member; AMBER and AMBER+STRICT: only members named on the
list; RED: never distributed), and a received list is never passed on (onward transfer).
Withdrawals are not gated: they only ever tell a member to drop something it already has.
Matching, quarantine and feedback are in ``matching``.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select

from hanoi.core.bounds import is_bigint
from hanoi.core.clock import isoformat
from hanoi.core.errors import Conflict, NotFound, Problem, invalid
from hanoi.core.gate import Decision, GateRefused, Review
from hanoi.media import model, rows, send
from hanoi.node import members as members_service
from hanoi.node.runtime import Node, Work
from hanoi.store.tables import media_deliveries, media_hashes, media_lists


def create_list(node: Node, actor: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A new hash list of this node: ``{name, category, threshold=31, tlp=AMBER, recipients=[],
    spike_matches=500, spike_minutes=60}``."""
    if not isinstance(data, Mapping):
        raise invalid("body", "must be an object")
    settings = model.list_settings(data, None)
    list_id = f"ml-{node.now().strftime('%Y%m%d')}-{secrets.token_hex(4)}"
    with node.write(actor) as uow:
        for m in settings["recipients"]:
            members_service.get(uow.conn, m, "recipients", "register it first (hanoi members add)")
        uow.conn.execute(media_lists.insert().values(
            id=list_id, subscribers=[], origin=None, remote_id=None, created_by=actor,
            created_at=uow.now, updated_at=uow.now, **settings))
        uow.record("media.list.create", rows.list_subject(list_id), {"id": list_id, **settings})
    return show_list(node, list_id)


def update_list(node: Node, actor: str, list_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Change a list's name, threshold, TLP, named recipients or spike rule."""
    if not isinstance(data, Mapping) or not data:
        raise invalid("body", "give at least one setting to change")
    with node.write(actor) as uow:
        row = rows.get_list(uow.conn, list_id)
        settings = model.list_settings(data, row)
        for m in settings.get("recipients", []):
            members_service.get(uow.conn, m, "recipients", "register it first (hanoi members add)")
        uow.conn.execute(media_lists.update().where(media_lists.c.id == list_id)
                         .values(updated_at=uow.now, **settings))
        uow.record("media.list.update", rows.list_subject(list_id), {"id": list_id, **settings})
    return show_list(node, list_id)


def show_list(node: Node, list_id: str) -> dict[str, Any]:
    with node.read() as conn:
        row = rows.get_list(conn, list_id)
        counts: dict[str, int] = dict(conn.execute(select(media_hashes.c.status, func.count())
                                   .where(media_hashes.c.list_id == list_id)
                                   .group_by(media_hashes.c.status)).all())
    return rows.list_public(row, counts)


def list_lists(node: Node) -> list[dict[str, Any]]:
    with node.read() as conn:
        hash_rows = conn.execute(select(media_lists).order_by(media_lists.c.created_at,
                                                         media_lists.c.id)).mappings().all()
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for lid, status, n in conn.execute(
                select(media_hashes.c.list_id, media_hashes.c.status, func.count())
                .group_by(media_hashes.c.list_id, media_hashes.c.status)).all():
            counts[lid][status] = n
    return [rows.list_public(dict(r), counts.get(r["id"], {})) for r in hash_rows]


def list_hashes(node: Node, list_id: str, *, status: str | None = None,
                case_ref: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    if status is not None and status not in model.STATUSES:
        raise invalid("status", f"{status!r} is not one of: {', '.join(model.STATUSES)}")
    with node.read() as conn:
        rows.get_list(conn, list_id)
        q = select(media_hashes).where(media_hashes.c.list_id == list_id)
        if status:
            q = q.where(media_hashes.c.status == status)
        if case_ref:
            q = q.where(media_hashes.c.case_ref == case_ref)
        hash_rows = conn.execute(q.order_by(media_hashes.c.id).limit(limit)).mappings().all()
    return [rows.hash_public(dict(r)) for r in hash_rows]


def show_hash(node: Node, hash_id: int) -> dict[str, Any]:
    with node.read() as conn:
        row = rows.by_id(conn, [hash_id]).get(hash_id)
        if row is None:
            raise NotFound(f"no hash {hash_id}", "hash_id")
        deliveries = conn.execute(select(media_deliveries).where(
            media_deliveries.c.hash_id == hash_id).order_by(media_deliveries.c.id)).mappings().all()
    out = rows.hash_public(row)
    out["deliveries"] = [{"recipient": d["recipient"], "delivered_at": isoformat(d["delivered_at"]),
                          "withdrawn_at": isoformat(d["withdrawn_at"]) if d["withdrawn_at"] else None}
                         for d in deliveries]
    return out


def submit(node: Node, actor: str, list_id: str, items: object, *,
           case_ref: str | None = None) -> dict[str, Any]:
    """Add hashes to one of this node's lists, all or nothing, and pass the new ones to the
    list's subscribers (each through the gate). ``case_ref`` is the default for items without
    one. Refused: malformed values, PDQ quality below 50, degenerate hashes, more than 10,000,
    and any hash withdrawn or deleted on this node before."""
    parsed = model.parse_items(items, case_ref)
    with node.write(actor) as uow:
        lst = rows.get_list(uow.conn, list_id)
        if lst["origin"] is not None:
            raise Conflict(f"list {list_id} was received from {lst['origin']}: only its source "
                           "adds hashes to it", [Problem("list_id", "is a received list")])
        rows.refuse_gone(uow.conn, parsed)
        listed = {r["digest"] for r in rows.by_digest(uow.conn, [h.digest for h in parsed])
                  if r["list_id"] == list_id}
        new = [h for h in parsed if h.digest not in listed]
        ids: list[int] = []
        if new:
            rev = rows.bump(uow)
            ids = rows.insert_hashes(uow, list_id, new, source=node.node_id, rev=rev)
        uow.record("media.submit", rows.list_subject(list_id), {
            "list_id": list_id, "stored": len(new), "already_listed": len(parsed) - len(new),
            "digests": sorted(h.digest for h in new),
            "case_refs": sorted({h.case_ref for h in new if h.case_ref}),
        })
        distributed: dict[str, Any] = {}
        if ids:
            for member_id in lst["subscribers"]:
                res = send.distribute_in(uow, lst, member_id, None, ids)
                distributed[member_id] = {"outcome": res["decision"].outcome,
                                          "sent": res["sent"]}
    return {"list_id": list_id, "stored": len(new), "already_listed": len(parsed) - len(new),
            "hash_ids": ids, "distributed": distributed}


def distribute(node: Node, actor: str, list_id: str, recipient: str,
               review: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Pass one of this node's lists to a member through the gate and the outbox; the member
    then also receives every hash added later. The gate's decision is ledgered even when it
    refuses (``GateRefused``: 403 deny, 409 review needed)."""
    rv = Review.from_dict(review) if review else None
    with node.write(actor) as uow:
        lst = rows.get_list(uow.conn, list_id)
        result = send.distribute_in(uow, lst, recipient, rv, None)
    decision: Decision = result["decision"]
    if not decision.allowed:
        raise GateRefused(decision, f"distributing list {list_id} to {recipient}")
    return {"list_id": list_id, "recipient": recipient, "sent": result["sent"],
            "envelopes": result["envelopes"], "decision": decision.as_dict()}


def drop(work: Work, hashes: Sequence[Mapping[str, Any]], status: str, reason: str,
         *, propagate: bool) -> dict[str, int]:
    """Set ``status`` (withdrawn / deleted) on hashes, blank their values, and (``propagate``)
    tell every member that received one of them to drop it too. Returns {recipient: hashes told}."""
    if not hashes:
        return {}
    rev = rows.bump(work)
    ids = [int(r["id"]) for r in hashes]
    for part in rows.chunks(ids):
        work.conn.execute(media_hashes.update().where(media_hashes.c.id.in_(part)).values(
            status=status, value=None, status_at=work.now, status_by=work.actor,
            status_reason=reason or None, rev=rev))
    return send.tell_withdrawal(work, ids, status, reason) if propagate else {}


def withdraw(node: Node, actor: str, *, hash_ids: Sequence[int] | None = None,
             list_id: str | None = None, case_ref: str | None = None,
             status: str = model.WITHDRAWN, reason: str = "") -> dict[str, Any]:
    """Withdraw or delete hashes of this node (by id, or every hash of a case in a list), and
    propagate to every member that received them, who must drop them (StopNCII semantics).
    Withdrawal is not gated: it only ever tells a member to drop what it holds."""
    if status not in model.GONE:
        raise invalid("status", f"{status!r} is not one of: {', '.join(model.GONE)}")
    if not isinstance(reason, str) or len(reason) > 500:
        raise invalid("reason", "at most 500 characters")
    if hash_ids is None and not (list_id and case_ref):
        raise invalid("hash_ids", "give hash ids, or a list id and a case reference")
    with node.write(actor) as uow:
        if hash_ids is not None:
            if not isinstance(hash_ids, list | tuple) or not hash_ids or \
                    not all(is_bigint(h) for h in hash_ids):
                raise invalid("hash_ids", "must be a non-empty list of hash ids")
            if len(hash_ids) > model.MAX_BATCH:
                raise invalid("hash_ids", f"at most {model.MAX_BATCH:,} per call", "MEDIA-BATCH")
            found = rows.by_id(uow.conn, sorted(set(hash_ids)))
            missing = sorted(set(hash_ids) - set(found))
            if missing:
                raise NotFound(f"no hash with id {', '.join(map(str, missing[:10]))}", "hash_ids")
            hash_rows = list(found.values())
        else:
            assert list_id is not None
            rows.get_list(uow.conn, list_id)
            ref = model.check_case_ref(case_ref)
            hash_rows = [dict(r) for r in uow.conn.execute(select(media_hashes, media_lists.c.origin)
                    .join(media_lists, media_lists.c.id == media_hashes.c.list_id).where(
                        (media_hashes.c.list_id == list_id)
                        & (media_hashes.c.case_ref == ref))).mappings()]
            if not hash_rows:
                raise NotFound(f"no hash of case {ref!r} in list {list_id}", "case_ref")
        foreign = sorted({r["list_id"] for r in hash_rows if r["origin"] is not None})
        if foreign:
            raise Conflict("only a hash's source withdraws it; received lists: "
                           + ", ".join(foreign), [Problem("hash_ids", "includes received hashes")])
        todo = [r for r in hash_rows if r["status"] != status and r["status"] != model.DELETED]
        told = drop(uow, todo, status, reason, propagate=True)
        uow.record(f"media.{'delete' if status == model.DELETED else 'withdraw'}", "media:withdraw", {
            "status": status, "reason": reason, "count": len(todo),
            "digests": sorted(r["digest"] for r in todo), "told": told},
            reasons=[{"code": "MEDIA-WITHDRAWN"}])
    return {"status": status, "changed": len(todo), "unchanged": len(hash_rows) - len(todo),
            "told": told}
