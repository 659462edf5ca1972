"""Federation: the outbox, the inbox and fetched peer descriptors.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanoi.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("recipient", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("answers", sa.String(128)),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("rule", sa.String(64)),
        sa.Column("decision", sa.JSON),
        sa.Column("receipt", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime),
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_recipient", "outbox", ["recipient", "state"])
    op.create_table(
        "inbox",
        sa.Column("sender", sa.String(64), primary_key=True),
        sa.Column("envelope_id", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("answers", sa.String(128)),
        sa.Column("content_digest", sa.String(71), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(64)),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("receipt", sa.Text, nullable=False),
        sa.Column("ledger_seq", sa.BigInteger, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_inbox_received", "inbox", ["received_at"])
    op.create_table(
        "peers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("descriptor", sa.Text, nullable=False),
        sa.Column("fetched_at", UTCDateTime, nullable=False),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("trusted_at", UTCDateTime),
        sa.Column("trusted_by", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("peers")
    op.drop_table("inbox")
    op.drop_table("outbox")
