"""Join the heads that features added side by side after 0008 (the outbox's priorities, the
desk's indexes, feeds and alerts): nothing changes, one head again.

Revision ID: 0011_join
Revises: 0009_outbox_priority, 0009d, 0010_alerts
Create Date: 2026-12-07
"""

from __future__ import annotations

revision = "0011_join"
down_revision = ("0009_outbox_priority", "0009d", "0010_alerts")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
