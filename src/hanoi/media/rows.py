"""The media wing's SQL: lists and hashes read and written, the store version the PDQ index
follows, and the ledger subjects of lists and hashes.

Each write that changes which hashes are active takes the next store version (``bump``) and
stamps the rows it changes with it, so the in-memory index (``read_model``) catches up with
``rev > last`` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hanoi.core.clock import isoformat
from hanoi.core.errors import Conflict, NotFound, Problem
from hanoi.media import model
from hanoi.node.runtime import Work
from hanoi.store.tables import media_hashes, media_lists, media_meta

IN_CHUNK: Final = 900  # values per SQL IN (...), under every backend's parameter limit


def list_subject(list_id: str) -> str:
    return f"media-list:{list_id}"


def hash_subject(hash_id: int) -> str:
    return f"media-hash:{hash_id}"


def chunks(seq: Sequence[Any], n: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def meta(conn: Connection) -> tuple[int, str]:
    row = conn.execute(select(media_meta.c.rev, media_meta.c.epoch)
                       .where(media_meta.c.id == 1)).first()
    if row is None:
        raise RuntimeError("media_meta has no row: the media migration did not run")
    return int(row.rev), str(row.epoch)


def bump(uow: Work) -> int:
    """Take the next store version; rows changed in this transaction carry it. The row lock (or
    SQLite's single writer) makes versions commit in order."""
    uow.conn.execute(media_meta.update().where(media_meta.c.id == 1)
                     .values(rev=media_meta.c.rev + 1))
    return int(uow.conn.execute(select(media_meta.c.rev).where(media_meta.c.id == 1)).scalar_one())


def get_list(conn: Connection, list_id: str) -> dict[str, Any]:
    row = conn.execute(select(media_lists).where(media_lists.c.id == list_id)).mappings().first()
    if row is None:
        raise NotFound(f"no hash list {list_id!r}", "list_id")
    return dict(row)


def by_digest(conn: Connection, digests: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in chunks(list(digests)):
        out += [dict(r) for r in conn.execute(
            select(media_hashes.c.id, media_hashes.c.list_id, media_hashes.c.digest,
                   media_hashes.c.status, media_hashes.c.status_at, media_hashes.c.source)
            .where(media_hashes.c.digest.in_(part))).mappings()]
    return out


def by_id(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for part in chunks(list(ids)):
        q = (select(media_hashes, media_lists.c.name.label("list_name"),
                    media_lists.c.category, media_lists.c.threshold, media_lists.c.origin,
                    media_lists.c.spike_matches, media_lists.c.spike_minutes)
             .join(media_lists, media_lists.c.id == media_hashes.c.list_id)
             .where(media_hashes.c.id.in_(part)))
        out.update({int(r["id"]): dict(r) for r in conn.execute(q).mappings()})
    return out


def list_public(row: Mapping[str, Any], counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "name", "category", "threshold", "tlp", "recipients",
                               "subscribers", "spike_matches", "spike_minutes", "origin",
                               "remote_id", "created_by")}
    out["created_at"] = isoformat(row["created_at"])
    out["updated_at"] = isoformat(row["updated_at"])
    if counts is not None:
        out["counts"] = {s: int(counts.get(s, 0)) for s in model.STATUSES}
    return out


def hash_public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]), "list_id": row["list_id"], "algorithm": row["algorithm"],
        "value": row["value"], "quality": row["quality"], "digest": row["digest"],
        "case_ref": row["case_ref"], "status": row["status"],
        "status_at": isoformat(row["status_at"]), "status_by": row["status_by"],
        "status_reason": row["status_reason"], "source": row["source"],
        "created_at": isoformat(row["created_at"]),
    }


def refuse_gone(conn: Connection, parsed: Sequence[model.HashInput]) -> None:
    """A hash withdrawn or deleted anywhere on this node is not listed again, by anyone."""
    gone: dict[str, dict[str, Any]] = {}
    for r in by_digest(conn, [h.digest for h in parsed]):
        if r["status"] in model.GONE:
            gone.setdefault(r["digest"], r)
    problems = [Problem(h.field, f"this hash was {gone[h.digest]['status']} by its source "
                                 f"{gone[h.digest]['source']} on "
                                 f"{isoformat(gone[h.digest]['status_at'])[:10]}: a withdrawn "
                                 "hash is not listed again", "MEDIA-WITHDRAWN")
                for h in parsed if h.digest in gone]
    if problems:
        raise Conflict(f"{len(problems)} hash(es) were withdrawn by their source; nothing was "
                       "stored", problems, "MEDIA-WITHDRAWN")


def insert_hashes(uow: Work, list_id: str, parsed: Sequence[model.HashInput], *, source: str,
                   rev: int, refs: Mapping[str, str] | None = None) -> list[int]:
    rows = [{
        "list_id": list_id, "algorithm": h.algorithm, "value": h.value, "digest": h.digest,
        "quality": h.quality, "case_ref": h.case_ref, "status": model.ACTIVE, "status_at": uow.now,
        "status_by": uow.actor, "status_reason": None, "source": source,
        "remote_id": refs.get(h.digest) if refs else None, "rev": rev,
        "created_by": uow.actor, "created_at": uow.now,
    } for h in parsed]
    if rows:
        uow.conn.execute(media_hashes.insert(), rows)
    ids: list[int] = []
    for part in chunks([h.digest for h in parsed]):
        ids += [int(i) for i in uow.conn.execute(select(media_hashes.c.id).where(
            (media_hashes.c.list_id == list_id) & media_hashes.c.digest.in_(part))).scalars()]
    return sorted(ids)
