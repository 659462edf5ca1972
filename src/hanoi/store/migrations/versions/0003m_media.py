"""Media hash lists: lists, hashes, deliveries, matches, feedback, and the index version.

Revision ID: 0003m
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

from hanoi.store.tables import UTCDateTime

revision = "0003m"
down_revision = "0002"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    meta = op.create_table(
        "media_meta",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("rev", sa.BigInteger, nullable=False),
        sa.Column("epoch", sa.String(32), nullable=False),
    )
    # A fresh epoch per store: an index snapshot taken of another database is never trusted.
    op.bulk_insert(meta, [{"id": 1, "rev": 0, "epoch": uuid.uuid4().hex}])
    op.create_table(
        "media_lists",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("tlp", sa.String(16), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("subscribers", sa.JSON, nullable=False),
        sa.Column("spike_matches", sa.Integer, nullable=False),
        sa.Column("spike_minutes", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(64)),
        sa.Column("remote_id", sa.String(64)),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("origin", "remote_id", name="uq_media_lists_origin_remote"),
    )
    op.create_table(
        "media_hashes",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("list_id", sa.String(40), sa.ForeignKey("media_lists.id"), nullable=False),
        sa.Column("algorithm", sa.String(8), nullable=False),
        sa.Column("value", sa.String(64)),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("quality", sa.Integer),
        sa.Column("case_ref", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_at", UTCDateTime, nullable=False),
        sa.Column("status_by", sa.String(200), nullable=False),
        sa.Column("status_reason", sa.Text),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("remote_id", sa.String(64)),
        sa.Column("rev", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("list_id", "digest", name="uq_media_hashes_list_digest"),
    )
    op.create_index("ix_media_hashes_digest", "media_hashes", ["digest"])
    op.create_index("ix_media_hashes_value", "media_hashes", ["algorithm", "value"])
    op.create_index("ix_media_hashes_rev", "media_hashes", ["rev"])
    op.create_index("ix_media_hashes_source", "media_hashes", ["source", "remote_id"])
    op.create_index("ix_media_hashes_case", "media_hashes", ["list_id", "case_ref"])
    op.create_table(
        "media_deliveries",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("hash_id", sa.BigInteger, sa.ForeignKey("media_hashes.id"), nullable=False),
        sa.Column("recipient", sa.String(64), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("envelope_id", sa.String(128)),
        sa.Column("delivered_at", UTCDateTime, nullable=False),
        sa.Column("withdrawn_at", UTCDateTime),
        sa.UniqueConstraint("hash_id", "recipient", name="uq_media_deliveries_hash_recipient"),
    )
    op.create_index("ix_media_deliveries_recipient", "media_deliveries", ["recipient"])
    op.create_table(
        "media_matches",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("hash_id", sa.BigInteger, sa.ForeignKey("media_hashes.id"), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("distance", sa.Integer, nullable=False),
        sa.Column("matched_at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("member_id", sa.String(64)),
    )
    op.create_index("ix_media_matches_hash", "media_matches", ["hash_id", "matched_at"])
    op.create_table(
        "media_feedback",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("hash_id", sa.BigInteger, sa.ForeignKey("media_hashes.id"), nullable=False),
        sa.Column("match_id", sa.BigInteger),
        sa.Column("match_ref", sa.String(64)),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("distance", sa.Integer),
        sa.Column("count", sa.Integer),
        sa.Column("reporter", sa.String(200), nullable=False),
        sa.Column("member_id", sa.String(64)),
        sa.Column("envelope_id", sa.String(128)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("match_id", name="uq_media_feedback_match"),
    )
    op.create_index("ix_media_feedback_hash", "media_feedback", ["hash_id"])


def downgrade() -> None:
    for name in ("media_feedback", "media_matches", "media_deliveries", "media_hashes",
                 "media_lists", "media_meta"):
        op.drop_table(name)
