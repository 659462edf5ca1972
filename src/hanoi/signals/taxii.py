"""TAXII 2.1 over this node's signals: collections per audience, paged through the gate.

A TAXII *collection* is one audience, and what it holds is what the signals gate lets that
audience receive (the same ``sees`` every lookup, listing and federation push uses):

- ``partner-<member id>``: what that member may receive (the only collection a partner's token
  sees);
- ``community``: what any member in good standing may receive without being named (GREEN and
  CLEAR, consented, not expired);
- ``public``: what anyone may receive (CLEAR);
- ``node``: everything (this node's own staff only).

Each collection has a UUID id derived from the node and the audience, and the audience name as
its ``alias``; either names it in a URL. Its objects are STIX 2.1 indicators, one per report,
as ``formats.stix.indicator_of`` writes them, with an id that encodes the report id (so
``match[id]`` is a primary-key lookup). An indicator that came from another STIX tool keeps its
own id, author and version instead (``match[id]`` finds it by ``external_id``), and the reports
its OR pattern gave are served as that one indicator, at the first of them. Every object has one
version (its ``modified``). A report not classified yet is in no collection but ``node``.

**Paging.** Objects are ordered by (date added, report id) — ``signal_reports.reported_at``
and ``id``, indexed together — and a page continues strictly after the last (added, id) pair
of the previous page, carried in the opaque ``next`` token. Each page is one index range scan,
however deep: no OFFSET. Rows the audience may not see are skipped while filling a page, and
``more`` is true only when a further visible object exists.

**Writing.** ``add_objects`` reads a STIX envelope with ``formats.stix.parse_bundle`` (best
effort: each bad object is a failure of the status naming its id), gives each indicator its
offence as an import does (``io.import_items``: its own, else the classification table's, else
none: stored not classified), validates and stores the rest through
``signals.service.validate``/``store`` as the caller's organisation (an indicator sent again
updates its report), and answers
a TAXII status resource, kept as a small JSON file so any API worker can answer its GET.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select

from hanoi.core.bounds import is_bigint
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import Forbidden, NotFound, invalid
from hanoi.core.nesting import check_json_depth
from hanoi.core.roles import Permission, Role, allows
from hanoi.core.tlp import TLP
from hanoi.node.runtime import Node
from hanoi.signals import io, rows, service
from hanoi.signals.formats import stix
from hanoi.signals.gate import PUBLIC, Viewer, sees
from hanoi.store.tables import signal_reports, signals

MEDIA_TYPE = "application/taxii+json;version=2.1"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 1000
STATUS_DIR = "taxii-status"
_SCAN = 2000  # rows read per query while filling a page
_COMMUNITY = Viewer("\x00community", False, True)  # a member in good standing nobody named


# --- who asks and which collections they see ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Collection:
    id: str
    alias: str
    title: str
    description: str
    audience: str  # node | community | public | partner
    member_id: str | None = None
    can_write: bool = False

    def resource(self) -> dict[str, Any]:
        """The TAXII collection resource."""
        return {"id": self.id, "title": self.title, "description": self.description,
                "alias": self.alias, "can_read": True, "can_write": self.can_write,
                "media_types": ["application/stix+json;version=2.1"]}


def _collection_id(node: Node, alias: str) -> str:
    digest = hashlib.sha256(f"taxii-collection\x1f{node.node_id}\x1f{alias}".encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


def _make(node: Node, alias: str, *, writable: bool) -> Collection:
    if alias == "node":
        return Collection(_collection_id(node, alias), alias, f"{node.config.name}: all signals",
                          "Every report this node holds (this node's staff only).", "node",
                          can_write=writable)
    if alias == "community":
        return Collection(_collection_id(node, alias), alias, "Community (TLP:GREEN and CLEAR)",
                          "What any member in good standing may receive without being named.",
                          "community")
    if alias == "public":
        return Collection(_collection_id(node, alias), alias, "Public (TLP:CLEAR)",
                          "What anyone may receive.", "public")
    member = alias.removeprefix("partner-")
    return Collection(_collection_id(node, alias), alias, f"Signals for {member}",
                      f"What the signals gate lets {member} receive.", "partner", member,
                      can_write=writable)


def _can_read(who: Any) -> bool:
    return allows(who.role, Permission.SIGNALS_READ) or allows(who.role, Permission.MATCH)


def collections_for(node: Node, who: Any) -> list[Collection]:
    """The collections ``who`` (an API ``Principal``) may read."""
    if not _can_read(who):
        return []
    writable = allows(who.role, Permission.SIGNALS_WRITE)
    if who.member_id is not None:
        return [_make(node, f"partner-{who.member_id}", writable=writable)]
    if who.role == Role.PLATFORM:
        return [_make(node, "public", writable=False)]
    return [_make(node, a, writable=writable) for a in ("node", "community", "public")]


def collection(node: Node, who: Any, ident: str) -> Collection:
    """One collection by id or alias; staff may also open any ``partner-<member>`` (a preview
    of what that member receives). ``NotFound`` for anything the caller may not read."""
    if not _can_read(who):
        raise Forbidden(f"the {who.role.value} role may not read signals")
    for c in collections_for(node, who):
        if ident in (c.id, c.alias):
            return c
    if (who.member_id is None and who.role != Role.PLATFORM and ident.startswith("partner-")
            and len(ident) <= 80):
        return _make(node, ident, writable=False)
    raise NotFound(f"no collection {ident!r} that you may read", "collection")


def _viewer(node: Node, coll: Collection) -> Viewer | None:
    if coll.audience == "node":
        return None
    if coll.audience == "public":
        return PUBLIC
    if coll.audience == "community":
        return _COMMUNITY
    with node.read() as conn:
        return service.viewer_for(conn, service.Caller("taxii", coll.member_id), node.policy().standing)


# --- object ids and the paging token -----------------------------------------------------------


def object_id(node: Node, report_id: int) -> str:
    """``indicator--<uuid>``: 10 bytes from the node's id, then the report id (48 bits), laid
    out as a version 4 UUID (the STIX spec asks SDOs for v4 ids)."""
    head = hashlib.sha256(f"taxii-object\x1f{node.node_id}".encode()).digest()[:10]
    return f"indicator--{uuid.UUID(bytes=head + report_id.to_bytes(6, 'big'), version=4)}"


def report_id_of(node: Node, obj_id: str) -> int | None:
    """The report id an object id names, or ``None`` if it is not one of this node's ids."""
    kind, _, raw = obj_id.partition("--")
    try:
        u = uuid.UUID(raw)
    except ValueError:
        return None
    rid = int.from_bytes(u.bytes[10:], "big")
    return rid if kind == "indicator" and rid > 0 and object_id(node, rid) == obj_id else None


def _encode_next(added: datetime, rid: int) -> str:
    raw = f"{added.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%f')}|{rid}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_next(token: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        stamp, _, rid = text.partition("|")
        added, report_id = datetime.fromisoformat(stamp).replace(tzinfo=UTC), int(rid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("next", "is not a paging token this server gave") from None
    if not is_bigint(report_id):  # a forged token: its id would overflow the query
        raise invalid("next", "is not a paging token this server gave")
    return added, report_id


def stix_time(moment: datetime) -> str:
    """A TAXII timestamp: UTC, microseconds (so added_after = a page's last date is exact)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_added_after(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise invalid("added_after", f"{text[:40]!r} is not a timestamp (RFC 3339)") from None


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    added_after: datetime | None = None
    limit: int = DEFAULT_LIMIT
    next: str | None = None
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()


def filters(*, added_after: str | None = None, limit: int | None = None, next_: str | None = None,
            ids: str | None = None, types: str | None = None, versions: str | None = None,
            spec_versions: str | None = None) -> Filters:
    """Filters from TAXII query parameters (each ``match[...]`` a comma-separated list)."""
    def split(v: str | None) -> tuple[str, ...]:
        return tuple(x.strip() for x in (v or "").split(",") if x.strip())

    if limit is not None and limit < 1:
        raise invalid("limit", "must be a positive whole number")
    return Filters(parse_added_after(added_after), min(limit or DEFAULT_LIMIT, MAX_LIMIT),
                   next_ or None, split(ids), split(types), split(versions), split(spec_versions))


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]  # report rows, each with "object" (the STIX indicator)
    more: bool
    next: str | None

    @property
    def first_added(self) -> datetime | None:
        return self.rows[0]["reported_at"] if self.rows else None

    @property
    def last_added(self) -> datetime | None:
        return self.rows[-1]["reported_at"] if self.rows else None


def _report(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored report row as the export writers read it (``rows.export_row``)."""
    return {**rows.export_row(row, []), "ref": str(row["id"]),
            "expires": isoformat(row["expires_at"]) if row["expires_at"] else None, "description": ""}


def to_object(node: Node, row: Mapping[str, Any], siblings: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The STIX indicator of one report (``stix.indicator_of``'s): an indicator that came from
    another STIX tool keeps its id, author and version, and the reports its OR pattern gave
    (``siblings``) are one object again; any other report's id encodes its report id."""
    obj, _ = stix.indicator_of([_report(r) for r in (row, *siblings)],
                               sharer_id=stix.stable_id("identity", node.config.name))
    if stix.own_id(_report(row)) is None:
        obj["id"] = object_id(node, int(row["id"]))
    return obj


def _version_ok(obj: Mapping[str, Any], versions: tuple[str, ...]) -> bool:
    # One version per object: first, last and all name it; a timestamp must equal it.
    if not versions or {"first", "last", "all"} & set(versions):
        return True
    try:
        want = {parse_time(v) for v in versions}
        return parse_time(obj["modified"]) in want
    except ValueError:
        raise invalid("match[version]", "first, last, all or timestamps") from None


def page(node: Node, coll: Collection, f: Filters) -> Page:
    """One page of the collection's objects after ``f.next`` (keyset on (added, report id))."""
    if f.types and "indicator" not in f.types:
        return Page([], False, None)
    if f.spec_versions and "2.1" not in f.spec_versions:
        return Page([], False, None)
    viewer = _viewer(node, coll)
    now = node.now()
    t, c = signal_reports.c.reported_at, signal_reports.c.id
    base = (select(signal_reports, signals.c.type, signals.c.value)
            .join(signals, signals.c.id == signal_reports.c.signal_id))
    if f.ids:
        rids = [r for r in (report_id_of(node, i) for i in f.ids) if r is not None]
        foreign = [i for i in f.ids if report_id_of(node, i) is None and i.startswith("indicator--")]
        if not rids and not foreign:
            return Page([], False, None)
        base = base.where(or_(c.in_(rids[:MAX_LIMIT]), signal_reports.c.external_id.in_(foreign[:MAX_LIMIT])))
    if f.added_after is not None:
        base = base.where(t > f.added_after)
    # Narrow in SQL what the audience can never see (the gate still decides every row).
    if coll.audience == "public":
        base = base.where(signal_reports.c.tlp == TLP.CLEAR.value)
    elif coll.audience == "community":
        base = base.where(signal_reports.c.tlp.in_([TLP.CLEAR.value, TLP.GREEN.value]))
    elif viewer is not None and viewer.member_id is not None and not viewer.trusted:
        base = base.where(or_(signal_reports.c.tlp == TLP.CLEAR.value,
                              signal_reports.c.source == viewer.member_id))
    after = _decode_next(f.next) if f.next else None
    kept: list[dict[str, Any]] = []
    with node.read() as conn:
        while True:
            q = base
            if after is not None:
                q = q.where(or_(t > after[0], and_(t == after[0], c > after[1])))
            page_rows = conn.execute(q.order_by(t, c).limit(_SCAN)).mappings().all()
            groups = _or_groups(conn, page_rows, viewer, node.node_id, now)
            for row in page_rows:
                item = dict(row)
                if viewer is not None and not sees(viewer, rows.view_of(item, node.node_id), now):
                    continue
                group = groups.get((item["source"], item["external_id"]), [])
                if group and group[0]["id"] != item["id"]:
                    continue  # one value of an OR pattern: served with the first one
                item["object"] = to_object(node, item, group[1:])
                if not _version_ok(item["object"], f.versions):
                    continue
                kept.append(item)
                if len(kept) > f.limit:
                    break
            if len(kept) > f.limit or len(page_rows) < _SCAN:
                break
            after = (page_rows[-1]["reported_at"], page_rows[-1]["id"])
    more = len(kept) > f.limit
    kept = kept[:f.limit]
    token = _encode_next(kept[-1]["reported_at"], kept[-1]["id"]) if more else None
    return Page(kept, more, token)


def _or_groups(conn: Any, page_rows: Sequence[Any], viewer: Viewer | None, node_id: str,
               now: datetime) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """For the reports of the page that came from an indicator of another STIX tool, every
    report of that indicator the audience may see (oldest first): its OR pattern's values."""
    wanted = {(r["source"], r["external_id"]) for r in page_rows if stix.own_id(r) is not None}
    if not wanted:
        return {}
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    q = (select(signal_reports, signals.c.type, signals.c.value)
         .join(signals, signals.c.id == signal_reports.c.signal_id)
         .where(signal_reports.c.external_id.in_(sorted({e for _, e in wanted})))
         .order_by(signal_reports.c.id))
    for r in conn.execute(q).mappings():
        item = dict(r)
        if (item["source"], item["external_id"]) in wanted and (
                viewer is None or sees(viewer, rows.view_of(item, node_id), now)):
            out.setdefault((item["source"], item["external_id"]), []).append(item)
    return {k: v for k, v in out.items() if len(v) > 1}


def envelope(p: Page) -> dict[str, Any]:
    out: dict[str, Any] = {"more": p.more}
    if p.next:
        out["next"] = p.next
    if p.rows:
        out["objects"] = [r["object"] for r in p.rows]
    return out


def manifest(p: Page) -> dict[str, Any]:
    out: dict[str, Any] = {"more": p.more}
    if p.next:
        out["next"] = p.next
    if p.rows:
        out["objects"] = [{"id": r["object"]["id"], "date_added": stix_time(r["reported_at"]),
                           "version": r["object"]["modified"],
                           "media_type": "application/stix+json;version=2.1"} for r in p.rows]
    return out


def versions(p: Page) -> dict[str, Any]:
    out: dict[str, Any] = {"more": p.more}
    if p.rows:
        out["versions"] = [r["object"]["modified"] for r in p.rows]
    return out


# --- writing -----------------------------------------------------------------------------------

_STATUS_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def add_objects(node: Node, who: Any, coll: Collection, body: bytes) -> dict[str, Any]:
    """Store the indicators of a TAXII envelope as reports by the caller's organisation; a
    TAXII status resource (every bad object a failure naming its id)."""
    if not coll.can_write:
        raise Forbidden("this collection does not accept objects from you")
    check_json_depth(body, "body")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise invalid("body", f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("objects"), list):
        raise invalid("objects", "a TAXII envelope is an object with an objects list")
    objects: list[Any] = doc["objects"]
    if not objects:
        raise invalid("objects", "is empty", "SIGNAL-LIMITS")
    reports, rejected = stix.parse_bundle(objects, best_effort=True, default_tlp=TLP.AMBER,
                                          ctx=service.normalise_context(node))
    items, _ = io.import_items(reports, fmt="stix")
    drafts, invalid_items = service.validate(node, items, unclassified=True) if items else ([], [])
    failures: dict[str, str] = {}
    for r in rejected:
        failures.setdefault(r.ref, r.reason)
    for ref, p in invalid_items:
        failures.setdefault(ref, p.message if p.field.endswith(ref) else f"{p.field}: {p.message}")
    stored = 0
    if drafts:
        source = who.member_id  # a partner reports as itself; staff as this node
        out = service.store(node, who.actor, source, drafts, best_effort=True)
        stored = out["stored"]
    ok = sorted({d.ref for d in drafts if d.ref} - set(failures))
    ids = [o.get("id") for o in objects if isinstance(o, dict) and isinstance(o.get("id"), str)]
    context = [i for i in ids if i not in failures and i not in ok]  # read for context only
    status = {
        "id": str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)),
        "status": "complete", "request_timestamp": stix_time(node.now()),
        "total_count": len(objects), "success_count": len(objects) - len(failures),
        "failure_count": len(failures), "pending_count": 0,
        "successes": [{"id": i} for i in ok + context][:MAX_LIMIT],
        "failures": [{"id": ref, "message": msg} for ref, msg in failures.items()][:MAX_LIMIT],
        "stored_reports": stored,
    }
    folder = node.home / STATUS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / f"{status['id']}.json").write_text(json.dumps(status), encoding="utf-8")
    return status


def status(node: Node, status_id: str) -> dict[str, Any]:
    if not _STATUS_ID.fullmatch(status_id):
        raise NotFound(f"no status {status_id[:60]!r}", "status")
    path = node.home / STATUS_DIR / f"{status_id}.json"
    try:
        out: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise NotFound(f"no status {status_id!r}", "status") from None
    return out


__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "MEDIA_TYPE", "Collection", "Filters",
           "Page", "add_objects", "collection", "collections_for", "envelope", "filters",
           "manifest", "object_id", "page", "report_id_of", "status", "versions"]
