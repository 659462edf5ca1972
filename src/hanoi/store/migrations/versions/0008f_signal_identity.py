"""Signals from other tools: a report's identity across re-imports, its author and version in
the document it came from, and how its offence was decided (or that it is not classified yet).

- ``report_key``: SHA-256 of (source, creator, external id, type, value); unique, so importing
  the same feed again finds each report and updates it instead of adding a copy. Reports stored
  before this revision have none (they are never matched by a re-import).
- ``external_id`` (the STIX indicator id, MISP attribute uuid, URLhaus link), ``creator`` (the
  organisation the document names as author) and ``version_at`` (STIX ``modified``, MISP
  ``timestamp``): kept so an export names the author and version, not this node.
- ``provenance``: what else a format needs to write the report back (STIX ``created_by_ref``,
  ``created``, ``indicator_types``).
- ``classified_by``: how the offence code was decided (the document, a row of the
  classification table, the importer's default, a person); ``updated_at``: the last re-import
  that changed the report.

A report that is not classified yet has ``abuse_type`` '' (empty): the column stays NOT NULL,
because SQLite can only drop a NOT NULL by rebuilding the table, which the signal links refer to.

Revision ID: 0008f
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanoi.store.tables import UTCDateTime

revision = "0008f"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signal_reports", recreate="never") as batch:
        batch.add_column(sa.Column("report_key", sa.String(64)))
        batch.add_column(sa.Column("external_id", sa.String(200)))
        batch.add_column(sa.Column("creator", sa.String(200)))
        batch.add_column(sa.Column("version_at", UTCDateTime))
        batch.add_column(sa.Column("provenance", sa.JSON))
        batch.add_column(sa.Column("classified_by", sa.String(200)))
        batch.add_column(sa.Column("updated_at", UTCDateTime))
    op.create_index("uq_signal_reports_key", "signal_reports", ["report_key"], unique=True)
    op.create_index("ix_signal_reports_external", "signal_reports", ["external_id"])


def downgrade() -> None:
    op.drop_index("ix_signal_reports_external", table_name="signal_reports")
    op.drop_index("uq_signal_reports_key", table_name="signal_reports")
    with op.batch_alter_table("signal_reports", recreate="never") as batch:
        for name in ("updated_at", "classified_by", "provenance", "version_at", "creator", "external_id",
                     "report_key"):
            batch.drop_column(name)
