"""The outbox sends the most urgent first: ``priority`` (``hanoi.node.wings.Priority``: 0 urgent,
24/7; 1 casework; 2 bulk signals and hashes) and the index the claim walks in its order. Rows
queued before this revision are casework (1), as they were all equal. Also joins the two heads
of revision 0008 (the witness and signal identity).

Revision ID: 0009_outbox_priority
Revises: 0008_witness, 0008f
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_outbox_priority"
down_revision = ("0008_witness", "0008f")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", recreate="never") as batch:
        batch.add_column(sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1"))
    op.create_index("ix_outbox_claim_order", "outbox", ["priority", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_claim_order", table_name="outbox")
    with op.batch_alter_table("outbox", recreate="never") as batch:
        batch.drop_column("priority")
