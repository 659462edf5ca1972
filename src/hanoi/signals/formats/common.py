"""What every signal format shares: the report shape, the checks of its fields, rejects.


A **report** is the one shape every format converts to and from (``Report``)::

    {"ref": "indicator--... | line 12 | <attribute uuid>",   # names the source in messages
     "type": "url",            # a name from hanoi.signals.types.SIGNAL_TYPES
     "value": "http://...",    # normalised by the parsers here
     "tlp": "AMBER+STRICT",    # TLP 2.0 level name (hanoi.core.tlp.TLP.value)
     "confidence": 80 | None, "abuse_type": "UNCC-13" | None,
     "first_seen": RFC 3339 | None, "last_seen": ... | None, "expires": ... | None,
     "tags": ["phishing"], "description": "", "source": "CERT-X" | None,
     "external_id": "indicator--..." | None,
     "conditions": "...", "recipients": ["de-bka"],   # optional: only CSV carries them
     # optional, what the document says of the entry besides the signal:
     "terms": [["indicator_type", "compromised"], ["tag", "phishing"]],  # for classification
     "context_terms": [["tag", "rsit:fraud=\"phishing\""]],  # read when the terms say nothing
     "creator_ref": "identity--...", "created": RFC 3339, "version": RFC 3339 (STIX modified,
     MISP timestamp), "indicator_types": ["malicious-activity"]}

``source`` is the organisation the document names as the entry's author (a STIX identity's
name, a MISP event's ``Orgc``, ``URLhaus``), ``creator_ref`` its id where the document has one;
``terms`` are the words the classification table (``hanoi.signals.classification``) reads
about the entry itself (without them: its ``indicator_types`` and ``tags``, as a STIX indicator
gives them), ``context_terms`` those about what holds it (a MISP event's tags), read only when
the entry's own terms classify nothing.

Every parser takes ``best_effort``: when true, a bad object or line is skipped and returned
as a ``Rejected`` (its ref, type, raw value shortened for display, and the reason) while the
rest is imported; when false, any bad object or line refuses the whole batch with one
``InvalidInput`` whose problems name every bad object or line (``Problem.field`` = the ref).
A document that cannot be read at all (not JSON, not a bundle) always raises.

Parsers also take an optional ``notes`` list: they append remarks a person may want to see
but that are not errors (a TLP 1.0 marking read as TLP 2.0); and an optional ``skipped``
dict, where they count what they read and deliberately did not import, by name (a MISP
``email-dst`` attribute names a victim, a ``text`` attribute is no signal, a revoked STIX
indicator): nothing is dropped without being counted. An optional ``withdrawn`` list gets the
document ids of entries their author withdrew (a revoked STIX indicator, a deleted MISP
attribute): a node holding them stops sharing them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

from hanoi.core.errors import InvalidInput, Problem
from hanoi.core.offences import OFFENCES
from hanoi.core.tlp import TLP, parse_tlp
from hanoi.signals.types import SIGNAL_TYPES, Rejected

MAX_DESCRIPTION = 10_000
MAX_TAG = 128
MAX_TAGS = 64
_SHOWN = 200  # characters of a rejected raw value echoed back in an import report


class _Keys(TypedDict):
    """The keys every report has."""

    ref: str
    type: str
    value: str
    tlp: str
    confidence: int | None
    abuse_type: str | None
    first_seen: str | None
    last_seen: str | None
    expires: str | None
    tags: list[str]
    description: str
    source: str | None
    external_id: str | None


class Report(_Keys, total=False):
    """One signal as the formats exchange it (see the module docstring); ``conditions`` and
    ``recipients`` only when the document carries them (our CSV layout's columns), the rest
    when the format has them."""

    conditions: str
    recipients: list[str]
    terms: list[tuple[str, str]]
    context_terms: list[tuple[str, str]]
    creator_ref: str | None
    created: str | None
    version: str | None
    indicator_types: list[str]


REPORT_KEYS: tuple[str, ...] = tuple(_Keys.__annotations__)
"""The keys every report has, in order."""


class BadField(Exception):
    """One bad field of one object or line; becomes a ``Rejected`` (internal to the parsers)."""

    def __init__(self, message: str, type_name: str | None = None, raw: object = None):
        super().__init__(message)
        self.message = message
        self.type_name = type_name
        self.raw = raw


# --------------------------------------------------------------------------- detection


# --------------------------------------------------------------------------- shared checks

_STIX_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z")


def timestamp(value: object, field: str) -> str | None:
    """``value`` as an RFC 3339 UTC timestamp (``2024-05-01T10:00:00Z``); ``None`` if empty.

    Reads RFC 3339 / ISO 8601 with any offset, ``YYYY-MM-DD HH:MM:SS`` (read as UTC, as
    URLhaus writes it, optionally followed by ``UTC``), a bare date, and Unix epoch seconds
    (as MISP writes them, number or digit string). Anything else raises ``BadField``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadField(f"{field}: expected a timestamp, got {value!r}")
    if isinstance(value, int | float):
        return _epoch(value, field)
    if not isinstance(value, str):
        raise BadField(f"{field}: expected a timestamp, got {type(value).__name__}")
    text = value.strip()
    if _STIX_TS.fullmatch(text):  # already RFC 3339 UTC: the common case, no datetime needed
        if len(text) == 20:
            return text
        fraction = text[20:-1].rstrip("0")
        return f"{text[:19]}.{fraction}Z" if fraction else f"{text[:19]}Z"
    if text.isdigit() and len(text) >= 9:
        return _epoch(int(text), field)
    if text.upper().endswith(" UTC"):
        text = text[:-4]
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise BadField(f"{field}: {value[:40]!r} is not a timestamp (expected RFC 3339)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _format(moment)


def _epoch(value: float, field: str) -> str:
    try:
        return _format(datetime.fromtimestamp(value, UTC))
    except (OverflowError, OSError, ValueError):
        raise BadField(f"{field}: {value!r} is out of range for a Unix timestamp") from None


def _format(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}".rstrip("0") + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def confidence(value: object, field: str = "confidence") -> int | None:
    """An integer 0-100 (digit strings accepted), or ``None`` if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadField(f"{field}: expected an integer from 0 to 100, got {value!r}")
    if not 0 <= value <= 100:
        raise BadField(f"{field}: {value} is outside 0-100")
    return value


def abuse_type(value: object, field: str = "abuse_type") -> str | None:
    """An offence code of the catalogue (``UNCC-13``, any case), or ``None`` if absent."""
    if value is None or value == "":
        return None
    code = value.strip().upper() if isinstance(value, str) else None
    if code not in OFFENCES:
        raise BadField(f"{field}: {value!r} is not an offence code; use one of: {', '.join(OFFENCES)}")
    return code


def tags(values: Iterable[object], field: str = "tags") -> list[str]:
    """Trimmed, de-duplicated tags in their first order; empty ones dropped."""
    out: list[str] = []
    for item in values:
        if not isinstance(item, str):
            raise BadField(f"{field}: a tag must be text, got {type(item).__name__}")
        tag = item.strip()
        if not tag or tag in out:
            continue
        if len(tag) > MAX_TAG:
            raise BadField(f"{field}: tag {tag[:30]!r}... is {len(tag)} characters long, at most {MAX_TAG}")
        out.append(tag)
    if len(out) > MAX_TAGS:
        raise BadField(f"{field}: {len(out)} tags, at most {MAX_TAGS}")
    return out


def description(value: object, field: str = "description") -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadField(f"{field}: expected text, got {type(value).__name__}")
    if len(value) > MAX_DESCRIPTION:
        raise BadField(f"{field}: {len(value)} characters long, at most {MAX_DESCRIPTION}")
    return value.strip()


def skip(skipped: dict[str, int] | None, name: str, n: int = 1) -> None:
    """Count ``n`` entries read and deliberately not imported, under ``name``."""
    if skipped is not None:
        skipped[name] = skipped.get(name, 0) + n


def shown(raw: object) -> str:
    """A raw value as an import report shows it: text, shortened."""
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)[:_SHOWN] if raw is not None else ""
    return text if len(text) <= _SHOWN else text[:_SHOWN] + f"... ({len(text)} characters)"


def reject(ref: str, exc: BadField | InvalidInput, type_name: str | None = None, raw: object = None) -> Rejected:
    """A ``Rejected`` from a ``BadField`` or a normalisation ``InvalidInput``."""
    if isinstance(exc, BadField):
        return Rejected(ref, exc.type_name or type_name, shown(exc.raw if exc.raw is not None else raw), exc.message)
    reason = "; ".join(p.message for p in exc.problems) or exc.detail
    return Rejected(ref, type_name, shown(raw), reason)


def finish(
    reports: list[Report], rejects: list[Rejected], *, best_effort: bool, what: str
) -> tuple[list[Report], list[Rejected]]:
    """Return the batch, or (strict mode) refuse it naming every rejected object or line."""
    if rejects and not best_effort:
        problems = [Problem(r.ref, r.reason) for r in rejects]
        raise InvalidInput(
            f"{what}: {len(rejects)} of {len(reports) + len(rejects)} entries are invalid; nothing was imported",
            problems,
        )
    return reports, rejects


def tlp_name(level: TLP | str) -> str:
    return level.value if isinstance(level, TLP) else TLP(level).value


def report_tlp(report: Mapping[str, Any]) -> TLP:
    """The TLP level of a report (its ``tlp`` may be a ``TLP`` or the level name)."""
    value = report["tlp"]
    if isinstance(value, TLP):
        return value
    return parse_tlp(str(value)).level


def check_type(type_name: str) -> None:
    if type_name not in SIGNAL_TYPES:
        raise BadField(f"type: {type_name!r} is not a signal type; one of: {', '.join(SIGNAL_TYPES)}")
