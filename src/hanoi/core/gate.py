"""The safeguards gate: a pure function from facts to a decision, with every reason that fired.

Each rule is a row of ``citations.py`` (code, article, a sentence a lawyer can read). A rule
that fires adds a ``Reason`` with an effect: ``deny`` beats ``review`` beats ``allow``. Rules
that applied and were satisfied (a reviewer approved, an assurance was received, dual
criminality was confirmed) are listed too, with effect ``allow``, so the ledger shows why an
exchange went ahead, not only why one was stopped.

The general pieces (``Reason``, ``Decision``, ``standing_reasons``, ``review_reasons``) serve
every kind of item; ``decide_request`` adds the rules for cooperation requests. The node
policy is data (``NodePolicy.from_dict``); reading it from YAML is the caller's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from hanoi.core.citations import RULES, Rule
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import InvalidInput, Problem
from hanoi.core.members import Standing, StateStatus, check_country
from hanoi.core.offences import (
    OFFENCES,
    SERIOUS_CRIME_MIN_YEARS,
    in_scope,
    offence,
    offence_problem,
)

Outcome = Literal["allow", "review", "deny"]
OUTCOMES: tuple[Outcome, ...] = ("allow", "review", "deny")
_RANK = {"allow": 0, "review": 1, "deny": 2}

Role = Literal["requesting", "requested"]
ROLES: tuple[Role, ...] = ("requesting", "requested")

DualCriminality = Literal["met", "not-met", "unassessed"]
DUAL_CRIMINALITY: tuple[DualCriminality, ...] = ("met", "not-met", "unassessed")

# Request types whose execution is coercive (Arts. 44-46): dual criminality applies by default.
COERCIVE_REQUEST_TYPES: tuple[str, ...] = ("stored-data", "real-time-traffic", "interception")
PRESERVATION = "preservation"


# --- reasons and decisions -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule that fired: its code, what it does to the outcome, and the case at hand."""

    code: str
    effect: Outcome
    detail: str = ""
    needs_reviewer: bool = False

    def __post_init__(self) -> None:
        if self.code not in RULES:  # a programming error, not a user error
            raise KeyError(f"unknown rule code {self.code!r}")
        if self.effect not in _RANK:
            raise ValueError(f"unknown effect {self.effect!r}")

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    @property
    def citation(self) -> str:
        return self.rule.citation

    @property
    def text(self) -> str:
        return self.rule.text

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "effect": self.effect,
            "citation": self.citation,
            "text": self.text,
            "detail": self.detail,
            "needs_reviewer": self.needs_reviewer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        return cls(str(data["code"]), cast(Outcome, data["effect"]), str(data.get("detail", "")),
                   bool(data.get("needs_reviewer", False)))

    def __str__(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.effect} {self.code} ({self.citation}){detail}"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the gate decided, with every reason that fired and the conditions attached.

    Build it with ``Decision.of(reasons, conditions)`` so the outcome always follows the
    reasons: deny beats review beats allow, and no reasons means allow.
    """

    outcome: Outcome
    reasons: tuple[Reason, ...] = ()
    conditions: tuple[str, ...] = ()
    reviewer_required: bool = False

    @classmethod
    def of(cls, reasons: Iterable[Reason], conditions: Iterable[str] = ()) -> Decision:
        rs = tuple(reasons)
        outcome: Outcome = max((r.effect for r in rs), key=_RANK.__getitem__, default="allow")
        # A named person is only needed while the outcome is review; a deny is final.
        reviewer = outcome == "review" and any(
            r.needs_reviewer and r.effect == "review" for r in rs)
        return cls(outcome, rs, tuple(dict.fromkeys(c for c in conditions if c)), reviewer)

    def merge(self, *others: Decision) -> Decision:
        """One decision over this one's and the others' reasons (e.g. standing + TLP)."""
        everything = (self, *others)
        return Decision.of((r for d in everything for r in d.reasons),
                           (c for d in everything for c in d.conditions))

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"

    @property
    def denied(self) -> bool:
        return self.outcome == "deny"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def fired(self, code: str, effect: Outcome | None = None) -> bool:
        return any(r.code == code and (effect is None or r.effect == effect) for r in self.reasons)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (strings, booleans, lists) for the ledger and the API."""
        return {
            "outcome": self.outcome,
            "reviewer_required": self.reviewer_required,
            "reasons": [r.as_dict() for r in self.reasons],
            "conditions": list(self.conditions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls.of((Reason.from_dict(r) for r in data.get("reasons", [])),
                      data.get("conditions", []))

    def summary(self) -> str:
        """One line per reason, for the CLI and log messages."""
        lines = [f"outcome: {self.outcome}" + (" (a named reviewer is required)"
                                               if self.reviewer_required else "")]
        lines += [f"  - {r}" for r in self.reasons]
        lines += [f"  condition: {c}" for c in self.conditions]
        return "\n".join(lines)


# --- inputs ------------------------------------------------------------------------------------


def _text(data: Mapping[str, Any], key: str, where: str, problems: list[Problem],
          required: bool = True) -> str:
    v = data.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v.strip()):
        problems.append(Problem(f"{where}{key}", "must be a non-empty text"))
        return ""
    return v.strip()


def _bool(data: Mapping[str, Any], key: str, where: str, problems: list[Problem],
          default: bool = False) -> bool:
    v = data.get(key, default)
    if not isinstance(v, bool):
        problems.append(Problem(f"{where}{key}", "must be true or false"))
        return default
    return v


def _str_list(data: Mapping[str, Any], key: str, where: str,
              problems: list[Problem]) -> tuple[str, ...]:
    v = data.get(key) or []
    if not isinstance(v, list | tuple) or not all(isinstance(x, str) and x.strip() for x in v):
        problems.append(Problem(f"{where}{key}", "must be a list of non-empty texts"))
        return ()
    return tuple(x.strip() for x in v)


def _unknown(data: Mapping[str, Any], known: Iterable[str], where: str,
             problems: list[Problem]) -> None:
    for k in sorted(set(data) - set(known), key=str):
        problems.append(Problem(f"{where}{k}", "is not a known setting"))


def _raise(problems: list[Problem], what: str) -> None:
    if problems:
        raise InvalidInput(f"{what} is not valid: " + "; ".join(str(p) for p in problems),
                           problems)


@dataclass(frozen=True, slots=True)
class PartnerView:
    """What the gate needs to know about the other side of an exchange."""

    member_id: str
    name: str
    country: str
    state_status: StateStatus
    standing: Standing
    other_treaties: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        for attr, enum in (("state_status", StateStatus), ("standing", Standing)):
            try:
                object.__setattr__(self, attr, enum(getattr(self, attr)))
            except ValueError:
                allowed = ", ".join(e.value for e in enum)
                problems.append(Problem(f"partner.{attr}",
                                        f"{getattr(self, attr)!r} is not one of: {allowed}"))
        _raise(problems, "the partner")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartnerView:
        problems: list[Problem] = []
        w = "partner."
        # A stored member's dict names its id "id"; both spellings are accepted.
        member_id = _text({"member_id": data.get("member_id", data.get("id"))}, "member_id", w,
                          problems)
        name = _text(data, "name", w, problems, required=False) or member_id
        country, p = check_country(data.get("country"), "partner.country")
        if p:
            problems.append(p)
        treaties = _str_list(data, "other_treaties", w, problems)
        for key, enum, default in (("state_status", StateStatus, "party"),
                                   ("standing", Standing, "good")):
            if data.get(key, default) not in enum._value2member_map_:
                allowed = ", ".join(e.value for e in enum)
                problems.append(Problem(f"{w}{key}",
                                        f"{data.get(key)!r} is not one of: {allowed}"))
        _raise(problems, "the partner")
        return cls(member_id, name, country or "", data.get("state_status", "party"),
                   data.get("standing", "good"), treaties)

    def as_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "name": self.name,
            "country": self.country,
            "state_status": self.state_status.value,
            "standing": self.standing.value,
            "other_treaties": list(self.other_treaties),
        }

    @property
    def label(self) -> str:
        return f"{self.name} ({self.country})"


@dataclass(frozen=True, slots=True)
class Review:
    """A named person's finding on an exchange the gate sent to review."""

    reviewer: str
    at: datetime
    approved: bool
    discrimination_found: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not isinstance(self.reviewer, str) or not self.reviewer.strip():
            problems.append(Problem("review.reviewer", "name the person who reviewed",
                                    "GATE-CONCERNS"))
        if not isinstance(self.at, datetime) or self.at.tzinfo is None:
            problems.append(Problem("review.at", "must be a timezone-aware time"))
        if self.approved and self.discrimination_found:
            problems.append(Problem("review.approved",
                                    "cannot approve while finding a discrimination ground",
                                    "GATE-DISCRIMINATION"))
        _raise(problems, "the review")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Review:
        problems: list[Problem] = []
        w = "review."
        reviewer = _text(data, "reviewer", w, problems)
        approved = _bool(data, "approved", w, problems)
        discrimination = _bool(data, "discrimination_found", w, problems)
        note = _text(data, "note", w, problems, required=False)
        at_raw = data.get("at")
        at: datetime | None = at_raw if isinstance(at_raw, datetime) else None
        if isinstance(at_raw, str):
            try:
                at = parse_time(at_raw)
            except ValueError:
                problems.append(Problem("review.at", f"{at_raw!r} is not an ISO 8601 time"))
        elif at is None:
            problems.append(Problem("review.at", "is required (ISO 8601 time)"))
        _raise(problems, "the review")
        assert at is not None
        return cls(reviewer, at, approved, discrimination, note)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reviewer": self.reviewer,
            "at": isoformat(self.at),
            "approved": self.approved,
            "discrimination_found": self.discrimination_found,
            "note": self.note,
        }

    def signed(self) -> str:
        return f"{self.reviewer} on {isoformat(self.at)[:10]}"


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The facts about a cooperation request the gate decides on.

    ``dual_criminality``, ``confidentiality_can_keep``, ``requester_accepts_disclosure`` and
    ``assurances_received`` are the requested side's record of its own assessment; the rest
    comes from the request's contents (see ``hanoi.requests.contents.gate_facts``).
    """

    request_type: str
    offence_code: str | None = None
    max_penalty_years: int | None = None
    death_penalty: bool = False
    dual_criminality: DualCriminality = "unassessed"
    confidentiality_requested: bool = False
    confidentiality_can_keep: bool | None = None
    requester_accepts_disclosure: bool = False
    assurances_received: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if self.offence_code is not None:
            p = offence_problem(self.offence_code, "facts.offence_code")
            if p:
                problems.append(p)
            else:
                object.__setattr__(self, "offence_code", self.offence_code.strip().upper())
        if self.max_penalty_years is not None and (
            isinstance(self.max_penalty_years, bool) or not isinstance(self.max_penalty_years, int)
            or self.max_penalty_years < 0
        ):
            problems.append(Problem("facts.max_penalty_years", "must be a whole number of years"))
        if self.dual_criminality not in DUAL_CRIMINALITY:
            problems.append(Problem("facts.dual_criminality",
                                    f"must be one of: {', '.join(DUAL_CRIMINALITY)}"))
        _raise(problems, "the request facts")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestFacts:
        problems: list[Problem] = []
        w = "facts."
        rtype = _text(data, "request_type", w, problems)
        can_keep = data.get("confidentiality_can_keep")
        if can_keep is not None and not isinstance(can_keep, bool):
            problems.append(Problem("facts.confidentiality_can_keep",
                                    "must be true, false or null"))
            can_keep = None
        death_penalty = _bool(data, "death_penalty", w, problems)
        requested = _bool(data, "confidentiality_requested", w, problems)
        accepts = _bool(data, "requester_accepts_disclosure", w, problems)
        received = _str_list(data, "assurances_received", w, problems)
        _raise(problems, "the request facts")
        return cls(rtype, data.get("offence_code"), data.get("max_penalty_years"),
                   death_penalty, data.get("dual_criminality", "unassessed"), requested,
                   can_keep, accepts, received)

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_type": self.request_type,
            "offence_code": self.offence_code,
            "max_penalty_years": self.max_penalty_years,
            "death_penalty": self.death_penalty,
            "dual_criminality": self.dual_criminality,
            "confidentiality_requested": self.confidentiality_requested,
            "confidentiality_can_keep": self.confidentiality_can_keep,
            "requester_accepts_disclosure": self.requester_accepts_disclosure,
            "assurances_received": list(self.assurances_received),
        }


# --- node policy -------------------------------------------------------------------------------

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _known_request_types() -> tuple[str, ...]:
    # Imported late: hanoi.requests builds on core, and the policy only needs the type names.
    from hanoi.requests.contents import REQUEST_TYPES

    return tuple(REQUEST_TYPES)


@dataclass(frozen=True, slots=True)
class AssuranceRule:
    """A node-policy rule: when the triggers match, assistance waits for an assurance.

    Every trigger that is set must match (``death_penalty``, ``offence_codes``,
    ``request_types``, ``countries`` of the requesting State); at least one must be set.
    """

    id: str
    condition: str
    death_penalty: bool | None = None
    offence_codes: tuple[str, ...] = ()
    request_types: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()

    def matches(self, facts: RequestFacts, partner: PartnerView) -> bool:
        if self.death_penalty is not None and facts.death_penalty != self.death_penalty:
            return False
        if self.offence_codes and facts.offence_code not in self.offence_codes:
            return False
        if self.request_types and facts.request_type not in self.request_types:
            return False
        return not self.countries or partner.country in self.countries

    @classmethod
    def from_dict(cls, data: Any, where: str, problems: list[Problem]) -> AssuranceRule | None:
        if not isinstance(data, Mapping):
            problems.append(Problem(where.rstrip("."),
                                    "must be a mapping with id, condition, when"))
            return None
        start = len(problems)
        _unknown(data, ("id", "condition", "when"), where, problems)
        rid = _text(data, "id", where, problems)
        if rid and not _ID.fullmatch(rid):
            problems.append(Problem(f"{where}id", "use lower-case letters, digits and '-'"))
        condition = _text(data, "condition", where, problems)
        when = data.get("when")
        w = f"{where}when."
        if not isinstance(when, Mapping) or not when:
            problems.append(Problem(f"{where}when", "name at least one trigger: death_penalty, "
                                    "offence_codes, request_types or countries"))
            when = {}
        _unknown(when, ("death_penalty", "offence_codes", "request_types", "countries"), w,
                 problems)
        dp = when.get("death_penalty")
        if dp is not None and not isinstance(dp, bool):
            problems.append(Problem(f"{w}death_penalty", "must be true or false"))
        offences = tuple(o.upper() for o in _str_list(when, "offence_codes", w, problems))
        for i, o in enumerate(offences):
            p = offence_problem(o, f"{w}offence_codes[{i}]")
            if p:
                problems.append(p)
        rtypes = _str_list(when, "request_types", w, problems)
        known = _known_request_types()
        for i, t in enumerate(rtypes):
            if t not in known:
                problems.append(Problem(f"{w}request_types[{i}]",
                                        f"{t!r} is not a request type; use one of: "
                                        + ", ".join(known)))
        countries: list[str] = []
        for i, c in enumerate(_str_list(when, "countries", w, problems)):
            code, p = check_country(c, f"{w}countries[{i}]")
            if p:
                problems.append(p)
            elif code:
                countries.append(code)
        if len(problems) > start:
            return None
        return cls(rid, condition, dp, offences, rtypes, tuple(countries))

    def to_dict(self) -> dict[str, Any]:
        when: dict[str, Any] = {}
        if self.death_penalty is not None:
            when["death_penalty"] = self.death_penalty
        if self.offence_codes:
            when["offence_codes"] = list(self.offence_codes)
        if self.request_types:
            when["request_types"] = list(self.request_types)
        if self.countries:
            when["countries"] = list(self.countries)
        return {"id": self.id, "condition": self.condition, "when": when}


DEATH_PENALTY_ASSURANCE = AssuranceRule(
    "death-penalty",
    "Assurance from the requesting State that the death penalty will not be sought or, if "
    "imposed, will not be carried out.",
    death_penalty=True,
)


@dataclass(frozen=True, slots=True)
class NodePolicy:
    """The node's own choices where the Convention leaves them to each State.

    ``concerns`` / ``non_party_without_treaty``: ``review`` (a named person decides) or
    ``deny``. ``serious_crime_min_years``: at least Art. 2's four years. Dual criminality
    applies to ``dual_criminality_required_for``, and to preservation for offences outside the
    catalogue only if the State made the Art. 42 reservation.
    """

    version: int = 1
    concerns: Outcome = "review"
    non_party_without_treaty: Outcome = "review"
    serious_crime_min_years: int = SERIOUS_CRIME_MIN_YEARS
    dual_criminality_required_for: tuple[str, ...] = COERCIVE_REQUEST_TYPES
    preservation_dual_criminality_reserved: bool = False
    assurances: tuple[AssuranceRule, ...] = (DEATH_PENALTY_ASSURANCE,)

    KEYS = ("version", "concerns", "non_party_without_treaty", "serious_crime_min_years",
            "dual_criminality_required_for", "preservation_dual_criminality_reserved",
            "assurances")

    @classmethod
    def from_dict(cls, data: Any) -> NodePolicy:
        """Validate every setting at once; ``InvalidInput`` names each bad field (``policy.*``)."""
        w = "policy."
        if not isinstance(data, Mapping):
            raise InvalidInput("the node policy must be a mapping",
                               [Problem("policy", "must be a mapping of settings")])
        problems: list[Problem] = []
        _unknown(data, cls.KEYS, w, problems)
        d = cls()
        version = data.get("version", d.version)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            problems.append(Problem(f"{w}version", "must be a whole number from 1"))
        outcomes: dict[str, Outcome] = {}
        for key in ("concerns", "non_party_without_treaty"):
            v = data.get(key, getattr(d, key))
            if v not in ("review", "deny"):
                problems.append(Problem(f"{w}{key}", f"{v!r} must be 'review' or 'deny'",
                                        "GATE-CONCERNS" if key == "concerns" else
                                        "GATE-NON-PARTY"))
            outcomes[key] = cast(Outcome, v)
        years = data.get("serious_crime_min_years", d.serious_crime_min_years)
        if isinstance(years, bool) or not isinstance(years, int) or \
                years < SERIOUS_CRIME_MIN_YEARS:
            problems.append(Problem(f"{w}serious_crime_min_years",
                                    f"must be a whole number of years, at least "
                                    f"{SERIOUS_CRIME_MIN_YEARS}", "OFFENCE-SERIOUS"))
        dc = (_str_list(data, "dual_criminality_required_for", w, problems)
              if "dual_criminality_required_for" in data else d.dual_criminality_required_for)
        known = _known_request_types()
        for i, t in enumerate(dc):
            if t not in known:
                problems.append(Problem(f"{w}dual_criminality_required_for[{i}]",
                                        f"{t!r} is not a request type; use one of: "
                                        + ", ".join(known), "GATE-DUAL-CRIMINALITY"))
        if PRESERVATION in dc:
            problems.append(Problem(f"{w}dual_criminality_required_for",
                                    "preservation cannot require dual criminality; use "
                                    "preservation_dual_criminality_reserved for offences outside "
                                    "the Convention", "PRESERVATION-NO-DUAL-CRIMINALITY"))
        reserved = _bool(data, "preservation_dual_criminality_reserved", w, problems,
                         d.preservation_dual_criminality_reserved)
        raw = data.get("assurances", [a.to_dict() for a in d.assurances])
        rules: list[AssuranceRule] = []
        if not isinstance(raw, list):
            problems.append(Problem(f"{w}assurances", "must be a list of rules"))
            raw = []
        for i, item in enumerate(raw):
            r = AssuranceRule.from_dict(item, f"{w}assurances[{i}].", problems)
            if r is not None:
                rules.append(r)
        ids = [r.id for r in rules]
        for rid in sorted({x for x in ids if ids.count(x) > 1}):
            problems.append(Problem(f"{w}assurances", f"the id {rid!r} is used twice"))
        _raise(problems, "the node policy")
        return cls(version, outcomes["concerns"], outcomes["non_party_without_treaty"], years,
                   dc, reserved, tuple(rules))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "concerns": self.concerns,
            "non_party_without_treaty": self.non_party_without_treaty,
            "serious_crime_min_years": self.serious_crime_min_years,
            "dual_criminality_required_for": list(self.dual_criminality_required_for),
            "preservation_dual_criminality_reserved": self.preservation_dual_criminality_reserved,
            "assurances": [a.to_dict() for a in self.assurances],
        }


DEFAULT_POLICY = NodePolicy()
DEFAULT_POLICY_DICT: dict[str, Any] = DEFAULT_POLICY.to_dict()

# The file an admin starts from: the same settings as DEFAULT_POLICY_DICT, with comments.
DEFAULT_POLICY_YAML = """\
# Hanoi Exchange node policy: this node's choices where the Convention leaves them open.
# Every decision of the safeguards gate cites the rule it applied; edit, then reload.
version: 1

# A partner whose standing records concerns (UNCC Art. 24): review by a named person, or deny.
concerns: review

# A partner whose State is not a Party and has no other treaty recorded (Art. 40): review or deny.
non_party_without_treaty: review

# Offences outside the catalogue (Arts. 7-17) need at least this maximum penalty (Art. 2: 4 years).
serious_crime_min_years: 4

# Request types that need dual criminality (coercive measures, Arts. 44-46).
dual_criminality_required_for: [stored-data, real-time-traffic, interception]

# Art. 42 reservation: require dual criminality for preservation of offences outside the
# catalogue. Without the reservation, dual criminality is never a condition of preservation.
preservation_dual_criminality_reserved: false

# Cases where assistance waits for an assurance from the requesting State. Triggers (all that
# are given must match): death_penalty, offence_codes, request_types, countries.
assurances:
  - id: death-penalty
    condition: >-
      Assurance from the requesting State that the death penalty will not be sought or, if
      imposed, will not be carried out.
    when:
      death_penalty: true
"""


# --- the rules -----------------------------------------------------------------------------------


def standing_reasons(partner: PartnerView, policy: NodePolicy = DEFAULT_POLICY,
                     review: Review | None = None) -> list[Reason]:
    """Reasons from who the partner is: standing and treaty basis. Reusable for every item.

    An approving ``review`` by a named person clears the rules that only ask for review; the
    rule is still listed (effect ``allow``) with who approved it.
    """
    reasons: list[Reason] = []
    approved = review is not None and review.approved
    if partner.standing is Standing.SUSPENDED:
        reasons.append(Reason("GATE-SUSPENDED", "deny",
                              f"{partner.label} is suspended after a safeguards assessment"))
    elif partner.standing is Standing.CONCERNS:
        reasons.append(_reviewable("GATE-CONCERNS", policy.concerns,
                                   f"{partner.label}'s standing records concerns", review,
                                   approved))
    if partner.state_status is not StateStatus.PARTY and not partner.other_treaties:
        status = "a signatory, not yet a Party" if partner.state_status is StateStatus.SIGNATORY \
            else "not a Party"
        reasons.append(_reviewable("GATE-NON-PARTY", policy.non_party_without_treaty,
                                   f"{partner.country} is {status}, and no other treaty is "
                                   "recorded", review, approved))
    return reasons


def _reviewable(code: str, effect: Outcome, detail: str, review: Review | None,
                approved: bool) -> Reason:
    if effect == "review" and approved and review is not None:
        return Reason(code, "allow", f"{detail}; approved by {review.signed()}")
    return Reason(code, effect, detail, needs_reviewer=effect == "review")


def review_reasons(review: Review | None) -> list[Reason]:
    """A reviewer's refusal denies, whatever else holds."""
    if review is None or review.approved:
        return []
    note = f": {review.note}" if review.note else ""
    return [Reason("GATE-REVIEW-REFUSED", "deny", f"refused by {review.signed()}{note}")]


def decide_request(facts: RequestFacts, partner: PartnerView,
                   policy: NodePolicy = DEFAULT_POLICY, *, role: Role,
                   review: Review | None = None) -> Decision:
    """The gate for a cooperation request, run on submit, on receipt and again at sending.

    ``role`` is this node's side: ``requesting`` (submit, sending the request) or
    ``requested`` (receipt, sending the answer). ``partner`` is the other side.
    """
    if role not in ROLES:
        raise InvalidInput(f"role: {role!r} is not one of: {', '.join(ROLES)}",
                           [Problem("role", f"must be one of: {', '.join(ROLES)}")])
    reasons = standing_reasons(partner, policy, review) + review_reasons(review)
    conditions: list[str] = []
    if review is not None and review.discrimination_found:
        reasons.append(Reason("GATE-DISCRIMINATION", "deny",
                              f"finding by {review.signed()}" +
                              (f": {review.note}" if review.note else "")))
    reasons += _offence_reasons(facts, policy)
    dc_reasons, dc_conditions = _dual_criminality_reasons(facts, policy, role)
    reasons += dc_reasons
    conditions += dc_conditions
    if role == "requested":
        for rule in policy.assurances:
            if not rule.matches(facts, partner):
                continue
            if rule.id in facts.assurances_received:
                reasons.append(Reason("GATE-ASSURANCES", "allow",
                                      f"assurance {rule.id!r} received"))
            else:
                reasons.append(Reason("GATE-ASSURANCES", "review",
                                      f"policy rule {rule.id!r} applies; {rule.condition}",
                                      needs_reviewer=True))
                conditions.append(rule.condition)
        if facts.confidentiality_requested and facts.confidentiality_can_keep is False:
            if facts.requester_accepts_disclosure:
                reasons.append(Reason("GATE-CONFIDENTIALITY", "allow",
                                      "the requester was told and asked to proceed"))
            else:
                reasons.append(Reason("GATE-CONFIDENTIALITY", "review",
                                      "confidentiality was asked for and cannot be kept"))
                conditions.append("Tell the requesting State promptly that confidentiality "
                                  "cannot be kept; execute only if it still wishes to proceed.")
    return Decision.of(reasons, conditions)


def _offence_reasons(facts: RequestFacts, policy: NodePolicy) -> list[Reason]:
    if facts.offence_code is None:
        return []
    o = offence(facts.offence_code, "facts.offence_code")
    if in_scope(o.code, facts.max_penalty_years, policy.serious_crime_min_years):
        return []
    penalty = ("no maximum penalty is recorded" if facts.max_penalty_years is None
               else f"the maximum penalty is {facts.max_penalty_years} year(s)")
    return [Reason("GATE-OFFENCE-SCOPE", "deny",
                   f"{o.name}: {penalty}, below the {policy.serious_crime_min_years}-year "
                   "threshold")]


def _dual_criminality_reasons(facts: RequestFacts, policy: NodePolicy,
                              role: Role) -> tuple[list[Reason], list[str]]:
    in_catalogue = facts.offence_code is not None and OFFENCES[facts.offence_code].in_catalogue
    if facts.request_type == PRESERVATION:
        reserved = policy.preservation_dual_criminality_reserved and not in_catalogue
        if not reserved:
            if facts.dual_criminality == "not-met":
                return [Reason("PRESERVATION-NO-DUAL-CRIMINALITY", "allow",
                               "dual criminality is not met, but it is not a condition of "
                               "preservation")], []
            return [], []
    elif facts.request_type not in policy.dual_criminality_required_for:
        return [], []
    what = f"{facts.request_type} request"
    if facts.dual_criminality == "met":
        return [Reason("GATE-DUAL-CRIMINALITY", "allow", f"{what}: recorded as met")], []
    if facts.dual_criminality == "not-met":
        return [Reason("GATE-DUAL-CRIMINALITY", "deny",
                       f"{what}: the conduct is not a crime under this State's law")], []
    if role == "requesting":
        return [], []  # the requested State assesses dual criminality, not the requester
    return ([Reason("GATE-DUAL-CRIMINALITY", "review", f"{what}: not yet assessed",
                    needs_reviewer=True)],
            ["Confirm that the conduct is a crime under this State's law, whatever it is "
             "called."])


def rule_table() -> list[dict[str, str]]:
    """Every gate rule as a dict, for the API and the CLI to show what the gate applies."""
    codes = ("GATE-SUSPENDED", "GATE-CONCERNS", "GATE-NON-PARTY", "GATE-REVIEW-REFUSED",
             "GATE-DISCRIMINATION", "GATE-OFFENCE-SCOPE", "GATE-DUAL-CRIMINALITY",
             "PRESERVATION-NO-DUAL-CRIMINALITY", "GATE-ASSURANCES", "GATE-CONFIDENTIALITY",
             "GATE-SPECIALTY", "GATE-ONWARD-TRANSFER", "GATE-DATA-PROTECTION")
    return [RULES[c].as_dict() for c in codes]


__all__ = [
    "COERCIVE_REQUEST_TYPES", "DEFAULT_POLICY", "DEFAULT_POLICY_DICT", "DEFAULT_POLICY_YAML",
    "AssuranceRule", "Decision", "NodePolicy", "Outcome", "PartnerView", "Reason",
    "RequestFacts", "Review", "decide_request", "review_reasons", "rule_table",
    "standing_reasons",
]
