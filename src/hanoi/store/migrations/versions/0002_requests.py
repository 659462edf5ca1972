"""Cooperation requests and their evidence.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanoi.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("partner_id", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("deadline_profiles", sa.JSON),
        sa.Column("assessment", sa.JSON, nullable=False),
        sa.Column("review", sa.JSON),
        sa.Column("decision", sa.JSON),
        sa.Column("preservation", sa.JSON),
        sa.Column("response", sa.JSON),
        sa.Column("remote_id", sa.String(80)),
        sa.Column("started_at", UTCDateTime),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_requests_state", "requests", ["state"])
    op.create_index("ix_requests_partner", "requests", ["partner_id"])
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(40), sa.ForeignKey("requests.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(127), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("request_id", "name", name="uq_evidence_request_name"),
    )


def downgrade() -> None:
    op.drop_table("evidence")
    op.drop_table("requests")
