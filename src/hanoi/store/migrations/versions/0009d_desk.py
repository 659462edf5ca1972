"""The caseworker's desk: the inbox and outbox page by keyset on (direction, created_at, id).

``ix_requests_desk`` serves both lists newest first, a page continuing after the last row's
``created_at`` and ``id`` (never OFFSET); ``ix_requests_desk_state``, ``_type`` and
``_partner`` serve a list filtered by one of those (the planner picks one when several
filters are set and checks the others per row). This revision also joins the two heads
before it.

Revision ID: 0009d
Revises: 0008_witness, 0008f
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0009d"
down_revision = ("0008_witness", "0008f")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_requests_desk", "requests", ["direction", "created_at", "id"])
    op.create_index("ix_requests_desk_state", "requests", ["direction", "state", "created_at", "id"])
    op.create_index("ix_requests_desk_type", "requests", ["direction", "type", "created_at", "id"])
    op.create_index("ix_requests_desk_partner", "requests", ["direction", "partner_id", "created_at", "id"])


def downgrade() -> None:
    for name in ("ix_requests_desk_partner", "ix_requests_desk_type", "ix_requests_desk_state", "ix_requests_desk"):
        op.drop_index(name, table_name="requests")
