"""Shapes every resource shares: problems, the gate's decision, ledger entries."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Time = str  # RFC 3339 in UTC, e.g. 2026-03-01T09:00:00.000000Z
"""Times cross the API as RFC 3339 texts, exactly as the ledger stores them."""


class ProblemItem(BaseModel):
    """One problem with one field, and the legal rule that refused it, if one did."""

    field: str
    message: str
    rule: str | None = Field(None, description="The rule's code, e.g. PRESERVE-DATA")
    citation: str | None = Field(None, description="Its article, e.g. UNCC Art. 42(~3(c))")


class ProblemDetails(BaseModel):
    """An error, as RFC 9457 problem+json: every problem named, with its article."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemItem] | None = None
    rule: str | None = Field(None, description="The rule that refused it, if a legal rule did")
    citation: str | None = None
    rule_text: str | None = None


class TaxiiError(BaseModel):
    """A TAXII 2.1 error message."""

    title: str
    description: str | None = None
    http_status: str | None = None


class Reason(BaseModel):
    """One rule of the safeguards gate that fired, with its article."""

    code: str
    effect: Literal["allow", "review", "deny"] | str
    citation: str
    text: str
    detail: str = ""
    needs_reviewer: bool | None = None


class Decision(BaseModel):
    """A decision of the safeguards gate: every rule that fired, not only the first."""

    outcome: Literal["allow", "review", "deny"] | str
    reviewer_required: bool
    reasons: list[Reason]
    conditions: list[str]
    moment: str | None = Field(None, description="submit, receipt, send, assessment, review...")
    at: Time | None = None
    policy_digest: str | None = None


class LedgerEntry(BaseModel):
    """One entry of the hash-chained ledger."""

    seq: int
    ts: Time
    actor: str
    action: str
    subject: str
    decision: str | None = None
    reasons: list[dict[str, Any]]
    payload: Any
    payload_digest: str
    prev_hash: str
    hash: str


class LedgerHead(BaseModel):
    seq: int
    hash: str | None = None
