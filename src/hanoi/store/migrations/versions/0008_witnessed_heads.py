"""Ledgers that peers witness: the heads of peers' ledgers this node holds as their witness.

Revision ID: 0008_witness
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanoi.store.tables import UTCDateTime

revision = "0008_witness"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "witnessed_heads",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("witnessed_heads")
