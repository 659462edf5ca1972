"""CSV in and out: URLhaus dumps and a generic one-signal-per-row layout.

**URLhaus** (abuse.ch) database dumps start with ``#`` comment lines, the last of which is the
header ``# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter``; every
field is quoted, dates are ``YYYY-MM-DD HH:MM:SS`` in UTC and ``tags`` is a comma-separated
list inside its field. Each row is one ``url`` signal: ``dateadded`` is ``first_seen``,
``last_online`` is ``last_seen``, the threat and tags become tags, the URLhaus link is the
``external_id`` and the source is ``URLhaus``.

**Generic** CSV has a header line (required) naming its columns, in any order: ``value``
(required), ``type`` (a signal type name; guessed from the value when the column or the cell
is empty), ``tlp``, ``confidence``, ``abuse_type``, ``first_seen``, ``last_seen``,
``expires``, ``tags`` (comma-separated in the cell), ``description``, ``source``,
``external_id``. Other columns are ignored (noted). ``#`` comment lines and blank lines are
skipped anywhere. ``to_csv`` writes this layout with every column, so its output reads back.

Rejects name the line (``line 12``) where the bad record starts, counting every line of the
file from 1, comments included.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hanoi.core.errors import InvalidInput, invalid
from hanoi.signals.formats import (
    BadField,
    Report,
    abuse_type,
    check_type,
    confidence,
    description,
    finish,
    reject,
    report_tlp,
    tags,
    timestamp,
)
from hanoi.signals.tlp import TLP, parse_tlp
from hanoi.signals.types import NO_REGION, SIGNAL_TYPES, NormaliseContext, Rejected, detect_type

URLHAUS_COLUMNS = ("id", "dateadded", "url", "url_status", "last_online", "threat", "tags", "urlhaus_link", "reporter")
COLUMNS = (
    "type", "value", "tlp", "confidence", "abuse_type", "first_seen", "last_seen", "expires",
    "tags", "description", "source", "external_id",
)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid("csv", f"not UTF-8 text (byte {exc.start + 1}): save the file as UTF-8") from None


def _split_tags(cell: str) -> list[str]:
    return [t for t in (part.strip() for part in cell.split(",")) if t]


def parse_csv(
    data: bytes | str,
    *,
    best_effort: bool,
    default_tlp: TLP = TLP.AMBER,
    ctx: NormaliseContext = NO_REGION,
    notes: list[str] | None = None,
) -> tuple[list[Report], list[Rejected]]:
    """Reports from a URLhaus dump or a generic signal CSV (told apart by the header)."""
    text = _decode(data)
    # Lines end at '\n' only: str.splitlines would also split inside cells at U+2028 and friends.
    lines = [line for line in re.split(r"(?<=\n)", text) if line]
    comments = [line.lstrip("#").strip() for line in lines if line.lstrip().startswith("#")]
    urlhaus = any(c.replace(" ", "").startswith("id,dateadded,url,") for c in comments)

    pulled: list[int] = []

    def feed() -> Iterator[str]:
        for number, line in enumerate(lines, 1):
            if line.lstrip().startswith("#") or not line.strip():
                continue
            pulled.append(number)
            yield line

    reader = csv.reader(feed(), strict=False)
    reports: list[Report] = []
    rejects: list[Rejected] = []
    header: list[str] | None = list(URLHAUS_COLUMNS) if urlhaus else None
    mark = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            ref = f"line {pulled[mark] if mark < len(pulled) else len(lines)}"
            mark = len(pulled)
            rejects.append(Rejected(ref, None, "", f"not readable as CSV: {exc}"))
            continue
        ref = f"line {pulled[mark]}"
        mark = len(pulled)
        if header is None:
            header = [h.strip().lower().lstrip("\ufeff") for h in row]
            if "value" not in header:
                raise invalid("csv", "the first line must be a header naming the columns, with at least "
                              f"'value' (known columns: {', '.join(COLUMNS)}), or a URLhaus dump")
            unknown = [h for h in header if h not in COLUMNS]
            if unknown and notes is not None:
                notes.append(f"{ref}: columns ignored: {', '.join(unknown)}")
            continue
        if len(row) != len(header):
            rejects.append(Rejected(ref, None, ",".join(row)[:200],
                                    f"has {len(row)} fields, the header has {len(header)}"))
            continue
        cells = dict(zip(header, row, strict=True))
        try:
            read = _urlhaus if urlhaus else _generic
            reports.append(read(cells, ref, default_tlp, ctx))
        except BadField as exc:
            rejects.append(reject(ref, exc, cells.get("type") or ("url" if urlhaus else None),
                                  cells.get("url" if urlhaus else "value")))
    if header is None and not urlhaus:
        raise invalid("csv", "the file has no header line and no rows")
    return finish(reports, rejects, best_effort=best_effort, what="CSV")


def _normalised(type_name: str, raw: str, ctx: NormaliseContext) -> str:
    try:
        return SIGNAL_TYPES[type_name].normalise(raw, ctx)
    except InvalidInput as exc:
        reason = "; ".join(p.message for p in exc.problems) or exc.detail
        raise BadField(f"value: {reason}", type_name, raw) from None


def _urlhaus(cells: Mapping[str, str], ref: str, default_tlp: TLP, ctx: NormaliseContext) -> Report:
    threat = cells["threat"].strip()
    status = cells["url_status"].strip()
    return {
        "ref": ref,
        "type": "url",
        "value": _normalised("url", cells["url"], ctx),
        "tlp": default_tlp.value,
        "confidence": None,
        "abuse_type": None,
        "first_seen": timestamp(cells["dateadded"], "dateadded"),
        "last_seen": timestamp(cells["last_online"], "last_online"),
        "expires": None,
        "tags": tags(([threat] if threat else []) + _split_tags(cells["tags"])),
        "description": f"URLhaus: {threat or 'malicious URL'}, {status or 'status unknown'}",
        "source": "URLhaus",
        "external_id": cells["urlhaus_link"].strip() or cells["id"].strip() or None,
    }


def _generic(cells: Mapping[str, str], ref: str, default_tlp: TLP, ctx: NormaliseContext) -> Report:
    raw = cells["value"]
    type_name = (cells.get("type") or "").strip().lower()
    if type_name:
        check_type(type_name)
    else:
        guessed = detect_type(raw, ctx)
        if guessed is None:
            raise BadField("type: empty, and the value is not recognisably any signal type")
        type_name = guessed
    value = _normalised(type_name, raw, ctx)
    level_text = (cells.get("tlp") or "").strip()
    if level_text:
        try:
            level = parse_tlp(level_text).level
        except InvalidInput as exc:
            raise BadField(f"tlp: {exc.problems[0].message}") from None
    else:
        level = default_tlp
    source = (cells.get("source") or "").strip()
    external = (cells.get("external_id") or "").strip()
    return {
        "ref": ref,
        "type": type_name,
        "value": value,
        "tlp": level.value,
        "confidence": confidence(cells.get("confidence")),
        "abuse_type": abuse_type(cells.get("abuse_type")),
        "first_seen": timestamp(cells.get("first_seen"), "first_seen"),
        "last_seen": timestamp(cells.get("last_seen"), "last_seen"),
        "expires": timestamp(cells.get("expires"), "expires"),
        "tags": tags(_split_tags(cells.get("tags") or "")),
        "description": description(cells.get("description") or ""),
        "source": source[:200] or None,
        "external_id": external[:200] or None,
    }


def to_csv(reports: Iterable[Mapping[str, Any]]) -> str:
    """The generic CSV of ``reports``: a header line, then one row per report (``parse_csv`` reads it back)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for report in reports:
        writer.writerow([
            report["type"],
            report["value"],
            report_tlp(report).value,
            "" if report.get("confidence") is None else report["confidence"],
            report.get("abuse_type") or "",
            report.get("first_seen") or "",
            report.get("last_seen") or "",
            report.get("expires") or "",
            ",".join(report.get("tags") or []),
            report.get("description") or "",
            report.get("source") or "",
            report.get("external_id") or "",
        ])
    return out.getvalue()
