"""Bring a database to the newest schema with Alembic (used by ``init`` and on start)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
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
