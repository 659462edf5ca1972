"""TAXII paging: signal reports indexed by (date added, id), the keyset TAXII pages walk.

Revision ID: 0004t
Revises: 0003s
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0004t"
down_revision = "0003s"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_signal_reports_added", "signal_reports", ["reported_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_signal_reports_added", table_name="signal_reports")
