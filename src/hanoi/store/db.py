"""Engines for SQLite (WAL, embedded default) and PostgreSQL (production).

SQLite write transactions start with ``BEGIN IMMEDIATE`` so that a transaction which read the
ledger head cannot later fail to upgrade to a writer (SQLITE_BUSY_SNAPSHOT in WAL mode):
writers queue on the database lock for ``busy_timeout`` instead. Read-only work uses a plain
deferred ``BEGIN`` and never blocks writers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

WRITE_OPTION = "hanoi_write"


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url_or_engine: str | Engine) -> bool:
    name = url_or_engine if isinstance(url_or_engine, str) else url_or_engine.url.drivername
    return str(name).startswith("sqlite")


def make_engine(url: str, *, pool: bool = True) -> Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=None if pool else NullPool,
            # A Connection already rolls back whatever it left open when it closes; a second
            # rollback on return to the pool costs a driver call on every transaction.
            pool_reset_on_return=None,
        )
        _configure_sqlite(engine)
        return engine
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not pool:
        kwargs["poolclass"] = NullPool
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable in WAL mode across application crashes; only an OS crash may
        # lose the last transactions, never corrupt the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Straight to the driver: this runs once per transaction, on every change.
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that its transactions take the write lock at BEGIN."""
    return engine.execution_options(**{WRITE_OPTION: True})
