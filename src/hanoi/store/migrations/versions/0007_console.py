"""The console: users, server-side sessions, failed sign-ins, background jobs; ledger indexes.

Users sign in with a password (argon2id) or an API token; a session is a row named by the
SHA-256 of the cookie's secret. ``sign_in_failures`` counts failed sign-ins per username and
per client address, so repeated failures are slowed down across every API worker.

The auditor's window pages the ledger newest first, filtered by subject, actor, action or
decision: one index per filter, each ending in ``seq``, so a page is a range read of one
index (never OFFSET, never a sort of every matching entry). ``ix_ledger_subject`` (subject)
is replaced by ``ix_ledger_subject_seq`` (subject, seq), which serves its old uses too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanoi.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("time_zone", sa.String(64)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("password_changed_at", UTCDateTime, nullable=False),
        sa.Column("disabled_at", UTCDateTime),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), sa.ForeignKey("users.username")),
        sa.Column("token_id", sa.String(32), sa.ForeignKey("api_tokens.id")),
        sa.Column("language", sa.String(8)),
        sa.Column("time_zone", sa.String(64)),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_console_sessions_user", "console_sessions", ["username"])
    op.create_index("ix_console_sessions_expires", "console_sessions", ["expires_at"])
    op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", UTCDateTime, nullable=False),
        sa.Column("locked_until", UTCDateTime, nullable=False),
    )
    op.create_table(
        "console_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("done", sa.BigInteger, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_ledger_subject_seq", "ledger_entries", ["subject", "seq"])
    op.drop_index("ix_ledger_subject", "ledger_entries")
    op.create_index("ix_ledger_actor_seq", "ledger_entries", ["actor", "seq"])
    op.create_index("ix_ledger_action_seq", "ledger_entries", ["action", "seq"])
    op.create_index("ix_ledger_decision_seq", "ledger_entries", ["decision", "seq"])


def downgrade() -> None:
    op.drop_index("ix_ledger_decision_seq", "ledger_entries")
    op.drop_index("ix_ledger_action_seq", "ledger_entries")
    op.drop_index("ix_ledger_actor_seq", "ledger_entries")
    op.create_index("ix_ledger_subject", "ledger_entries", ["subject"])
    op.drop_index("ix_ledger_subject_seq", "ledger_entries")
    op.drop_table("console_jobs")
    op.drop_table("sign_in_failures")
    op.drop_index("ix_console_sessions_expires", "console_sessions")
    op.drop_index("ix_console_sessions_user", "console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("users")
