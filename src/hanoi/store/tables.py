"""Table definitions (SQLAlchemy Core). Alembic migrations under ``migrations/`` create them.

Core rather than the ORM: every write is a short explicit statement inside the unit of work,
which keeps a ledgered change to a handful of statements and the hot paths fast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite keeps no zone, so we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

members = Table(
    "members",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("country", String(2), nullable=False),
    Column("state_status", String(16), nullable=False),
    Column("endpoint", String(500)),
    Column("languages", JSON, nullable=False),
    Column("available_24_7", Boolean, nullable=False, default=False),
    Column("contacts", JSON, nullable=False),
    Column("other_treaties", JSON, nullable=False),
    Column("standing", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

member_keys = Table(
    "member_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_id", String(64), ForeignKey("members.id"), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("public_key", String(100), nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime),
    Column("added_at", UTCDateTime, nullable=False),
    UniqueConstraint("member_id", "key_id", name="uq_member_keys_member_key"),
)

assessments = Table(
    "assessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_id", String(64), ForeignKey("members.id"), nullable=False),
    Column("standing", String(16), nullable=False),
    Column("assessor", String(200), nullable=False),
    Column("assessed_at", UTCDateTime, nullable=False),
    Column("findings", Text, nullable=False),
    Column("articles", JSON, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_assessments_member", "member_id", "id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("member_id", String(64), ForeignKey("members.id")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("decision", String(16)),
    # Canonical JSON text, kept verbatim so verification re-hashes exactly what was written.
    Column("reasons", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("payload_digest", String(71), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_ledger_subject", "subject"),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("ts", String(32), nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    # outgoing: this node asks the partner; incoming: the partner asks this node.
    Column("direction", String(8), nullable=False),
    Column("partner_id", String(64), ForeignKey("members.id"), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("deadline_profiles", JSON),
    # The requested side's assessment the gate needs (dual criminality, confidentiality...).
    Column("assessment", JSON, nullable=False),
    Column("review", JSON),
    Column("decision", JSON),
    Column("preservation", JSON),
    Column("response", JSON),
    Column("remote_id", String(80)),
    Column("started_at", UTCDateTime),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_requests_state", "state"),
    Index("ix_requests_partner", "partner_id"),
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(40), ForeignKey("requests.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(127), nullable=False),
    Column("description", Text, nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    UniqueConstraint("request_id", "name", name="uq_evidence_request_name"),
)
