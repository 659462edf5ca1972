"""Table definitions (SQLAlchemy Core). Alembic migrations under ``migrations/`` create them.

Core rather than the ORM: every write is a short explicit statement inside the unit of work,
which keeps a ledgered change to a handful of statements and the hot paths fast.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite keeps no zone, so we restore it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

members = Table(
    "members",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("country", String(2), nullable=False),
    Column("state_status", String(16), nullable=False),
    Column("endpoint", String(500)),
    Column("languages", JSON, nullable=False),
    Column("available_24_7", Boolean, nullable=False, default=False),
    Column("contacts", JSON, nullable=False),
    Column("other_treaties", JSON, nullable=False),
    Column("standing", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

member_keys = Table(
    "member_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_id", String(64), ForeignKey("members.id"), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("public_key", String(100), nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("not_after", UTCDateTime),
    Column("added_at", UTCDateTime, nullable=False),
    UniqueConstraint("member_id", "key_id", name="uq_member_keys_member_key"),
)

assessments = Table(
    "assessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("member_id", String(64), ForeignKey("members.id"), nullable=False),
    Column("standing", String(16), nullable=False),
    Column("assessor", String(200), nullable=False),
    Column("assessed_at", UTCDateTime, nullable=False),
    Column("findings", Text, nullable=False),
    Column("articles", JSON, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_assessments_member", "member_id", "id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("member_id", String(64), ForeignKey("members.id")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("decision", String(32)),
    # Canonical JSON text, kept verbatim so verification re-hashes exactly what was written.
    Column("reasons", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("payload_digest", String(71), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The auditor's window filters by each of these and pages newest first by seq (0007):
    # each index ends in seq, so a filtered page is one index range read backwards.
    Index("ix_ledger_subject_seq", "subject", "seq"),
    Index("ix_ledger_actor_seq", "actor", "seq"),
    Index("ix_ledger_action_seq", "action", "seq"),
    Index("ix_ledger_decision_seq", "decision", "seq"),
)

users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    # argon2id, in the PHC string format (parameters and salt included).
    Column("password_hash", String(200), nullable=False),
    Column("language", String(8)),
    Column("time_zone", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    # SHA-256 of the cookie's secret: a copy of this table signs no one in.
    Column("id", String(64), primary_key=True),
    Column("username", String(64), ForeignKey("users.username")),
    Column("token_id", String(32), ForeignKey("api_tokens.id")),
    Column("language", String(8)),
    Column("time_zone", String(64)),
    Column("address", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_console_sessions_user", "username"),
    Index("ix_console_sessions_expires", "expires_at"),
)

sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    # "user:NAME" or "address:IP": consecutive failed sign-ins and the lock they earned.
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=False),
)

console_jobs = Table(
    "console_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("done", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("result", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("ts", String(32), nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    # outgoing: this node asks the partner; incoming: the partner asks this node.
    Column("direction", String(8), nullable=False),
    Column("partner_id", String(64), ForeignKey("members.id"), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("deadline_profiles", JSON),
    # The requested side's assessment the gate needs (dual criminality, confidentiality...).
    Column("assessment", JSON, nullable=False),
    Column("review", JSON),
    Column("decision", JSON),
    Column("preservation", JSON),
    Column("response", JSON),
    Column("remote_id", String(80)),
    Column("started_at", UTCDateTime),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_requests_state", "state"),
    Index("ix_requests_partner", "partner_id"),
    # The console's keyset pages (0009d): each list newest first, and filtered by one column.
    Index("ix_requests_desk", "direction", "created_at", "id"),
    Index("ix_requests_desk_state", "direction", "state", "created_at", "id"),
    Index("ix_requests_desk_type", "direction", "type", "created_at", "id"),
    Index("ix_requests_desk_partner", "direction", "partner_id", "created_at", "id"),
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(40), ForeignKey("requests.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(127), nullable=False),
    Column("description", Text, nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    UniqueConstraint("request_id", "name", name="uq_evidence_request_name"),
)

# --- federation: outbox, inbox and peers (migration 0003) -------------------------------------

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(64), primary_key=True),  # the envelope id, kept across retries
    Column("recipient", String(64), ForeignKey("members.id"), nullable=False),
    Column("type", String(64), nullable=False),
    Column("subject", String(300), nullable=False),  # ledger subject of the row's entries
    Column("answers", String(128)),
    Column("payload", JSON, nullable=False),
    # pending | held | delivered | rejected | refused | failed (see node/outbox.py)
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Column("rule", String(64)),
    Column("decision", JSON),
    Column("receipt", Text),  # the peer's signed receipt, as received
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    # node.wings.Priority: 0 urgent (24/7), 1 casework, 2 bulk; claimed lowest first (0009).
    Column("priority", SmallInteger, nullable=False, server_default="1"),
    Index("ix_outbox_due", "state", "next_attempt_at"),
    Index("ix_outbox_claim_order", "priority", "created_at", "id"),
    Index("ix_outbox_recipient", "recipient", "state"),
    # In-order delivery per subject: an earlier open row of the same subject and peer (0006).
    Index("ix_outbox_subject_open", "subject", "recipient", "state", "id"),
)

# --- ledgers that peers witness (migration 0007) ------------------------------------------------

# Heads of peers' ledgers this node witnessed, with the peer's signature over each: every
# checkpoint a peer sent (source 'checkpoint') and the newest head in its receipts ('receipt',
# one row per peer, replaced as it moves on). Nothing else of a peer's ledger is ever known here.
witnessed_heads = Table(
    "witnessed_heads",
    metadata,
    Column("node", String(64), primary_key=True),
    Column("source", String(16), primary_key=True),  # checkpoint | receipt
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("key_id", String(128), nullable=False),
    Column("signature", Text, nullable=False),  # hex (checkpoint) or the signed receipt (JSON)
    Column("received_at", UTCDateTime, nullable=False),
)

inbox = Table(
    "inbox",
    metadata,
    Column("sender", String(64), primary_key=True),
    Column("envelope_id", String(128), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("answers", String(128)),
    Column("content_digest", String(71), nullable=False),
    Column("status", String(16), nullable=False),  # accepted | rejected
    Column("rule", String(64)),
    Column("envelope", Text, nullable=False),  # the signed envelope as received (proof of origin)
    Column("receipt", Text, nullable=False),  # the signed receipt as sent, returned on a repeat
    Column("ledger_seq", BigInteger, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_inbox_received", "received_at"),
)

peers = Table(
    "peers",
    metadata,
    Column("id", String(64), primary_key=True),  # the peer's node id (its member id once trusted)
    Column("url", String(500), nullable=False),
    Column("descriptor", Text, nullable=False),  # the last signed descriptor fetched (JWS JSON)
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("fingerprint", String(64)),  # the fingerprint a person confirmed out of band
    Column("trusted_at", UTCDateTime),
    Column("trusted_by", String(200)),
)

# --- media hash lists (migration 0003m) -------------------------------------------------------

# SQLite makes only an INTEGER PRIMARY KEY auto-increment; PostgreSQL gets a 64-bit key.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

# One row: the version of everything matching depends on (``rev``, bumped by each write that
# changes which hashes are active) and the store's identity (``epoch``), so an index snapshot
# of another or an older store is caught up or rebuilt rather than trusted.
media_meta = Table(
    "media_meta",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("rev", BigInteger, nullable=False),
    Column("epoch", String(32), nullable=False),
)

media_lists = Table(
    "media_lists",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(16), nullable=False),  # ncii | csam
    Column("threshold", Integer, nullable=False),  # PDQ Hamming distance counted as a match
    Column("tlp", String(16), nullable=False),
    Column("recipients", JSON, nullable=False),  # members named as allowed recipients (TLP)
    Column("subscribers", JSON, nullable=False),  # members the list is distributed to
    Column("spike_matches", Integer, nullable=False),  # quarantine above this many matches ...
    Column("spike_minutes", Integer, nullable=False),  # ... within this many minutes
    Column("origin", String(64)),  # None: this node's list; else the member it came from
    Column("remote_id", String(64)),  # the origin's id for the list
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("origin", "remote_id", name="uq_media_lists_origin_remote"),
)

media_hashes = Table(
    "media_hashes",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),  # the PDQ index's item id
    Column("list_id", String(40), ForeignKey("media_lists.id"), nullable=False),
    Column("algorithm", String(8), nullable=False),  # pdq | md5 | sha256
    Column("value", String(64)),  # lower-case hex; blanked when withdrawn or deleted
    Column("digest", String(64), nullable=False),  # sha256("algorithm:value"), kept for good
    Column("quality", Integer),
    Column("case_ref", String(64)),  # the source's opaque case reference (local lists only)
    Column("status", String(16), nullable=False),  # active | quarantined | withdrawn | deleted
    Column("status_at", UTCDateTime, nullable=False),
    Column("status_by", String(200), nullable=False),
    Column("status_reason", Text),
    Column("source", String(64), nullable=False),  # node id (local) or the sending member
    Column("remote_id", String(64)),  # the source's id for the hash (received hashes)
    Column("rev", BigInteger, nullable=False),  # media_meta.rev of the last status change
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("list_id", "digest", name="uq_media_hashes_list_digest"),
    Index("ix_media_hashes_digest", "digest"),
    Index("ix_media_hashes_value", "algorithm", "value"),
    Index("ix_media_hashes_rev", "rev"),
    Index("ix_media_hashes_source", "source", "remote_id"),
    Index("ix_media_hashes_case", "list_id", "case_ref"),
)

media_deliveries = Table(
    "media_deliveries",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("hash_id", BigInteger, ForeignKey("media_hashes.id"), nullable=False),
    Column("recipient", String(64), ForeignKey("members.id"), nullable=False),
    Column("envelope_id", String(128)),
    Column("delivered_at", UTCDateTime, nullable=False),
    Column("withdrawn_at", UTCDateTime),
    UniqueConstraint("hash_id", "recipient", name="uq_media_deliveries_hash_recipient"),
    Index("ix_media_deliveries_recipient", "recipient"),
)

media_matches = Table(
    "media_matches",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("hash_id", BigInteger, ForeignKey("media_hashes.id"), nullable=False),
    Column("count", Integer, nullable=False),  # queries of one call that matched the hash
    Column("distance", Integer, nullable=False),  # the closest of them
    Column("matched_at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("member_id", String(64)),
    Index("ix_media_matches_hash", "hash_id", "matched_at"),
)

media_feedback = Table(
    "media_feedback",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("hash_id", BigInteger, ForeignKey("media_hashes.id"), nullable=False),
    Column("match_id", BigInteger),  # a local match (one verdict each)
    Column("match_ref", String(64)),  # the reporting member's match id (received feedback)
    Column("verdict", String(16), nullable=False),
    Column("distance", Integer),
    Column("count", Integer),
    Column("reporter", String(200), nullable=False),
    Column("member_id", String(64)),  # the reporting member (received), or the token's member
    Column("envelope_id", String(128)),  # forwarded to the source / received in
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("match_id", name="uq_media_feedback_match"),
    Index("ix_media_feedback_hash", "hash_id"),
)

# --- signals: values, their reports, campaign links, feedback (migration 0003s) -----------------

# SQLite makes only an INTEGER PRIMARY KEY an auto-incrementing rowid; PostgreSQL gets BIGINT.
SignalId = BigInteger().with_variant(Integer(), "sqlite")

signals = Table(
    "signals",
    metadata,
    Column("id", SignalId, primary_key=True, autoincrement=True),
    Column("type", String(16), nullable=False),
    Column("value", Text, nullable=False),  # normalised; at most 2048 characters
    # SHA-256 of "type\0value": the unique key, and what the ledger names (never the value).
    Column("digest", String(64), nullable=False, unique=True),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

signal_reports = Table(
    "signal_reports",
    metadata,
    Column("id", SignalId, primary_key=True, autoincrement=True),
    Column("signal_id", SignalId, ForeignKey("signals.id"), nullable=False),
    Column("source", String(64), nullable=False),  # reporting member, or this node's id
    Column("origin", String(8), nullable=False),  # local | received (through federation)
    Column("via", String(64)),  # the peer it was received from
    Column("remote_id", String(128)),  # the report's id at the peer (idempotent receipt)
    # An offence code; '' while not classified (0008f: imports from other tools may carry none).
    Column("abuse_type", String(16), nullable=False),
    Column("confidence", Integer, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("tlp", String(16), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("conditions", Text, nullable=False),
    Column("recipients", JSON, nullable=False),  # named by the originator
    Column("named", JSON, nullable=False),  # named by this node (AMBER need-to-know)
    Column("consent", Boolean, nullable=False),  # originator's consent to onward transfer
    Column("batch", String(40)),
    Column("reported_by", String(200), nullable=False),
    Column("reported_at", UTCDateTime, nullable=False),
    # Identity across re-imports and tools (0008f): SHA-256 of (source, creator, external id,
    # type, value); the document's own id, author and version; how the offence was decided.
    Column("report_key", String(64)),
    Column("external_id", String(200)),
    Column("creator", String(200)),
    Column("version_at", UTCDateTime),
    Column("provenance", JSON),
    Column("classified_by", String(200)),
    Column("updated_at", UTCDateTime),
    Index("ix_signal_reports_signal", "signal_id"),
    Index("uq_signal_reports_key", "report_key", unique=True),
    Index("ix_signal_reports_external", "external_id"),
    Index("ix_signal_reports_source", "source", "id"),
    Index("ix_signal_reports_added", "reported_at", "id"),  # TAXII keyset pages (0004t)
    UniqueConstraint("via", "remote_id", name="uq_signal_reports_remote"),
)

signal_links = Table(
    "signal_links",
    metadata,
    Column("id", SignalId, primary_key=True, autoincrement=True),
    Column("a", SignalId, ForeignKey("signals.id"), nullable=False),
    Column("b", SignalId, ForeignKey("signals.id"), nullable=False),
    Column("report_id", SignalId, ForeignKey("signal_reports.id"), nullable=False),
    UniqueConstraint("a", "b", "report_id", name="uq_signal_links"),
)

signal_feedback = Table(
    "signal_feedback",
    metadata,
    Column("id", SignalId, primary_key=True, autoincrement=True),
    Column("signal_id", SignalId, ForeignKey("signals.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # sighting | false-positive
    Column("member", String(64), nullable=False),  # who saw it (a member, or this node)
    Column("count", Integer, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    Column("note", Text, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_signal_feedback_signal", "signal_id"),
)

# --- feeds pulled on a schedule (migration 0009_feeds) -------------------------------------------

# A feed: where to pull from (URL or folder), its format, how often, what to stamp on its
# entries, and where it stands (its checkpoint: TAXII added_after, MISP manifest timestamps,
# HTTP ETag / Last-Modified, a file's digest), its next run and its failures.
feeds = Table(
    "feeds",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text),
    Column("path", Text),
    Column("format", String(16), nullable=False),
    Column("every_seconds", Integer, nullable=False),
    Column("tlp", String(16), nullable=False),
    Column("offence", String(32)),
    Column("source", String(64), ForeignKey("members.id")),
    Column("token_env", String(64)),  # the environment variable holding the feed's token
    Column("paused", Boolean, nullable=False),
    Column("checkpoint", JSON, nullable=False),
    Column("next_run_at", UTCDateTime, nullable=False),
    Column("last_run_at", UTCDateTime),
    Column("last_ok_at", UTCDateTime),
    Column("last_error", Text),
    Column("failures", Integer, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_feeds_due", "paused", "next_run_at"),
)

# One holder at a time across processes and machines: the feed runner takes the 'feeds' lease
# (a row updated only when free or already its own) and renews it while it runs.
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("until", UTCDateTime, nullable=False),
)

# --- alerts (migration 0010_alerts) --------------------------------------------------------------

# Who wants to know what, and how: an event, a channel (webhook), a target, the secret that
# signs each delivery, and the role whose view the alert carries (never more than it may see).
alert_subscriptions = Table(
    "alert_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("event", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", Text, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_alert_subscriptions_event", "event"),
)

# Alerts waiting to be delivered: written in the unit of work of the event itself (never lost
# on a crash), sent and retried like the outbox.
alert_queue = Table(
    "alert_queue",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("subscription_id", Integer, ForeignKey("alert_subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index("ix_alert_queue_due", "state", "next_attempt_at"),
)
