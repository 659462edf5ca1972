"""CSV in and out: the one reader of signal CSV files (URLhaus dumps, our columns, value lists).

Every CSV import goes through ``parse_csv`` (``hanoi signals import``, ``POST
/api/v1/signals/import``), which reads three shapes, told apart by the header:

**URLhaus** (abuse.ch) dumps start with ``#`` comment lines, one of which is the header
``# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter`` (a header line
naming ``url`` and ``dateadded`` is also read when it is not commented). Fields are quoted,
dates are ``YYYY-MM-DD HH:MM:SS`` in UTC and ``tags`` is a comma-separated list inside its
field. Each row is one ``url`` signal: ``dateadded`` is ``first_seen``, ``last_online`` is
``last_seen``, the threat and tags become tags (and the terms the classification table reads:
``malware_download`` is misuse of devices), the URLhaus link is the ``external_id`` and the
source is ``URLhaus``.

**Our columns**: a header line naming ``value`` and any of ``type`` (a signal type name;
guessed from the value, or the importer's ``type_name``, when the column or the cell is empty),
``tlp``, ``confidence``, ``abuse_type``, ``first_seen``, ``last_seen``, ``expires`` (or
``expires_at``), ``tags`` (separated by ``,`` or ``;`` in the cell), ``description``,
``source``, ``external_id``, ``conditions`` (the originator's handling conditions) and
``recipients`` (member ids the originator names, separated like tags). Other columns are
ignored, with a note. ``to_csv`` writes this layout, so its output reads back.

**A value list**: no header, one value per line; its type is ``type_name`` when given, else
detected from each value. A line with several columns and no header naming them is rejected.

``#`` comment lines and blank lines are skipped between records (inside a quoted cell they are
data). Every reject names the line its record starts on (``line 12``, counting every line of
the file from 1): a value that does not normalise, a bad cell, a line that is not UTF-8, a
quote never closed, a field over ``MAX_FIELD`` characters. Nothing is skipped silently. A file
whose first line has several columns but is neither of the headers above is refused whole.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hanoi.core.errors import InvalidInput, invalid
from hanoi.core.tlp import TLP, parse_tlp
from hanoi.signals.classification import TAG, URLHAUS_THREAT
from hanoi.signals.formats.common import (
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
from hanoi.signals.reports import MAX_TAGS as MAX_REPORT_TAGS
from hanoi.signals.types import NO_REGION, SIGNAL_TYPES, NormaliseContext, Rejected, detect_type

URLHAUS_COLUMNS = ("id", "dateadded", "url", "url_status", "last_online", "threat", "tags", "urlhaus_link", "reporter")
COLUMNS = (
    "type", "value", "tlp", "confidence", "abuse_type", "first_seen", "last_seen", "expires",
    "tags", "description", "source", "external_id",
)
"""The columns ``to_csv`` writes, in order."""
READ_COLUMNS = (*COLUMNS, "expires_at", "conditions", "recipients")
"""Every column of our layout the reader understands (``expires_at`` is ``expires``)."""
MAX_FIELD = 16_384
"""Longest CSV field read (a signal value is at most 2,048 characters; this leaves room)."""
MAX_RECORD_LINES = 50
"""Lines one quoted record may span: a stray quote must not swallow the rest of the file."""
_LIST_SEPARATORS = re.compile(r"[,;]")


class _Unclosed(Exception):
    """A quoted field runs past the end of the file or ``MAX_RECORD_LINES``."""


class _NotUtf8(Exception):
    """A line of the record is not UTF-8 (``number`` counts from 1)."""

    def __init__(self, number: int):
        super().__init__(number)
        self.number = number


def _lines(data: bytes | str) -> list[str | None]:
    """The file's lines with their endings; ``None`` for a line that is not UTF-8.

    Lines end at ``\\n`` only (``str.splitlines`` would also split inside cells at U+2028 and
    friends); a UTF-8 sequence never contains the byte ``\\n``, so bytes split safely first.
    """
    if isinstance(data, str):
        return [line for line in re.split(r"(?<=\n)", data.removeprefix("\ufeff")) if line]
    out: list[str | None] = []
    for raw in re.split(rb"(?<=\n)", data.removeprefix(b"\xef\xbb\xbf")):
        if not raw:
            continue
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(None)
    return out


def _parse_record(lines: list[str | None], start: int) -> tuple[list[str], int]:
    """The fields of the record starting at ``lines[start]`` and the number of lines it spans.

    ``_NotUtf8`` if a line of it is not UTF-8, ``_Unclosed`` if a quote is never closed,
    ``csv.Error`` if the record cannot be read at all.
    """
    first = lines[start]
    if first is None:
        raise _NotUtf8(start + 1)
    if '"' not in first:  # the common case, exactly what csv.reader makes of a line without quotes
        return first.rstrip("\r\n").split(","), 1
    used = 0
    exhausted = False

    def feed() -> Iterator[str]:
        nonlocal used, exhausted
        for i in range(start, min(len(lines), start + MAX_RECORD_LINES)):
            line = lines[i]
            if line is None:
                raise _NotUtf8(i + 1)
            used += 1
            yield line
        exhausted = True

    try:
        # strict: a quoted field still open when the lines run out is an error, not data.
        return next(csv.reader(feed(), strict=True)), used
    except csv.Error:
        if exhausted:
            raise _Unclosed from None
    # Not strictly well-formed (text after a closing quote, say): read it leniently, as
    # spreadsheets write it, over the same lines.
    return next(csv.reader([line or "" for line in lines[start:start + used]], strict=False)), used


def _split(cell: str) -> list[str]:
    return [t for t in (part.strip() for part in _LIST_SEPARATORS.split(cell)) if t]


def _header(fields: list[str]) -> tuple[str, list[str]] | None:
    """``("urlhaus" | "ours", column names)`` if ``fields`` is a header line, else None."""
    names = [f.strip().lower().lstrip("\ufeff") for f in fields]
    if "url" in names and "dateadded" in names:
        return "urlhaus", names
    if "value" in names:
        return "ours", names
    return None


def parse_csv(
    data: bytes | str,
    *,
    best_effort: bool,
    default_tlp: TLP = TLP.AMBER,
    ctx: NormaliseContext = NO_REGION,
    notes: list[str] | None = None,
    type_name: str | None = None,
) -> tuple[list[Report], list[Rejected]]:
    """Reports from a URLhaus dump, a CSV with our columns or a value list (see the module).

    ``type_name`` is the type of a value list's values (and of rows of our layout whose type
    is empty); detected per value when None. Strict (``best_effort`` false): any reject refuses
    the file with one ``InvalidInput`` naming every bad line.
    """
    if type_name is not None and type_name not in SIGNAL_TYPES:
        raise invalid("type", f"{type_name!r} is not a signal type; one of: {', '.join(SIGNAL_TYPES)}")
    lines = _lines(data)
    reports: list[Report] = []
    rejects: list[Rejected] = []
    layout: str | None = None  # urlhaus | ours | values, once the first record decided it
    header: list[str] = []
    i = 0
    while i < len(lines):
        number = i + 1
        ref = f"line {number}"
        text = lines[i]
        if text is not None and (not text.strip() or text.lstrip().startswith("#")):
            if layout is None and text.strip():
                try:
                    found = _header(next(csv.reader([text.lstrip().lstrip("#").strip()])))
                except csv.Error:
                    found = None
                if found is not None and found[0] == "urlhaus":
                    layout, header = found
            i += 1
            continue
        try:
            fields, used = _parse_record(lines, i)
        except _NotUtf8 as exc:
            where = "" if exc.number == number else f" (its line {exc.number})"
            rejects.append(Rejected(ref, None, "", f"not UTF-8 text{where}: save the file as UTF-8"))
            i = exc.number  # on after the line that is not text
            continue
        except _Unclosed:
            # Only this line is rejected; the lines after it are read again as records.
            rejects.append(Rejected(ref, None, _shown_line(text), "a quoted field opened on this line is "
                                    f"never closed (within {MAX_RECORD_LINES} lines)"))
            i += 1
            continue
        except csv.Error as exc:
            rejects.append(Rejected(ref, None, _shown_line(text), f"not readable as CSV: {exc}"))
            i += 1
            continue
        i += used
        if any(len(f) > MAX_FIELD for f in fields):
            rejects.append(Rejected(ref, None, "", f"a field is longer than {MAX_FIELD:,} characters"))
            continue
        if layout is None:
            found = _header(fields)
            if found is not None:
                layout, header = found
                unknown = [h for h in header if h and h not in READ_COLUMNS] if layout == "ours" else []
                if unknown and notes is not None:
                    notes.append(f"{ref}: columns ignored: {', '.join(unknown)}")
                continue
            if len(fields) > 1:
                raise invalid("csv", f"{ref} has {len(fields)} columns but is not a header: give a header line "
                              f"naming the columns, with at least 'value' (known columns: {', '.join(COLUMNS)}), "
                              "a URLhaus dump, or one value per line")
            layout = "values"
        try:
            if layout == "values":
                if len(fields) != 1:
                    raise BadField(f"{len(fields)} columns, but the file has no header naming them (give one "
                                   "value per line, or a header line with a 'value' column)")
                reports.append(_generic({"value": fields[0]}, ref, default_tlp, ctx, type_name))
                continue
            if len(fields) != len(header):
                raise BadField(f"has {len(fields)} fields, the header has {len(header)}")
            cells = dict(zip(header, fields, strict=True))
            if layout == "urlhaus":
                reports.append(_urlhaus(cells, ref, default_tlp, ctx))
            else:
                reports.append(_generic(cells, ref, default_tlp, ctx, type_name))
        except BadField as exc:
            raw: str | None = ",".join(fields)
            if layout == "values" and len(fields) == 1:
                raw = fields[0]
            elif len(fields) == len(header):
                raw = dict(zip(header, fields, strict=True)).get("url" if layout == "urlhaus" else "value")
            rejects.append(reject(ref, exc, "url" if layout == "urlhaus" else type_name, raw))
    if layout is None and not rejects:
        raise invalid("csv", "the file holds no header and no rows")
    rejects.sort(key=lambda r: int(r.ref.rsplit(" ", 1)[-1]))
    return finish(reports, rejects, best_effort=best_effort, what="CSV")


def _shown_line(text: str | None) -> str:
    return "" if text is None else text.rstrip("\r\n")[:200]


def _normalised(type_name: str, raw: str, ctx: NormaliseContext) -> str:
    try:
        return SIGNAL_TYPES[type_name].normalise(raw, ctx)
    except InvalidInput as exc:
        reason = "; ".join(p.message for p in exc.problems) or exc.detail
        raise BadField(f"value: {reason}", type_name, raw) from None


def _urlhaus(cells: Mapping[str, str], ref: str, default_tlp: TLP, ctx: NormaliseContext) -> Report:
    threat = (cells.get("threat") or "").strip()
    status = (cells.get("url_status") or "").strip()
    # A feed's tags are not ours to refuse: keep as many as a report may carry.
    feed_tags = tags(([threat] if threat else []) + _split_commas(cells.get("tags") or ""))[:MAX_REPORT_TAGS]
    external = (cells.get("urlhaus_link") or "").strip() or (cells.get("id") or "").strip()
    terms = [(URLHAUS_THREAT, threat)] if threat else []
    return {
        "ref": ref,
        "type": "url",
        "value": _normalised("url", cells["url"], ctx),
        "tlp": default_tlp.value,
        "confidence": None,
        "abuse_type": None,
        "first_seen": timestamp(cells["dateadded"], "dateadded"),
        "last_seen": timestamp(cells.get("last_online"), "last_online"),
        "expires": None,
        "tags": feed_tags,
        "description": f"URLhaus: {threat or 'malicious URL'}, {status or 'status unknown'}",
        "source": "URLhaus",
        "external_id": external[:200] or None,
        "terms": terms + [(TAG, t) for t in feed_tags[1 if threat else 0:]],
    }


def _split_commas(cell: str) -> list[str]:
    return [t for t in (part.strip() for part in cell.split(",")) if t]


def _generic(cells: Mapping[str, str], ref: str, default_tlp: TLP, ctx: NormaliseContext,
             default_type: str | None) -> Report:
    raw = cells["value"].strip()
    if not raw:
        raise BadField("value: is empty")
    type_name = (cells.get("type") or "").strip().lower() or default_type or ""
    if type_name:
        check_type(type_name)
    else:
        guessed = detect_type(raw, ctx)
        if guessed is None:
            raise BadField("type: not given, and the value is not recognisably any signal type", None, raw)
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
    out: Report = {
        "ref": ref,
        "type": type_name,
        "value": value,
        "tlp": level.value,
        "confidence": confidence(cells.get("confidence")),
        "abuse_type": abuse_type(cells.get("abuse_type")),
        "first_seen": timestamp(cells.get("first_seen"), "first_seen"),
        "last_seen": timestamp(cells.get("last_seen"), "last_seen"),
        "expires": timestamp(cells.get("expires") or cells.get("expires_at"), "expires"),
        "tags": tags(_split(cells.get("tags") or "")),
        "description": description(cells.get("description") or ""),
        "source": source[:200] or None,
        "external_id": external[:200] or None,
    }
    out["terms"] = [(TAG, t) for t in out["tags"]]
    conditions = (cells.get("conditions") or "").strip()
    if conditions:
        out["conditions"] = conditions
    recipients = _split(cells.get("recipients") or "")
    if recipients:
        out["recipients"] = recipients
    return out


def to_csv(reports: Iterable[Mapping[str, Any]]) -> str:
    """Our CSV of ``reports``: a header line, then one row per report (``parse_csv`` reads it back)."""
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


__all__ = ["COLUMNS", "MAX_FIELD", "READ_COLUMNS", "URLHAUS_COLUMNS", "parse_csv", "to_csv"]
