"""Signal files in and out (STIX 2.1, MISP, CSV).

- ``import_document`` parses one document (format detected when not given) with the pure
  converters of ``hanoi.signals.formats`` (CSV: URLhaus dumps, our columns and value lists,
  all read by ``formats.csv``), validates every report and stores them through
  ``service.store``: all or nothing unless ``best_effort``; every reject names its object id,
  MISP attribute or CSV line. The CLI (``hanoi signals import``) and the API
  (``POST /api/v1/signals/import``) both call it, so a file is read the same either way.
  ``import_misp_feed`` does the same for a MISP feed folder (``manifest.json`` and
  ``<uuid>.json`` event files).
- ``export_document`` writes what one recipient may receive (``service.reports_for_export``:
  the same gate as lookups, TAXII and federation) as a STIX bundle, a MISP event or CSV.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hanoi.core.errors import Problem, invalid
from hanoi.core.tlp import TLP, parse_tlp
from hanoi.node.runtime import Node
from hanoi.signals import service
from hanoi.signals.formats import FORMATS, detect_format, misp, parse_document, signal_format
from hanoi.signals.types import SIGNAL_TYPES


def _default_tlp(defaults: Mapping[str, Any] | None) -> TLP:
    raw = (defaults or {}).get("tlp")
    return parse_tlp(str(raw)).level if raw else TLP.AMBER


def _item(report: Mapping[str, Any], tags: Sequence[str]) -> dict[str, Any]:
    """A formats ``Report`` as a report item of ``service.report`` (absent fields left out,
    so an import's defaults fill them), with the importer's extra tags."""
    item = report_item(report)
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
    drafts, invalid_items = (service.validate(node, items, defaults=defaults, progress=progress)
                             if items else ([], []))
    problems = rejected_problems(rejects) + list(invalid_items)
    if by_line:  # a CSV's rejects in file order, whichever step found them
        problems.sort(key=lambda rp: _line(rp[0]))
    return service.store(node, actor, source, drafts, rejects=problems,
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
    CSV value list. The answer of ``service.store`` plus ``format``/``notes``."""
    if not data.strip():
        raise invalid("file", "is empty", "SIGNAL-LIMITS")
    if type_name is not None and type_name not in SIGNAL_TYPES:
        raise invalid("type", f"{type_name!r} is not a signal type; one of: {', '.join(SIGNAL_TYPES)}")
    extra = _tags(tags)
    chosen = signal_format(fmt) if fmt else detect_format(data[:65536], filename)
    notes: list[str] = []
    reports, rejects = parse_document(data, fmt=chosen.name, filename=filename, best_effort=True,
                                      default_tlp=_default_tlp(defaults),
                                      ctx=service.normalise_context(node), notes=notes, type_name=type_name)
    out = _store(node, actor, source, list(reports), list(rejects), best_effort=best_effort,
                 defaults=defaults, tags=extra, by_line=not chosen.names_types(), progress=progress)
    return {"format": chosen.name, "notes": notes[:200], **out}


def import_misp_feed(node: Node, actor: str, source: str | None, folder: Path, *,
                     best_effort: bool = False, defaults: Mapping[str, Any] | None = None,
                     tags: Sequence[str] | None = None,
                     progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Import a MISP feed folder: ``manifest.json`` and its ``<uuid>.json`` event files."""
    extra = _tags(tags)

    def load(path: Path) -> Any:
        try:
            return json.loads(path.read_bytes())
        except OSError as exc:
            raise invalid(path.name, f"cannot read: {exc.strerror}") from None
        except ValueError as exc:
            raise invalid(path.name, f"not JSON: {exc}") from None

    manifest = load(folder / "manifest.json")
    if not isinstance(manifest, dict):
        raise invalid("manifest.json", "must be an object of event uuid -> summary")
    events: dict[str, Any] = {}
    for path in sorted(folder.glob("*.json")):
        if path.name in ("manifest.json", "hashes.json"):
            continue
        events[path.stem] = load(path)
    notes: list[str] = []
    reports, rejects = misp.parse_feed(manifest, events, best_effort=True,
                                       default_tlp=_default_tlp(defaults),
                                       ctx=service.normalise_context(node), notes=notes)
    out = _store(node, actor, source, list(reports), list(rejects), best_effort=best_effort,
                 defaults=defaults, tags=extra, progress=progress)
    return {"format": "misp", "notes": notes[:200], **out}


def export_document(node: Node, fmt: str, *, member_id: str | None = None, public: bool = False,
                    since: Any = None) -> tuple[str, str]:
    """``(text, media type)``: what ``member_id`` (None: this node's staff) may receive."""
    if not fmt:
        raise invalid("format", f"give a format: {', '.join(FORMATS)}")
    kind = signal_format(fmt)
    rows = service.reports_for_export(node, member_id, since, public=public)
    reports = [{**r, "ref": str(r["report_id"]), "expires": r.get("expires_at"), "description": "",
                "external_id": None} for r in rows]
    return kind.export(reports, sharer=node.config.name, now=node.now()), kind.media_type


def report_item(r: Mapping[str, Any]) -> dict[str, Any]:
    """A formats ``Report`` as a report item of ``service.report`` (absent fields left out, so
    an import's defaults fill them)."""
    item: dict[str, Any] = {"ref": r["ref"], "type": r["type"], "value": r["value"],
                            "tlp": r["tlp"]}
    for src, dst in (("confidence", "confidence"), ("abuse_type", "abuse_type"),
                     ("first_seen", "first_seen"), ("last_seen", "last_seen"),
                     ("expires", "expires_at")):
        if r.get(src) not in (None, ""):
            item[dst] = r[src]
    if r.get("tags"):
        item["tags"] = list(r["tags"])
    return item


def rejected_problems(rejects: Sequence[Any]) -> list[tuple[str, Problem]]:
    """Formats ``Rejected`` as ``(ref, Problem)`` pairs for ``service.store``."""
    return [(r.ref, Problem(r.ref, r.reason + (f" (value {r.raw!r})" if r.raw else ""),
                            "SIGNAL-LIMITS")) for r in rejects]
