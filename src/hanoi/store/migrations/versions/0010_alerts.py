"""Alerts: subscriptions (event, webhook, secret, role) and a durable delivery queue.

Revision ID: 0010_alerts
Revises: 0009_feeds
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanoi.store.tables import UTCDateTime

revision = "0010_alerts"
down_revision = "0009_feeds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_alert_subscriptions_event", "alert_subscriptions", ["event"])
    op.create_table(
        "alert_queue",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("subscription_id", sa.Integer,
                  sa.ForeignKey("alert_subscriptions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime),
    )
    op.create_index("ix_alert_queue_due", "alert_queue", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_queue_due", "alert_queue")
    op.drop_table("alert_queue")
    op.drop_index("ix_alert_subscriptions_event", "alert_subscriptions")
    op.drop_table("alert_subscriptions")
