"""Signal files in and out (STIX 2.1, MISP, CSV), and a peer pulling signals since a cursor.

- ``import_document`` parses one document (format detected when not given) with the pure
  converters of ``hanoi.signals.formats`` (CSV: URLhaus dumps, our columns and value lists,
  all read by ``formats.csv``), validates every report and stores them through
  ``services.signals.store``: all or nothing unless ``best_effort``; every reject names its
  object id, MISP attribute or CSV line. The CLI (``hanoi signals import``) and the API
  (``POST /api/v1/signals/import``) both call it, so a file is read the same either way.
  ``import_misp_feed`` does the same for a MISP feed folder (``manifest.json`` and
  ``<uuid>.json`` event files).
- ``export_document`` writes what one recipient may receive (``reports_for_export``: the same
  gate as lookups, TAXII and federation) as a STIX bundle, a MISP event or CSV.
- Federation pull: a peer sends a ``signal.pull`` item (payload ``{"since": <report id
  cursor>}``) through its outbox; this node's handler queues back, as ``signal.report`` items
  through ``services.signals.publish`` (so the send gate decides again), every report after
  the cursor that the gate lets that peer receive, and answers ``{"queued", "cursor"}``; the
  peer keeps the cursor for its next pull.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hanoi.config import import_too_large
from hanoi.core.errors import InvalidInput, Problem, invalid
from hanoi.core.nesting import check_json_depth
from hanoi.services import signals as signal_service
from hanoi.services import taxii
from hanoi.services.node import Node
from hanoi.signals.formats import FORMATS, Format, detect_format, parse_document
from hanoi.signals.tlp import TLP, parse_tlp
from hanoi.signals.types import SIGNAL_TYPES
from hanoi.store.tables import signal_reports
from hanoi.store.uow import UnitOfWork

ITEM_PULL = "signal.pull"
MAX_PULL = 10_000


def _format(fmt: str | None) -> Format | None:
    if fmt in (None, ""):
        return None
    if fmt not in FORMATS:
        raise invalid("format", f"{fmt!r} is not a format; one of: {', '.join(FORMATS)}")
    return fmt


def _default_tlp(defaults: Mapping[str, Any] | None) -> TLP:
    raw = (defaults or {}).get("tlp")
    return parse_tlp(str(raw)).level if raw else TLP.AMBER


def _item(report: Mapping[str, Any], tags: Sequence[str]) -> dict[str, Any]:
    """A formats ``Report`` as a report item of ``services.signals`` (absent fields left out,
    so an import's defaults fill them), with the importer's extra tags."""
    item = taxii.report_item(report)
    for key in ("conditions", "recipients"):  # only our CSV layout carries them
        if report.get(key):
            item[key] = report[key]
    if tags:
        item["tags"] = [*item.get("tags", []), *tags]
    return item


def _line(ref: str) -> int:
    tail = ref.rsplit(" ", 1)[-1]
    return int(tail) if ref.startswith("line ") and tail.isdigit() else 0


def _store(node: Node, actor: str, source: str | None, reports: list[Any], rejects: list[Any], *,
           best_effort: bool, defaults: Mapping[str, Any] | None, tags: Sequence[str] = (),
           by_line: bool = False, progress: Callable[[int], None] | None) -> dict[str, Any]:
    items = [_item(r, tags) for r in reports]
    if not items and not rejects:
        raise invalid("file", "holds no signal to import", "SIGNAL-LIMITS")
    drafts, invalid_items = (signal_service.validate(node, items, defaults=defaults, progress=progress)
                             if items else ([], []))
    problems = taxii.rejected_problems(rejects) + list(invalid_items)
    if by_line:  # a CSV's rejects in file order, whichever step found them
        problems.sort(key=lambda rp: _line(rp[0]))
    return signal_service.store(node, actor, source, drafts, rejects=problems,
                                received=len(items) + len(rejects), best_effort=best_effort)


def _tags(tags: Sequence[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise invalid("tag", "must be a list of texts")
    return [t.strip() for t in tags if t.strip()]


def import_document(node: Node, actor: str, source: str | None, data: bytes, *,
                    fmt: str | None = None, filename: str | None = None, best_effort: bool = False,
                    defaults: Mapping[str, Any] | None = None, type_name: str | None = None,
                    tags: Sequence[str] | None = None,
                    progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Import one STIX / MISP / CSV document; ``defaults`` (tlp, abuse_type, confidence) fill
    what its entries lack, ``tags`` are added to every entry, ``type_name`` is the type of a
    CSV value list. The answer of ``services.signals.store`` plus ``format``/``notes``."""
    if len(data) > node.config.max_import_bytes:
        raise import_too_large(len(data), node.config.max_import_bytes, "the document")
    if not data.strip():
        raise invalid("file", "is empty", "SIGNAL-LIMITS")
    if type_name is not None and type_name not in SIGNAL_TYPES:
        raise invalid("type", f"{type_name!r} is not a signal type; one of: {', '.join(SIGNAL_TYPES)}")
    extra = _tags(tags)
    chosen = _format(fmt) or detect_format(data[:65536], filename)
    notes: list[str] = []
    reports, rejects = parse_document(data, fmt=chosen, filename=filename, best_effort=True,
                                      default_tlp=_default_tlp(defaults),
                                      ctx=signal_service._ctx(node), notes=notes, type_name=type_name)
    out = _store(node, actor, source, list(reports), list(rejects), best_effort=best_effort,
                 defaults=defaults, tags=extra, by_line=chosen == "csv", progress=progress)
    return {"format": chosen, "notes": notes[:200], **out}


def import_misp_feed(node: Node, actor: str, source: str | None, folder: Path, *,
                     best_effort: bool = False, defaults: Mapping[str, Any] | None = None,
                     tags: Sequence[str] | None = None,
                     progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Import a MISP feed folder: ``manifest.json`` and its ``<uuid>.json`` event files."""
    from hanoi.signals.formats import misp

    extra = _tags(tags)

    def load(path: Path) -> Any:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise invalid(path.name, f"cannot read: {exc.strerror}") from None
        check_json_depth(data, path.name)
        try:
            return json.loads(data)
        except ValueError as exc:
            raise invalid(path.name, f"not JSON: {exc}") from None

    files = [p for p in sorted(folder.glob("*.json")) if p.name != "hashes.json"]
    try:
        total = sum(p.stat().st_size for p in files)
    except OSError as exc:
        raise invalid("file", f"cannot read {folder}: {exc.strerror}") from None
    if total > node.config.max_import_bytes:
        raise import_too_large(total, node.config.max_import_bytes, f"the feed {folder.name}")
    manifest = load(folder / "manifest.json")
    if not isinstance(manifest, dict):
        raise invalid("manifest.json", "must be an object of event uuid -> summary")
    events: dict[str, Any] = {}
    for path in files:
        if path.name != "manifest.json":
            events[path.stem] = load(path)
    notes: list[str] = []
    reports, rejects = misp.parse_feed(manifest, events, best_effort=True,
                                       default_tlp=_default_tlp(defaults),
                                       ctx=signal_service._ctx(node), notes=notes)
    out = _store(node, actor, source, list(reports), list(rejects), best_effort=best_effort,
                 defaults=defaults, tags=extra, progress=progress)
    return {"format": "misp", "notes": notes[:200], **out}


def export_document(node: Node, fmt: str, *, member_id: str | None = None, public: bool = False,
                    since: Any = None) -> tuple[str, str]:
    """``(text, media type)``: what ``member_id`` (None: this node's staff) may receive."""
    chosen = _format(fmt)
    if chosen is None:
        raise invalid("format", f"give a format: {', '.join(FORMATS)}")
    rows = signal_service.reports_for_export(node, member_id, since, public=public)
    reports = [{**r, "ref": str(r["report_id"]), "expires": r.get("expires_at"), "description": "",
                "external_id": None} for r in rows]
    now = node.now()
    if chosen == "stix":
        from hanoi.signals.formats import stix

        return (json.dumps(stix.to_bundle(reports, identity_name=node.config.name, now=now), indent=1),
                "application/stix+json;version=2.1")
    if chosen == "misp":
        from hanoi.signals.formats import misp

        # Nothing to export is an event without attributes (as MISP itself writes one), like
        # an empty STIX bundle or a CSV of its header: the request was right, the answer empty.
        event = misp.to_event(reports, info=f"Signals from {node.config.name}",
                              org=node.config.name, now=now)
        return json.dumps(event, indent=1), "application/json"
    from hanoi.signals.formats import csv

    return csv.to_csv(reports), "text/csv"


# --- federation pull ------------------------------------------------------------------------------


def pull(node: Node, actor: str, peer: str, since: int = 0) -> dict[str, Any]:
    """Ask ``peer`` (through the outbox) for the signals after report ``since`` it may send us."""
    from hanoi.services import outbox

    if since < 0:
        raise invalid("since", "must be a report id cursor (0 for everything)")
    with node.write(actor) as uow:
        if not outbox.federated(uow.conn, peer):
            raise invalid("peer", f"{peer!r} is not a federated peer (add it with `hanoi peers add`)")
        outbox.enqueue(uow, recipient=peer, type=ITEM_PULL, payload={"since": since},
                       subject="signals:federation")
        uow.record("signal.pull.sent", f"member:{peer}", {"peer": peer, "since": since})
    return {"peer": peer, "since": since, "queued": True}


def on_signal_pull(uow: UnitOfWork, envelope: Any, sender: Mapping[str, Any]) -> dict[str, Any]:
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
    queued = signal_service.publish(uow, ids, peers=[peer]).get(peer, []) if ids else []
    cursor = ids[-1] if ids else since
    return {"subject": "signals:federation", "queued": len(queued), "cursor": cursor,
            "more": len(ids) == MAX_PULL}


def register() -> None:
    """Wire the pull handler into the inbox (idempotent)."""
    from hanoi.services import inbox

    inbox.register_handler(ITEM_PULL, on_signal_pull)


__all__ = ["ITEM_PULL", "export_document", "import_document", "import_misp_feed",
           "on_signal_pull", "pull", "register"]
