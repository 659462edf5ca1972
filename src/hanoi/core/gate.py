"""The safeguards gate's algebra, shared by every wing: a pure function from facts to a
decision, with every reason that fired.

Each rule is a row of ``citations.py`` (code, article, a sentence a lawyer can read). A rule
that fires adds a ``Reason`` with an effect: ``deny`` beats ``review`` beats ``allow``. Rules
that applied and were satisfied (a reviewer approved, an assurance was received, dual
criminality was confirmed) are listed too, with effect ``allow``, so the ledger shows why an
exchange went ahead, not only why one was stopped.

Here: ``Reason``, ``Decision``, ``GateRefused``, who the partner is (``PartnerView``,
``standing_reasons`` under the node's ``StandingPolicy``) and a named person's ``Review``.
Each wing adds its own rules beside its items: ``hanoi.requests.gate`` (cooperation
requests), ``hanoi.signals.gate`` (TLP and consent), ``hanoi.media.gate`` (hash lists).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, cast

from hanoi.core import fields
from hanoi.core.citations import RULES, Rule
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import Forbidden, Problem
from hanoi.core.members import Standing, StateStatus, check_country

Outcome = Literal["allow", "review", "deny"]
OUTCOMES: tuple[Outcome, ...] = ("allow", "review", "deny")
_RANK = {"allow": 0, "review": 1, "deny": 2}


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
        fields.raise_problems(problems, "the partner")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartnerView:
        problems: list[Problem] = []
        w = "partner."
        # A stored member's dict names its id "id"; both spellings are accepted.
        member_id = fields.text({"member_id": data.get("member_id", data.get("id"))}, "member_id", w,
                          problems)
        name = fields.text(data, "name", w, problems, required=False) or member_id
        country, p = check_country(data.get("country"), "partner.country")
        if p:
            problems.append(p)
        treaties = fields.text_list(data, "other_treaties", w, problems)
        for key, enum, default in (("state_status", StateStatus, "party"),
                                   ("standing", Standing, "good")):
            if data.get(key, default) not in enum._value2member_map_:
                allowed = ", ".join(e.value for e in enum)
                problems.append(Problem(f"{w}{key}",
                                        f"{data.get(key)!r} is not one of: {allowed}"))
        fields.raise_problems(problems, "the partner")
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
        fields.raise_problems(problems, "the review")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Review:
        problems: list[Problem] = []
        w = "review."
        reviewer = fields.text(data, "reviewer", w, problems)
        approved = fields.boolean(data, "approved", w, problems)
        discrimination = fields.boolean(data, "discrimination_found", w, problems)
        note = fields.text(data, "note", w, problems, required=False)
        at_raw = data.get("at")
        at: datetime | None = at_raw if isinstance(at_raw, datetime) else None
        if isinstance(at_raw, str):
            try:
                at = parse_time(at_raw)
            except ValueError:
                problems.append(Problem("review.at", f"{at_raw!r} is not an ISO 8601 time"))
        elif at is None:
            problems.append(Problem("review.at", "is required (ISO 8601 time)"))
        fields.raise_problems(problems, "the review")
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


# --- the node's standing policy -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StandingPolicy:
    """What the node does with a partner that is not in good standing, where the Convention
    leaves the choice to each State: ``review`` (a named person decides) or ``deny``."""

    concerns: Outcome = "review"
    non_party_without_treaty: Outcome = "review"

    KEYS: ClassVar[tuple[str, ...]] = ("concerns", "non_party_without_treaty")
    DEFAULT_YAML: ClassVar[str] = """\
# A partner whose standing records concerns (UNCC Art. 24): review by a named person, or deny.
concerns: review

# A partner whose State is not a Party and has no other treaty recorded (Art. 40): review or deny.
non_party_without_treaty: review
"""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], problems: list[Problem]) -> StandingPolicy:
        """Read this policy's keys of ``data`` (the node policy document), adding a problem for
        each bad value (``policy.<key>``)."""
        d = cls()
        outcomes: dict[str, Outcome] = {}
        for key in cls.KEYS:
            v = data.get(key, getattr(d, key))
            if v not in ("review", "deny"):
                problems.append(Problem(f"policy.{key}", f"{v!r} must be 'review' or 'deny'",
                                        "GATE-CONCERNS" if key == "concerns" else "GATE-NON-PARTY"))
                v = getattr(d, key)
            outcomes[key] = cast(Outcome, v)
        return cls(outcomes["concerns"], outcomes["non_party_without_treaty"])

    def to_dict(self) -> dict[str, Any]:
        return {"concerns": self.concerns, "non_party_without_treaty": self.non_party_without_treaty}


DEFAULT_STANDING = StandingPolicy()


class GateRefused(Forbidden):
    """The gate denied (403), or needs a named reviewer first (409): nothing moves, and the
    decision is ledgered by whoever raised this."""

    def __init__(self, decision: Decision, what: str):
        blocking = [r for r in decision.reasons if r.effect == decision.outcome]
        rule = blocking[0].code if blocking else None
        verb = "denied" if decision.outcome == "deny" else "needs review by a named person before"
        super().__init__(f"the safeguards gate {verb} {what}: " +
                         "; ".join(f"{r.code} ({r.detail or r.as_dict()['text']})" for r in blocking), rule)
        self.problems = [Problem("gate", f"{r.effect}: {r.detail or r.as_dict()['text']}", r.code)
                         for r in decision.reasons if r.effect != "allow"]
        self.title = "Refused by the safeguards gate" if decision.outcome == "deny" else "Review required"
        self.status = 403 if decision.outcome == "deny" else 409
        self.decision = decision


# --- the rules -----------------------------------------------------------------------------------


def standing_reasons(partner: PartnerView, policy: StandingPolicy = DEFAULT_STANDING,
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


def rule_table() -> list[dict[str, str]]:
    """Every gate rule as a dict, for the API and the CLI to show what the gate applies."""
    codes = ("GATE-SUSPENDED", "GATE-CONCERNS", "GATE-NON-PARTY", "GATE-REVIEW-REFUSED",
             "GATE-DISCRIMINATION", "GATE-OFFENCE-SCOPE", "GATE-DUAL-CRIMINALITY",
             "PRESERVATION-NO-DUAL-CRIMINALITY", "GATE-ASSURANCES", "GATE-CONFIDENTIALITY",
             "GATE-SPECIALTY", "GATE-ONWARD-TRANSFER", "GATE-DATA-PROTECTION")
    return [RULES[c].as_dict() for c in codes]


__all__ = [
    "DEFAULT_STANDING", "Decision", "GateRefused", "Outcome", "PartnerView", "Reason", "Review",
    "StandingPolicy", "review_reasons", "rule_table", "standing_reasons",
]
