"""Bring a database to the newest schema with Alembic (used by ``init`` and on start)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from hanoi.store.db import writer


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "hanoi.store:migrations")
    return cfg


def upgrade(engine: Engine) -> None:
    cfg = alembic_config()
    with writer(engine).connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")  # feature branches may add heads side by side
        conn.commit()


def status(engine: Engine) -> tuple[set[str], set[str]]:
    """(the revisions the database is at, the heads of the migrations this code ships): equal
    when the schema is current (``/readyz``, ``hanoi restore``)."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current, heads
