"""Matching uploads against the node's hash lists, quarantine when matches spike, and
feedback on matches.

``match`` takes up to 10,000 hashes: MD5 / SHA-256 exactly (a database lookup), PDQ within each
list's threshold through one batched ``PdqIndex.search`` of the node's index (``read_model``;
dihedral queries: groups of 8, the distance being the least over the 8). Every match is
re-checked against the store's row (status and list threshold), so results equal a brute-force
scan of the store exactly. With matches, one ledger entry (``media.match``) records which hashes
matched, never the queries.

A hash that matched more than ``spike_matches`` times within ``spike_minutes`` (per list) is
quarantined in the same transaction: excluded from matching until an analyst releases or
withdraws it (``review``), and the matches of that call are flagged ``quarantined`` so a platform
does not act on them. Verdicts on matches (``feedback``) on received hashes flow back to their
source.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select

from hanoi.core import digests
from hanoi.core.bounds import is_bigint
from hanoi.core.clock import isoformat
from hanoi.core.errors import Conflict, InvalidInput, NotFound, Problem, invalid
from hanoi.media import model, read_model, rows, send, service
from hanoi.media.algorithms import ALGORITHMS, EXACT, Pdq
from hanoi.media.index import hex_to_words
from hanoi.node.runtime import Node, Work
from hanoi.store.tables import media_feedback, media_hashes, media_lists, media_matches


def _exact_values(values: Any, algo: str, problems: list[Problem]) -> list[str]:
    """Query values of an exact algorithm, checked for shape only: a query about an empty file
    is answered (nothing matches it), not refused."""
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        problems.append(Problem(algo, "must be a list of hex strings"))
        return []
    kind = ALGORITHMS[algo]
    n = digests.LENGTHS[algo]
    out = []
    for i, v in enumerate(values):
        try:
            out.append(digests.parse_hex(v, f"{algo}[{i}]", n, kind.label))
        except InvalidInput:
            if len(problems) < 20:
                problems.append(Problem(f"{algo}[{i}]", f"must be {n} hex digits (0-9, a-f)"))
            else:
                problems.append(Problem(algo, "(more malformed values)"))
            out.append("")
    return out


def _pdq_words(values: Any, field: str, problems: list[Problem]) -> np.ndarray | None:
    if values is None:
        return None
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        problems.append(Problem(field, "must be a list of 64-hex-digit PDQ hashes"))
        return None
    try:
        return hex_to_words([v.strip() for v in values], field)  # one vectorised parse
    except InvalidInput as err:
        problems.extend(Problem(p.field, f"{p.message} (0-9, a-f)") for p in err.problems)
        return None


def match(node: Node, actor: str, *, member_id: str | None = None, record: bool = True,
          **queries: Any) -> dict[str, Any]:
    """Match up to 10,000 hashes against every active hash of the node.

    ``queries`` are lists by query field (``model.QUERY_FIELDS``): one per algorithm (``pdq``,
    ``md5``, ``sha256``), and ``dihedral``, groups of the 8 dihedral PDQ hashes of one image.
    Each match: ``{algorithm, query, hash_id, list_id, list, category, source, distance,
    match_id, quarantined}`` where ``query`` indexes the caller's own list of that field.
    With matches, one ledger entry records which hashes matched (not the queries), and the
    spike rule may quarantine a hash.
    """
    problems: list[Problem] = []
    unknown = sorted(set(queries) - set(model.QUERY_FIELDS))
    if unknown:
        raise invalid(unknown[0], f"is not a query field ({', '.join(model.QUERY_FIELDS)})")
    counts = {}
    for name in model.QUERY_FIELDS:
        vals = queries.get(name)
        if vals is not None and not isinstance(vals, list | tuple):
            problems.append(Problem(name, "must be a list"))
            vals = None
        counts[name] = len(vals) if vals is not None else 0
    total = sum(counts.values())
    if problems:
        raise InvalidInput("the query is not valid", problems)
    if total == 0:
        raise invalid("hashes", f"give at least one hash ({', '.join(model.QUERY_FIELDS)})")
    if total > model.MAX_BATCH:
        raise invalid("hashes", f"at most {model.MAX_BATCH:,} hashes per call, got {total:,}",
                      "MEDIA-BATCH")
    pdq, dihedral = queries.get(Pdq.name), queries.get(model.DIHEDRAL)
    qw = _pdq_words(list(pdq), Pdq.name, problems) if pdq else None
    dw = None
    if dihedral:
        groups = list(dihedral)
        bad = next((i for i, g in enumerate(groups)
                    if not isinstance(g, list | tuple) or len(g) != 8), None)
        if bad is not None:
            problems.append(Problem(f"{model.DIHEDRAL}[{bad}]", "must be the 8 dihedral PDQ hashes of "
                                                                "one image"))
        else:
            dw = _pdq_words([h for g in groups for h in g], model.DIHEDRAL, problems)
    exact = {algo: _exact_values(queries.get(algo), algo, problems) for algo in EXACT}
    if problems:
        raise InvalidInput(f"{len(problems)} malformed hash(es); nothing was matched", problems)

    found: list[dict[str, Any]] = []  # {algorithm, query, hash_id, distance}
    if qw is not None or dw is not None:
        mi = read_model.index_for(node)
        with node.read() as conn:
            tmax = conn.execute(select(func.max(media_lists.c.threshold))).scalar()
        t = int(tmax) if tmax is not None else model.DEFAULT_THRESHOLD
        with mi.lock:
            if qw is not None:
                m = mi.index.search(qw, t)
                found += [{"algorithm": Pdq.name, "query": q, "hash_id": i, "distance": d}
                          for q, i, d in m.as_tuples()]
            if dw is not None:
                m = mi.index.search_dihedral(dw, t)
                found += [{"algorithm": model.DIHEDRAL, "query": q, "hash_id": i, "distance": d}
                          for q, i, d in m.as_tuples()]
    with node.read() as conn:
        for algo, values in exact.items():
            if not values:
                continue
            where: dict[str, list[int]] = defaultdict(list)
            for i, v in enumerate(values):
                where[v].append(i)
            keys = list(where)
            for part in rows.chunks(keys):
                for hid, value in conn.execute(select(media_hashes.c.id, media_hashes.c.value).where(
                        (media_hashes.c.algorithm == algo) & media_hashes.c.value.in_(part)
                        & (media_hashes.c.status == model.ACTIVE))).all():
                    found += [{"algorithm": algo, "query": q, "hash_id": int(hid), "distance": 0}
                              for q in where[value]]
        hash_rows = rows.by_id(conn, sorted({f["hash_id"] for f in found}))
    # The store decides: the row must still be active and within its list's threshold.
    found = [f for f in found if (r := hash_rows.get(f["hash_id"])) is not None
             and r["status"] == model.ACTIVE and f["distance"] <= r["threshold"]]
    order = {a: i for i, a in enumerate(model.QUERY_FIELDS)}
    found.sort(key=lambda f: (order[f["algorithm"]], f["query"], f["distance"], f["hash_id"]))
    quarantined: list[int] = []
    match_ids: dict[int, int] = {}
    if found and record:
        match_ids, quarantined = _record_matches(node, actor, found, hash_rows, member_id, total)
    qset = set(quarantined)
    out = []
    for f in found:
        r = hash_rows[f["hash_id"]]
        out.append({**f, "list_id": r["list_id"], "list": r["list_name"],
                    "category": r["category"], "source": r["source"],
                    "match_id": match_ids.get(f["hash_id"]), "quarantined": f["hash_id"] in qset})
    matched_queries = len({(f["algorithm"], f["query"]) for f in found})
    return {"queries": counts, "matched_queries": matched_queries, "matches": out,
            "quarantined": quarantined}


def _record_matches(node: Node, actor: str, found: Sequence[Mapping[str, Any]],
                    hash_rows: Mapping[int, Mapping[str, Any]], member_id: str | None,
                    total: int) -> tuple[dict[int, int], list[int]]:
    per_hash: dict[int, list[int]] = defaultdict(list)
    for f in found:
        per_hash[f["hash_id"]].append(f["distance"])
    match_ids: dict[int, int] = {}
    with node.write(actor) as uow:
        for hid, dists in sorted(per_hash.items()):
            res = uow.conn.execute(media_matches.insert().values(
                hash_id=hid, count=len(dists), distance=min(dists), matched_at=uow.now,
                actor=actor, member_id=member_id))
            pk = res.inserted_primary_key
            assert pk is not None
            match_ids[hid] = int(pk[0])
        uow.record("media.match", "media:match", {
            "queries": total, "member_id": member_id,
            "matches": [{"hash_id": h, "match_id": match_ids[h], "count": len(d),
                         "distance": min(d)} for h, d in sorted(per_hash.items())]})
        quarantined = _spike_check(uow, sorted(per_hash), hash_rows)
    return match_ids, quarantined


def _spike_check(uow: Work, hash_ids: Sequence[int],
                 hash_rows: Mapping[int, Mapping[str, Any]]) -> list[int]:
    """Quarantine each hash matched more than ``spike_matches`` times within ``spike_minutes``
    of its list (counting from its last release)."""
    longest = max(int(hash_rows[h]["spike_minutes"]) for h in hash_ids)
    since = uow.now - timedelta(minutes=longest)
    totals: dict[int, int] = defaultdict(int)
    for part in rows.chunks(list(hash_ids)):
        for hid, at, n in uow.conn.execute(
                select(media_matches.c.hash_id, media_matches.c.matched_at, media_matches.c.count)
                .where(media_matches.c.hash_id.in_(part) & (media_matches.c.matched_at >= since))):
            r = hash_rows[int(hid)]
            cutoff = max(uow.now - timedelta(minutes=int(r["spike_minutes"])), r["status_at"])
            if at >= cutoff:
                totals[int(hid)] += int(n)
    spiked = [h for h in hash_ids if totals[h] > int(hash_rows[h]["spike_matches"])]
    if not spiked:
        return []
    rev = rows.bump(uow)
    for part in rows.chunks(spiked):
        uow.conn.execute(media_hashes.update().where(
            media_hashes.c.id.in_(part) & (media_hashes.c.status == model.ACTIVE)).values(
            status=model.QUARANTINED, status_at=uow.now, status_by="system:spike-rule", rev=rev,
            status_reason="matches spiked"))
    details = [{"hash_id": h, "matches": totals[h], "spike_matches": hash_rows[h]["spike_matches"],
                "spike_minutes": hash_rows[h]["spike_minutes"], "digest": hash_rows[h]["digest"]}
               for h in spiked]
    uow.record("media.quarantine", "media:quarantine", {"hashes": details}, decision="review",
               reasons=[{"code": "MEDIA-QUARANTINE", "detail": f"hash {d['hash_id']}: "
                         f"{d['matches']} matches within {d['spike_minutes']} minutes "
                         f"(more than {d['spike_matches']})"} for d in details],
               actor="system:spike-rule")
    send.tell_sources(uow, [{"hash_id": d["hash_id"], "verdict": model.QUARANTINED,
                         "count": d["matches"], "distance": None, "match_ref": None}
                        for d in details], hash_rows)
    return spiked


def review(node: Node, actor: str, hash_id: int, decision: str, note: str = "") -> dict[str, Any]:
    """A person's review of a quarantined hash: ``release`` (matched again; the spike window
    restarts) or ``withdraw`` (a hash of ours is withdrawn everywhere; a received one is dropped
    here)."""
    if decision not in model.REVIEW_DECISIONS:
        raise invalid("decision", f"{decision!r} is not one of: {', '.join(model.REVIEW_DECISIONS)}")
    if not isinstance(note, str) or len(note) > 500:
        raise invalid("note", "at most 500 characters")
    with node.write(actor) as uow:
        row = rows.by_id(uow.conn, [hash_id]).get(hash_id)
        if row is None:
            raise NotFound(f"no hash {hash_id}", "hash_id")
        if row["status"] != model.QUARANTINED:
            raise Conflict(f"hash {hash_id} is {row['status']}, not quarantined: nothing to "
                           "review", [Problem("hash_id", f"is {row['status']}")],
                           "MEDIA-QUARANTINE")
        if decision == "release":
            rev = rows.bump(uow)
            uow.conn.execute(media_hashes.update().where(media_hashes.c.id == hash_id).values(
                status=model.ACTIVE, status_at=uow.now, status_by=actor, status_reason=note or None,
                rev=rev))
            told: dict[str, int] = {}
        else:
            told = service.drop(uow, [row], model.WITHDRAWN, note or "withdrawn after review",
                         propagate=row["origin"] is None)
        uow.record("media.review", rows.hash_subject(hash_id),
                   {"hash_id": hash_id, "decision": decision, "note": note,
                    "digest": row["digest"], "told": told},
                   decision="allow" if decision == "release" else "deny",
                   reasons=[{"code": "MEDIA-QUARANTINE", "detail": f"reviewed by {actor}"}])
    return service.show_hash(node, hash_id)


def feedback(node: Node, actor: str, items: object, *,
             member_id: str | None = None) -> dict[str, Any]:
    """Verdicts on matches (``[{match_id, verdict}]``, verdict confirmed / false-positive /
    not-violating), one per match; a verdict on a received hash flows back to its source."""
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list) or not items:
        raise invalid("items", "give a list of {match_id, verdict}")
    if len(items) > model.MAX_BATCH:
        raise invalid("items", f"at most {model.MAX_BATCH:,} per call", "MEDIA-BATCH")
    problems: list[Problem] = []
    wanted: dict[int, str] = {}
    for i, it in enumerate(items):
        mid = it.get("match_id") if isinstance(it, Mapping) else None
        verdict = it.get("verdict") if isinstance(it, Mapping) else None
        if not is_bigint(mid):
            problems.append(Problem(f"items[{i}].match_id", "must be a match id"))
        elif mid in wanted:
            problems.append(Problem(f"items[{i}].match_id", "is given twice"))
        if verdict not in model.VERDICTS:
            problems.append(Problem(f"items[{i}].verdict",
                                    f"{verdict!r} is not one of: {', '.join(model.VERDICTS)}"))
        if not problems and isinstance(mid, int) and isinstance(verdict, str):
            wanted[mid] = verdict
    if problems:
        raise InvalidInput("the feedback is not valid; nothing was recorded", problems)
    with node.write(actor) as uow:
        found = {int(r["id"]): dict(r) for part in rows.chunks(sorted(wanted))
                 for r in uow.conn.execute(select(media_matches).where(
                     media_matches.c.id.in_(part))).mappings()}
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise NotFound(f"no match with id {', '.join(map(str, missing[:10]))}", "match_id")
        done = sorted(int(m) for part in rows.chunks(sorted(wanted)) for m in uow.conn.execute(
            select(media_feedback.c.match_id).where(media_feedback.c.match_id.in_(part))).scalars())
        if done:
            raise Conflict(f"match {', '.join(map(str, done[:10]))} already has a verdict",
                           [Problem("match_id", "already has a verdict")])
        hash_rows = rows.by_id(uow.conn, sorted({int(m["hash_id"]) for m in found.values()}))
        records = [{"hash_id": int(found[mid]["hash_id"]), "match_id": mid,
                    "match_ref": str(mid), "verdict": v, "distance": found[mid]["distance"],
                    "count": found[mid]["count"]} for mid, v in sorted(wanted.items())]
        sent = send.tell_sources(uow, records, hash_rows)
        uow.conn.execute(media_feedback.insert(), [
            {"hash_id": r["hash_id"], "match_id": r["match_id"], "match_ref": None,
             "verdict": r["verdict"], "distance": r["distance"], "count": r["count"],
             "reporter": actor, "member_id": member_id,
             "envelope_id": sent.get(hash_rows[r["hash_id"]]["source"])
             if hash_rows[r["hash_id"]]["origin"] else None,
             "created_at": uow.now} for r in records])
        uow.record("media.feedback", "media:feedback", {
            "member_id": member_id, "items": [{k: r[k] for k in ("hash_id", "match_id", "verdict")}
                                              for r in records], "sent_to": sorted(sent)})
    return {"recorded": len(records), "sent_to": sorted(sent)}


def list_feedback(node: Node, *, list_id: str | None = None, hash_id: int | None = None,
                  limit: int = 1000) -> list[dict[str, Any]]:
    """Feedback on this node's hashes (local verdicts and those members sent back)."""
    q = (select(media_feedback, media_hashes.c.list_id, media_hashes.c.case_ref,
                media_hashes.c.algorithm, media_hashes.c.status, media_hashes.c.digest)
         .join(media_hashes, media_hashes.c.id == media_feedback.c.hash_id))
    if list_id:
        q = q.where(media_hashes.c.list_id == list_id)
    if hash_id is not None:
        q = q.where(media_feedback.c.hash_id == hash_id)
    with node.read() as conn:
        hash_rows = conn.execute(q.order_by(media_feedback.c.id).limit(limit)).mappings().all()
    return [{"id": int(r["id"]), "hash_id": int(r["hash_id"]), "list_id": r["list_id"],
             "case_ref": r["case_ref"], "algorithm": r["algorithm"], "hash_status": r["status"],
             "verdict": r["verdict"], "distance": r["distance"], "count": r["count"],
             "match_id": r["match_id"], "match_ref": r["match_ref"], "member_id": r["member_id"],
             "reporter": r["reporter"], "created_at": isoformat(r["created_at"])} for r in hash_rows]
