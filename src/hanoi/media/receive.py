"""What the media wing applies from members: hashes of their lists (mirrored as received
lists), withdrawals of hashes they sent (dropped here), and feedback on matches of hashes we
sent them. Each handler runs inside the inbox's unit of work; a malformed item is refused whole.
Ledgered as ``media.receive``, ``media.withdraw.received``, ``media.feedback.received``."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from hanoi.core.errors import InvalidInput, NotFound, Problem
from hanoi.federation.envelope import Envelope
from hanoi.media import model, rows, service
from hanoi.node.runtime import Work
from hanoi.store.tables import media_deliveries, media_feedback, media_hashes, media_lists


def _malformed(detail: str, problems: list[Problem]) -> InvalidInput:
    return InvalidInput(detail, problems, "FED-ITEM-INVALID")


def on_hashes(uow: Work, env: Envelope, sender: Mapping[str, Any]) -> dict[str, Any]:
    """A member sends hashes of one of its lists: mirror the list, store the hashes. A
    malformed item is refused whole; a hash withdrawn here before is refused (and named in the
    result) while the rest are stored."""
    p = env.payload if isinstance(env.payload, Mapping) else {}
    lp, items = p.get("list"), p.get("hashes")
    if not isinstance(lp, Mapping) or not isinstance(lp.get("ref"), str) or not lp["ref"]:
        raise _malformed("media.hashes names no list", [Problem("payload.list.ref", "is required")])
    if not isinstance(items, list) or len(items) > model.MAX_BATCH:
        raise _malformed("media.hashes carries no hashes",
                         [Problem("payload.hashes", f"must be a list of at most {model.MAX_BATCH:,}")])
    settings = {k: lp.get(k) for k in ("name", "category", "threshold", "tlp", "spike_matches",
                                        "spike_minutes")}
    try:
        settings = model.list_settings({k: v for k, v in settings.items() if v is not None}, None)
    except InvalidInput as err:
        raise _malformed("media.hashes: the list is not valid",
                         [Problem(f"payload.list.{q.field}", q.message) for q in err.problems]) \
            from None
    refs = [it.get("ref") if isinstance(it, Mapping) else None for it in items]
    bad = [i for i, r in enumerate(refs) if not isinstance(r, str) or not r]
    if bad:
        raise _malformed("media.hashes: every hash needs its ref",
                         [Problem(f"payload.hashes[{bad[0]}].ref", "is required")])
    try:
        # Only the hash itself is taken from a peer (a case reference stays with its source).
        parsed = model.parse_items([{k: v for k, v in it.items() if k in ("algorithm", "value",
                                                                    "quality")}
                              for it in items], require_case_ref=False)
    except InvalidInput as err:
        raise _malformed(f"media.hashes: {err.detail}",
                         [Problem(f"payload.{q.field}", q.message, q.rule) for q in err.problems]) \
            from None
    ref_of = {h.digest: str(refs[h.index]) for h in parsed}
    sender_id = str(sender["id"])
    lst = uow.conn.execute(select(media_lists).where(
        (media_lists.c.origin == sender_id) & (media_lists.c.remote_id == lp["ref"]))
    ).mappings().first()
    if lst is None:
        list_id = f"ml-{uow.now.strftime('%Y%m%d')}-{secrets.token_hex(4)}"
        uow.conn.execute(media_lists.insert().values(
            id=list_id, subscribers=[], origin=sender_id, remote_id=lp["ref"],
            created_by=f"peer:{sender_id}", created_at=uow.now, updated_at=uow.now, **settings))
    else:
        list_id = lst["id"]
        uow.conn.execute(media_lists.update().where(media_lists.c.id == list_id).values(
            name=settings["name"], tlp=settings["tlp"], updated_at=uow.now))
    existing = rows.by_digest(uow.conn, [h.digest for h in parsed])
    gone = {r["digest"]: r for r in existing if r["status"] in model.GONE}
    listed = {r["digest"] for r in existing if r["list_id"] == list_id}
    refused = [{"ref": ref_of[h.digest], "reason": f"withdrawn by {gone[h.digest]['source']}: "
                "a withdrawn hash is not listed again", "rule": "MEDIA-WITHDRAWN"}
               for h in parsed if h.digest in gone]
    new = [h for h in parsed if h.digest not in gone and h.digest not in listed]
    if new:
        rows.insert_hashes(uow, list_id, new, source=sender_id, rev=rows.bump(uow), refs=ref_of)
    uow.record("media.receive", rows.list_subject(list_id), {
        "from": sender_id, "list_ref": lp["ref"], "envelope": env.id,
        "stored": len(new), "already_listed": len(parsed) - len(new) - len(refused),
        "refused": refused, "digests": sorted(h.digest for h in new)},
        reasons=[{"code": "MEDIA-WITHDRAWN", "detail": f"{len(refused)} refused"}] if refused else [])
    return {"subject": rows.list_subject(list_id), "list_id": list_id, "stored": len(new),
            "refused": refused}


def on_withdraw(uow: Work, env: Envelope, sender: Mapping[str, Any]) -> dict[str, Any]:
    """The source of hashes withdrew or deleted them: drop them here."""
    p = env.payload if isinstance(env.payload, Mapping) else {}
    status, refs = p.get("status"), p.get("refs")
    if status not in model.GONE:
        raise _malformed("media.withdraw: unknown status",
                         [Problem("payload.status", f"must be one of: {', '.join(model.GONE)}")])
    if not isinstance(refs, list) or not refs or len(refs) > model.MAX_BATCH \
            or not all(isinstance(r, str) for r in refs):
        raise _malformed("media.withdraw names no hashes",
                         [Problem("payload.refs", "must be a list of hash refs")])
    sender_id = str(sender["id"])
    hash_rows: list[dict[str, Any]] = []
    for part in rows.chunks(sorted(set(refs))):
        hash_rows += [dict(r) for r in uow.conn.execute(select(media_hashes).where(
            (media_hashes.c.source == sender_id) & media_hashes.c.remote_id.in_(part)))
            .mappings()]
    todo = [r for r in hash_rows if r["status"] != status and r["status"] != model.DELETED]
    reason = p.get("reason") if isinstance(p.get("reason"), str) else ""
    service.drop(uow, todo, status, f"{status} by its source {sender_id}" +
          (f": {reason[:400]}" if reason else ""), propagate=False)
    uow.record("media.withdraw.received", "media:withdraw", {
        "from": sender_id, "status": status, "envelope": env.id,
        "changed": len(todo), "unknown": len(set(refs)) - len({r["remote_id"] for r in hash_rows}),
        "digests": sorted(r["digest"] for r in todo)}, reasons=[{"code": "MEDIA-WITHDRAWN"}])
    return {"subject": "media:withdraw", "changed": len(todo)}


def on_feedback(uow: Work, env: Envelope, sender: Mapping[str, Any]) -> dict[str, Any]:
    """A member reports on matches of hashes we sent it."""
    p = env.payload if isinstance(env.payload, Mapping) else {}
    items = p.get("items")
    if not isinstance(items, list) or not items or len(items) > model.MAX_BATCH:
        raise _malformed("media.feedback carries no items",
                         [Problem("payload.items", "must be a non-empty list")])
    problems: list[Problem] = []
    parsed: list[tuple[int, dict[str, Any]]] = []
    for i, it in enumerate(items):
        ref = it.get("hash_ref") if isinstance(it, Mapping) else None
        if not isinstance(ref, str) or not ref.isdigit():
            problems.append(Problem(f"payload.items[{i}].hash_ref", "must be a hash ref we sent"))
            continue
        if it.get("verdict") not in model.PEER_VERDICTS:
            problems.append(Problem(f"payload.items[{i}].verdict",
                                    f"must be one of: {', '.join(model.PEER_VERDICTS)}"))
            continue
        parsed.append((int(ref), dict(it)))
    if problems:
        raise _malformed("media.feedback is not valid", problems)
    sender_id = str(sender["id"])
    ids = sorted({h for h, _ in parsed})
    delivered = {int(h) for part in rows.chunks(ids) for h in uow.conn.execute(
        select(media_deliveries.c.hash_id).where(
            (media_deliveries.c.recipient == sender_id)
            & media_deliveries.c.hash_id.in_(part))).scalars()}
    unknown = sorted(set(ids) - delivered)
    if unknown:
        raise NotFound(f"hash {', '.join(map(str, unknown[:10]))} was never sent to {sender_id}",
                       "payload.items.hash_ref")

    def _opt_int(v: Any) -> int | None:
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    uow.conn.execute(media_feedback.insert(), [
        {"hash_id": h, "match_id": None,
         "match_ref": str(it.get("match_ref"))[:64] if it.get("match_ref") is not None else None,
         "verdict": it["verdict"], "distance": _opt_int(it.get("distance")),
         "count": _opt_int(it.get("count")), "reporter": f"peer:{sender_id}",
         "member_id": sender_id, "envelope_id": env.id,
         "created_at": uow.now} for h, it in parsed])
    uow.record("media.feedback.received", "media:feedback", {
        "from": sender_id, "envelope": env.id,
        "items": [{"hash_id": h, "verdict": it["verdict"]} for h, it in parsed]})
    return {"subject": "media:feedback", "recorded": len(parsed)}
