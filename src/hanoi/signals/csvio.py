"""CSV signal lists in, report dicts out (URLhaus-style feeds, plain value lists, our columns).

Three shapes are read, told apart by the header:

- URLhaus (``# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter``,
  the header inside a comment, rows quoted): each row is a ``url`` report, first seen at
  ``dateadded`` (UTC), last seen at ``last_online`` if given, tagged with its threat and tags;
- a header naming ``value`` (and any of ``type``, ``tlp``, ``abuse_type``, ``confidence``,
  ``first_seen``, ``last_seen``, ``tags``, ``expires_at``, ``conditions``): our own export;
- no header: one value per line (its type detected, or the importer's ``--type``).

Each report dict carries ``ref = "line N"`` (the line the row starts on), so every error names
its line. A row that cannot be read at all (a field over the size limit, a broken quote) is
returned as a reject, never skipped silently. Pure: reads from a text stream it is given.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

URLHAUS_COLUMNS = ("id", "dateadded", "url", "url_status", "last_online", "threat", "tags",
                   "urlhaus_link", "reporter")
OUR_COLUMNS = ("type", "value", "tlp", "abuse_type", "confidence", "first_seen", "last_seen",
               "tags", "expires_at", "conditions")
MAX_FIELD = 16_384
"""Longest CSV field read (a signal value is at most 2,048 characters; this leaves room)."""


@dataclass(frozen=True, slots=True)
class CsvReject:
    """A line that could not be read as a row."""

    ref: str
    message: str


def _utc(text: str) -> str | None:
    text = text.strip()
    if not text or text.lower() in ("none", "null"):
        return None
    # URLhaus writes "2024-01-31 12:34:56" in UTC without a zone.
    return text.replace(" ", "T", 1) + ("" if text.endswith("Z") or "+" in text[10:] else "Z")


def _header(line: str) -> list[str] | None:
    """The column names if ``line`` is a header (commented or not), else None."""
    text = line.lstrip("#").strip()
    if not text:
        return None
    names = [c.strip().lower() for c in next(csv.reader([text]))]
    if "url" in names and "dateadded" in names:
        return names
    if "value" in names and all(n in OUR_COLUMNS or n in ("ref", "recipients") or n == "" for n in names):
        return names
    return None


def read_reports(stream: TextIO, *, type_: str | None = None) -> Iterator[dict[str, Any] | CsvReject]:
    """Report dicts (or rejects) from a CSV stream, in file order."""
    header: list[str] | None = None
    urlhaus = False
    line_no = 0
    pending: list[str] = []
    start = 0
    seen_data = False
    for raw_line in stream:
        line_no += 1
        if not pending:
            stripped = raw_line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                h = _header(stripped) if header is None else None
                if h is not None:
                    header, urlhaus = h, "dateadded" in h
                continue
            if header is None and not seen_data:  # only the first line may be a plain header
                seen_data = True
                h = _header(stripped)
                if h is not None:
                    header, urlhaus = h, "dateadded" in h
                    continue
            start = line_no
        pending.append(raw_line)
        # A quoted field may run on to the next lines (bounded: a lone quote must not swallow
        # the rest of the file into one row).
        if "".join(pending).count('"') % 2 and len(pending) < 50:
            continue
        record = "".join(pending)
        pending = []
        ref = f"line {start}"
        try:
            fields = next(csv.reader(io.StringIO(record)), [])
        except csv.Error as exc:
            yield CsvReject(ref, f"cannot read the row: {exc}")
            continue
        if any(len(f) > MAX_FIELD for f in fields):
            yield CsvReject(ref, f"a field is longer than {MAX_FIELD:,} characters")
            continue
        yield _row(fields, header, urlhaus, ref, type_)
    if pending:
        yield CsvReject(f"line {start}", "a quoted field is never closed")


def _row(fields: list[str], header: list[str] | None, urlhaus: bool, ref: str,
         type_: str | None) -> dict[str, Any] | CsvReject:
    if header is None:
        if len(fields) != 1:
            return CsvReject(ref, f"{len(fields)} columns but no header naming them (give one "
                                  "value per line, or a header with a 'value' column)")
        out: dict[str, Any] = {"value": fields[0].strip(), "ref": ref}
        if type_:
            out["type"] = type_
        return out
    if len(fields) != len(header):
        return CsvReject(ref, f"{len(fields)} columns where the header names {len(header)}")
    row = dict(zip(header, fields, strict=True))
    if urlhaus:
        tags = [t.strip() for t in (row.get("tags") or "").split(",") if t.strip()]
        if row.get("threat"):
            tags.insert(0, row["threat"].strip())
        first = _utc(row.get("dateadded") or "")
        last = _utc(row.get("last_online") or "") or first
        out = {"type": "url", "value": row.get("url", "").strip(), "tags": tags[:32],
               "first_seen": first, "last_seen": last, "ref": ref}
        return {k: v for k, v in out.items() if v not in (None, "", [])}
    out = {"ref": ref}
    for k, v in row.items():
        v = v.strip()
        if not k or not v or k == "ref":
            continue
        if k in ("tags", "recipients"):
            out[k] = [t.strip() for t in v.replace(";", ",").split(",") if t.strip()]
        else:
            out[k] = v
    if type_ and "type" not in out:
        out["type"] = type_
    return out


def write_reports(rows: Iterable[dict[str, Any]], stream: TextIO) -> int:
    """Write report dicts with our columns (what ``read_reports`` reads back); the count."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(OUR_COLUMNS)
    n = 0
    for r in rows:
        writer.writerow([";".join(r.get(c) or []) if c == "tags" else
                         ("" if r.get(c) is None else str(r.get(c))) for c in OUR_COLUMNS])
        n += 1
    return n


__all__ = ["URLHAUS_COLUMNS", "CsvReject", "read_reports", "write_reports"]
