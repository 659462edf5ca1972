"""Deadlines: preservation terms, configurable deadline profiles, and due / overdue status.

Preservation lasts at least 60 days from the day the data were preserved, plus any recorded
extensions, and runs on past that while the follow-up request for mutual legal assistance is
undecided (UNCC Art. 42). Other deadlines come from profiles a node sets per partner
agreement (8 hours, 10, 20, 30, 45 days: see ``CONVENTION.md``) and from the requester's own
reasoned deadline (Art. 40(~26)). Durations are whole hours, never floats. ``now`` is always
an argument.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from hanoi.core.citations import RULES
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import InvalidInput, Problem, invalid
from hanoi.requests.types import REQUEST_TYPES

PRESERVATION_MIN_DAYS = 60
DueState = Literal["ok", "due-soon", "overdue"]
PreservationState = Literal["running", "held", "expired"]

_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def aware(value: Any, field_name: str) -> datetime:
    """A timezone-aware datetime (or ISO 8601 text), else ``InvalidInput`` on the field."""
    if isinstance(value, str):
        try:
            value = parse_time(value)
        except ValueError:
            raise invalid(field_name, f"{value!r} is not an ISO 8601 time") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise invalid(field_name, "must be a timezone-aware time (UTC)")
    return value


def _remaining(due_at: datetime, now: datetime) -> int:
    return int((due_at - now).total_seconds() // 1)


def classify(due_at: datetime, now: datetime, *, warn_before: timedelta = timedelta(hours=24)
             ) -> DueState:
    """``overdue`` once ``now`` is past ``due_at``, ``due-soon`` within ``warn_before`` of it."""
    aware(now, "now")
    if now > due_at:
        return "overdue"
    return "due-soon" if due_at - now <= warn_before else "ok"


def warn_window(duration: timedelta) -> timedelta:
    """A quarter of the time allowed, at least one hour and at most seven days."""
    return max(timedelta(hours=1), min(duration // 4, timedelta(days=7)))


# --- profiles -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadlineProfile:
    """A named time limit (per partner agreement), the rule it comes from, the types it fits."""

    code: str
    label: str
    hours: int
    rule: str
    applies_to: tuple[str, ...] = ()

    @property
    def duration(self) -> timedelta:
        return timedelta(hours=self.hours)

    def due(self, start: datetime) -> datetime:
        return aware(start, "start") + self.duration

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label}
        if self.hours % 24 == 0:
            out["days"] = self.hours // 24
        else:
            out["hours"] = self.hours
        out["rule"] = self.rule
        out["applies_to"] = list(self.applies_to)
        return out

    def as_dict(self) -> dict[str, Any]:
        """For display: ``to_dict`` plus the code and the citation."""
        return {"code": self.code, **self.to_dict(), "citation": RULES[self.rule].citation}


def _p(code: str, label: str, hours: int, rule: str, *types: str) -> DeadlineProfile:
    return DeadlineProfile(code, label, hours, rule, types)


DEFAULT_PROFILES: dict[str, DeadlineProfile] = {
    p.code: p
    for p in (
        _p("emergency-8h", "Emergency disclosure", 8, "DEADLINE-EMERGENCY-8H", "emergency"),
        _p("production-10d", "Production of data", 10 * 24, "DEADLINE-PRODUCTION-10D",
           "stored-data", "preserved-disclosure", "mla"),
        _p("subscriber-20d", "Subscriber information returned", 20 * 24,
           "DEADLINE-SUBSCRIBER-20D", "stored-data", "mla"),
        _p("direct-order-30d", "Direct order to a provider met", 30 * 24,
           "DEADLINE-DIRECT-ORDER-30D", "stored-data"),
        _p("traffic-45d", "Traffic data returned", 45 * 24, "DEADLINE-TRAFFIC-45D",
           "stored-data", "preserved-disclosure", "mla"),
        _p("preservation-60d", "Preservation (minimum)", PRESERVATION_MIN_DAYS * 24,
           "PRESERVATION-60-DAYS", "preservation"),
        _p("preservation-extension-30d", "Extension of preservation", 30 * 24,
           "PRESERVATION-EXTENSION-30D", "preservation"),
    )
}
DEFAULT_PROFILES_DICT: dict[str, Any] = {c: p.to_dict() for c, p in DEFAULT_PROFILES.items()}

# Which profile applies to a new request when no partner agreement says otherwise.
DEFAULT_PROFILE_FOR: dict[str, str] = {
    "emergency": "emergency-8h",
    "stored-data": "production-10d",
    "preserved-disclosure": "production-10d",
}


def profiles_from_dict(data: Any, where: str = "deadlines") -> dict[str, DeadlineProfile]:
    """Profiles from ``{code: {label, days | hours, rule, applies_to}}``; every problem at once."""
    if not isinstance(data, Mapping):
        raise invalid(where, "must be a mapping of profile codes to settings")
    problems: list[Problem] = []
    out: dict[str, DeadlineProfile] = {}
    types = tuple(REQUEST_TYPES)
    for code, spec in data.items():
        w = f"{where}.{code}"
        start = len(problems)
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            problems.append(Problem(w, "a profile code uses lower-case letters, digits and '-'"))
        if not isinstance(spec, Mapping):
            problems.append(Problem(w, "must be a mapping with label, days or hours, rule"))
            continue
        for k in sorted(set(spec) - {"label", "days", "hours", "rule", "applies_to"}, key=str):
            problems.append(Problem(f"{w}.{k}", "is not a known setting"))
        label = spec.get("label", code)
        if not isinstance(label, str) or not label.strip():
            problems.append(Problem(f"{w}.label", "must be a non-empty text"))
        if ("days" in spec) == ("hours" in spec):
            problems.append(Problem(w, "give exactly one of days or hours"))
            hours = 0
        else:
            unit = "days" if "days" in spec else "hours"
            n = spec[unit]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                problems.append(Problem(f"{w}.{unit}", "must be a whole number from 1"))
                n = 0
            hours = n * 24 if unit == "days" else n
        rule = spec.get("rule", "DEADLINE-REASONED")
        if rule not in RULES:
            problems.append(Problem(f"{w}.rule", f"{rule!r} is not a rule code"))
        applies = spec.get("applies_to") or []
        if not isinstance(applies, list):
            problems.append(Problem(f"{w}.applies_to", "must be a list of request types"))
            applies = []
        for i, t in enumerate(applies):
            if t not in types:
                problems.append(Problem(f"{w}.applies_to[{i}]",
                                        f"{t!r} is not a request type; use one of: "
                                        + ", ".join(types)))
        if code == "preservation-60d" and 0 < hours < PRESERVATION_MIN_DAYS * 24:
            problems.append(Problem(w, f"preservation lasts at least {PRESERVATION_MIN_DAYS} "
                                    "days", "PRESERVATION-60-DAYS"))
        if len(problems) == start:
            out[code] = DeadlineProfile(code, str(label).strip(), hours, str(rule),
                                        tuple(applies))
    if problems:
        raise InvalidInput("the deadline profiles are not valid", problems)
    return out


def profiles_to_dict(profiles: Mapping[str, DeadlineProfile]) -> dict[str, Any]:
    return {c: p.to_dict() for c, p in profiles.items()}


# --- deadlines of a request --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deadline:
    """One deadline of a request: when, why (rule), and from where (profile or requester)."""

    label: str
    start: datetime
    due_at: datetime
    rule: str
    source: str

    def state(self, now: datetime) -> DueState:
        return classify(self.due_at, now, warn_before=warn_window(self.due_at - self.start))

    def status(self, now: datetime) -> dict[str, Any]:
        """JSON-safe: the deadline, its state at ``now`` and the whole seconds remaining."""
        return {**self.as_dict(), "state": self.state(now),
                "remaining_seconds": _remaining(self.due_at, now)}

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": isoformat(self.start),
                "due_at": isoformat(self.due_at), "rule": self.rule,
                "citation": RULES[self.rule].citation, "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deadline:
        return cls(str(data["label"]), aware(data["start"], "start"),
                   aware(data["due_at"], "due_at"), str(data["rule"]), str(data["source"]))


def request_deadlines(request_type: str, start: datetime, *,
                      profile_codes: Iterable[str] | None = None,
                      profiles: Mapping[str, DeadlineProfile] = DEFAULT_PROFILES,
                      requester_deadline: datetime | None = None,
                      requester_reason: str = "") -> list[Deadline]:
    """The deadlines of a request that started (was received) at ``start``.

    ``profile_codes`` are the profiles the partner agreement names (default: the usual one
    for the type, ``DEFAULT_PROFILE_FOR``); each must exist and fit the type. The requester's
    reasoned deadline, if any, is added. Preservation has its own term (``PreservationTerm``).
    """
    start = aware(start, "start")
    codes = list(profile_codes) if profile_codes is not None else (
        [DEFAULT_PROFILE_FOR[request_type]] if request_type in DEFAULT_PROFILE_FOR else [])
    problems: list[Problem] = []
    out: list[Deadline] = []
    for i, code in enumerate(codes):
        p = profiles.get(code)
        if p is None:
            problems.append(Problem(f"profile_codes[{i}]", f"{code!r} is not a deadline "
                                    "profile; use one of: " + ", ".join(profiles)))
        elif p.applies_to and request_type not in p.applies_to:
            problems.append(Problem(f"profile_codes[{i}]", f"{code!r} does not apply to a "
                                    f"{request_type} request", p.rule))
        else:
            out.append(Deadline(p.label, start, p.due(start), p.rule, f"profile:{code}"))
    if problems:
        raise InvalidInput("the deadline profiles do not fit the request", problems)
    if requester_deadline is not None:
        due = aware(requester_deadline, "deadline")
        label = "Requester's deadline" + (f": {requester_reason}" if requester_reason else "")
        if due <= start:  # a request that arrived late is recorded as overdue, never refused for it
            label += " (already passed when the request was received)"
        out.append(Deadline(label, start, due, "DEADLINE-REASONED", "requester"))
    return sorted(out, key=lambda d: d.due_at)


# --- preservation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Extension:
    """A recorded extension of a preservation."""

    at: datetime
    days: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"at": isoformat(self.at), "days": self.days, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "extension") -> Extension:
        problems: list[Problem] = []
        days = data.get("days")
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            problems.append(Problem(f"{where}.days", "must be a whole number of days from 1",
                                    "PRESERVATION-EXTENSION-30D"))
        reason = data.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            problems.append(Problem(f"{where}.reason", "give the reason for the extension",
                                    "PRESERVATION-EXTENSION-30D"))
        try:
            at = aware(data.get("at"), f"{where}.at")
        except InvalidInput as e:
            problems += e.problems
        if problems:
            raise InvalidInput("the extension is not valid", problems)
        assert isinstance(days, int) and isinstance(reason, str)
        return cls(at, days, reason.strip())


@dataclass(frozen=True, slots=True)
class PreservationTerm:
    """How long preserved data are kept: the minimum, the extensions, the follow-up request."""

    preserved_at: datetime
    minimum_days: int = PRESERVATION_MIN_DAYS
    extensions: tuple[Extension, ...] = ()
    follow_up_submitted_at: datetime | None = None
    follow_up_decided_at: datetime | None = None

    def __post_init__(self) -> None:
        aware(self.preserved_at, "preserved_at")
        if self.minimum_days < PRESERVATION_MIN_DAYS:
            raise invalid("minimum_days", f"preservation lasts at least {PRESERVATION_MIN_DAYS} "
                          "days", "PRESERVATION-60-DAYS")

    @property
    def until(self) -> datetime:
        """The end of the minimum term plus every extension."""
        days = self.minimum_days + sum(e.days for e in self.extensions)
        return self.preserved_at + timedelta(days=days)

    def follow_up_pending(self, now: datetime) -> bool:
        """Whether the follow-up MLA request has been submitted and is not yet decided."""
        if self.follow_up_submitted_at is None or self.follow_up_submitted_at > now:
            return False
        return self.follow_up_decided_at is None or self.follow_up_decided_at > now

    def state(self, now: datetime) -> PreservationState:
        aware(now, "now")
        if now < self.until:
            return "running"
        return "held" if self.follow_up_pending(now) else "expired"

    def status(self, now: datetime) -> dict[str, Any]:
        """JSON-safe: state, until, the due state of the term, whether it may expire now."""
        state = self.state(now)
        return {
            "state": state,
            "preserved_at": isoformat(self.preserved_at),
            "until": isoformat(self.until),
            "due": classify(self.until, now,
                            warn_before=warn_window(self.until - self.preserved_at)),
            "remaining_seconds": _remaining(self.until, now),
            "follow_up_pending": self.follow_up_pending(now),
            "may_expire": state == "expired",
            "extensions": [e.as_dict() for e in self.extensions],
            "rule": "PRESERVATION-60-DAYS",
            "citation": RULES["PRESERVATION-60-DAYS"].citation,
        }

    def extend(self, extension: Extension, now: datetime) -> PreservationTerm:
        """The term with ``extension`` recorded; refused once the preservation has expired."""
        aware(extension.at, "extension.at")
        if extension.days < 1:
            raise invalid("extension.days", "must be a whole number of days from 1",
                          "PRESERVATION-EXTENSION-30D")
        if extension.at > now:
            raise invalid("extension.at", "an extension cannot be dated in the future")
        if self.state(extension.at) == "expired":
            raise invalid("extension.at", f"the preservation expired at {isoformat(self.until)}"
                          " and cannot be extended", "PRESERVATION-60-DAYS")
        return replace(self, extensions=(*self.extensions, extension))

    def as_dict(self) -> dict[str, Any]:
        return {
            "preserved_at": isoformat(self.preserved_at),
            "minimum_days": self.minimum_days,
            "extensions": [e.as_dict() for e in self.extensions],
            "follow_up_submitted_at": _opt_iso(self.follow_up_submitted_at),
            "follow_up_decided_at": _opt_iso(self.follow_up_decided_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreservationTerm:
        exts = tuple(Extension.from_dict(e, f"extensions[{i}]")
                     for i, e in enumerate(data.get("extensions") or []))
        minimum = data.get("minimum_days", PRESERVATION_MIN_DAYS)
        if isinstance(minimum, bool) or not isinstance(minimum, int):
            raise invalid("minimum_days", "must be a whole number of days",
                          "PRESERVATION-60-DAYS")
        sub, dec = data.get("follow_up_submitted_at"), data.get("follow_up_decided_at")
        return cls(aware(data.get("preserved_at"), "preserved_at"), minimum, exts,
                   aware(sub, "follow_up_submitted_at") if sub else None,
                   aware(dec, "follow_up_decided_at") if dec else None)


def _opt_iso(t: datetime | None) -> str | None:
    return isoformat(t) if t is not None else None
