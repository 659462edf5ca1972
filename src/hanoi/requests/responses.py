"""Responses to a request, and the conditions attached to what is handed over.

A response executes (with evidence), partly executes (with evidence and reasons), refuses
(with one or more grounds from the rule table and reasons: Art. 40(~21), (~22), (~25)) or
postpones (with a reason: Art. 40(~27)). Fiscal matters and bank secrecy are never grounds.

Evidence handed over carries ``HandoverConditions`` (specialty, confidentiality, the
sender's data-protection conditions under Art. 36). ``check_use`` enforces them later: using
the evidence in other proceedings, or passing it on, needs the original sender's consent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, cast

from hanoi.core.citations import RULES
from hanoi.core.clock import isoformat
from hanoi.core.errors import InvalidInput, Problem
from hanoi.core.gate import Decision, Reason
from hanoi.requests.contents import PRESERVATION, SPONTANEOUS
from hanoi.requests.contents import request_type as _request_type
from hanoi.requests.deadlines import aware
from hanoi.requests.lifecycle import Event

ResponseKind = Literal["executed", "partially-executed", "refused", "postponed"]
RESPONSE_KINDS: tuple[ResponseKind, ...] = ("executed", "partially-executed", "refused",
                                            "postponed")

# The lifecycle event each response records.
RESPONSE_EVENTS: dict[str, Event] = {
    "executed": Event.EXECUTE,
    "partially-executed": Event.EXECUTE_PARTIALLY,
    "refused": Event.REFUSE,
    "postponed": Event.POSTPONE,
}

# Grounds of refusal, by rule code. Dual criminality is a ground except for preservation,
# where it is one only under the Art. 42 reservation for offences outside the catalogue.
REFUSAL_GROUNDS: tuple[str, ...] = (
    "REFUSE-NONCONFORMING",
    "REFUSE-ESSENTIAL-INTERESTS",
    "REFUSE-DOMESTIC-LAW",
    "REFUSE-LEGAL-SYSTEM",
    "REFUSE-DISCRIMINATION",
    "REFUSE-DUAL-CRIMINALITY",
)

# Things people write as grounds that the Convention rules out, and what they are called.
NOT_GROUNDS: dict[str, str] = {
    "NOT-GROUND-FISCAL": "NOT-GROUND-FISCAL",
    "FISCAL": "NOT-GROUND-FISCAL",
    "FISCAL-MATTERS": "NOT-GROUND-FISCAL",
    "TAX": "NOT-GROUND-FISCAL",
    "NOT-GROUND-BANK-SECRECY": "NOT-GROUND-BANK-SECRECY",
    "BANK-SECRECY": "NOT-GROUND-BANK-SECRECY",
    "BANKING-SECRECY": "NOT-GROUND-BANK-SECRECY",
}

# Grounds as people write them in words ("fiscal matters", "ordre public"), recognised like
# their codes: each phrase is compared after lower-casing and reducing every run of
# punctuation and spaces to one hyphen.
GROUND_WORDS: dict[str, str] = {
    **{w: "NOT-GROUND-FISCAL" for w in (
        "fiscal", "fiscal-matters", "fiscal-matter", "fiscal-offence", "fiscal-offences", "tax", "taxes",
        "tax-matters", "tax-matter", "taxation", "tax-offence", "revenue", "customs-and-tax")},
    **{w: "NOT-GROUND-BANK-SECRECY" for w in (
        "bank-secrecy", "banking-secrecy", "bank-confidentiality", "banking-confidentiality",
        "secrecy-of-banks")},
    **{w: "REFUSE-NONCONFORMING" for w in (
        "nonconforming", "non-conforming", "does-not-conform", "not-conforming", "non-conformity",
        "request-does-not-conform")},
    **{w: "REFUSE-ESSENTIAL-INTERESTS" for w in (
        "essential-interests", "essential-interest", "sovereignty", "security", "national-security",
        "ordre-public", "public-order", "public-policy")},
    **{w: "REFUSE-DOMESTIC-LAW" for w in ("domestic-law", "forbidden-by-domestic-law", "national-law")},
    **{w: "REFUSE-LEGAL-SYSTEM" for w in ("legal-system", "contrary-to-the-legal-system",
                                          "contrary-to-legal-system")},
    **{w: "REFUSE-DISCRIMINATION" for w in (
        "discrimination", "discriminatory", "discriminatory-purpose", "discriminatory-grounds",
        "persecution")},
    **{w: "REFUSE-DUAL-CRIMINALITY" for w in (
        "dual-criminality", "double-criminality", "no-dual-criminality", "absence-of-dual-criminality",
        "lack-of-dual-criminality", "not-a-crime-here")},
}


def ground_code(text: Any) -> Any:
    """The rule code a ground written as a code or in words stands for (``"fiscal matters"`` is
    ``NOT-GROUND-FISCAL``); anything else unchanged, upper-cased, for the caller to refuse."""
    if not isinstance(text, str):
        return text
    code = text.strip().upper()
    if code in REFUSAL_GROUNDS or code in NOT_GROUNDS:
        return code
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if words in GROUND_WORDS:
        return GROUND_WORDS[words]
    prefixed = f"REFUSE-{words.upper()}"
    return prefixed if prefixed in REFUSAL_GROUNDS else code


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def refusal_grounds() -> list[dict[str, str]]:
    """The grounds a refusal may cite, then the ones it may not, as rule dicts."""
    return ([RULES[c].as_dict() for c in REFUSAL_GROUNDS]
            + [RULES[c].as_dict() for c in ("NOT-GROUND-FISCAL", "NOT-GROUND-BANK-SECRECY")])


# --- evidence and conditions ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """A reference to one item handed over (the bytes live in the evidence store)."""

    name: str
    sha256: str
    media_type: str = ""
    size: int | None = None
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "media_type": self.media_type,
                "size": self.size, "description": self.description}

    @classmethod
    def parse(cls, data: Any, where: str, problems: list[Problem]) -> EvidenceItem | None:
        if not isinstance(data, Mapping):
            problems.append(Problem(where, "must be a mapping with name and sha256"))
            return None
        start = len(problems)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem(f"{where}.name", "must be a non-empty text"))
        digest = data.get("sha256")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest.strip().lower()):
            problems.append(Problem(f"{where}.sha256", "must be 64 hexadecimal characters"))
        size = data.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            problems.append(Problem(f"{where}.size", "must be a whole number of bytes"))
        media_type = data.get("media_type", "")
        description = data.get("description", "")
        if not isinstance(media_type, str) or not isinstance(description, str):
            problems.append(Problem(where, "media_type and description must be text"))
        if len(problems) > start:
            return None
        assert isinstance(name, str) and isinstance(digest, str)
        return cls(name.strip(), digest.strip().lower(), str(media_type), size,
                   str(description))


ConsentKind = Literal["reuse", "onward-transfer"]
CONSENT_KINDS: tuple[ConsentKind, ...] = ("reuse", "onward-transfer")


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


@dataclass(frozen=True, slots=True)
class Consent:
    """The original sender's consent to reuse (for named proceedings) or onward transfer
    (to a named recipient)."""

    kind: ConsentKind
    scope: str
    given_by: str
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "scope": self.scope, "given_by": self.given_by,
                "at": isoformat(self.at)}

    @classmethod
    def parse(cls, data: Any, where: str, problems: list[Problem]) -> Consent | None:
        if not isinstance(data, Mapping):
            problems.append(Problem(where, "must be a mapping with kind, scope, given_by, at"))
            return None
        start = len(problems)
        kind = data.get("kind")
        if kind not in CONSENT_KINDS:
            problems.append(Problem(f"{where}.kind", f"must be one of: {', '.join(CONSENT_KINDS)}"))
        for key in ("scope", "given_by"):
            v = data.get(key)
            if not isinstance(v, str) or not v.strip():
                problems.append(Problem(f"{where}.{key}", "must be a non-empty text"))
        try:
            at = aware(data.get("at"), f"{where}.at")
        except InvalidInput as e:
            problems += e.problems
        if len(problems) > start:
            return None
        return cls(cast(ConsentKind, kind), str(data["scope"]).strip(),
                   str(data["given_by"]).strip(), at)


@dataclass(frozen=True, slots=True)
class HandoverConditions:
    """What the receiver of evidence may do with it.

    ``proceedings`` names the proceedings stated in the request (specialty, Art. 40(~19));
    ``data_protection`` are the sender's conditions under its data-protection law (Art. 36);
    ``retain_until`` ends any use; ``consents`` record the sender's later consent to reuse or
    onward transfer.
    """

    proceedings: str
    specialty: bool = True
    confidential: bool = False
    data_protection: tuple[str, ...] = ()
    retain_until: datetime | None = None
    consents: tuple[Consent, ...] = ()

    def with_consent(self, consent: Consent) -> HandoverConditions:
        return replace(self, consents=(*self.consents, consent))

    def as_dict(self) -> dict[str, Any]:
        return {
            "proceedings": self.proceedings,
            "specialty": self.specialty,
            "confidential": self.confidential,
            "data_protection": list(self.data_protection),
            "retain_until": isoformat(self.retain_until) if self.retain_until else None,
            "consents": [c.as_dict() for c in self.consents],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "conditions") -> HandoverConditions:
        problems: list[Problem] = []
        c = cls.parse(data, where, problems)
        if problems or c is None:
            raise InvalidInput("the conditions are not valid", problems)
        return c

    @classmethod
    def parse(cls, data: Any, where: str, problems: list[Problem]) -> HandoverConditions | None:
        if not isinstance(data, Mapping):
            problems.append(Problem(where, "must be a mapping"))
            return None
        start = len(problems)
        for k in sorted(set(data) - {"proceedings", "specialty", "confidential",
                                     "data_protection", "retain_until", "consents"}, key=str):
            problems.append(Problem(f"{where}.{k}", "is not a known condition"))
        proceedings = data.get("proceedings")
        if not isinstance(proceedings, str) or not proceedings.strip():
            problems.append(Problem(f"{where}.proceedings", "name the proceedings the evidence "
                                    "is for", "GATE-SPECIALTY"))
        flags = {}
        for key, default in (("specialty", True), ("confidential", False)):
            v = data.get(key, default)
            if not isinstance(v, bool):
                problems.append(Problem(f"{where}.{key}", "must be true or false"))
            flags[key] = bool(v)
        dp = data.get("data_protection") or []
        if not isinstance(dp, list) or not all(isinstance(x, str) and x.strip() for x in dp):
            problems.append(Problem(f"{where}.data_protection",
                                    "must be a list of conditions (texts)",
                                    "GATE-DATA-PROTECTION"))
            dp = []
        retain = None
        if data.get("retain_until") is not None:
            try:
                retain = aware(data["retain_until"], f"{where}.retain_until")
            except InvalidInput as e:
                problems += e.problems
        consents = []
        for i, item in enumerate(data.get("consents") or []):
            consent = Consent.parse(item, f"{where}.consents[{i}]", problems)
            if consent:
                consents.append(consent)
        if len(problems) > start:
            return None
        assert isinstance(proceedings, str)
        return cls(proceedings.strip(), flags["specialty"], flags["confidential"],
                   tuple(x.strip() for x in dp), retain, tuple(consents))


UseKind = Literal["stated-proceedings", "other-proceedings", "onward-transfer",
                  "exculpatory-disclosure"]
USE_KINDS: tuple[UseKind, ...] = ("stated-proceedings", "other-proceedings", "onward-transfer",
                                  "exculpatory-disclosure")


@dataclass(frozen=True, slots=True)
class ProposedUse:
    """A use someone proposes for evidence received: for which proceedings, or to whom."""

    kind: UseKind
    at: datetime
    proceedings: str = ""
    recipient: str = ""

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if self.kind not in USE_KINDS:
            problems.append(Problem("use.kind", f"must be one of: {', '.join(USE_KINDS)}"))
        if self.kind == "other-proceedings" and not self.proceedings.strip():
            problems.append(Problem("use.proceedings", "name the other proceedings",
                                    "GATE-SPECIALTY"))
        if self.kind == "onward-transfer" and not self.recipient.strip():
            problems.append(Problem("use.recipient", "name the third State or organisation",
                                    "GATE-ONWARD-TRANSFER"))
        if not isinstance(self.at, datetime) or self.at.tzinfo is None:
            problems.append(Problem("use.at", "must be a timezone-aware time"))
        if problems:
            raise InvalidInput("the proposed use is not valid", problems)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProposedUse:
        return cls(cast(UseKind, data.get("kind")), aware(data.get("at"), "use.at"),
                   str(data.get("proceedings") or ""), str(data.get("recipient") or ""))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": isoformat(self.at), "proceedings": self.proceedings,
                "recipient": self.recipient}


def check_use(conditions: HandoverConditions, use: ProposedUse) -> Decision:
    """Whether evidence received under ``conditions`` may be put to ``use``; every rule listed.

    Reuse for other proceedings needs the sender's consent where specialty applies (Art.
    40(~19)); onward transfer to a third State or organisation always needs it (Art. 36).
    Consent counts only if given before the use and for the same proceedings or recipient.
    """
    reasons: list[Reason] = []
    out_conditions: list[str] = []
    if conditions.retain_until is not None and use.at > conditions.retain_until:
        reasons.append(Reason("GATE-DATA-PROTECTION", "deny",
                              f"the sender allowed use until {isoformat(conditions.retain_until)}"))

    def consent_for(kind: ConsentKind, scope: str) -> Consent | None:
        return next((c for c in conditions.consents
                     if c.kind == kind and _same(c.scope, scope) and c.at <= use.at), None)

    if use.kind == "stated-proceedings":
        reasons.append(Reason("GATE-SPECIALTY", "allow",
                              f"use in the stated proceedings ({conditions.proceedings})"))
    elif use.kind == "other-proceedings":
        if _same(use.proceedings, conditions.proceedings):
            reasons.append(Reason("GATE-SPECIALTY", "allow",
                                  f"these are the stated proceedings ({conditions.proceedings})"))
        elif not conditions.specialty:
            reasons.append(Reason("GATE-SPECIALTY", "allow",
                                  "the sender attached no specialty condition"))
        elif (c := consent_for("reuse", use.proceedings)) is not None:
            reasons.append(Reason("GATE-SPECIALTY", "allow",
                                  f"reuse for {use.proceedings!r} consented by {c.given_by} on "
                                  f"{isoformat(c.at)[:10]}"))
        else:
            reasons.append(Reason("GATE-SPECIALTY", "deny",
                                  f"evidence given for {conditions.proceedings!r} may be used for "
                                  f"{use.proceedings!r} only with the sender's consent"))
    elif use.kind == "onward-transfer":
        if (c := consent_for("onward-transfer", use.recipient)) is not None:
            reasons.append(Reason("GATE-ONWARD-TRANSFER", "allow",
                                  f"transfer to {use.recipient!r} authorised by {c.given_by} on "
                                  f"{isoformat(c.at)[:10]}"))
        else:
            reasons.append(Reason("GATE-ONWARD-TRANSFER", "deny",
                                  f"transfer to {use.recipient!r} needs the original sender's "
                                  "prior authorisation"))
    else:  # exculpatory-disclosure: allowed in the stated proceedings, sender told beforehand
        reasons.append(Reason("GATE-SPECIALTY", "allow",
                              "disclosure of exculpatory evidence in the stated proceedings"))
        out_conditions.append("Notify the sender before the disclosure and consult it if asked.")
    if conditions.confidential:
        out_conditions.append("Keep the evidence and the request confidential.")
    out_conditions += conditions.data_protection
    return Decision.of(reasons, out_conditions)


# --- responses -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    """A validated response; ``event`` is the lifecycle event it records."""

    kind: ResponseKind
    at: datetime
    reason: str = ""
    grounds: tuple[str, ...] = ()
    evidence: tuple[EvidenceItem, ...] = ()
    conditions: HandoverConditions | None = None
    postponed_until: datetime | None = None

    @property
    def event(self) -> Event:
        return RESPONSE_EVENTS[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": isoformat(self.at),
            "reason": self.reason,
            "grounds": [RULES[g].as_dict() for g in self.grounds],
            "evidence": [e.as_dict() for e in self.evidence],
            "conditions": self.conditions.as_dict() if self.conditions else None,
            "postponed_until": isoformat(self.postponed_until) if self.postponed_until else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Response:
        """Reload a stored ``as_dict()`` (already validated when it was made)."""
        until = data.get("postponed_until")
        return cls(
            cast(ResponseKind, data["kind"]), aware(data["at"], "at"), str(data.get("reason", "")),
            tuple(g["code"] if isinstance(g, Mapping) else str(g) for g in data.get("grounds", [])),
            tuple(EvidenceItem(e["name"], e["sha256"], e.get("media_type", ""), e.get("size"),
                               e.get("description", "")) for e in data.get("evidence", [])),
            HandoverConditions.from_dict(data["conditions"]) if data.get("conditions") else None,
            aware(until, "postponed_until") if until else None)


def _ground_problems(grounds: Any, request_type: str, offence_in_catalogue: bool,
                     dual_criminality_reserved: bool) -> tuple[list[Problem], list[str]]:
    problems: list[Problem] = []
    ok: list[str] = []
    if not isinstance(grounds, list | tuple) or not grounds:
        return [Problem("grounds", "a refusal names at least one ground: "
                        + ", ".join(REFUSAL_GROUNDS), "REFUSE-REASONS")], []
    for i, g in enumerate(grounds):
        code = ground_code(g)
        where = f"grounds[{i}]"
        if code in NOT_GROUNDS:
            rule = NOT_GROUNDS[code]
            problems.append(Problem(where, f"{g!r} is not a ground for refusal: "
                                    f"{RULES[rule].text}", rule))
        elif code not in REFUSAL_GROUNDS:
            problems.append(Problem(where, f"{g!r} is not a ground for refusal; use one of: "
                                    + ", ".join(REFUSAL_GROUNDS), "REFUSE-REASONS"))
        elif (code == "REFUSE-DUAL-CRIMINALITY" and request_type == PRESERVATION
              and not (dual_criminality_reserved and not offence_in_catalogue)):
            problems.append(Problem(where, "dual criminality is not a ground to refuse "
                                    "preservation (only under a reservation, for offences "
                                    "outside the Convention)",
                                    "PRESERVATION-NO-DUAL-CRIMINALITY"))
        elif code in ok:
            problems.append(Problem(where, f"{code} is named twice"))
        else:
            ok.append(code)
    return problems, ok


def validate_response(data: Mapping[str, Any], *, request_type: str, now: datetime,
                      offence_in_catalogue: bool = True,
                      preservation_dual_criminality_reserved: bool = False) -> list[Problem]:
    """Every problem with a response at once (empty list: valid)."""
    try:
        parse_response(data, request_type=request_type, now=now,
                       offence_in_catalogue=offence_in_catalogue,
                       preservation_dual_criminality_reserved=preservation_dual_criminality_reserved)
    except InvalidInput as e:
        return list(e.problems)
    return []


def parse_response(data: Mapping[str, Any], *, request_type: str, now: datetime,
                   offence_in_catalogue: bool = True,
                   preservation_dual_criminality_reserved: bool = False) -> Response:
    """A validated ``Response`` from JSON-native data, or ``InvalidInput`` listing every problem.

    Data: ``kind`` (executed | partially-executed | refused | postponed), ``at`` (default
    ``now``), ``reason``, ``grounds`` (rule codes), ``evidence`` ([{name, sha256, media_type,
    size, description}]), ``conditions`` (see ``HandoverConditions``), ``postponed_until``.
    """
    _request_type(request_type, "request_type")
    aware(now, "now")
    if not isinstance(data, Mapping):
        raise InvalidInput("the response must be a mapping",
                           [Problem("response", "must be a mapping")])
    problems: list[Problem] = []
    for k in sorted(set(data) - {"kind", "at", "reason", "grounds", "evidence", "conditions",
                                 "postponed_until"}, key=str):
        problems.append(Problem(k, "is not a response field"))
    kind = data.get("kind")
    if kind not in RESPONSE_KINDS:
        problems.append(Problem("kind", f"{kind!r} is not one of: {', '.join(RESPONSE_KINDS)}"))
        raise InvalidInput("the response is not valid", problems)
    kind = cast(ResponseKind, kind)
    at = now
    if data.get("at") is not None:
        try:
            at = aware(data["at"], "at")
            if at > now:
                problems.append(Problem("at", "a response cannot be dated in the future"))
        except InvalidInput as e:
            problems += e.problems
    if request_type == SPONTANEOUS:
        problems.append(Problem("kind", "spontaneous information is not executed, refused or "
                                "postponed", "REQ-SPONTANEOUS"))
    if request_type == PRESERVATION and kind in ("executed", "partially-executed"):
        problems.append(Problem("kind", "a preservation is confirmed as preserved, not "
                                "executed", "PRESERVATION-60-DAYS"))
    reason = data.get("reason") or ""
    if not isinstance(reason, str):
        problems.append(Problem("reason", "must be text"))
        reason = ""
    reason = reason.strip()
    grounds: list[str] = []
    evidence: list[EvidenceItem] = []
    conditions: HandoverConditions | None = None
    until: datetime | None = None
    if kind == "refused":
        if not reason:
            problems.append(Problem("reason", "reasons must be given for a refusal",
                                    "REFUSE-REASONS"))
        ps, grounds = _ground_problems(data.get("grounds"), request_type,
                                       offence_in_catalogue, preservation_dual_criminality_reserved)
        problems += ps
    elif kind == "partially-executed" and not reason:
        problems.append(Problem("reason", "say what was not executed and why",
                                "REFUSE-REASONS"))
    elif kind == "postponed" and not reason:
        problems.append(Problem("reason", "name the proceedings execution would interfere with",
                                "POSTPONE-PROCEEDINGS"))
    if kind == "partially-executed" and data.get("grounds"):
        ps, grounds = _ground_problems(data.get("grounds"), request_type,
                                       offence_in_catalogue, preservation_dual_criminality_reserved)
        problems += ps
    if kind in ("executed", "partially-executed"):
        raw = data.get("evidence")
        if not isinstance(raw, list) or not raw:
            problems.append(Problem("evidence", "list the evidence handed over",
                                    "RESPONSE-EVIDENCE"))
            raw = []
        for i, item in enumerate(raw):
            ev = EvidenceItem.parse(item, f"evidence[{i}]", problems)
            if ev:
                evidence.append(ev)
        if data.get("conditions") is not None:
            conditions = HandoverConditions.parse(data["conditions"], "conditions", problems)
    else:
        for key in ("evidence", "conditions"):
            if data.get(key):
                problems.append(Problem(key, f"a {kind} response hands nothing over"))
    if kind == "postponed" and data.get("postponed_until") is not None:
        try:
            until = aware(data["postponed_until"], "postponed_until")
            if until <= now:
                problems.append(Problem("postponed_until", "must be in the future",
                                        "POSTPONE-PROCEEDINGS"))
        except InvalidInput as e:
            problems += e.problems
    if problems:
        raise InvalidInput(f"the {kind} response is not valid: {len(problems)} problem(s)",
                           problems)
    return Response(kind, at, reason, tuple(grounds), tuple(evidence), conditions, until)
