"""Signals: normalised values, their reports (TLP, source, consent), campaign links, feedback.

Revision ID: 0003s
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanoi.store.tables import SignalId, UTCDateTime

revision = "0003s"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signals",
        sa.Column("id", SignalId, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "signal_reports",
        sa.Column("id", SignalId, primary_key=True, autoincrement=True),
        sa.Column("signal_id", SignalId, sa.ForeignKey("signals.id"), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("via", sa.String(64)),
        sa.Column("remote_id", sa.String(128)),
        sa.Column("abuse_type", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Integer, nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("tlp", sa.String(16), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("conditions", sa.Text, nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("named", sa.JSON, nullable=False),
        sa.Column("consent", sa.Boolean, nullable=False),
        sa.Column("batch", sa.String(40)),
        sa.Column("reported_by", sa.String(200), nullable=False),
        sa.Column("reported_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("via", "remote_id", name="uq_signal_reports_remote"),
    )
    op.create_index("ix_signal_reports_signal", "signal_reports", ["signal_id"])
    op.create_index("ix_signal_reports_source", "signal_reports", ["source", "id"])
    op.create_table(
        "signal_links",
        sa.Column("id", SignalId, primary_key=True, autoincrement=True),
        sa.Column("a", SignalId, sa.ForeignKey("signals.id"), nullable=False),
        sa.Column("b", SignalId, sa.ForeignKey("signals.id"), nullable=False),
        sa.Column("report_id", SignalId, sa.ForeignKey("signal_reports.id"), nullable=False),
        sa.UniqueConstraint("a", "b", "report_id", name="uq_signal_links"),
    )
    op.create_table(
        "signal_feedback",
        sa.Column("id", SignalId, primary_key=True, autoincrement=True),
        sa.Column("signal_id", SignalId, sa.ForeignKey("signals.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("member", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("seen_at", UTCDateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_signal_feedback_signal", "signal_feedback", ["signal_id"])


def downgrade() -> None:
    op.drop_table("signal_feedback")
    op.drop_table("signal_links")
    op.drop_table("signal_reports")
    op.drop_table("signals")
