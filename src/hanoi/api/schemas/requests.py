"""Cooperation requests: drafts, lifecycle events, reviews, assessments, responses, forms."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hanoi.api.schemas.common import Decision, ProblemItem, Time

FIELDS_HELP = ("The request's fields by name (GET /api/v1/requests/types lists them with their "
               "kinds and articles); values are texts, whole numbers, booleans, lists of texts, "
               "ISO 8601 dates and times")
Fields = dict[str, Any]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- bodies ---------------------------------------------------------------------------------------


class RequestDraft(Body):
    """A request's type and fields, checked without being stored."""

    type: str = Field(description="The request type, e.g. preservation")
    fields: Fields | None = Field(None, description=FIELDS_HELP)


class RequestNew(Body):
    """A new draft (outgoing), or a request this node received by other means (incoming)."""

    type: str = Field(description="The request type, e.g. preservation")
    partner: str = Field(description="The partner member: the requested side of an outgoing request, "
                                     "the requesting side of an incoming one")
    fields: Fields | None = Field(None, description=FIELDS_HELP + "; a draft may be partial")
    direction: Literal["outgoing", "incoming"] = "outgoing"
    via: str | None = Field(None, description="How an incoming request arrived (e-mail, fax...)")
    deadline_profiles: list[str] | None = Field(None, description="Deadline profiles of the partner "
                                                                  "agreement")
    remote_id: str | None = Field(None, description="The partner's own id for an incoming request")


class RequestChange(Body):
    """Fields to change in a draft; a null value removes the field."""

    fields: dict[str, Any | None] | None = None
    deadline_profiles: list[str] | None = None


class LifecycleEvent(Body):
    """A lifecycle event (a move not allowed from the current state is a 409 naming those that are)."""

    event: Literal["acknowledge", "start", "request-info", "provide-info", "consult", "resume", "withdraw",
                   "preserve", "extend", "release", "expire", "receive", "submit"]
    via: str | None = Field(None, description="The channel, when recording the partner's step by hand")
    note: str | None = None
    reason: str | None = Field(None, description="Why (needed to extend a preservation)")
    days: int | None = Field(None, description="Extension length in days")
    preserved_at: Time | None = Field(None, description="When the data were preserved")


class NamedReview(Body):
    """A named person's review: the gate decides again with it."""

    reviewer: str
    approved: bool
    discrimination_found: bool = Field(False, description="Art. 40(~22) finding")
    note: str = ""
    at: Time | None = None


class RequestedSideAssessment(Body):
    """The requested side's assessment of a request, which the gate reads beside its contents."""

    dual_criminality: Literal["met", "not-met", "unassessed"] | None = None
    confidentiality_can_keep: bool | None = None
    requester_accepts_disclosure: bool | None = None
    assurances_received: list[str] | None = None


class EvidenceItem(BaseModel):
    """A file handed over: one attached to the request beforehand."""

    name: str
    sha256: str
    media_type: str = ""
    size: int | None = None
    description: str = ""


class Consent(BaseModel):
    """The original sender's consent to reuse or onward transfer (Art. 36, Art. 40(~19))."""

    kind: Literal["reuse", "onward-transfer"]
    scope: str
    given_by: str
    at: Time | None = None


class HandoverConditions(BaseModel):
    """The conditions evidence is handed over under."""

    proceedings: str
    specialty: bool = True
    confidential: bool = False
    data_protection: list[str] = Field(default_factory=list)
    retain_until: Time | None = None
    consents: list[Consent] = Field(default_factory=list)


class ResponseToRequest(Body):
    """Executed or partly executed (with evidence), refused (grounds and reasons), postponed."""

    kind: Literal["executed", "partially-executed", "refused", "postponed"]
    at: Time | None = None
    reason: str | None = Field(None, description="The reasons given (a refusal must give them)")
    grounds: list[str] | None = Field(None, description="Refusal ground codes (GET /api/v1/requests/types)")
    evidence: list[EvidenceItem] | None = None
    conditions: HandoverConditions | None = None
    postponed_until: Time | None = None
    via: str | None = Field(None, description="Recording the partner's response by hand: the channel")


class ConsentNew(Body):
    kind: Literal["reuse", "onward-transfer"]
    scope: str
    given_by: str
    at: Time | None = None


class UseCheck(Body):
    """A proposed use of evidence received."""

    kind: Literal["stated-proceedings", "other-proceedings", "onward-transfer", "exculpatory-disclosure"]
    proceedings: str | None = None
    recipient: str | None = None
    at: Time | None = None


# --- responses ------------------------------------------------------------------------------------


class Validation(BaseModel):
    ok: bool
    problems: list[ProblemItem]


class Deadline(BaseModel):
    label: str
    start: Time
    due_at: Time
    rule: str
    citation: str
    source: str
    state: str = Field(description="ok, due-soon or overdue")
    remaining_seconds: int


class Partner(BaseModel):
    id: str
    name: str
    country: str
    standing: str
    languages: list[str]
    endpoint: str | None = None


class ChecklistRow(BaseModel):
    field: str
    label: str
    required: bool
    present: bool
    ok: bool
    problems: list[ProblemItem]
    rule: str | None
    citation: str


class Evidence(BaseModel):
    request_id: str
    name: str
    sha256: str
    size: int
    media_type: str
    description: str
    added_by: str
    added_at: Time


class RequestSummary(BaseModel):
    """A request as lists show it."""

    id: str
    type: str
    type_label: str
    state: str
    direction: Literal["outgoing", "incoming"]
    partner_id: str
    fields: Fields
    deadline_profiles: list[str] | None = None
    assessment: dict[str, Any]
    review: dict[str, Any] | None = None
    decision: Decision | None = None
    response: dict[str, Any] | None = None
    remote_id: str | None = None
    created_by: str
    created_at: Time
    updated_at: Time
    started_at: Time | None = None
    terminal: bool
    allowed_events: list[str]
    preservation: dict[str, Any] | None = Field(None, description="The preservation term: state, until, "
                                                                   "extensions, its article")
    deadlines: list[Deadline]


class GateHold(BaseModel):
    """What the safeguards gate, deciding now, leaves open on an incoming request it does not allow."""

    outcome: Literal["review", "deny"]
    rule: str = Field(description="The rule that blocks (its code)")
    citation: str
    blocked_events: list[str] = Field(description="Moves that would carry the request out: refused (403 on "
                                                  "deny, 409 until a named reviewer decides)")
    open_events: list[str] = Field(description="Moves a State still makes on a request it does not carry out "
                                               "(acknowledge receipt, consult, refuse with a ground)")
    note: str


class Request(RequestSummary):
    """A request with its partner, its checklist (every field with its article) and evidence."""

    gate: GateHold | None = Field(None, description="Set when the gate, deciding now with the partner's "
                                                    "current standing, blocks carrying out this request")

    partner: Partner
    checklist: list[ChecklistRow]
    evidence: list[Evidence]


class Delivery(BaseModel):
    federated: bool = Field(description="False: the partner has no endpoint and nothing will be delivered")
    endpoint: str | None = None
    detail: str


class RequestSubmitted(Request):
    delivery: Delivery


class DueDeadline(BaseModel):
    request_id: str
    type: str
    request_state: str
    direction: str
    partner_id: str
    label: str
    start: Time | None = None
    due_at: Time
    rule: str
    citation: str
    source: str
    state: str
    remaining_seconds: int
    preservation: dict[str, Any] | None = None


class RequestTypes(BaseModel):
    types: list[dict[str, Any]]
    fields: list[dict[str, Any]]
    lifecycle: dict[str, Any]
    refusal_grounds: list[dict[str, Any]]


class EvidenceAdded(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    sha256: str
    size: int


class UseDecision(BaseModel):
    use: dict[str, Any]
    decision: Decision
