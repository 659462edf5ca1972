"""A report of a signal: who saw it, what abuse it serves, how sure, how marked; pure validation.

A signal is unique by ``(type, normalised value)``; each *report* of it keeps its own source,
abuse type (an offence code of the catalogue, or none yet: an import from another tool may be
*not classified*, see ``hanoi.signals.classification``), confidence (0-100), first and last
seen, TLP 2.0 level, tags, expiry, the originator's handling conditions (Art. 36), the
organisations the originator named as recipients, the originator's consent to onward transfer,
and the other identifiers the report names (a scam page's phone number and IBAN), which link
signals into a campaign; and, for a report from another tool, what names it there: its id
(``external_id``), its author (``creator``), its version, and how its offence was decided.

``validate_report`` reads the plain dict every entry point produces (API JSON, CLI options, CSV
rows, the STIX / MISP converters) and returns a ``ReportDraft`` or raises ``InvalidInput``
listing every problem, each field prefixed with ``where`` (``items[3].``, ``line 12: ``), so a
user sees which line of a file is wrong. Pure: ``now`` is an argument.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import InvalidInput, Problem
from hanoi.core.members import MEMBER_ID
from hanoi.core.offences import offence_problem
from hanoi.core.tlp import TLP, parse_tlp
from hanoi.signals.types import (
    NO_REGION,
    UNDETECTED,
    NormaliseContext,
    SignalKey,
    detect_type,
    signal_type,
    undetected_reason,
)

MAX_BATCH = 10_000
"""Most values (lookup) or reports (report call) one request may carry (rule SIGNAL-LIMITS)."""
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_CONDITIONS = 2000
MAX_RELATED = 64
MAX_RECIPIENTS = 256
DEFAULT_CONFIDENCE = 50
CLOCK_SKEW = timedelta(minutes=5)
"""A sighting may be dated this far in the future (clocks of reporters drift)."""

KNOWN_KEYS = frozenset({
    "type", "value", "abuse_type", "confidence", "first_seen", "last_seen", "tlp", "tags",
    "expires_at", "conditions", "recipients", "consent", "related", "ref",
    "external_id", "creator", "version", "provenance", "classified_by",
})
MAX_NAME = 200
"""Longest external id, creator name or ``classified_by``."""
MAX_PROVENANCE = 4000
"""Characters of a report's provenance as JSON (a few ids and words)."""


@dataclass(frozen=True, slots=True)
class ReportDraft:
    """A validated report, its value normalised; ``related`` are normalised keys too."""

    type: str
    value: str
    abuse_type: str | None
    confidence: int
    first_seen: datetime
    last_seen: datetime
    tlp: TLP
    tags: tuple[str, ...] = ()
    expires_at: datetime | None = None
    conditions: str = ""
    recipients: tuple[str, ...] = ()
    consent: bool | None = None
    """The originator's consent to onward transfer as stated; ``None``: not stated (personal
    data then stays here, infrastructure follows its TLP: ``types.consent_for``)."""
    related: tuple[SignalKey, ...] = ()
    ref: str = ""
    notes: tuple[str, ...] = field(default=())
    external_id: str | None = None
    creator: str | None = None
    version: datetime | None = None
    provenance: Mapping[str, Any] | None = None
    classified_by: str = ""

    @property
    def key(self) -> SignalKey:
        return (self.type, self.value)

    @property
    def creator_key(self) -> str:
        """Who authored it in the document it came from, as stably as the document says (the
        STIX identity id or MISP organisation uuid before a name): part of its identity."""
        ref = (self.provenance or {}).get("creator_ref")
        return ref if isinstance(ref, str) and ref else (self.creator or "")

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, in the shape ``validate_report`` reads (a round trip is the identity)."""
        return {
            "type": self.type, "value": self.value, "abuse_type": self.abuse_type,
            "confidence": self.confidence, "first_seen": isoformat(self.first_seen),
            "last_seen": isoformat(self.last_seen), "tlp": self.tlp.value, "tags": list(self.tags),
            "expires_at": isoformat(self.expires_at) if self.expires_at else None,
            "conditions": self.conditions, "recipients": list(self.recipients),
            "consent": self.consent, "related": [{"type": t, "value": v} for t, v in self.related],
            "external_id": self.external_id, "creator": self.creator,
            "version": isoformat(self.version) if self.version else None,
            "provenance": dict(self.provenance) if self.provenance is not None else None,
            "classified_by": self.classified_by,
        }


def _time(data: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> datetime | None:
    raw = data.get(key)
    if raw in (None, ""):
        return None
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            problems.append(Problem(f"{where}{key}", "must carry a time zone"))
            return None
        return raw
    if not isinstance(raw, str) or len(raw) > 40:
        problems.append(Problem(f"{where}{key}", f"{raw!r} is not an ISO 8601 time"))
        return None
    try:
        return parse_time(raw.strip())
    except ValueError:
        problems.append(Problem(f"{where}{key}", f"{raw!r} is not an ISO 8601 time"))
        return None


def _key(data: Any, where: str, problems: list[Problem], ctx: NormaliseContext) -> SignalKey | None:
    """Normalise one ``{type, value}`` (type detected if absent); a problem names the field."""
    if not isinstance(data, Mapping):
        problems.append(Problem(where.rstrip("."), "must be an object with a type and a value"))
        return None
    raw = data.get("value")
    if not isinstance(raw, str):
        problems.append(Problem(f"{where}value", "is required, as text", "SIGNAL-LIMITS"))
        return None
    type_name = data.get("type")
    if type_name in (None, ""):
        type_name = detect_type(raw, ctx)
        if type_name is None:
            reason = undetected_reason(raw, ctx)
            if reason == UNDETECTED:
                problems.append(Problem(f"{where}type", "cannot tell what kind of signal this is; give its type"))
            else:
                problems.append(Problem(f"{where}value", reason))
            return None
    try:
        kind = signal_type(type_name)
        return (kind.name, kind.normalise(raw, ctx))
    except InvalidInput as err:
        for p in err.problems:
            rule = p.rule or ("SIGNAL-LIMITS" if "too long" in p.message else None)
            problems.append(Problem(f"{where}{p.field}", p.message, rule))
        return None


def validate_report(data: Any, *, now: datetime, ctx: NormaliseContext = NO_REGION,
                    where: str = "", defaults: Mapping[str, Any] | None = None,
                    unclassified: bool = False) -> ReportDraft:
    """Validate a report dict; ``defaults`` fill keys the dict lacks (an import's options).

    ``unclassified`` lets a report without an offence code through (an import from another
    tool): it is stored *not classified* and kept from every recipient until classified."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{where or 'report'}: must be an object",
                           [Problem(where.rstrip(". :") or "report", "must be an object")])
    if defaults:
        data = {**defaults, **{k: v for k, v in data.items() if v is not None}}
    problems: list[Problem] = []
    for k in sorted(set(data) - KNOWN_KEYS, key=str):
        problems.append(Problem(f"{where}{k}", "is not a field of a signal report; known: "
                                + ", ".join(sorted(KNOWN_KEYS))))
    key = _key(data, where, problems, ctx)
    abuse = data.get("abuse_type")
    if abuse in (None, "") and unclassified:
        abuse = None
    else:
        p = offence_problem(abuse, f"{where}abuse_type")
        if p:
            problems.append(p)
    confidence = data.get("confidence", DEFAULT_CONFIDENCE)
    if isinstance(confidence, str) and confidence.strip().isdigit():
        confidence = int(confidence.strip())
    if isinstance(confidence, bool) or not isinstance(confidence, int) or not 0 <= confidence <= 100:
        problems.append(Problem(f"{where}confidence", f"{confidence!r} must be a whole number "
                                "from 0 to 100"))
        confidence = DEFAULT_CONFIDENCE
    tlp = TLP.AMBER
    tlp_raw = data.get("tlp")
    notes: list[str] = []
    if tlp_raw in (None, ""):
        problems.append(Problem(f"{where}tlp", "a TLP level is required (CLEAR, GREEN, AMBER, "
                                "AMBER+STRICT, RED)", "GATE-TLP"))
    else:
        try:
            parsed = parse_tlp(tlp_raw)
            tlp = parsed.level
            if parsed.note:
                notes.append(parsed.note)
        except InvalidInput as err:
            problems.extend(Problem(f"{where}tlp", q.message, "GATE-TLP") for q in err.problems)
    first = _time(data, "first_seen", where, problems)
    last = _time(data, "last_seen", where, problems)
    # Whichever time is missing is the other one; neither means "seen now".
    first = first or last or now
    last = last or first
    if first > now + CLOCK_SKEW:
        problems.append(Problem(f"{where}first_seen", "is in the future"))
    if last > now + CLOCK_SKEW:
        problems.append(Problem(f"{where}last_seen", "is in the future"))
    if last < first:
        problems.append(Problem(f"{where}last_seen", "is earlier than first_seen"))
    expires = _time(data, "expires_at", where, problems)
    if expires is not None and expires <= now:
        problems.append(Problem(f"{where}expires_at", "is already past: the report would never "
                                "be shared or matched", "SIGNAL-EXPIRED"))
    tags = _strings(data.get("tags"), f"{where}tags", MAX_TAGS, MAX_TAG_LENGTH, problems)
    conditions = data.get("conditions") or ""
    if not isinstance(conditions, str) or len(conditions) > MAX_CONDITIONS:
        problems.append(Problem(f"{where}conditions", f"must be a text of at most {MAX_CONDITIONS} "
                                "characters", "GATE-DATA-PROTECTION"))
        conditions = ""
    recipients = _strings(data.get("recipients"), f"{where}recipients", MAX_RECIPIENTS, 64, problems)
    for i, r in enumerate(recipients):
        if not MEMBER_ID.fullmatch(r):
            problems.append(Problem(f"{where}recipients[{i}]", f"{r!r} is not a member id"))
    consent = data.get("consent")
    if consent is not None and not isinstance(consent, bool):
        problems.append(Problem(f"{where}consent", "must be true, false or absent (personal data: no, "
                                "infrastructure: its TLP decides)", "ONWARD-CONSENT"))
        consent = False
    related: list[SignalKey] = []
    rel = data.get("related") or []
    if not isinstance(rel, list | tuple) or len(rel) > MAX_RELATED:
        problems.append(Problem(f"{where}related", f"must be a list of at most {MAX_RELATED} "
                                "{type, value} objects"))
        rel = []
    for i, item in enumerate(rel):
        k = _key(item, f"{where}related[{i}].", problems, ctx)
        if k is not None and k != key and k not in related:
            related.append(k)
    external_id = _name(data, "external_id", where, problems)
    creator = _name(data, "creator", where, problems)
    classified_by = _name(data, "classified_by", where, problems) or ""
    version = _time(data, "version", where, problems)
    provenance = data.get("provenance")
    if provenance is not None and not (isinstance(provenance, Mapping) and all(isinstance(k, str) for k in provenance)
                                       and len(json.dumps(provenance, default=str)) <= MAX_PROVENANCE):
        problems.append(Problem(f"{where}provenance", f"must be an object of at most {MAX_PROVENANCE} "
                                "characters as JSON"))
        provenance = None
    if problems:
        raise InvalidInput(f"{where or ''}the signal report is not valid: "
                           + "; ".join(str(q) for q in problems[:5]), problems)
    assert key is not None and (abuse is None or isinstance(abuse, str))
    code = abuse.strip().upper() if abuse is not None else None
    if code is not None and not classified_by:
        classified_by = "document"
    return ReportDraft(key[0], key[1], code, confidence, first, last, tlp,
                       tuple(tags), expires, conditions.strip(), tuple(dict.fromkeys(recipients)),
                       consent, tuple(related), str(data.get("ref") or ""), tuple(notes),
                       external_id, creator, version,
                       dict(provenance) if provenance is not None else None,
                       classified_by if code is not None else "")


def _name(data: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> str | None:
    raw = data.get(key)
    if raw in (None, ""):
        return None
    if not isinstance(raw, str) or len(raw.strip()) > MAX_NAME:
        problems.append(Problem(f"{where}{key}", f"must be a text of at most {MAX_NAME} characters"))
        return None
    return raw.strip() or None


def _strings(value: Any, name: str, most: int, longest: int, problems: list[Problem]) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v for v in (x.strip() for x in value.split(",")) if v]
    if not isinstance(value, list | tuple) or len(value) > most:
        problems.append(Problem(name, f"must be a list of at most {most} texts"))
        return []
    out: list[str] = []
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip() or len(v.strip()) > longest:
            problems.append(Problem(f"{name}[{i}]", f"must be a non-empty text of at most {longest} "
                                    "characters"))
        elif v.strip() not in out:
            out.append(v.strip())
    return out
