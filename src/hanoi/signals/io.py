"""Signal files in and out (STIX 2.1, MISP, CSV).

- ``import_document`` parses one document (format detected when not given) with the pure
  converters of ``hanoi.signals.formats`` (CSV: URLhaus dumps, our columns and value lists,
  all read by ``formats.csv``), validates every report and stores them through
  ``service.store``: all or nothing unless ``best_effort``; every reject names its object id,
  MISP attribute or CSV line. The CLI (``hanoi signals import``) and the API
  (``POST /api/v1/signals/import``) both call it, so a file is read the same either way.
  ``import_misp_feed`` does the same for a MISP feed folder (``manifest.json`` and
  ``<uuid>.json`` event files). Data from other tools carries no Hanoi offence code: each
  entry's offence is its own, else the classification table's (``classification``), else the
  importer's default, else it is stored *not classified* and kept from every recipient until a
  person classifies it (``service.classify``). Importing the same document again updates the
  reports it made (``rows.report_key``) instead of adding copies.
- ``export_document`` writes what one recipient may receive (``service.reports_for_export``:
  the same gate as lookups, TAXII and federation) as a STIX bundle, a MISP event or CSV.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hanoi.config import import_too_large
from hanoi.core.errors import Problem, invalid
from hanoi.core.nesting import check_json_depth
from hanoi.core.offences import offence
from hanoi.core.tlp import TLP, parse_tlp
from hanoi.node.runtime import Node
from hanoi.signals import service
from hanoi.signals.classification import classify, terms_of
from hanoi.signals.formats import FORMATS, detect_format, misp, parse_document, signal_format
from hanoi.signals.types import SIGNAL_TYPES


def _default_tlp(defaults: Mapping[str, Any] | None) -> TLP:
    raw = (defaults or {}).get("tlp")
    return parse_tlp(str(raw)).level if raw else TLP.AMBER


IMPORT_DEFAULT = "import default"
"""``classified_by`` of a report that took the importer's ``--offence``."""
_PROVENANCE = ("creator_ref", "created", "indicator_types")


def _item(report: Mapping[str, Any], tags: Sequence[str], fmt: str, default_offence: str | None,
          how: dict[str, int]) -> dict[str, Any]:
    """A formats ``Report`` as a report item of ``service.report`` (absent fields left out,
    so an import's defaults fill them), with the importer's extra tags, what names it in its
    document (id, author, version) and its offence: its own, else the classification table's,
    else the importer's default, else none (``how`` counts which)."""
    item = report_item(report)
    for key in ("conditions", "recipients"):  # only our CSV layout carries them
        if report.get(key):
            item[key] = report[key]
    if tags:
        item["tags"] = [*item.get("tags", []), *tags]
    if report.get("external_id"):
        item["external_id"] = report["external_id"]
    if report.get("source"):
        item["creator"] = report["source"]
    if report.get("version"):
        item["version"] = report["version"]
    provenance: dict[str, Any] = {k: report[k] for k in _PROVENANCE if report.get(k)}
    if provenance or item.get("external_id"):
        item["provenance"] = {"format": fmt, **provenance}
    if item.get("abuse_type"):
        how["document"] = how.get("document", 0) + 1
        return item
    found = classify(terms_of(report)) or classify(report.get("context_terms") or ())
    if found is not None:
        item["abuse_type"], item["classified_by"] = found.offence, found.by
        how["table"] = how.get("table", 0) + 1
    elif default_offence:
        item["abuse_type"], item["classified_by"] = default_offence, IMPORT_DEFAULT
        how["default"] = how.get("default", 0) + 1
    else:
        how["none"] = how.get("none", 0) + 1
    return item


def import_items(reports: Sequence[Mapping[str, Any]], *, fmt: str, tags: Sequence[str] = (),
                 default_offence: str | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The report items of parsed reports, each with its offence decided (``_item``), and how
    many took it from the document, the table, the default or none (for the TAXII server too)."""
    how: dict[str, int] = {}
    return [_item(r, tags, fmt, default_offence, how) for r in reports], how


def _line(ref: str) -> int:
    tail = ref.rsplit(" ", 1)[-1]
    return int(tail) if ref.startswith("line ") and tail.isdigit() else 0


def _store(node: Node, actor: str, source: str | None, reports: list[Any], rejects: list[Any], *,
           fmt: str, best_effort: bool, defaults: Mapping[str, Any] | None, tags: Sequence[str] = (),
           by_line: bool = False, progress: Callable[[int], None] | None,
           on_rejects: Callable[[list[tuple[str, Problem]]], None] | None,
           withdrawn: Sequence[str] = ()) -> dict[str, Any]:
    terms = dict(defaults or {})
    default_offence = terms.pop("abuse_type", None)
    if default_offence is not None:
        default_offence = offence(default_offence, "offence").code
    items, how = import_items(reports, fmt=fmt, tags=tags, default_offence=default_offence)
    if not items and not rejects and not withdrawn:
        raise invalid("file", "holds no signal to import", "SIGNAL-LIMITS")
    drafts, invalid_items = (service.validate(node, items, defaults=terms, progress=progress, unclassified=True)
                             if items else ([], []))
    problems = rejected_problems(rejects) + list(invalid_items)
    if by_line:  # a CSV's rejects in file order, whichever step found them
        problems.sort(key=lambda rp: _line(rp[0]))
    if problems and on_rejects is not None:
        on_rejects(problems)
    out = service.store(node, actor, source, drafts, rejects=problems,
                        received=len(items) + len(rejects), best_effort=best_effort, withdrawn=withdrawn)
    return {**out, "classified": how}


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
                    progress: Callable[[int], None] | None = None,
                    on_rejects: Callable[[list[tuple[str, Problem]]], None] | None = None) -> dict[str, Any]:
    """Import one STIX / MISP / CSV document; ``defaults`` (tlp, abuse_type, confidence) fill
    what its entries lack (an entry's offence: its own, else the classification table's, else
    the default ``abuse_type``, else it is stored not classified), ``tags`` are added to every
    entry, ``type_name`` is the type of a CSV value list. ``on_rejects`` is called with every
    reject (``(ref, problem)``, none left out) before anything is stored or refused. The answer
    of ``service.store`` plus ``format``, ``notes``, ``skipped`` (what the document holds and
    was deliberately not imported, by name), ``classified`` (how many entries took their
    offence from the document, the table, the default, or none) and ``summary`` (one line)."""
    if len(data) > node.config.max_import_bytes:
        raise import_too_large(len(data), node.config.max_import_bytes, "the document")
    if not data.strip():
        raise invalid("file", "is empty", "SIGNAL-LIMITS")
    if type_name is not None and type_name not in SIGNAL_TYPES:
        raise invalid("type", f"{type_name!r} is not a signal type; one of: {', '.join(SIGNAL_TYPES)}")
    extra = _tags(tags)
    chosen = signal_format(fmt) if fmt else detect_format(data[:65536], filename)
    notes: list[str] = []
    skipped: dict[str, int] = {}
    withdrawn: list[str] = []
    reports, rejects = parse_document(data, fmt=chosen.name, filename=filename, best_effort=True,
                                      default_tlp=_default_tlp(defaults),
                                      ctx=service.normalise_context(node), notes=notes, type_name=type_name,
                                      skipped=skipped, withdrawn=withdrawn)
    out = _store(node, actor, source, list(reports), list(rejects), fmt=chosen.name, best_effort=best_effort,
                 defaults=defaults, tags=extra, by_line=not chosen.names_types(), progress=progress,
                 on_rejects=on_rejects, withdrawn=withdrawn)
    done = {"format": chosen.name, "notes": notes[:200], "skipped": skipped, **out}
    return {**done, "summary": summary(done)}


def import_misp_feed(node: Node, actor: str, source: str | None, folder: Path, *,
                     best_effort: bool = False, defaults: Mapping[str, Any] | None = None,
                     tags: Sequence[str] | None = None,
                     progress: Callable[[int], None] | None = None,
                     on_rejects: Callable[[list[tuple[str, Problem]]], None] | None = None) -> dict[str, Any]:
    """Import a MISP feed folder: ``manifest.json`` and its ``<uuid>.json`` event files (the
    same answer as ``import_document``)."""
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
    skipped: dict[str, int] = {}
    withdrawn: list[str] = []
    reports, rejects = misp.parse_feed(manifest, events, best_effort=True,
                                       default_tlp=_default_tlp(defaults),
                                       ctx=service.normalise_context(node), notes=notes, skipped=skipped,
                                       withdrawn=withdrawn)
    out = _store(node, actor, source, list(reports), list(rejects), fmt="misp", best_effort=best_effort,
                 defaults=defaults, tags=extra, progress=progress, on_rejects=on_rejects, withdrawn=withdrawn)
    done = {"format": "misp", "notes": notes[:200], "skipped": skipped, **out}
    return {**done, "summary": summary(done)}


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def summary(out: Mapping[str, Any]) -> str:
    """One line for an import: what was stored, updated or unchanged, how the offences were
    decided, what stays unclassified, what the document held that was not imported, rejects."""
    unit = ("row", "rows") if out.get("format") == "csv" else ("entry", "entries")
    parts = [f"{_n(out['received'], *unit)} read: {_n(out['stored'], 'new report')}, {out['updated']:,} updated, "
             f"{out['unchanged']:,} unchanged ({_n(out['new_signals'], 'new signal')})"]
    how = out.get("classified") or {}
    said = [f"{how[k]:,} {label}" for k, label in (("document", "by the document"), ("table", "by the table"),
                                                  ("default", "by the import's default")) if how.get(k)]
    if said:
        parts.append("offence " + ", ".join(said))
    if out.get("withdrawn"):
        parts.append(f"{_n(out['withdrawn'], 'report')} withdrawn by their author (no longer shared or matched)")
    if out.get("unclassified"):
        parts.append(f"{_n(out['unclassified'], 'report')} not classified (kept from every recipient "
                     "until classified)")
    skipped = out.get("skipped") or {}
    if skipped:
        ranked = sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))
        parts.append("not imported: " + ", ".join(f"{name} {n:,}" for name, n in ranked))
    rejected = len({r["ref"] for r in out.get("rejected") or ()})
    if rejected:
        parts.append(f"{_n(rejected, *unit)} rejected")
    return "; ".join(parts)


def export_document(node: Node, fmt: str, *, member_id: str | None = None, public: bool = False,
                    since: Any = None) -> tuple[str, str]:
    """``(text, media type)``: what ``member_id`` (None: this node's staff) may receive."""
    if not fmt:
        raise invalid("format", f"give a format: {', '.join(FORMATS)}")
    kind = signal_format(fmt)
    rows = service.reports_for_export(node, member_id, since, public=public)
    reports = [{**r, "ref": str(r["report_id"]), "expires": r.get("expires_at"), "description": ""} for r in rows]
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
