"""Join the feature branches (federation, signals + TAXII, media) into one head, and widen the
ledger's ``decision`` column: a response decision such as ``partially-executed`` is 18
characters (PostgreSQL enforces the length; SQLite does not). Index the outbox by subject, for
in-order delivery of the items about one subject.

Revision ID: 0005
Revises: 0003, 0004t, 0003m
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = ("0003", "0004t", "0003m")
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The outbox sends the items about one subject in order: find an earlier open one quickly.
    op.create_index("ix_outbox_subject", "outbox", ["subject", "id"])
    if op.get_bind().dialect.name == "postgresql":
        # varchar(16) -> varchar(32) is a catalogue change only: no rewrite, no trigger fires.
        op.alter_column("ledger_entries", "decision", type_=sa.String(32), existing_type=sa.String(16))


def downgrade() -> None:
    op.drop_index("ix_outbox_subject", "outbox")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("ledger_entries", "decision", type_=sa.String(16), existing_type=sa.String(32))
