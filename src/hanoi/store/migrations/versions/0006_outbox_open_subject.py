"""Index the outbox's open rows by (subject, recipient, state, id).

Before a row is claimed, the delivery worker looks for an earlier row about the same subject
to the same peer that is still open and not sendable now (in flight, held, or waiting for its
retry). ``ix_outbox_subject`` (subject, id) made that search walk every earlier row of the
subject, delivered ones included: a subject shared by many items (``signals:federation``,
a media list) made each claim slower as the outbox grew.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_subject_open", "outbox", ["subject", "recipient", "state", "id"])
    op.drop_index("ix_outbox_subject", "outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_subject", "outbox", ["subject", "id"])
    op.drop_index("ix_outbox_subject_open", "outbox")
