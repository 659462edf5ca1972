"""Feeds pulled on a schedule, and leases (one feed runner across processes); merges the two
0008 heads.

Revision ID: 0009_feeds
Revises: 0008_witness, 0008f
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanoi.store.tables import UTCDateTime

revision = "0009_feeds"
down_revision = ("0008_witness", "0008f")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text),
        sa.Column("path", sa.Text),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("every_seconds", sa.Integer, nullable=False),
        sa.Column("tlp", sa.String(16), nullable=False),
        sa.Column("offence", sa.String(32)),
        sa.Column("source", sa.String(64), sa.ForeignKey("members.id")),
        sa.Column("token_env", sa.String(64)),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("checkpoint", sa.JSON, nullable=False),
        sa.Column("next_run_at", UTCDateTime, nullable=False),
        sa.Column("last_run_at", UTCDateTime),
        sa.Column("last_ok_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_feeds_due", "feeds", ["paused", "next_run_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("until", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_feeds_due", "feeds")
    op.drop_table("feeds")
