"""Signal interchange formats: STIX 2.1, MISP (feed and event) and CSV, in and out.

Pure converters: bytes or parsed JSON in, *report dicts* out (and back). No database, no
network, no clock. Whoever stores signals (the signals wing's ``io`` and ``taxii`` rooms)
reads files, calls a parser here, and gates and stores the reports.

One interface, one class per format (``SignalFormat``: ``claims`` a document's first bytes,
``parse`` it, ``export`` reports); ``FORMATS`` lists them in the order detection asks them, and
nothing else in the code switches on a format's name. The report shape and the shared checks
are in ``common``.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar

from hanoi.core.errors import invalid
from hanoi.core.tlp import TLP
from hanoi.signals.formats import csv, misp, stix
from hanoi.signals.formats.common import REPORT_KEYS, Report
from hanoi.signals.types import NO_REGION, NormaliseContext, Rejected


class SignalFormat(ABC):
    """A signal interchange format."""

    name: ClassVar[str]
    media_type: ClassVar[str]

    @classmethod
    @abstractmethod
    def claims(cls, head: bytes, filename: str) -> bool:
        """Whether a document whose first bytes (BOM and leading space removed) are ``head``
        is of this format."""

    @classmethod
    @abstractmethod
    def parse(cls, data: bytes, *, best_effort: bool, default_tlp: TLP, ctx: NormaliseContext,
              notes: list[str] | None, type_name: str | None,
              skipped: dict[str, int] | None = None,
              withdrawn: list[str] | None = None) -> tuple[list[Report], list[Rejected]]:
        """Reports and rejects (see ``common`` for ``best_effort``, ``notes``, ``skipped`` and
        ``withdrawn``)."""

    @classmethod
    @abstractmethod
    def export(cls, reports: Sequence[Mapping[str, Any]], *, sharer: str, now: datetime) -> str:
        """``reports`` as a document of this format, shared by the organisation ``sharer``."""

    @classmethod
    def names_types(cls) -> bool:
        """Whether the document names the signal type of every entry (a CSV value list does not)."""
        return True


# MISP's capitalised keys never occur in STIX, while MISP attributes have a "type" too.
_MISP = re.compile(rb'"(Event|Attribute)"\s*:|"Orgc"\s*:|"threat_level_id"\s*:')
_STIX = re.compile(rb'"type"\s*:\s*"bundle"|"spec_version"\s*:|"pattern_type"\s*:|"objects"\s*:'
                   rb'|"type"\s*:\s*"(indicator|marking-definition|identity|url|domain-name|ipv4-addr)"')


def _json(head: bytes) -> bool:
    return head[:1] in (b"{", b"[")


class Misp(SignalFormat):
    name = "misp"
    media_type = "application/json"

    @classmethod
    def claims(cls, head: bytes, filename: str) -> bool:
        return _json(head) and _MISP.search(head) is not None

    @classmethod
    def parse(cls, data: bytes, *, best_effort: bool, default_tlp: TLP, ctx: NormaliseContext,
              notes: list[str] | None, type_name: str | None,
              skipped: dict[str, int] | None = None,
              withdrawn: list[str] | None = None) -> tuple[list[Report], list[Rejected]]:
        return misp.parse_events(data, best_effort=best_effort, default_tlp=default_tlp, ctx=ctx, notes=notes,
                                skipped=skipped, withdrawn=withdrawn)

    @classmethod
    def export(cls, reports: Sequence[Mapping[str, Any]], *, sharer: str, now: datetime) -> str:
        # Nothing to export is an event without attributes (as MISP itself writes one), like
        # an empty STIX bundle or a CSV of its header: the request was right, the answer empty.
        return json.dumps(misp.to_event(reports, info=f"Signals from {sharer}", org=sharer, now=now), indent=1)


class Stix(SignalFormat):
    name = "stix"
    media_type = "application/stix+json;version=2.1"

    @classmethod
    def claims(cls, head: bytes, filename: str) -> bool:
        return _json(head) and _STIX.search(head) is not None  # a bundle, or a TAXII envelope

    @classmethod
    def parse(cls, data: bytes, *, best_effort: bool, default_tlp: TLP, ctx: NormaliseContext,
              notes: list[str] | None, type_name: str | None,
              skipped: dict[str, int] | None = None,
              withdrawn: list[str] | None = None) -> tuple[list[Report], list[Rejected]]:
        return stix.parse_bundle(data, best_effort=best_effort, default_tlp=default_tlp, ctx=ctx, notes=notes,
                                skipped=skipped, withdrawn=withdrawn)

    @classmethod
    def export(cls, reports: Sequence[Mapping[str, Any]], *, sharer: str, now: datetime) -> str:
        return json.dumps(stix.to_bundle(reports, identity_name=sharer, now=now), indent=1)


class Csv(SignalFormat):
    name = "csv"
    media_type = "text/csv"

    @classmethod
    def claims(cls, head: bytes, filename: str) -> bool:
        return not _json(head)

    @classmethod
    def parse(cls, data: bytes, *, best_effort: bool, default_tlp: TLP, ctx: NormaliseContext,
              notes: list[str] | None, type_name: str | None,
              skipped: dict[str, int] | None = None,
              withdrawn: list[str] | None = None) -> tuple[list[Report], list[Rejected]]:
        return csv.parse_csv(data, best_effort=best_effort, default_tlp=default_tlp, ctx=ctx, notes=notes,
                             type_name=type_name)

    @classmethod
    def export(cls, reports: Sequence[Mapping[str, Any]], *, sharer: str, now: datetime) -> str:
        return csv.to_csv(reports)

    @classmethod
    def names_types(cls) -> bool:
        return False


FORMATS: Mapping[str, type[SignalFormat]] = MappingProxyType({f.name: f for f in (Misp, Stix, Csv)})
"""Every format, in the order detection asks them."""


def signal_format(name: object, field: str = "format") -> type[SignalFormat]:
    """The format named ``name``, or ``InvalidInput`` naming them all."""
    found = FORMATS.get(name) if isinstance(name, str) else None
    if found is None:
        raise invalid(field, f"{name!r} is not a format; one of: {', '.join(FORMATS)}")
    return found


def detect_format(first_bytes: bytes, filename: str | None = None) -> type[SignalFormat]:
    """The format of a document, from its first bytes (a few KiB) and its file name.

    JSON with a STIX ``bundle``, ``spec_version`` or ``indicator`` is STIX; JSON with an
    ``Event``/``Attribute`` (a MISP event) or a feed manifest (event uuids mapping to objects
    with ``info``/``Orgc``) is MISP; text that is not JSON is CSV. ``InvalidInput`` on field
    ``format`` if it cannot be told.
    """
    head = first_bytes[:65536]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    head = head.lstrip()
    name = (filename or "").lower()
    if not head:
        raise invalid("format", "the document is empty")
    if not _json(head) and name.endswith((".json", ".stix")):
        raise invalid("format", f"{filename} is named as JSON but does not start with '{{' or '['")
    for fmt in FORMATS.values():
        if fmt.claims(head, name):
            return fmt
    raise invalid("format", "JSON, but neither a STIX bundle nor a MISP event or feed manifest")


def parse_document(
    data: bytes,
    *,
    fmt: str | None = None,
    filename: str | None = None,
    best_effort: bool,
    default_tlp: TLP = TLP.AMBER,
    ctx: NormaliseContext = NO_REGION,
    notes: list[str] | None = None,
    type_name: str | None = None,
    skipped: dict[str, int] | None = None,
    withdrawn: list[str] | None = None,
) -> tuple[list[Report], list[Rejected]]:
    """Parse one file of any supported format (detected from its content when ``fmt`` is None).

    ``type_name`` is the signal type of a CSV value list (one value per line); STIX and MISP
    name the type of every object, so it is refused for them.

    MISP: a single event file (``{"Event": ...}``, a list of them, or a ``{"response": [...]}``
    search result). A MISP *feed* is a folder: read its ``manifest.json`` and event files and
    call ``misp.parse_feed``.
    """
    kind = signal_format(fmt) if fmt else detect_format(data[:65536], filename)
    if type_name is not None and kind.names_types():
        raise invalid("type", f"names the type of a CSV value list; a {kind.name.upper()} document names "
                              "its own types")
    return kind.parse(data, best_effort=best_effort, default_tlp=default_tlp, ctx=ctx, notes=notes,
                      type_name=type_name, skipped=skipped, withdrawn=withdrawn)


__all__ = [
    "FORMATS",
    "REPORT_KEYS",
    "Csv",
    "Misp",
    "Rejected",
    "Report",
    "SignalFormat",
    "Stix",
    "detect_format",
    "parse_document",
    "signal_format",
]
