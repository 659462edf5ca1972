"""Request types and their required contents, as one table of data.

Each field of a request form is a ``FieldSpec``: its name, label, kind, which request types
use it and which require it, and the rule in ``citations.py`` that asks for it (per request
type where the article differs: Art. 40(~15) for mutual legal assistance, Art. 42 for
preservation). ``validate_draft`` walks the table and returns every problem at once, so a
draft reads like a checklist; the API, CLI and console forms are built from ``describe_*``.

Values are JSON-native (texts, whole numbers, booleans, lists of texts, ISO 8601 texts for
dates and times) so a draft can be stored as JSON as it is; ``clean_fields`` normalises them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from hanoi.core.citations import RULES
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import InvalidInput, Problem, invalid
from hanoi.core.offences import OFFENCES, SERIOUS, offence_problem
from hanoi.requests.types import (
    EMERGENCY,
    INTERCEPTION,
    LAW_ENFORCEMENT,
    MLA,
    PRESERVATION,
    PRESERVED_DISCLOSURE,
    REAL_TIME,
    REQUEST_TYPES,
    SPONTANEOUS,
    STORED_DATA,
    RequestType,
    request_type,
)

FieldKind = Literal["text", "enum", "int", "bool", "date", "datetime", "list", "offence",
                    "language"]


ALL = frozenset(REQUEST_TYPES)
# The "MLA family": requests executed by the requested State's authorities under Art. 40.
EVIDENCE = frozenset({MLA, STORED_DATA, REAL_TIME, INTERCEPTION, PRESERVED_DISCLOSURE})
DATA = frozenset({PRESERVATION, PRESERVED_DISCLOSURE, STORED_DATA, REAL_TIME, INTERCEPTION,
                  EMERGENCY})
NOT_SPONTANEOUS = ALL - {SPONTANEOUS}

PROCEEDING_NATURES = ("investigation", "prosecution", "judicial-proceeding")
URGENCIES = ("routine", "urgent", "emergency")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MAX_TEXT = 20_000


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a request form, with the rule that asks for it."""

    name: str
    label: str
    kind: FieldKind
    rule: str
    used_by: frozenset[str]
    required_for: frozenset[str] = frozenset()
    rule_for: tuple[tuple[str, str], ...] = ()
    choices: tuple[str, ...] = ()
    help: str = ""
    minimum: int | None = None

    def rule_code(self, request_type: str) -> str:
        """The citation for this field in this request type."""
        return dict(self.rule_for).get(request_type, self.rule)

    def required(self, request_type: str) -> bool:
        return request_type in self.required_for

    def describe(self, request_type: str | None = None) -> dict[str, Any]:
        code = self.rule_code(request_type) if request_type else self.rule
        r = RULES[code]
        out: dict[str, Any] = {
            "name": self.name, "label": self.label, "kind": self.kind,
            "choices": list(self.choices), "help": self.help, "rule": code,
            "citation": r.citation, "text": r.text,
        }
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if request_type is None:
            out["used_by"] = sorted(self.used_by)
            out["required_for"] = sorted(self.required_for)
        else:
            out["required"] = self.required(request_type)
        return out


def _f(name: str, label: str, kind: FieldKind, rule: str, used_by: Iterable[str],
       required_for: Iterable[str] = (), rule_for: Mapping[str, str] | None = None,
       **kw: Any) -> FieldSpec:
    used = frozenset(used_by)
    req = frozenset(required_for)
    assert req <= used, name
    return FieldSpec(name, label, kind, rule, used, req, tuple(sorted((rule_for or {}).items())),
                     **kw)


# The table. Order is the order of the printed form.
FIELDS: tuple[FieldSpec, ...] = (
    _f("requesting_authority", "Requesting authority", "text", "CONTENT-AUTHORITY", ALL, ALL,
       {PRESERVATION: "PRESERVE-AUTHORITY", SPONTANEOUS: "REQ-SPONTANEOUS"},
       help="The authority making the request (or sending the information)."),
    _f("conducting_authority", "Authority conducting the proceeding", "text",
       "CONTENT-PROCEEDING", NOT_SPONTANEOUS, EVIDENCE),
    _f("proceeding_nature", "Nature of the proceeding", "enum", "CONTENT-PROCEEDING",
       NOT_SPONTANEOUS, EVIDENCE, choices=PROCEEDING_NATURES),
    _f("case_reference", "Case reference of the requesting authority", "text",
       "CONTENT-PROCEEDING", ALL),
    _f("offence_code", "Offence", "offence", "CONTENT-PROCEEDING", ALL,
       ALL - {SPONTANEOUS, EMERGENCY}, {PRESERVATION: "PRESERVE-OFFENCE"},
       choices=tuple(OFFENCES),
       help="An offence of the catalogue (UNCC Arts. 7-17) or SERIOUS with its maximum penalty."),
    _f("offence_max_penalty_years", "Maximum penalty (years of deprivation of liberty)", "int",
       "OFFENCE-SERIOUS", ALL, minimum=0,
       help="Required when the offence is SERIOUS: at least four years (Art. 2)."),
    _f("offence_death_penalty", "The offence carries the death penalty in the requesting State",
       "bool", "GATE-ASSURANCES", ALL),
    _f("offence_description", "The offence as named in the requesting State's law", "text",
       "GATE-DUAL-CRIMINALITY", ALL),
    _f("facts_summary", "Summary of the relevant facts", "text", "CONTENT-FACTS", ALL, ALL,
       {PRESERVATION: "PRESERVE-OFFENCE", SPONTANEOUS: "REQ-SPONTANEOUS"}),
    _f("assistance_sought", "Assistance sought", "text", "CONTENT-ASSISTANCE", NOT_SPONTANEOUS,
       EVIDENCE | {LAW_ENFORCEMENT, EMERGENCY},
       {EMERGENCY: "REQ-24-7", LAW_ENFORCEMENT: "REQ-LE-COOPERATION"}),
    _f("procedure_wished", "Particular procedure wished", "text", "CONTENT-ASSISTANCE",
       NOT_SPONTANEOUS),
    _f("data_concerned", "Data concerned", "text", "CONTENT-ASSISTANCE", DATA, DATA,
       {PRESERVATION: "PRESERVE-DATA", PRESERVED_DISCLOSURE: "REQ-PRESERVED-DISCLOSURE",
        STORED_DATA: "REQ-STORED-DATA", REAL_TIME: "REQ-REAL-TIME",
        INTERCEPTION: "REQ-INTERCEPTION", EMERGENCY: "REQ-24-7"}),
    _f("data_relation", "Relationship of the data to the offence", "text", "CONTENT-FACTS",
       DATA, {PRESERVATION}, {PRESERVATION: "PRESERVE-DATA"}),
    _f("data_period_from", "Data from (date)", "date", "CONTENT-ASSISTANCE", DATA),
    _f("data_period_to", "Data to (date)", "date", "CONTENT-ASSISTANCE", DATA),
    _f("persons_concerned", "Persons, items or accounts concerned", "list", "CONTENT-PERSON",
       ALL, {STORED_DATA, REAL_TIME, INTERCEPTION},
       help="Identity, location and nationality of each person, item or account, where known."),
    _f("custodian", "Custodian or service provider, or location of the system", "text",
       "CONTENT-PERSON", DATA | {MLA}, rule_for={PRESERVATION: "PRESERVE-CUSTODIAN"}),
    _f("preservation_reference", "Reference of the preservation under which data are held",
       "text", "REQ-PRESERVED-DISCLOSURE", {PRESERVED_DISCLOSURE, STORED_DATA},
       {PRESERVED_DISCLOSURE}),
    _f("preservation_necessity", "Why preservation is necessary", "text", "PRESERVE-NECESSITY",
       {PRESERVATION}, {PRESERVATION}),
    _f("mla_to_follow", "A request for mutual legal assistance will follow", "bool",
       "PRESERVE-MLA-FOLLOWS", {PRESERVATION}, {PRESERVATION}),
    _f("collection_period_days", "Period of collection (days)", "int",
       "SAFEGUARD-SCOPE-DURATION", {REAL_TIME, INTERCEPTION}, {REAL_TIME, INTERCEPTION},
       minimum=1),
    _f("purpose", "Purpose for which the evidence or action is sought", "text",
       "CONTENT-PURPOSE", NOT_SPONTANEOUS - {PRESERVATION}, EVIDENCE | {LAW_ENFORCEMENT}),
    _f("emergency_risk", "The emergency: imminent risk to the life or safety of a person",
       "text", "REQ-24-7", {EMERGENCY}, {EMERGENCY}),
    _f("urgency", "Urgency", "enum", "DEADLINE-REASONED", ALL, choices=URGENCIES),
    _f("deadline", "Deadline (date and time, UTC)", "datetime", "DEADLINE-REASONED", ALL),
    _f("deadline_reason", "Reasons for the deadline", "text", "DEADLINE-REASONED", ALL),
    _f("confidential", "Keep the request confidential", "bool", "GATE-CONFIDENTIALITY", ALL,
       rule_for={PRESERVATION: "PRESERVE-CONFIDENTIAL"}),
    _f("no_user_notification", "Do not notify the user", "bool", "PRESERVE-CONFIDENTIAL",
       NOT_SPONTANEOUS),
    _f("use_conditions", "Conditions on the use of the information", "text", "REQ-SPONTANEOUS",
       {SPONTANEOUS}),
    _f("legal_basis", "Other treaties or arrangements relied upon", "list", "GATE-NON-PARTY",
       ALL),
    _f("language", "Language of the request", "language", "CONTENT-LANGUAGE", ALL, ALL,
       help="A language tag the requested State accepts, e.g. 'en', 'fr', 'es'."),
)

FIELDS_BY_NAME: dict[str, FieldSpec] = {f.name: f for f in FIELDS}


def fields_for(code: str) -> tuple[FieldSpec, ...]:
    """The fields a request of this type uses, in form order."""
    request_type(code)
    return tuple(f for f in FIELDS if code in f.used_by)


def describe_types() -> list[dict[str, Any]]:
    return [t.as_dict() for t in REQUEST_TYPES.values()]


def describe_fields(code: str | None = None) -> list[dict[str, Any]]:
    """The form: every field (of one type, with ``required``), JSON-safe."""
    specs = FIELDS if code is None else fields_for(code)
    return [f.describe(code) for f in specs]


# --- validation ----------------------------------------------------------------------------------


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _as_datetime(value: Any) -> datetime | None:
    """The value as an aware UTC datetime, or None if it is not a time with a zone."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else None
    if isinstance(value, str):
        # A form must say which time it means: no zone is refused rather than guessed.
        if not re.search(r"(Z|z|[+-]\d{2}:?\d{2})$", value.strip()):
            return None
        try:
            return parse_time(value.strip())
        except ValueError:
            return None
    return None


def _as_date(value: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _check_value(spec: FieldSpec, value: Any, rule: str) -> Problem | None:
    name = spec.name
    if spec.kind == "text":
        if not isinstance(value, str):
            return Problem(name, "must be text", rule)
        if len(value) > MAX_TEXT:
            return Problem(name, f"is longer than {MAX_TEXT} characters", rule)
    elif spec.kind == "enum":
        if value not in spec.choices:
            return Problem(name, f"{value!r} is not one of: {', '.join(spec.choices)}", rule)
    elif spec.kind == "offence":
        p = offence_problem(value, name)
        if p:
            return p
    elif spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return Problem(name, "must be a whole number", rule)
        if spec.minimum is not None and value < spec.minimum:
            return Problem(name, f"must be at least {spec.minimum}", rule)
    elif spec.kind == "bool":
        if not isinstance(value, bool):
            return Problem(name, "must be true or false", rule)
    elif spec.kind == "date":
        if _as_date(value) is None:
            return Problem(name, f"{value!r} is not a date (YYYY-MM-DD)", rule)
    elif spec.kind == "datetime":
        if _as_datetime(value) is None:
            return Problem(name, f"{value!r} is not an ISO 8601 time with a zone "
                           "(e.g. 2026-01-31T12:00:00Z)", rule)
    elif spec.kind == "list":
        if not isinstance(value, list | tuple) or not all(
                isinstance(x, str) and x.strip() for x in value):
            return Problem(name, "must be a list of non-empty texts", rule)
    elif spec.kind == "language" and (
            not isinstance(value, str) or not _LANGUAGE.fullmatch(value.strip().lower())):
        return Problem(name, f"{value!r} is not a language tag such as 'en' or 'fr'", rule)
    return None


def validate_draft(code: str, fields: Mapping[str, Any], now: datetime, *,
                   partial: bool = False, received: bool = False,
                   accepted_languages: Iterable[str] | None = None) -> list[Problem]:
    """Every missing or invalid field of a request, each with the rule that asks for it.

    ``partial=True`` checks only the values given (saving a draft); the default also lists
    every required field that is missing (submitting). ``now`` decides whether a deadline is
    in the past: only a draft's own deadline must lie ahead; a request ``received`` (made to
    this node) with a deadline already passed is recorded, and shown as overdue.
    ``accepted_languages`` (the requested side's languages, if known) must
    include the request's language. An unknown request type raises ``InvalidInput`` on
    ``type``.
    """
    rt = request_type(code)
    if not isinstance(fields, Mapping):
        raise invalid("fields", "must be a mapping of field names to values")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    problems: list[Problem] = []
    for spec in FIELDS:
        rule = spec.rule_code(code)
        value = fields.get(spec.name)
        if _absent(value):
            if not partial and spec.required(code):
                problems.append(Problem(spec.name, f"is required for a {code} request "
                                        f"({spec.label.lower()})", rule))
            continue
        if code not in spec.used_by:
            problems.append(Problem(spec.name, f"is not used in a {code} request", rt.rule))
            continue
        p = _check_value(spec, value, rule)
        if p:
            problems.append(p)
    problems += _cross_checks(rt, fields, now, partial, received)
    lang = fields.get("language")
    accepted = [a.strip().lower() for a in accepted_languages or ()]
    if accepted and isinstance(lang, str) and _LANGUAGE.fullmatch(lang.strip().lower()) \
            and lang.strip().lower() not in accepted:
        problems.append(Problem("language", f"{lang.strip()!r} is not a language the requested "
                                f"side accepts ({', '.join(accepted)})", "CONTENT-LANGUAGE"))
    for name in sorted(set(fields) - set(FIELDS_BY_NAME), key=str):
        problems.append(Problem(str(name), "is not a request field"))
    return problems


def _cross_checks(rt: RequestType, fields: Mapping[str, Any], now: datetime,
                  partial: bool, received: bool = False) -> list[Problem]:
    """Checks that involve more than one field or the time."""
    problems: list[Problem] = []
    code = fields.get("offence_code")
    if (isinstance(code, str) and code.strip().upper() == SERIOUS and not partial
            and _absent(fields.get("offence_max_penalty_years"))):
        problems.append(Problem("offence_max_penalty_years",
                                "is required when the offence is SERIOUS (Art. 2: at least "
                                "four years)", "OFFENCE-SERIOUS"))
    if rt.code == PRESERVATION and fields.get("mla_to_follow") is False:
        problems.append(Problem("mla_to_follow", "a preservation request must state that a "
                                "request for mutual legal assistance will follow",
                                "PRESERVE-MLA-FOLLOWS"))
    deadline = _as_datetime(fields.get("deadline"))
    if deadline is not None:
        if deadline <= now and not received:
            problems.append(Problem("deadline", f"{isoformat(deadline)} is in the past",
                                    "DEADLINE-REASONED"))
        if not partial and _absent(fields.get("deadline_reason")):
            problems.append(Problem("deadline_reason", "a deadline must give its reasons",
                                    "DEADLINE-REASONED"))
    start = _as_date(fields.get("data_period_from"))
    end = _as_date(fields.get("data_period_to"))
    if start and end and start > end:
        problems.append(Problem("data_period_to", "ends before the period starts",
                                "CONTENT-ASSISTANCE"))
    return problems


def require_complete(code: str, fields: Mapping[str, Any], now: datetime, *,
                     accepted_languages: Iterable[str] | None = None) -> dict[str, Any]:
    """The cleaned fields of a complete, valid request; ``InvalidInput`` listing every problem."""
    problems = validate_draft(code, fields, now, accepted_languages=accepted_languages)
    if problems:
        rt = REQUEST_TYPES[code]
        raise InvalidInput(f"the {rt.label.lower()} is incomplete or invalid: "
                           f"{len(problems)} problem(s)", problems, "CONTENT-REQUIRED")
    return clean_fields(code, fields)


def clean_fields(code: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe, normalised values; empty values dropped, invalid ones kept for validation."""
    request_type(code)
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if _absent(value):
            continue
        spec = FIELDS_BY_NAME.get(name)
        if spec is None:
            out[name] = value
            continue
        if spec.kind in ("text", "enum") and isinstance(value, str):
            value = value.strip()
        elif spec.kind == "offence" and isinstance(value, str):
            value = value.strip().upper()
        elif spec.kind == "language" and isinstance(value, str):
            value = value.strip().lower()
        elif spec.kind == "list" and isinstance(value, list | tuple):
            value = [x.strip() if isinstance(x, str) else x for x in value]
        elif spec.kind == "datetime":
            dt = _as_datetime(value)
            value = isoformat(dt) if dt is not None else value
        elif spec.kind == "date":
            d = _as_date(value)
            value = d.isoformat() if d is not None else value
        out[name] = value
    return out


def checklist(code: str, fields: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    """One row per field of the form: required, present, ok, problems, citation.

    Problems with fields outside the form (unknown or not used by the type) follow as rows
    with ``required`` false.
    """
    problems = validate_draft(code, fields, now)
    by_field: dict[str, list[Problem]] = {}
    for p in problems:
        by_field.setdefault(p.field, []).append(p)
    rows: list[dict[str, Any]] = []
    for spec in fields_for(code):
        rule = RULES[spec.rule_code(code)]
        mine = by_field.pop(spec.name, [])
        rows.append({
            "field": spec.name, "label": spec.label, "required": spec.required(code),
            "present": not _absent(fields.get(spec.name)), "ok": not mine,
            "problems": [p.as_dict() for p in mine], "rule": rule.code,
            "citation": rule.citation,
        })
    for name, mine in by_field.items():
        rows.append({"field": name, "label": name, "required": False,
                     "present": name in fields, "ok": False,
                     "problems": [p.as_dict() for p in mine], "rule": mine[0].rule,
                     "citation": RULES[mine[0].rule].citation if mine[0].rule else ""})
    return rows
