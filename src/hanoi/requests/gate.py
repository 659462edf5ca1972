"""The gate's rules for cooperation requests, run on submit, on receipt and again at sending,
and the requests wing's section of the node policy.

Who the partner is (standing, treaty basis, a named reviewer's finding) comes from the shared
algebra in ``hanoi.core.gate``; here are the rules of the request itself: the offence's scope
(Arts. 2 and 7-17), dual criminality (Art. 35; never for preservation, Art. 42, unless the
State reserved it), assurances the node's policy asks for, and confidentiality (Art. 40(~20)).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from hanoi.core import fields
from hanoi.core.errors import InvalidInput, Problem
from hanoi.core.gate import (
    DEFAULT_STANDING,
    Decision,
    Outcome,
    PartnerView,
    Reason,
    Review,
    StandingPolicy,
    review_reasons,
    standing_reasons,
)
from hanoi.core.members import check_country
from hanoi.core.offences import OFFENCES, SERIOUS_CRIME_MIN_YEARS, in_scope, offence, offence_problem
from hanoi.requests.deadlines import DEFAULT_PROFILES, DeadlineProfile, profiles_from_dict, profiles_to_dict
from hanoi.requests.types import COERCIVE, PRESERVATION, REQUEST_TYPES, request_type

Role = Literal["requesting", "requested"]
ROLES: tuple[Role, ...] = ("requesting", "requested")

DualCriminality = Literal["met", "not-met", "unassessed"]
DUAL_CRIMINALITY: tuple[DualCriminality, ...] = ("met", "not-met", "unassessed")

ASSESSMENT_KEYS = ("dual_criminality", "confidentiality_can_keep", "requester_accepts_disclosure",
                   "assurances_received")
"""The requested side's own assessment of a request, which the gate reads beside its contents."""
DEFAULT_ASSESSMENT: dict[str, Any] = {"dual_criminality": "unassessed", "confidentiality_can_keep": None,
                                      "requester_accepts_disclosure": False, "assurances_received": []}
_SIDE = {"outgoing": "requesting", "incoming": "requested"}

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The facts about a cooperation request the gate decides on.

    ``dual_criminality``, ``confidentiality_can_keep``, ``requester_accepts_disclosure`` and
    ``assurances_received`` are the requested side's record of its own assessment; the rest
    comes from the request's contents (``gate_facts``).
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
        fields.raise_problems(problems, "the request facts")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RequestFacts:
        problems: list[Problem] = []
        w = "facts."
        rtype = fields.text(data, "request_type", w, problems)
        can_keep = data.get("confidentiality_can_keep")
        if can_keep is not None and not isinstance(can_keep, bool):
            problems.append(Problem("facts.confidentiality_can_keep",
                                    "must be true, false or null"))
            can_keep = None
        death_penalty = fields.boolean(data, "death_penalty", w, problems)
        requested = fields.boolean(data, "confidentiality_requested", w, problems)
        accepts = fields.boolean(data, "requester_accepts_disclosure", w, problems)
        received = fields.text_list(data, "assurances_received", w, problems)
        fields.raise_problems(problems, "the request facts")
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
        fields.unknown_keys(data, ("id", "condition", "when"), where, problems)
        rid = fields.text(data, "id", where, problems)
        if rid and not _ID.fullmatch(rid):
            problems.append(Problem(f"{where}id", "use lower-case letters, digits and '-'"))
        condition = fields.text(data, "condition", where, problems)
        when = data.get("when")
        w = f"{where}when."
        if not isinstance(when, Mapping) or not when:
            problems.append(Problem(f"{where}when", "name at least one trigger: death_penalty, "
                                    "offence_codes, request_types or countries"))
            when = {}
        fields.unknown_keys(when, ("death_penalty", "offence_codes", "request_types", "countries"), w,
                 problems)
        dp = when.get("death_penalty")
        if dp is not None and not isinstance(dp, bool):
            problems.append(Problem(f"{w}death_penalty", "must be true or false"))
        offences = tuple(o.upper() for o in fields.text_list(when, "offence_codes", w, problems))
        for i, o in enumerate(offences):
            p = offence_problem(o, f"{w}offence_codes[{i}]")
            if p:
                problems.append(p)
        rtypes = fields.text_list(when, "request_types", w, problems)
        known = tuple(REQUEST_TYPES)
        for i, t in enumerate(rtypes):
            if t not in known:
                problems.append(Problem(f"{w}request_types[{i}]",
                                        f"{t!r} is not a request type; use one of: "
                                        + ", ".join(known)))
        countries: list[str] = []
        for i, c in enumerate(fields.text_list(when, "countries", w, problems)):
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
class RequestPolicy:
    """The requests wing's section of the node policy: the node's own choices where the
    Convention leaves them to each State.

    ``serious_crime_min_years``: at least Art. 2's four years. Dual criminality applies to
    ``dual_criminality_required_for``, and to preservation for offences outside the catalogue
    only if the State made the Art. 42 reservation. ``deadlines``: the deadline profiles
    partner agreements use (``hanoi.requests.deadlines``).
    """

    serious_crime_min_years: int = SERIOUS_CRIME_MIN_YEARS
    dual_criminality_required_for: tuple[str, ...] = COERCIVE
    preservation_dual_criminality_reserved: bool = False
    assurances: tuple[AssuranceRule, ...] = (DEATH_PENALTY_ASSURANCE,)
    deadlines: Mapping[str, DeadlineProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    dual_criminality_not_met: Outcome = "deny"
    discrimination_found: Outcome = "deny"

    KEYS: ClassVar[tuple[str, ...]] = (
        "serious_crime_min_years", "dual_criminality_required_for",
        "preservation_dual_criminality_reserved", "assurances", "deadlines",
        "dual_criminality_not_met", "discrimination_found")
    CHOICES: ClassVar[dict[str, str]] = {"dual_criminality_not_met": "GATE-DUAL-CRIMINALITY",
                                         "discrimination_found": "GATE-DISCRIMINATION"}
    DEFAULT_YAML: ClassVar[str] = """\
# Offences outside the catalogue (Arts. 7-17) need at least this maximum penalty (Art. 2: 4 years).
serious_crime_min_years: 4

# Request types that need dual criminality (coercive measures, Arts. 44-46).
dual_criminality_required_for: [stored-data, real-time-traffic, interception]

# What the gate does when the requested side records that dual criminality is NOT met for a
# coercive measure. The Convention lets a State decline (Art. 40, Art. 35); it does not oblige it
# to: "deny" (this node declines, as its policy) or "review" (a named person decides).
dual_criminality_not_met: deny

# What the gate does when a reviewer finds substantial grounds that the request aims at a person
# on account of sex, race, language, religion, nationality, ethnic origin or political opinions
# (Art. 40(~22)): no obligation to assist. "deny" (this node refuses, as its policy) or
# "review" (the finding is recorded and a named person decides).
discrimination_found: deny

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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], problems: list[Problem]) -> RequestPolicy:
        """Read this section's keys of ``data`` (the node policy document), adding a problem
        for each bad value (``policy.<key>``)."""
        w = "policy."
        d = cls()
        years = data.get("serious_crime_min_years", d.serious_crime_min_years)
        if isinstance(years, bool) or not isinstance(years, int) or years < SERIOUS_CRIME_MIN_YEARS:
            problems.append(Problem(f"{w}serious_crime_min_years",
                                    f"must be a whole number of years, at least "
                                    f"{SERIOUS_CRIME_MIN_YEARS}", "OFFENCE-SERIOUS"))
            years = d.serious_crime_min_years
        dc = (fields.text_list(data, "dual_criminality_required_for", w, problems)
              if "dual_criminality_required_for" in data else d.dual_criminality_required_for)
        for i, t in enumerate(dc):
            if t not in REQUEST_TYPES:
                problems.append(Problem(f"{w}dual_criminality_required_for[{i}]",
                                        f"{t!r} is not a request type; use one of: "
                                        + ", ".join(REQUEST_TYPES), "GATE-DUAL-CRIMINALITY"))
        if PRESERVATION in dc:
            problems.append(Problem(f"{w}dual_criminality_required_for",
                                    "preservation cannot require dual criminality; use "
                                    "preservation_dual_criminality_reserved for offences outside "
                                    "the Convention", "PRESERVATION-NO-DUAL-CRIMINALITY"))
        reserved = fields.boolean(data, "preservation_dual_criminality_reserved", w, problems,
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
        deadlines: Mapping[str, DeadlineProfile] = dict(DEFAULT_PROFILES)
        if data.get("deadlines") is not None:
            try:
                deadlines = profiles_from_dict(data["deadlines"])
            except InvalidInput as err:
                problems += err.problems
        choices: dict[str, Outcome] = {}
        for key, rule in cls.CHOICES.items():
            v = data.get(key, getattr(d, key))
            if v not in ("review", "deny"):
                problems.append(Problem(f"{w}{key}", f"{v!r} must be 'review' or 'deny'", rule))
                v = getattr(d, key)
            choices[key] = v
        return cls(years, tuple(dc), reserved, tuple(rules), deadlines, **choices)

    def to_dict(self) -> dict[str, Any]:
        return {
            "serious_crime_min_years": self.serious_crime_min_years,
            "dual_criminality_required_for": list(self.dual_criminality_required_for),
            "preservation_dual_criminality_reserved": self.preservation_dual_criminality_reserved,
            "assurances": [a.to_dict() for a in self.assurances],
            "deadlines": profiles_to_dict(self.deadlines),
            "dual_criminality_not_met": self.dual_criminality_not_met,
            "discrimination_found": self.discrimination_found,
        }


DEFAULT_REQUEST_POLICY = RequestPolicy()


def decide_request(facts: RequestFacts, partner: PartnerView,
                   standing: StandingPolicy = DEFAULT_STANDING,
                   policy: RequestPolicy = DEFAULT_REQUEST_POLICY, *, role: Role,
                   review: Review | None = None) -> Decision:
    """The gate for a cooperation request, run on submit, on receipt and again at sending.

    ``role`` is this node's side: ``requesting`` (submit, sending the request) or
    ``requested`` (receipt, sending the answer). ``partner`` is the other side.
    """
    if role not in ROLES:
        raise InvalidInput(f"role: {role!r} is not one of: {', '.join(ROLES)}",
                           [Problem("role", f"must be one of: {', '.join(ROLES)}")])
    finding = review is not None and review.discrimination_found
    # A discrimination finding is the reason itself (GATE-DISCRIMINATION, below), not a plain
    # refusal by the reviewer; under a "review" policy it holds the request for a named
    # person's decision instead of denying it.
    reasons = standing_reasons(partner, standing, review) + ([] if finding else review_reasons(review))
    conditions: list[str] = []
    if review is not None and review.discrimination_found:
        effect = policy.discrimination_found
        reasons.append(Reason("GATE-DISCRIMINATION", effect,
                              f"finding by {review.signed()}" +
                              (f": {review.note}" if review.note else "") +
                              f" (node policy discrimination_found: {effect})",
                              needs_reviewer=effect == "review"))
    reasons += _offence_reasons(facts, policy)
    dc_reasons, dc_conditions = _dual_criminality_reasons(facts, policy, role, review)
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


def _offence_reasons(facts: RequestFacts, policy: RequestPolicy) -> list[Reason]:
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


def _dual_criminality_reasons(facts: RequestFacts, policy: RequestPolicy, role: Role,
                              review: Review | None = None) -> tuple[list[Reason], list[str]]:
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
        detail = (f"{what}: the conduct is not a crime under this State's law (node policy "
                  f"dual_criminality_not_met: {policy.dual_criminality_not_met}; the Convention "
                  "permits declining, it does not require it)")
        if policy.dual_criminality_not_met == "review":
            if review is not None and review.approved:
                return [Reason("GATE-DUAL-CRIMINALITY", "allow",
                               f"{detail}; assistance approved by {review.signed()}")], []
            return [Reason("GATE-DUAL-CRIMINALITY", "review", detail, needs_reviewer=True)], []
        return [Reason("GATE-DUAL-CRIMINALITY", "deny", detail)], []
    if role == "requesting":
        return [], []  # the requested State assesses dual criminality, not the requester
    return ([Reason("GATE-DUAL-CRIMINALITY", "review", f"{what}: not yet assessed",
                    needs_reviewer=True)],
            ["Confirm that the conduct is a crime under this State's law, whatever it is "
             "called."])


def gate_facts(code: str, fields: Mapping[str, Any], *,
               dual_criminality: DualCriminality = "unassessed",
               confidentiality_can_keep: bool | None = None,
               requester_accepts_disclosure: bool = False,
               assurances_received: Iterable[str] = ()) -> RequestFacts:
    """The gate's view of a request: its contents plus the requested side's assessment."""
    request_type(code)
    offence_code = fields.get("offence_code")
    penalty = fields.get("offence_max_penalty_years")
    return RequestFacts(
        request_type=code,
        offence_code=offence_code.strip().upper() if isinstance(offence_code, str)
        and offence_code.strip() else None,
        max_penalty_years=penalty if isinstance(penalty, int) and not isinstance(penalty, bool)
        else None,
        death_penalty=fields.get("offence_death_penalty") is True,
        dual_criminality=dual_criminality,
        confidentiality_requested=fields.get("confidential") is True,
        confidentiality_can_keep=confidentiality_can_keep,
        requester_accepts_disclosure=requester_accepts_disclosure,
        assurances_received=tuple(assurances_received),
    )


def facts_of(row: Mapping[str, Any]) -> RequestFacts:
    """What the gate decides on for a stored request: its contents and the requested side's
    assessment (a request row as ``hanoi.requests.rows`` reads it)."""
    a = {**DEFAULT_ASSESSMENT, **(row["assessment"] or {})}
    return gate_facts(
        row["type"], row["fields"], dual_criminality=a["dual_criminality"],
        confidentiality_can_keep=a["confidentiality_can_keep"],
        requester_accepts_disclosure=a["requester_accepts_disclosure"],
        assurances_received=a["assurances_received"])


def decide_on(row: Mapping[str, Any], partner: Mapping[str, Any], standing: StandingPolicy,
              policy: RequestPolicy) -> Decision:
    """The gate for a stored request and its partner's member row, from this node's side
    (the requesting side for an outgoing request, the requested side for an incoming one),
    with the named reviewer's finding if there is one."""
    review = Review.from_dict(row["review"]) if row["review"] else None
    return decide_request(facts_of(row), PartnerView.from_dict(partner), standing, policy,
                          role=_SIDE[row["direction"]], review=review)  # type: ignore[arg-type]
