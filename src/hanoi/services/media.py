"""Media hash lists on the node: lists, submissions, distribution, withdrawal, matching, feedback
and quarantine, and the in-memory PDQ index that answers matches.

What is stored
--------------
A *list* (``media_lists``) has a category (``ncii`` / ``csam``), a PDQ threshold, a TLP level,
the members named as allowed recipients and the members it is distributed to (subscribers). A
list either belongs to this node (``origin`` is None) or mirrors a list a member sent us.

A *hash* (``media_hashes``) is one PDQ / MD5 / SHA-256 value with its quality, the source's
opaque case reference (never personal data: the format admits no names, e-mails or spaces) and
a status: ``active`` (matched), ``quarantined`` (its matches spiked; a person reviews it),
``withdrawn`` or ``deleted`` (dropped for good). A withdrawn or deleted hash keeps only its
digest, ``sha256("algorithm:value")``: the value itself is blanked, and the digest is what
refuses it if anyone submits it again. The ledger names hashes by that digest too, never by
value, so an append-only ledger never keeps a hash its source asked to drop.

Ledger
------
One entry per submission batch (``media.submit``, listing the batch's digests), per
distribution (``media.distribute.gate`` with the gate's reasons, then ``media.distribute``),
per withdrawal batch, per match call that found anything (``media.match``: the hashes matched,
never the queries), per feedback batch, per quarantine and review, and per item received from a
peer (``media.receive``, ``media.withdraw.received``, ``media.feedback.received``).

Federation
----------
Items (built here, carried by ``services.outbox`` / ``services.inbox``):

- ``media.hashes``: ``{list: {ref, name, category, threshold, tlp, spike_matches,
  spike_minutes}, hashes: [{ref, algorithm, value, quality}]}``, at most 2,000 hashes each;
- ``media.withdraw``: ``{status, reason, refs: [...]}`` sent to every member that received one
  of the hashes (``media_deliveries`` records who received what);
- ``media.feedback``: ``{items: [{hash_ref, verdict, match_ref, distance, count}]}`` back to the
  source of a received hash.

Distribution runs the gate: the recipient's standing (``standing_reasons``) and the list's TLP
(CLEAR / GREEN: any member; AMBER and AMBER+STRICT: only members named on the list; RED: never
distributed), and a received list is never passed on (onward transfer). Withdrawals and feedback
are not gated: they only ever tell a member to drop something it already has, or tell a source
about its own hash.

Matching
--------
``match`` takes up to 10,000 hashes: MD5 / SHA-256 exactly (a database lookup), PDQ within each
list's threshold through one batched ``PdqIndex.search`` (dihedral queries: groups of 8, the
distance being the least over the 8). The index holds every active PDQ hash of the node; it is
loaded from the snapshot ``HOME/media/index.snap`` (with ``index.snap.json`` naming the store's
``epoch`` and ``rev``), caught up with the rows changed since (each write bumps
``media_meta.rev`` and stamps the rows it changes), or rebuilt when the snapshot belongs to
another store or is ahead of it. Every match is re-checked against the store's row (status and
list threshold), so results equal a brute-force scan of the store exactly.

A hash that matched more than ``spike_matches`` times within ``spike_minutes`` (per list) is
quarantined in the same transaction: excluded from matching until an analyst releases or
withdraws it (``review``), and the matches of that call are flagged ``quarantined`` so a platform
does not act on them.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from hanoi.core.bounds import is_bigint
from hanoi.core.clock import isoformat
from hanoi.core.errors import Conflict, HanoiError, InvalidInput, NotFound, Problem, invalid
from hanoi.core.gate import Decision, PartnerView, Reason, Review, review_reasons, standing_reasons
from hanoi.media import hashes as hv
from hanoi.media.index import PdqIndex, SnapshotError, hex_to_words
from hanoi.services.node import Node
from hanoi.signals.tlp import TLP, parse_tlp
from hanoi.store.tables import (
    media_deliveries,
    media_feedback,
    media_hashes,
    media_lists,
    media_matches,
    media_meta,
    members,
)
from hanoi.store.uow import UnitOfWork

CATEGORIES: Final = ("ncii", "csam")
ACTIVE, QUARANTINED, WITHDRAWN, DELETED = "active", "quarantined", "withdrawn", "deleted"
STATUSES: Final = (ACTIVE, QUARANTINED, WITHDRAWN, DELETED)
GONE: Final = (WITHDRAWN, DELETED)
VERDICTS: Final = ("confirmed", "false-positive", "not-violating")
#: What a peer may report back: a platform's verdict, or that the hash spiked and was quarantined.
PEER_VERDICTS: Final = (*VERDICTS, QUARANTINED)
REVIEW_DECISIONS: Final = ("release", "withdraw")
ALGORITHMS: Final = ("pdq", "md5", "sha256")

MAX_BATCH: Final = 10_000
MAX_THRESHOLD: Final = 64  # beyond this, PDQ "matches" unrelated images
DEFAULT_THRESHOLD: Final = hv.PDQ_MATCH_THRESHOLD
DEFAULT_TLP: Final = TLP.AMBER
DEFAULT_SPIKE_MATCHES: Final = 500
DEFAULT_SPIKE_MINUTES: Final = 60
ENVELOPE_HASHES: Final = 2_000  # hashes per media.hashes item (well under the envelope limit)
ENVELOPE_REFS: Final = 5_000  # refs per media.withdraw / feedback item
_IN_CHUNK: Final = 900  # values per SQL IN (...), under every backend's parameter limit

ITEM_HASHES: Final = "media.hashes"
ITEM_WITHDRAW: Final = "media.withdraw"
ITEM_FEEDBACK: Final = "media.feedback"

SNAPSHOT_DIR: Final = "media"
SNAPSHOT_FILE: Final = "index.snap"

_CASE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def list_subject(list_id: str) -> str:
    return f"media-list:{list_id}"


def hash_subject(hash_id: int) -> str:
    return f"media-hash:{hash_id}"


def digest_of(algorithm: str, value: str) -> str:
    """The digest a hash is known by in the ledger and after it is dropped."""
    return hashlib.sha256(f"{algorithm}:{value}".encode()).hexdigest()


def _chunks(seq: Sequence[Any], n: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


# --- validation (pure) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HashInput:
    """One validated hash of a submission; ``index`` is its item's position in the batch."""

    algorithm: str
    value: str
    quality: int | None
    case_ref: str | None
    index: int

    @property
    def digest(self) -> str:
        return digest_of(self.algorithm, self.value)

    @property
    def field(self) -> str:
        return f"hashes[{self.index}].{self.algorithm}"


def check_case_ref(value: object, field: str = "case_ref") -> str:
    """An opaque case reference: 1-64 letters, digits and ``. _ : / -``, no spaces or ``@``."""
    if not isinstance(value, str) or not _CASE_REF.fullmatch(value.strip()):
        raise invalid(field, "give the source's opaque case reference (1-64 letters, digits and "
                             ". _ : / -, e.g. RPH-2026-0412); never a name, e-mail or phone "
                             "number", "MEDIA-CASE-REF")
    return value.strip()


def _problems_of(err: HanoiError, field: str, rule: str | None) -> list[Problem]:
    return [Problem(field, p.message, p.rule or rule) for p in err.problems] or \
        [Problem(field, err.detail, rule)]


def parse_items(items: object, case_ref: str | None = None, *,
                require_case_ref: bool = True) -> list[HashInput]:
    """Validate a submission: a list of ``{pdq, quality, md5, sha256, case_ref}`` objects (any
    of the hashes; ``{algorithm, value, quality}`` works too). Every problem is reported at once;
    keys such as ``path`` that ``hanoi hash`` prints are dropped, never stored. Duplicates within
    the batch are kept once."""
    if not isinstance(items, list):
        raise invalid("hashes", "must be a list of hash objects")
    if not items:
        raise invalid("hashes", "the batch is empty")
    if len(items) > MAX_BATCH:
        raise invalid("hashes", f"at most {MAX_BATCH:,} hashes per batch, got {len(items):,}",
                      "MEDIA-BATCH")
    problems: list[Problem] = []
    out: list[HashInput] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"hashes[{i}]"
        if not isinstance(item, Mapping):
            problems.append(Problem(where, "must be an object such as {\"pdq\": ..., \"quality\": "
                                           "..., \"case_ref\": ...}"))
            continue
        spec = dict(item)
        if "algorithm" in spec:
            algo = str(spec.pop("algorithm")).strip().lower().replace("-", "")
            if algo not in ALGORITHMS:
                problems.append(Problem(f"{where}.algorithm", f"{algo!r} is not pdq, md5 or sha256"))
                continue
            spec[algo] = spec.pop("value", None)
        cref: str | None = None
        raw_ref = spec.get("case_ref", case_ref)
        if raw_ref is not None or require_case_ref:
            try:
                cref = check_case_ref(raw_ref, f"{where}.case_ref")
            except InvalidInput as err:
                problems.extend(err.problems)
        given = [a for a in ALGORITHMS if spec.get(a) not in (None, "")]
        if not given:
            problems.append(Problem(where, "give at least one of pdq (with its quality), md5 or "
                                           "sha256", "MEDIA-HASH-VALUE"))
            continue
        for algo in given:
            field = f"{where}.{algo}"
            try:
                quality: int | None = None
                if algo == "pdq":
                    value = hv.parse_pdq(spec[algo], field)
                    try:
                        quality = hv.check_quality(spec.get("quality"), f"{where}.quality")
                    except InvalidInput as err:
                        problems.extend(_problems_of(err, f"{where}.quality", "MEDIA-HASH-VALUE"))
                        continue
                else:
                    value = hv.parse_hash(algo, spec[algo], field)
            except InvalidInput as err:
                problems.extend(_problems_of(err, field, "MEDIA-HASH-VALUE"))
                continue
            h = HashInput(algo, value, quality, cref, i)
            if h.digest not in seen:
                seen.add(h.digest)
                out.append(h)
    if problems:
        raise InvalidInput(f"{len(problems)} problem(s) in the batch; nothing was stored", problems)
    if len(out) > MAX_BATCH:
        raise invalid("hashes", f"at most {MAX_BATCH:,} hashes per batch, got {len(out):,}",
                      "MEDIA-BATCH")
    return out


def tlp_reasons(tlp: TLP, recipient: str, named: Iterable[str]) -> list[Reason]:
    """The TLP rule for passing a list to ``recipient`` (pure)."""
    if tlp in (TLP.CLEAR, TLP.GREEN):
        return [Reason("GATE-TLP", "allow", f"{tlp.label}: may be shared with any member")]
    if tlp is TLP.RED:
        return [Reason("GATE-TLP", "deny", f"{tlp.label} is for the people present only: a "
                                           "hash list so marked is never distributed")]
    if recipient in set(named):
        return [Reason("GATE-TLP", "allow", f"{tlp.label}: {recipient} is named on the list")]
    return [Reason("GATE-TLP", "deny", f"{tlp.label}: only members named on the list receive it, "
                                       f"and {recipient} is not named")]


def _int(data: Mapping[str, Any], key: str, default: int, lo: int, hi: int,
         problems: list[Problem], rule: str | None = None) -> int:
    v = data.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        problems.append(Problem(key, f"must be a whole number from {lo} to {hi}", rule))
        return default
    return v


def _member_ids(value: Any, field: str, problems: list[Problem]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        problems.append(Problem(field, "must be a list of member ids"))
        return []
    return sorted({x.strip() for x in value})


# --- the index -------------------------------------------------------------------------------


class MediaIndex:
    """The node's PDQ index with the store version it reflects. Thread-safe."""

    def __init__(self, index: PdqIndex, rev: int, epoch: str) -> None:
        self.index = index
        self.rev = rev
        self.epoch = epoch
        self.lock = threading.Lock()
        self.loaded_from = "store"

    def catch_up(self, conn: Connection) -> int:
        """Apply the rows changed since ``rev``; returns how many were looked at."""
        rev, epoch = _meta(conn)
        if epoch != self.epoch:
            raise SnapshotError("the store's epoch changed: rebuild")
        if rev == self.rev:
            return 0
        rows = conn.execute(
            select(media_hashes.c.id, media_hashes.c.value, media_hashes.c.status)
            .where((media_hashes.c.algorithm == "pdq") & (media_hashes.c.rev > self.rev))
        ).all()
        if rows:
            ids = np.array([r.id for r in rows], np.int64)
            self.index.remove(ids)  # then re-add the active ones: idempotent, order-free
            live = [r for r in rows if r.status == ACTIVE and r.value]
            if live:
                self.index.add([r.value for r in live], np.array([r.id for r in live], np.int64))
        self.rev = rev
        return len(rows)


_INDEXES: dict[str, MediaIndex] = {}
_REGISTRY_LOCK = threading.Lock()


def _key(node: Node) -> str:
    return f"{node.home.resolve()}|{node.engine.url.render_as_string(hide_password=True)}"


def _meta(conn: Connection) -> tuple[int, str]:
    row = conn.execute(select(media_meta.c.rev, media_meta.c.epoch)
                       .where(media_meta.c.id == 1)).first()
    if row is None:
        raise RuntimeError("media_meta has no row: the media migration did not run")
    return int(row.rev), str(row.epoch)


def snapshot_path(node: Node) -> Path:
    return node.home / SNAPSHOT_DIR / SNAPSHOT_FILE


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _build(node: Node) -> MediaIndex:
    with node.read() as conn:
        rev, epoch = _meta(conn)  # read first: rows changed meanwhile are re-applied later
        rows = conn.execute(select(media_hashes.c.id, media_hashes.c.value).where(
            (media_hashes.c.algorithm == "pdq") & (media_hashes.c.status == ACTIVE))).all()
    ix = PdqIndex.build([r.value for r in rows], np.array([r.id for r in rows], np.int64))
    return MediaIndex(ix, rev, epoch)


def _load_snapshot(node: Node) -> MediaIndex | None:
    path = snapshot_path(node)
    side = _sidecar(path)
    if not path.is_file() or not side.is_file():
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        rev, epoch, size = int(meta["rev"]), str(meta["epoch"]), int(meta["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    with node.read() as conn:
        store_rev, store_epoch = _meta(conn)
    # Another store's snapshot, or one ahead of the store (a restored backup): not trusted.
    if epoch != store_epoch or rev > store_rev or path.stat().st_size != size:
        return None
    try:
        ix = PdqIndex.load(path, mmap=True)
    except SnapshotError:
        return None
    mi = MediaIndex(ix, rev, epoch)
    mi.loaded_from = "snapshot"
    return mi


def index_for(node: Node) -> MediaIndex:
    """The node's index, current with the store (loaded or built on first use)."""
    key = _key(node)
    with _REGISTRY_LOCK:
        mi = _INDEXES.get(key)
        if mi is None:
            mi = _load_snapshot(node)
            if mi is None:
                mi = _build(node)
                _save(node, mi)
            _INDEXES[key] = mi
    with mi.lock, node.read() as conn:
        try:
            mi.catch_up(conn)
        except SnapshotError:
            mi = _build(node)
            with _REGISTRY_LOCK:
                _INDEXES[key] = mi
    return mi


def _save(node: Node, mi: MediaIndex) -> Path:
    path = snapshot_path(node)
    path.parent.mkdir(parents=True, exist_ok=True)
    mi.index.save(path)
    side = _sidecar(path)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_text(json.dumps({"epoch": mi.epoch, "rev": mi.rev, "size": path.stat().st_size,
                               "hashes": len(mi.index)}), encoding="utf-8")
    tmp.replace(side)
    return path


def save_snapshot(node: Node) -> dict[str, Any]:
    """Write the index snapshot now (e.g. at shutdown) so the next start is fast."""
    mi = index_for(node)
    with mi.lock:
        path = _save(node, mi)
        return {"path": str(path), "rev": mi.rev, "hashes": len(mi.index)}


def rebuild_index(node: Node) -> dict[str, Any]:
    """Rebuild from the store and snapshot it (whatever the snapshot held)."""
    mi = _build(node)
    with _REGISTRY_LOCK:
        _INDEXES[_key(node)] = mi
    with mi.lock:
        _save(node, mi)
    return index_status(node)


def index_status(node: Node) -> dict[str, Any]:
    mi = index_for(node)
    path = snapshot_path(node)
    return {"hashes": len(mi.index), "rev": mi.rev, "epoch": mi.epoch,
            "loaded_from": mi.loaded_from, "snapshot": str(path) if path.exists() else None,
            "bytes": mi.index.nbytes()}


def forget_index(node: Node) -> None:
    """Drop the in-memory index of a node (tests, or a node being closed)."""
    with _REGISTRY_LOCK:
        _INDEXES.pop(_key(node), None)


# --- store helpers ---------------------------------------------------------------------------


def _bump(uow: UnitOfWork) -> int:
    """Take the next store version; rows changed in this transaction carry it. The row lock (or
    SQLite's single writer) makes versions commit in order."""
    uow.conn.execute(media_meta.update().where(media_meta.c.id == 1)
                     .values(rev=media_meta.c.rev + 1))
    return int(uow.conn.execute(select(media_meta.c.rev).where(media_meta.c.id == 1)).scalar_one())


def _list_row(conn: Connection, list_id: str) -> dict[str, Any]:
    row = conn.execute(select(media_lists).where(media_lists.c.id == list_id)).mappings().first()
    if row is None:
        raise NotFound(f"no hash list {list_id!r}", "list_id")
    return dict(row)


def _member_row(conn: Connection, member_id: str, field: str = "recipient") -> dict[str, Any]:
    row = conn.execute(select(members).where(members.c.id == member_id)).mappings().first()
    if row is None:
        raise NotFound(f"no member {member_id!r}: register it first (hanoi members add)", field)
    return dict(row)


def _rows_by_digest(conn: Connection, digests: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in _chunks(list(digests)):
        out += [dict(r) for r in conn.execute(
            select(media_hashes.c.id, media_hashes.c.list_id, media_hashes.c.digest,
                   media_hashes.c.status, media_hashes.c.status_at, media_hashes.c.source)
            .where(media_hashes.c.digest.in_(part))).mappings()]
    return out


def _rows_by_id(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for part in _chunks(list(ids)):
        q = (select(media_hashes, media_lists.c.name.label("list_name"),
                    media_lists.c.category, media_lists.c.threshold, media_lists.c.origin,
                    media_lists.c.spike_matches, media_lists.c.spike_minutes)
             .join(media_lists, media_lists.c.id == media_hashes.c.list_id)
             .where(media_hashes.c.id.in_(part)))
        out.update({int(r["id"]): dict(r) for r in conn.execute(q).mappings()})
    return out


def _list_public(row: Mapping[str, Any], counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "name", "category", "threshold", "tlp", "recipients",
                               "subscribers", "spike_matches", "spike_minutes", "origin",
                               "remote_id", "created_by")}
    out["created_at"] = isoformat(row["created_at"])
    out["updated_at"] = isoformat(row["updated_at"])
    if counts is not None:
        out["counts"] = {s: int(counts.get(s, 0)) for s in STATUSES}
    return out


def _hash_public(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]), "list_id": row["list_id"], "algorithm": row["algorithm"],
        "value": row["value"], "quality": row["quality"], "digest": row["digest"],
        "case_ref": row["case_ref"], "status": row["status"],
        "status_at": isoformat(row["status_at"]), "status_by": row["status_by"],
        "status_reason": row["status_reason"], "source": row["source"],
        "created_at": isoformat(row["created_at"]),
    }


# --- lists -----------------------------------------------------------------------------------


def _list_settings(data: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    problems: list[Problem] = []
    base = dict(current) if current else {}
    out: dict[str, Any] = {}
    known = {"name", "category", "threshold", "tlp", "recipients", "spike_matches",
             "spike_minutes"}
    for k in sorted(set(data) - known):
        problems.append(Problem(k, "is not a list setting"))
    if current is None or "name" in data:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            problems.append(Problem("name", "give a name of 1 to 200 characters"))
        else:
            out["name"] = name.strip()
    if current is None or "category" in data:
        cat = data.get("category")
        if current is not None and cat != base.get("category"):
            problems.append(Problem("category", "a list's category does not change; make a new "
                                                "list"))
        elif cat not in CATEGORIES:
            problems.append(Problem("category", f"{cat!r} is not one of: {', '.join(CATEGORIES)}"))
        else:
            out["category"] = cat
    if current is None or "threshold" in data:
        out["threshold"] = _int(data, "threshold", base.get("threshold", DEFAULT_THRESHOLD), 0,
                                MAX_THRESHOLD, problems)
    if current is None or "tlp" in data:
        try:
            raw = data.get("tlp")
            out["tlp"] = (parse_tlp(raw).level if raw is not None else DEFAULT_TLP).value
        except InvalidInput as err:
            problems.extend(err.problems)
    if current is None or "recipients" in data:
        out["recipients"] = _member_ids(data.get("recipients"), "recipients", problems)
    if current is None or "spike_matches" in data:
        out["spike_matches"] = _int(data, "spike_matches",
                                    base.get("spike_matches", DEFAULT_SPIKE_MATCHES), 1,
                                    10_000_000, problems, "MEDIA-QUARANTINE")
    if current is None or "spike_minutes" in data:
        out["spike_minutes"] = _int(data, "spike_minutes",
                                    base.get("spike_minutes", DEFAULT_SPIKE_MINUTES), 1,
                                    60 * 24 * 30, problems, "MEDIA-QUARANTINE")
    if problems:
        raise InvalidInput("the hash list is not valid", problems)
    return out


def create_list(node: Node, actor: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A new hash list of this node: ``{name, category, threshold=31, tlp=AMBER, recipients=[],
    spike_matches=500, spike_minutes=60}``."""
    if not isinstance(data, Mapping):
        raise invalid("body", "must be an object")
    settings = _list_settings(data, None)
    list_id = f"ml-{node.now().strftime('%Y%m%d')}-{secrets.token_hex(4)}"
    with node.write(actor) as uow:
        for m in settings["recipients"]:
            _member_row(uow.conn, m, "recipients")
        uow.conn.execute(media_lists.insert().values(
            id=list_id, subscribers=[], origin=None, remote_id=None, created_by=actor,
            created_at=uow.now, updated_at=uow.now, **settings))
        uow.record("media.list.create", list_subject(list_id), {"id": list_id, **settings})
    return show_list(node, list_id)


def update_list(node: Node, actor: str, list_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Change a list's name, threshold, TLP, named recipients or spike rule."""
    if not isinstance(data, Mapping) or not data:
        raise invalid("body", "give at least one setting to change")
    with node.write(actor) as uow:
        row = _list_row(uow.conn, list_id)
        settings = _list_settings(data, row)
        for m in settings.get("recipients", []):
            _member_row(uow.conn, m, "recipients")
        uow.conn.execute(media_lists.update().where(media_lists.c.id == list_id)
                         .values(updated_at=uow.now, **settings))
        uow.record("media.list.update", list_subject(list_id), {"id": list_id, **settings})
    return show_list(node, list_id)


def show_list(node: Node, list_id: str) -> dict[str, Any]:
    with node.read() as conn:
        row = _list_row(conn, list_id)
        counts: dict[str, int] = dict(conn.execute(select(media_hashes.c.status, func.count())
                                   .where(media_hashes.c.list_id == list_id)
                                   .group_by(media_hashes.c.status)).all())
    return _list_public(row, counts)


def list_lists(node: Node) -> list[dict[str, Any]]:
    with node.read() as conn:
        rows = conn.execute(select(media_lists).order_by(media_lists.c.created_at,
                                                         media_lists.c.id)).mappings().all()
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for lid, status, n in conn.execute(
                select(media_hashes.c.list_id, media_hashes.c.status, func.count())
                .group_by(media_hashes.c.list_id, media_hashes.c.status)).all():
            counts[lid][status] = n
    return [_list_public(dict(r), counts.get(r["id"], {})) for r in rows]


def list_hashes(node: Node, list_id: str, *, status: str | None = None,
                case_ref: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise invalid("status", f"{status!r} is not one of: {', '.join(STATUSES)}")
    with node.read() as conn:
        _list_row(conn, list_id)
        q = select(media_hashes).where(media_hashes.c.list_id == list_id)
        if status:
            q = q.where(media_hashes.c.status == status)
        if case_ref:
            q = q.where(media_hashes.c.case_ref == case_ref)
        rows = conn.execute(q.order_by(media_hashes.c.id).limit(limit)).mappings().all()
    return [_hash_public(dict(r)) for r in rows]


def show_hash(node: Node, hash_id: int) -> dict[str, Any]:
    with node.read() as conn:
        row = _rows_by_id(conn, [hash_id]).get(hash_id)
        if row is None:
            raise NotFound(f"no hash {hash_id}", "hash_id")
        deliveries = conn.execute(select(media_deliveries).where(
            media_deliveries.c.hash_id == hash_id).order_by(media_deliveries.c.id)).mappings().all()
    out = _hash_public(row)
    out["deliveries"] = [{"recipient": d["recipient"], "delivered_at": isoformat(d["delivered_at"]),
                          "withdrawn_at": isoformat(d["withdrawn_at"]) if d["withdrawn_at"] else None}
                         for d in deliveries]
    return out


# --- submission ------------------------------------------------------------------------------


def _refuse_gone(conn: Connection, parsed: Sequence[HashInput]) -> None:
    """A hash withdrawn or deleted anywhere on this node is not listed again, by anyone."""
    gone: dict[str, dict[str, Any]] = {}
    for r in _rows_by_digest(conn, [h.digest for h in parsed]):
        if r["status"] in GONE:
            gone.setdefault(r["digest"], r)
    problems = [Problem(h.field, f"this hash was {gone[h.digest]['status']} by its source "
                                 f"{gone[h.digest]['source']} on "
                                 f"{isoformat(gone[h.digest]['status_at'])[:10]}: a withdrawn "
                                 "hash is not listed again", "MEDIA-WITHDRAWN")
                for h in parsed if h.digest in gone]
    if problems:
        raise Conflict(f"{len(problems)} hash(es) were withdrawn by their source; nothing was "
                       "stored", problems, "MEDIA-WITHDRAWN")


def _insert_hashes(uow: UnitOfWork, list_id: str, parsed: Sequence[HashInput], *, source: str,
                   rev: int, refs: Mapping[str, str] | None = None) -> list[int]:
    rows = [{
        "list_id": list_id, "algorithm": h.algorithm, "value": h.value, "digest": h.digest,
        "quality": h.quality, "case_ref": h.case_ref, "status": ACTIVE, "status_at": uow.now,
        "status_by": uow.actor, "status_reason": None, "source": source,
        "remote_id": refs.get(h.digest) if refs else None, "rev": rev,
        "created_by": uow.actor, "created_at": uow.now,
    } for h in parsed]
    if rows:
        uow.conn.execute(media_hashes.insert(), rows)
    ids: list[int] = []
    for part in _chunks([h.digest for h in parsed]):
        ids += [int(i) for i in uow.conn.execute(select(media_hashes.c.id).where(
            (media_hashes.c.list_id == list_id) & media_hashes.c.digest.in_(part))).scalars()]
    return sorted(ids)


def submit(node: Node, actor: str, list_id: str, items: object, *,
           case_ref: str | None = None) -> dict[str, Any]:
    """Add hashes to one of this node's lists, all or nothing, and pass the new ones to the
    list's subscribers (each through the gate). ``case_ref`` is the default for items without
    one. Refused: malformed values, PDQ quality below 50, degenerate hashes, more than 10,000,
    and any hash withdrawn or deleted on this node before."""
    parsed = parse_items(items, case_ref)
    with node.write(actor) as uow:
        lst = _list_row(uow.conn, list_id)
        if lst["origin"] is not None:
            raise Conflict(f"list {list_id} was received from {lst['origin']}: only its source "
                           "adds hashes to it", [Problem("list_id", "is a received list")])
        _refuse_gone(uow.conn, parsed)
        listed = {r["digest"] for r in _rows_by_digest(uow.conn, [h.digest for h in parsed])
                  if r["list_id"] == list_id}
        new = [h for h in parsed if h.digest not in listed]
        ids: list[int] = []
        if new:
            rev = _bump(uow)
            ids = _insert_hashes(uow, list_id, new, source=node.node_id, rev=rev)
        uow.record("media.submit", list_subject(list_id), {
            "list_id": list_id, "stored": len(new), "already_listed": len(parsed) - len(new),
            "digests": sorted(h.digest for h in new),
            "case_refs": sorted({h.case_ref for h in new if h.case_ref}),
        })
        distributed: dict[str, Any] = {}
        if ids:
            for member_id in lst["subscribers"]:
                res = _distribute_in(uow, lst, member_id, None, ids)
                distributed[member_id] = {"outcome": res["decision"].outcome,
                                          "sent": res["sent"]}
    return {"list_id": list_id, "stored": len(new), "already_listed": len(parsed) - len(new),
            "hash_ids": ids, "distributed": distributed}


# --- distribution ----------------------------------------------------------------------------


def _list_payload(lst: Mapping[str, Any]) -> dict[str, Any]:
    return {"ref": lst["id"], "name": lst["name"], "category": lst["category"],
            "threshold": lst["threshold"], "tlp": lst["tlp"],
            "spike_matches": lst["spike_matches"], "spike_minutes": lst["spike_minutes"]}


def decide_distribution(uow: UnitOfWork, lst: Mapping[str, Any], member: Mapping[str, Any],
                        review: Review | None = None) -> Decision:
    """The gate for passing a list to a member: standing, the reviewer, TLP, onward transfer."""
    from hanoi.services import policy as policy_service

    loaded = policy_service.current(uow)
    reasons = standing_reasons(PartnerView.from_dict(member), loaded.gate, review)
    reasons += review_reasons(review)
    reasons += tlp_reasons(TLP(lst["tlp"]), member["id"], lst["recipients"])
    if lst["origin"] is not None:
        reasons.append(Reason("GATE-ONWARD-TRANSFER", "deny",
                              f"the list came from {lst['origin']}: it is not passed on"))
    if not member.get("endpoint"):
        reasons.append(Reason("FED-UNDELIVERABLE", "deny",
                              f"{member['id']} has no federation endpoint"))
    return Decision.of(reasons)


def _distribute_in(uow: UnitOfWork, lst: Mapping[str, Any], recipient: str,
                   review: Review | None, only_ids: Sequence[int] | None) -> dict[str, Any]:
    """Gate, ledger the decision, and if allowed queue every active hash of the list the
    recipient has not received (or only ``only_ids``)."""
    member = _member_row(uow.conn, recipient)
    decision = decide_distribution(uow, lst, member, review)
    uow.record("media.distribute.gate", list_subject(lst["id"]),
               {"recipient": recipient, **decision.as_dict()},
               decision=decision.outcome, reasons=[r.as_dict() for r in decision.reasons])
    if not decision.allowed:
        return {"decision": decision, "sent": 0, "envelopes": []}
    delivered = select(media_deliveries.c.hash_id).where(media_deliveries.c.recipient == recipient)
    q = (select(media_hashes.c.id, media_hashes.c.algorithm, media_hashes.c.value,
                media_hashes.c.quality, media_hashes.c.digest)
         .where((media_hashes.c.list_id == lst["id"]) & (media_hashes.c.status == ACTIVE)
                & media_hashes.c.id.not_in(delivered))
         .order_by(media_hashes.c.id))
    rows = uow.conn.execute(q).all()
    if only_ids is not None:
        wanted = set(only_ids)
        rows = [r for r in rows if r.id in wanted]
    from hanoi.services import outbox

    envelopes = []
    for part in _chunks(rows, ENVELOPE_HASHES):
        payload = {"list": _list_payload(lst), "hashes": [
            {"ref": str(r.id), "algorithm": r.algorithm, "value": r.value, "quality": r.quality}
            for r in part]}
        env_id = outbox.enqueue(uow, recipient=recipient, type=ITEM_HASHES, payload=payload,
                                subject=list_subject(lst["id"]))
        envelopes.append(env_id)
        uow.conn.execute(media_deliveries.insert(), [
            {"hash_id": r.id, "recipient": recipient, "envelope_id": env_id,
             "delivered_at": uow.now, "withdrawn_at": None} for r in part])
    if recipient not in lst["subscribers"]:
        subs = sorted({*lst["subscribers"], recipient})
        uow.conn.execute(media_lists.update().where(media_lists.c.id == lst["id"])
                         .values(subscribers=subs, updated_at=uow.now))
    uow.record("media.distribute", list_subject(lst["id"]), {
        "recipient": recipient, "sent": len(rows), "envelopes": envelopes,
        "digests": sorted(r.digest for r in rows)})
    return {"decision": decision, "sent": len(rows), "envelopes": envelopes}


def distribute(node: Node, actor: str, list_id: str, recipient: str,
               review: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Pass one of this node's lists to a member through the gate and the outbox; the member
    then also receives every hash added later. The gate's decision is ledgered even when it
    refuses (``GateRefused``: 403 deny, 409 review needed)."""
    from hanoi.services.requests import GateRefused

    rv = Review.from_dict(review) if review else None
    with node.write(actor) as uow:
        lst = _list_row(uow.conn, list_id)
        result = _distribute_in(uow, lst, recipient, rv, None)
    decision: Decision = result["decision"]
    if not decision.allowed:
        raise GateRefused(decision, f"distributing list {list_id} to {recipient}")
    return {"list_id": list_id, "recipient": recipient, "sent": result["sent"],
            "envelopes": result["envelopes"], "decision": decision.as_dict()}


# --- withdrawal ------------------------------------------------------------------------------


def _drop(uow: UnitOfWork, rows: Sequence[Mapping[str, Any]], status: str, reason: str,
          *, propagate: bool) -> dict[str, int]:
    """Set ``status`` (withdrawn / deleted) on rows, blank their values, and tell every member
    that received one of them to drop it too. Returns {recipient: hashes told}."""
    if not rows:
        return {}
    rev = _bump(uow)
    ids = [int(r["id"]) for r in rows]
    for part in _chunks(ids):
        uow.conn.execute(media_hashes.update().where(media_hashes.c.id.in_(part)).values(
            status=status, value=None, status_at=uow.now, status_by=uow.actor,
            status_reason=reason or None, rev=rev))
    told: dict[str, int] = {}
    if not propagate:
        return told
    by_recipient: dict[str, list[int]] = defaultdict(list)
    for part in _chunks(ids):
        for hid, rcpt in uow.conn.execute(
                select(media_deliveries.c.hash_id, media_deliveries.c.recipient).where(
                    media_deliveries.c.hash_id.in_(part)
                    & media_deliveries.c.withdrawn_at.is_(None))).all():
            by_recipient[rcpt].append(int(hid))
    if by_recipient:
        from hanoi.services import outbox

        for rcpt, hids in sorted(by_recipient.items()):
            for part in _chunks(sorted(hids), ENVELOPE_REFS):
                outbox.enqueue(uow, recipient=rcpt, type=ITEM_WITHDRAW, subject="media:withdraw",
                               payload={"status": status, "reason": reason,
                                        "refs": [str(h) for h in part]})
            for part in _chunks(hids):
                uow.conn.execute(media_deliveries.update().where(
                    (media_deliveries.c.recipient == rcpt)
                    & media_deliveries.c.hash_id.in_(part)).values(withdrawn_at=uow.now))
            told[rcpt] = len(hids)
    return told


def withdraw(node: Node, actor: str, *, hash_ids: Sequence[int] | None = None,
             list_id: str | None = None, case_ref: str | None = None,
             status: str = WITHDRAWN, reason: str = "") -> dict[str, Any]:
    """Withdraw or delete hashes of this node (by id, or every hash of a case in a list), and
    propagate to every member that received them, who must drop them (StopNCII semantics).
    Withdrawal is not gated: it only ever tells a member to drop what it holds."""
    if status not in GONE:
        raise invalid("status", f"{status!r} is not one of: {', '.join(GONE)}")
    if not isinstance(reason, str) or len(reason) > 500:
        raise invalid("reason", "at most 500 characters")
    if hash_ids is None and not (list_id and case_ref):
        raise invalid("hash_ids", "give hash ids, or a list id and a case reference")
    with node.write(actor) as uow:
        if hash_ids is not None:
            if not isinstance(hash_ids, list | tuple) or not hash_ids or \
                    not all(is_bigint(h) for h in hash_ids):
                raise invalid("hash_ids", "must be a non-empty list of hash ids")
            if len(hash_ids) > MAX_BATCH:
                raise invalid("hash_ids", f"at most {MAX_BATCH:,} per call", "MEDIA-BATCH")
            found = _rows_by_id(uow.conn, sorted(set(hash_ids)))
            missing = sorted(set(hash_ids) - set(found))
            if missing:
                raise NotFound(f"no hash with id {', '.join(map(str, missing[:10]))}", "hash_ids")
            rows = list(found.values())
        else:
            assert list_id is not None
            _list_row(uow.conn, list_id)
            ref = check_case_ref(case_ref)
            rows = [dict(r) for r in uow.conn.execute(select(media_hashes, media_lists.c.origin)
                    .join(media_lists, media_lists.c.id == media_hashes.c.list_id).where(
                        (media_hashes.c.list_id == list_id)
                        & (media_hashes.c.case_ref == ref))).mappings()]
            if not rows:
                raise NotFound(f"no hash of case {ref!r} in list {list_id}", "case_ref")
        foreign = sorted({r["list_id"] for r in rows if r["origin"] is not None})
        if foreign:
            raise Conflict("only a hash's source withdraws it; received lists: "
                           + ", ".join(foreign), [Problem("hash_ids", "includes received hashes")])
        todo = [r for r in rows if r["status"] != status and r["status"] != DELETED]
        told = _drop(uow, todo, status, reason, propagate=True)
        uow.record(f"media.{'delete' if status == DELETED else 'withdraw'}", "media:withdraw", {
            "status": status, "reason": reason, "count": len(todo),
            "digests": sorted(r["digest"] for r in todo), "told": told},
            reasons=[{"code": "MEDIA-WITHDRAWN"}])
    return {"status": status, "changed": len(todo), "unchanged": len(rows) - len(todo),
            "told": told}


# --- matching --------------------------------------------------------------------------------


def _exact_values(values: Any, algo: str, problems: list[Problem]) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        problems.append(Problem(algo, "must be a list of hex strings"))
        return []
    pattern = _HEX32 if algo == "md5" else _HEX64
    n = 32 if algo == "md5" else 64
    out = []
    for i, v in enumerate(values):
        s = v.strip().lower() if isinstance(v, str) else ""
        if not pattern.fullmatch(s):
            if len(problems) < 20:
                problems.append(Problem(f"{algo}[{i}]", f"must be {n} hex digits (0-9, a-f)"))
            else:
                problems.append(Problem(algo, "(more malformed values)"))
        out.append(s)
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


def match(node: Node, actor: str, *, pdq: Sequence[str] | None = None,
          md5: Sequence[str] | None = None, sha256: Sequence[str] | None = None,
          dihedral: Sequence[Sequence[str]] | None = None,
          member_id: str | None = None, record: bool = True) -> dict[str, Any]:
    """Match up to 10,000 hashes against every active hash of the node.

    Each match: ``{algorithm, query, hash_id, list_id, list, category, source, distance,
    match_id, quarantined}`` where ``query`` indexes the caller's own array of that algorithm
    (``dihedral``: groups of 8 hashes of one image). With matches, one ledger entry records
    which hashes matched (not the queries), and the spike rule may quarantine a hash.
    """
    problems: list[Problem] = []
    counts = {}
    for name, vals in (("pdq", pdq), ("md5", md5), ("sha256", sha256), ("dihedral", dihedral)):
        if vals is not None and not isinstance(vals, list | tuple):
            problems.append(Problem(name, "must be a list"))
            vals = None
        counts[name] = len(vals) if vals is not None else 0
    total = sum(counts.values())
    if problems:
        raise InvalidInput("the query is not valid", problems)
    if total == 0:
        raise invalid("hashes", "give at least one hash (pdq, md5, sha256 or dihedral)")
    if total > MAX_BATCH:
        raise invalid("hashes", f"at most {MAX_BATCH:,} hashes per call, got {total:,}",
                      "MEDIA-BATCH")
    qw = _pdq_words(list(pdq), "pdq", problems) if pdq else None
    dw = None
    if dihedral:
        groups = list(dihedral)
        bad = next((i for i, g in enumerate(groups)
                    if not isinstance(g, list | tuple) or len(g) != 8), None)
        if bad is not None:
            problems.append(Problem(f"dihedral[{bad}]", "must be the 8 dihedral PDQ hashes of "
                                                        "one image"))
        else:
            dw = _pdq_words([h for g in groups for h in g], "dihedral", problems)
    md5_v = _exact_values(md5, "md5", problems)
    sha_v = _exact_values(sha256, "sha256", problems)
    if problems:
        raise InvalidInput(f"{len(problems)} malformed hash(es); nothing was matched", problems)

    found: list[dict[str, Any]] = []  # {algorithm, query, hash_id, distance}
    if qw is not None or dw is not None:
        mi = index_for(node)
        with node.read() as conn:
            tmax = conn.execute(select(func.max(media_lists.c.threshold))).scalar()
        t = int(tmax) if tmax is not None else DEFAULT_THRESHOLD
        with mi.lock:
            if qw is not None:
                m = mi.index.search(qw, t)
                found += [{"algorithm": "pdq", "query": q, "hash_id": i, "distance": d}
                          for q, i, d in m.as_tuples()]
            if dw is not None:
                m = mi.index.search_dihedral(dw, t)
                found += [{"algorithm": "dihedral", "query": q, "hash_id": i, "distance": d}
                          for q, i, d in m.as_tuples()]
    with node.read() as conn:
        for algo, values in (("md5", md5_v), ("sha256", sha_v)):
            if not values:
                continue
            where: dict[str, list[int]] = defaultdict(list)
            for i, v in enumerate(values):
                where[v].append(i)
            keys = list(where)
            for part in _chunks(keys):
                for hid, value in conn.execute(select(media_hashes.c.id, media_hashes.c.value).where(
                        (media_hashes.c.algorithm == algo) & media_hashes.c.value.in_(part)
                        & (media_hashes.c.status == ACTIVE))).all():
                    found += [{"algorithm": algo, "query": q, "hash_id": int(hid), "distance": 0}
                              for q in where[value]]
        rows = _rows_by_id(conn, sorted({f["hash_id"] for f in found}))
    # The store decides: the row must still be active and within its list's threshold.
    found = [f for f in found if (r := rows.get(f["hash_id"])) is not None
             and r["status"] == ACTIVE and f["distance"] <= r["threshold"]]
    order = {a: i for i, a in enumerate(("pdq", "dihedral", "md5", "sha256"))}
    found.sort(key=lambda f: (order[f["algorithm"]], f["query"], f["distance"], f["hash_id"]))
    quarantined: list[int] = []
    match_ids: dict[int, int] = {}
    if found and record:
        match_ids, quarantined = _record_matches(node, actor, found, rows, member_id, total)
    qset = set(quarantined)
    out = []
    for f in found:
        r = rows[f["hash_id"]]
        out.append({**f, "list_id": r["list_id"], "list": r["list_name"],
                    "category": r["category"], "source": r["source"],
                    "match_id": match_ids.get(f["hash_id"]), "quarantined": f["hash_id"] in qset})
    matched_queries = len({(f["algorithm"], f["query"]) for f in found})
    return {"queries": counts, "matched_queries": matched_queries, "matches": out,
            "quarantined": quarantined}


def _record_matches(node: Node, actor: str, found: Sequence[Mapping[str, Any]],
                    rows: Mapping[int, Mapping[str, Any]], member_id: str | None,
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
        quarantined = _spike_check(uow, sorted(per_hash), rows)
    return match_ids, quarantined


def _spike_check(uow: UnitOfWork, hash_ids: Sequence[int],
                 rows: Mapping[int, Mapping[str, Any]]) -> list[int]:
    """Quarantine each hash matched more than ``spike_matches`` times within ``spike_minutes``
    of its list (counting from its last release)."""
    longest = max(int(rows[h]["spike_minutes"]) for h in hash_ids)
    since = uow.now - timedelta(minutes=longest)
    totals: dict[int, int] = defaultdict(int)
    for part in _chunks(list(hash_ids)):
        for hid, at, n in uow.conn.execute(
                select(media_matches.c.hash_id, media_matches.c.matched_at, media_matches.c.count)
                .where(media_matches.c.hash_id.in_(part) & (media_matches.c.matched_at >= since))):
            r = rows[int(hid)]
            cutoff = max(uow.now - timedelta(minutes=int(r["spike_minutes"])), r["status_at"])
            if at >= cutoff:
                totals[int(hid)] += int(n)
    spiked = [h for h in hash_ids if totals[h] > int(rows[h]["spike_matches"])]
    if not spiked:
        return []
    rev = _bump(uow)
    for part in _chunks(spiked):
        uow.conn.execute(media_hashes.update().where(
            media_hashes.c.id.in_(part) & (media_hashes.c.status == ACTIVE)).values(
            status=QUARANTINED, status_at=uow.now, status_by="system:spike-rule", rev=rev,
            status_reason="matches spiked"))
    details = [{"hash_id": h, "matches": totals[h], "spike_matches": rows[h]["spike_matches"],
                "spike_minutes": rows[h]["spike_minutes"], "digest": rows[h]["digest"]}
               for h in spiked]
    uow.record("media.quarantine", "media:quarantine", {"hashes": details}, decision="review",
               reasons=[{"code": "MEDIA-QUARANTINE", "detail": f"hash {d['hash_id']}: "
                         f"{d['matches']} matches within {d['spike_minutes']} minutes "
                         f"(more than {d['spike_matches']})"} for d in details],
               actor="system:spike-rule")
    _tell_sources(uow, [{"hash_id": d["hash_id"], "verdict": QUARANTINED,
                         "count": d["matches"], "distance": None, "match_ref": None}
                        for d in details], rows)
    return spiked


def review(node: Node, actor: str, hash_id: int, decision: str, note: str = "") -> dict[str, Any]:
    """A person's review of a quarantined hash: ``release`` (matched again; the spike window
    restarts) or ``withdraw`` (a hash of ours is withdrawn everywhere; a received one is dropped
    here)."""
    if decision not in REVIEW_DECISIONS:
        raise invalid("decision", f"{decision!r} is not one of: {', '.join(REVIEW_DECISIONS)}")
    if not isinstance(note, str) or len(note) > 500:
        raise invalid("note", "at most 500 characters")
    with node.write(actor) as uow:
        row = _rows_by_id(uow.conn, [hash_id]).get(hash_id)
        if row is None:
            raise NotFound(f"no hash {hash_id}", "hash_id")
        if row["status"] != QUARANTINED:
            raise Conflict(f"hash {hash_id} is {row['status']}, not quarantined: nothing to "
                           "review", [Problem("hash_id", f"is {row['status']}")],
                           "MEDIA-QUARANTINE")
        if decision == "release":
            rev = _bump(uow)
            uow.conn.execute(media_hashes.update().where(media_hashes.c.id == hash_id).values(
                status=ACTIVE, status_at=uow.now, status_by=actor, status_reason=note or None,
                rev=rev))
            told: dict[str, int] = {}
        else:
            told = _drop(uow, [row], WITHDRAWN, note or "withdrawn after review",
                         propagate=row["origin"] is None)
        uow.record("media.review", hash_subject(hash_id),
                   {"hash_id": hash_id, "decision": decision, "note": note,
                    "digest": row["digest"], "told": told},
                   decision="allow" if decision == "release" else "deny",
                   reasons=[{"code": "MEDIA-QUARANTINE", "detail": f"reviewed by {actor}"}])
    return show_hash(node, hash_id)


# --- feedback --------------------------------------------------------------------------------


def _tell_sources(uow: UnitOfWork, items: Sequence[Mapping[str, Any]],
                  rows: Mapping[int, Mapping[str, Any]]) -> dict[str, str]:
    """Send verdicts on received hashes back to the member each came from."""
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        r = rows[it["hash_id"]]
        if r["origin"] is None or not r["remote_id"]:
            continue
        by_source[r["source"]].append({
            "hash_ref": r["remote_id"], "verdict": it["verdict"], "match_ref": it["match_ref"],
            "distance": it["distance"], "count": it["count"]})
    if not by_source:
        return {}
    from hanoi.services import outbox

    sent: dict[str, str] = {}
    for source, its in sorted(by_source.items()):
        for part in _chunks(its, ENVELOPE_REFS):
            sent[source] = outbox.enqueue(uow, recipient=source, type=ITEM_FEEDBACK,
                                          payload={"items": list(part)}, subject="media:feedback")
    return sent


def feedback(node: Node, actor: str, items: object, *,
             member_id: str | None = None) -> dict[str, Any]:
    """Verdicts on matches (``[{match_id, verdict}]``, verdict confirmed / false-positive /
    not-violating), one per match; a verdict on a received hash flows back to its source."""
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list) or not items:
        raise invalid("items", "give a list of {match_id, verdict}")
    if len(items) > MAX_BATCH:
        raise invalid("items", f"at most {MAX_BATCH:,} per call", "MEDIA-BATCH")
    problems: list[Problem] = []
    wanted: dict[int, str] = {}
    for i, it in enumerate(items):
        mid = it.get("match_id") if isinstance(it, Mapping) else None
        verdict = it.get("verdict") if isinstance(it, Mapping) else None
        if not is_bigint(mid):
            problems.append(Problem(f"items[{i}].match_id", "must be a match id"))
        elif mid in wanted:
            problems.append(Problem(f"items[{i}].match_id", "is given twice"))
        if verdict not in VERDICTS:
            problems.append(Problem(f"items[{i}].verdict",
                                    f"{verdict!r} is not one of: {', '.join(VERDICTS)}"))
        if not problems and isinstance(mid, int) and isinstance(verdict, str):
            wanted[mid] = verdict
    if problems:
        raise InvalidInput("the feedback is not valid; nothing was recorded", problems)
    with node.write(actor) as uow:
        found = {int(r["id"]): dict(r) for part in _chunks(sorted(wanted))
                 for r in uow.conn.execute(select(media_matches).where(
                     media_matches.c.id.in_(part))).mappings()}
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise NotFound(f"no match with id {', '.join(map(str, missing[:10]))}", "match_id")
        done = sorted(int(m) for part in _chunks(sorted(wanted)) for m in uow.conn.execute(
            select(media_feedback.c.match_id).where(media_feedback.c.match_id.in_(part))).scalars())
        if done:
            raise Conflict(f"match {', '.join(map(str, done[:10]))} already has a verdict",
                           [Problem("match_id", "already has a verdict")])
        rows = _rows_by_id(uow.conn, sorted({int(m["hash_id"]) for m in found.values()}))
        records = [{"hash_id": int(found[mid]["hash_id"]), "match_id": mid,
                    "match_ref": str(mid), "verdict": v, "distance": found[mid]["distance"],
                    "count": found[mid]["count"]} for mid, v in sorted(wanted.items())]
        sent = _tell_sources(uow, records, rows)
        uow.conn.execute(media_feedback.insert(), [
            {"hash_id": r["hash_id"], "match_id": r["match_id"], "match_ref": None,
             "verdict": r["verdict"], "distance": r["distance"], "count": r["count"],
             "reporter": actor, "member_id": member_id,
             "envelope_id": sent.get(rows[r["hash_id"]]["source"])
             if rows[r["hash_id"]]["origin"] else None,
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
        rows = conn.execute(q.order_by(media_feedback.c.id).limit(limit)).mappings().all()
    return [{"id": int(r["id"]), "hash_id": int(r["hash_id"]), "list_id": r["list_id"],
             "case_ref": r["case_ref"], "algorithm": r["algorithm"], "hash_status": r["status"],
             "verdict": r["verdict"], "distance": r["distance"], "count": r["count"],
             "match_id": r["match_id"], "match_ref": r["match_ref"], "member_id": r["member_id"],
             "reporter": r["reporter"], "created_at": isoformat(r["created_at"])} for r in rows]


# --- items from peers (registered with services.inbox) ---------------------------------------


def _malformed(detail: str, problems: list[Problem]) -> InvalidInput:
    return InvalidInput(detail, problems, "FED-ITEM-INVALID")


def on_hashes(uow: UnitOfWork, env: Any, sender: Mapping[str, Any]) -> dict[str, Any]:
    """A member sends hashes of one of its lists: mirror the list, store the hashes. A
    malformed item is refused whole; a hash withdrawn here before is refused (and named in the
    result) while the rest are stored."""
    p = env.payload if isinstance(env.payload, Mapping) else {}
    lp, items = p.get("list"), p.get("hashes")
    if not isinstance(lp, Mapping) or not isinstance(lp.get("ref"), str) or not lp["ref"]:
        raise _malformed("media.hashes names no list", [Problem("payload.list.ref", "is required")])
    if not isinstance(items, list) or len(items) > MAX_BATCH:
        raise _malformed("media.hashes carries no hashes",
                         [Problem("payload.hashes", f"must be a list of at most {MAX_BATCH:,}")])
    settings = {k: lp.get(k) for k in ("name", "category", "threshold", "tlp", "spike_matches",
                                        "spike_minutes")}
    try:
        settings = _list_settings({k: v for k, v in settings.items() if v is not None}, None)
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
        parsed = parse_items([{k: v for k, v in it.items() if k in ("algorithm", "value",
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
    existing = _rows_by_digest(uow.conn, [h.digest for h in parsed])
    gone = {r["digest"]: r for r in existing if r["status"] in GONE}
    listed = {r["digest"] for r in existing if r["list_id"] == list_id}
    refused = [{"ref": ref_of[h.digest], "reason": f"withdrawn by {gone[h.digest]['source']}: "
                "a withdrawn hash is not listed again", "rule": "MEDIA-WITHDRAWN"}
               for h in parsed if h.digest in gone]
    new = [h for h in parsed if h.digest not in gone and h.digest not in listed]
    if new:
        _insert_hashes(uow, list_id, new, source=sender_id, rev=_bump(uow), refs=ref_of)
    uow.record("media.receive", list_subject(list_id), {
        "from": sender_id, "list_ref": lp["ref"], "envelope": str(getattr(env, "id", "")),
        "stored": len(new), "already_listed": len(parsed) - len(new) - len(refused),
        "refused": refused, "digests": sorted(h.digest for h in new)},
        reasons=[{"code": "MEDIA-WITHDRAWN", "detail": f"{len(refused)} refused"}] if refused else [])
    return {"subject": list_subject(list_id), "list_id": list_id, "stored": len(new),
            "refused": refused}


def on_withdraw(uow: UnitOfWork, env: Any, sender: Mapping[str, Any]) -> dict[str, Any]:
    """The source of hashes withdrew or deleted them: drop them here."""
    p = env.payload if isinstance(env.payload, Mapping) else {}
    status, refs = p.get("status"), p.get("refs")
    if status not in GONE:
        raise _malformed("media.withdraw: unknown status",
                         [Problem("payload.status", f"must be one of: {', '.join(GONE)}")])
    if not isinstance(refs, list) or not refs or len(refs) > MAX_BATCH \
            or not all(isinstance(r, str) for r in refs):
        raise _malformed("media.withdraw names no hashes",
                         [Problem("payload.refs", "must be a list of hash refs")])
    sender_id = str(sender["id"])
    rows: list[dict[str, Any]] = []
    for part in _chunks(sorted(set(refs))):
        rows += [dict(r) for r in uow.conn.execute(select(media_hashes).where(
            (media_hashes.c.source == sender_id) & media_hashes.c.remote_id.in_(part)))
            .mappings()]
    todo = [r for r in rows if r["status"] != status and r["status"] != DELETED]
    reason = p.get("reason") if isinstance(p.get("reason"), str) else ""
    _drop(uow, todo, status, f"{status} by its source {sender_id}" +
          (f": {reason[:400]}" if reason else ""), propagate=False)
    uow.record("media.withdraw.received", "media:withdraw", {
        "from": sender_id, "status": status, "envelope": str(getattr(env, "id", "")),
        "changed": len(todo), "unknown": len(set(refs)) - len({r["remote_id"] for r in rows}),
        "digests": sorted(r["digest"] for r in todo)}, reasons=[{"code": "MEDIA-WITHDRAWN"}])
    return {"subject": "media:withdraw", "changed": len(todo)}


def on_feedback(uow: UnitOfWork, env: Any, sender: Mapping[str, Any]) -> dict[str, Any]:
    """A member reports on matches of hashes we sent it."""
    p = env.payload if isinstance(env.payload, Mapping) else {}
    items = p.get("items")
    if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
        raise _malformed("media.feedback carries no items",
                         [Problem("payload.items", "must be a non-empty list")])
    problems: list[Problem] = []
    parsed: list[tuple[int, dict[str, Any]]] = []
    for i, it in enumerate(items):
        ref = it.get("hash_ref") if isinstance(it, Mapping) else None
        if not isinstance(ref, str) or not ref.isdigit():
            problems.append(Problem(f"payload.items[{i}].hash_ref", "must be a hash ref we sent"))
            continue
        if it.get("verdict") not in PEER_VERDICTS:
            problems.append(Problem(f"payload.items[{i}].verdict",
                                    f"must be one of: {', '.join(PEER_VERDICTS)}"))
            continue
        parsed.append((int(ref), dict(it)))
    if problems:
        raise _malformed("media.feedback is not valid", problems)
    sender_id = str(sender["id"])
    ids = sorted({h for h, _ in parsed})
    delivered = {int(h) for part in _chunks(ids) for h in uow.conn.execute(
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
         "member_id": sender_id, "envelope_id": str(getattr(env, "id", ""))[:128] or None,
         "created_at": uow.now} for h, it in parsed])
    uow.record("media.feedback.received", "media:feedback", {
        "from": sender_id, "envelope": str(getattr(env, "id", "")),
        "items": [{"hash_id": h, "verdict": it["verdict"]} for h, it in parsed]})
    return {"subject": "media:feedback", "recorded": len(parsed)}


HANDLERS: Final[dict[str, Callable[[UnitOfWork, Any, Mapping[str, Any]], dict[str, Any]]]] = {
    ITEM_HASHES: on_hashes,
    ITEM_WITHDRAW: on_withdraw,
    ITEM_FEEDBACK: on_feedback,
}


def hashes_send_gate(uow: UnitOfWork, row: Mapping[str, Any], member: Mapping[str, Any]) -> Decision:
    """At send time, again: the recipient's standing and the list's TLP (a recipient removed
    from the named ones after the item was queued gets nothing)."""
    from hanoi.services import outbox

    reasons = standing_reasons(PartnerView.from_dict(member), outbox.gate_policy(uow).gate)
    payload = row.get("payload") or {}
    ref = payload.get("list", {}).get("ref") if isinstance(payload, Mapping) else None
    lst = uow.conn.execute(select(media_lists.c.tlp, media_lists.c.recipients).where(
        (media_lists.c.id == ref) & media_lists.c.origin.is_(None))).first() if ref else None
    if lst is None:
        reasons.append(Reason("GATE-TLP", "deny", f"list {ref!r} is not a list of this node"))
    else:
        reasons += tlp_reasons(TLP(lst.tlp), str(member["id"]), lst.recipients)
    return Decision.of(reasons)


def withdraw_send_gate(uow: UnitOfWork, row: Mapping[str, Any], member: Mapping[str, Any]) -> Decision:
    """A withdrawal only tells a member to drop what it holds: it goes whatever the member's
    standing (a suspended member must still drop the hash)."""
    return Decision.of(())


def register() -> None:
    """Register the media handlers with the inbox and the send gates with the outbox
    (idempotent). Feedback uses the outbox's default gate (standing)."""
    from hanoi.services import inbox, outbox

    for item_type, fn in HANDLERS.items():
        inbox.register_handler(item_type, fn)
    outbox.register_send_gate(ITEM_HASHES, hashes_send_gate)
    outbox.register_send_gate(ITEM_WITHDRAW, withdraw_send_gate)


# --- the demo scenario -----------------------------------------------------------------------


def play_media_scenario(helpline: Any, platform: Any, *, platform_member_id: str,
                        images: Path, deliver: Callable[[], None] | None = None,
                        say: Callable[[str], None] = print, timeout: float = 30.0
                        ) -> dict[str, Any]:
    """The media story over two nodes' APIs, for the demo.

    ``helpline`` and ``platform`` are HTTP clients (``httpx.Client`` or FastAPI's
    ``TestClient``) with ``base_url`` and an ``Authorization`` header already set: an analyst
    (or admin) token of the helpline's node, a platform (or admin) token of the platform's.
    ``platform_member_id`` is the platform's member id at the helpline (a peer in good
    standing); the helpline must be a peer of the platform too. ``images`` is the PDQ fixture
    folder (``bridge-mods/`` and ``labelme-subset/``). ``deliver`` is called while waiting for
    federation (e.g. to run both outbox workers once); items are awaited up to ``timeout``.

    1. The helpline hashes ``bridge-mods/aaa-orig.jpg`` on its own machine (only hashes leave).
    2. It makes an NCII list (TLP:AMBER, the platform named), submits the hashes, distributes.
    3. The platform matches an edited copy (``sharpen-a-lot.jpg``): found, with its distance;
       and an unrelated photo (``labelme-subset/q0122.jpg``): not found.
    4. The platform confirms the match; the helpline sees the verdict.

    Returns what happened; raises ``AssertionError`` naming the step that failed.
    """
    from hanoi.media.pdq import hash_path

    def call(client: Any, method: str, url: str, body: Any = None) -> Any:
        r = client.request(method, url, json=body)
        assert r.status_code < 300, f"{method} {url}: {r.status_code} {r.text}"
        return r.json()

    def wait(what: str, check: Callable[[], Any]) -> Any:
        end = time.monotonic() + timeout
        while True:
            if deliver is not None:
                deliver()
            got = check()
            if got:
                return got
            assert time.monotonic() < end, f"timed out waiting for {what}"
            time.sleep(0.2)

    original = hash_path(images / "bridge-mods" / "aaa-orig.jpg")
    assert original.pdq is not None
    say(f"helpline: hashed aaa-orig.jpg on the device: PDQ {original.pdq.hash[:16]}... "
        f"quality {original.pdq.quality}")
    lst = call(helpline, "POST", "/api/v1/media/lists", {
        "name": "Revenge Porn Helpline: reported images", "category": "ncii",
        "recipients": [platform_member_id]})
    sub = call(helpline, "POST", f"/api/v1/media/lists/{lst['id']}/hashes", {
        "case_ref": "RPH-DEMO-0001", "hashes": [{"pdq": original.pdq.hash,
                                                 "quality": original.pdq.quality,
                                                 "md5": original.md5,
                                                 "sha256": original.sha256}]})
    say(f"helpline: list {lst['id']} (TLP:{lst['tlp']}): {sub['stored']} hashes stored")
    dist = call(helpline, "POST", f"/api/v1/media/lists/{lst['id']}/distribute",
                {"recipient": platform_member_id})
    say(f"helpline: distributed {dist['sent']} hashes to {platform_member_id} "
        f"(gate: {dist['decision']['outcome']})")

    edited = hash_path(images / "bridge-mods" / "sharpen-a-lot.jpg")
    unrelated = hash_path(images / "labelme-subset" / "q0122.jpg")
    assert edited.pdq is not None and unrelated.pdq is not None
    edited_pdq = edited.pdq.hash

    def edited_found() -> Any:
        res = call(platform, "POST", "/api/v1/media/match", {"pdq": [edited_pdq]})
        return res if res["matches"] else None

    res = wait("the hashes to reach the platform", edited_found)
    m = res["matches"][0]
    say(f"platform: edited copy found: list {m['list']!r} ({m['category']}), source "
        f"{m['source']}, distance {m['distance']}")
    miss = call(platform, "POST", "/api/v1/media/match", {"pdq": [unrelated.pdq.hash]})
    assert not miss["matches"], f"an unrelated image matched: {miss['matches']}"
    say("platform: unrelated image: no match")
    call(platform, "POST", "/api/v1/media/feedback",
         {"items": [{"match_id": m["match_id"], "verdict": "confirmed"}]})
    say("platform: match confirmed")

    def seen() -> Any:
        fb = call(helpline, "GET", f"/api/v1/media/feedback?list_id={lst['id']}")
        return fb or None

    fb = wait("the feedback to reach the helpline", seen)
    say(f"helpline: feedback from {fb[0]['member_id']}: {fb[0]['verdict']} "
        f"(case {fb[0]['case_ref']}, distance {fb[0]['distance']})")
    return {"list": lst, "submitted": sub, "distributed": dist, "match": m,
            "unrelated": miss, "feedback": fb}


__all__ = [
    "HANDLERS", "ITEM_FEEDBACK", "ITEM_HASHES", "ITEM_WITHDRAW", "MediaIndex", "create_list",
    "distribute", "feedback", "index_for", "index_status", "list_feedback", "list_hashes",
    "list_lists", "match", "on_feedback", "on_hashes", "on_withdraw", "parse_items",
    "play_media_scenario", "rebuild_index", "register", "review", "save_snapshot", "show_hash",
    "show_list", "submit", "tlp_reasons", "update_list", "withdraw",
]
