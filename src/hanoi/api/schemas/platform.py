"""The platform: the node, members, tokens, users, the ledger, the outbox and peers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hanoi.api.schemas.common import LedgerEntry, LedgerHead, Time


class Health(BaseModel):
    status: str
    node_id: str


class Liveness(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    node_id: str
    migrations: list[str] = Field(description="The Alembic heads the schema is at")


class Caller(BaseModel):
    token_id: str | None
    role: str
    member_id: str | None


class NodeIdentity(BaseModel):
    """What a partner needs to know this node by."""

    node_id: str
    name: str
    country: str
    kind: str
    key_id: str
    public_key: str = Field(description="Ed25519, base64url")
    fingerprint: str = Field(description="Of the public key: confirm it out of band")
    public_url: str | None
    descriptor_url: str | None = Field(description="Where peers fetch the signed descriptor")
    you: Caller


class Offence(BaseModel):
    code: str
    article: str
    name: str
    rule: str
    citation: str
    text: str
    in_catalogue: bool


class MemberKey(BaseModel):
    kid: str
    public_key: str
    not_before: Time
    not_after: Time | None
    fingerprint: str
    valid_now: bool


class Assessment(BaseModel):
    standing: str
    assessor: str
    assessed_at: Time
    findings: str
    articles: list[str]
    sources: list[str]
    recorded_by: str
    recorded_at: Time


class Member(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    kind: str
    country: str
    state_status: str
    endpoint: str | None
    languages: list[str]
    available_24_7: bool
    contacts: list[dict[str, Any]]
    other_treaties: list[str]
    standing: str
    country_name: str
    created_at: Time
    updated_at: Time
    keys: list[MemberKey] | None = None
    assessments: list[Assessment] | None = None


class Token(BaseModel):
    id: str
    name: str
    role: str
    member_id: str | None
    created_at: Time
    expires_at: Time | None
    revoked_at: Time | None


class TokenCreated(Token):
    token: str = Field(description="The secret: shown once, store it now")


class User(BaseModel):
    username: str
    role: str
    language: str | None
    time_zone: str | None
    created_at: Time
    password_changed_at: Time | None
    disabled_at: Time | None


class LedgerPage(BaseModel):
    items: list[LedgerEntry]
    head: LedgerHead
    next_after: int | None


class LedgerVerification(BaseModel):
    ok: bool
    count: int
    head_seq: int
    head_hash: str | None
    checkpoints: int
    broken: dict[str, Any] | None
    message: str


class Checkpoint(BaseModel):
    seq: int
    head_hash: str
    announced_to: list[str] = Field(default_factory=list,
                                    description="The witnesses the signed head was sent to")


class WitnessFinding(BaseModel):
    """What one peer witnessed of this ledger, held against the ledger."""

    witness: str
    outcome: str = Field(description="consistent, nothing witnessed, unanswered, cut or rewritten")
    detail: str
    seq: int | None = None
    witnessed: dict[str, Any] | None = None
    signed_by_this_node: bool | None = None


class WitnessedVerification(BaseModel):
    """The ledger verified, then held against what every peer witnessed of it."""

    ok: bool
    ledger: LedgerVerification
    witnesses: list[WitnessFinding]


class OutboxRow(BaseModel):
    id: str
    recipient: str
    type: str
    subject: str | None
    answers: str | None
    state: str
    attempts: int
    next_attempt_at: Time | None
    last_error: str | None
    rule: str | None
    decision: dict[str, Any] | None
    receipt: Any
    created_at: Time
    updated_at: Time
    delivered_at: Time | None
    payload: Any = None


class Outbox(BaseModel):
    counts: dict[str, int]
    items: list[OutboxRow]


class Peer(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    country: str
    kind: str
    url: str
    endpoint: str | None
    trusted: bool
    fingerprint: str


class Queued(BaseModel):
    queued: list[str]


PolicyDocument = dict[str, Any]
"""The policy: the platform's standing keys and each wing's section, side by side."""
