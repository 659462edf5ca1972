"""Fixtures: a node on SQLite and, when HANOI_TEST_DATABASE_URL is set, on PostgreSQL too."""

from __future__ import annotations

import atexit
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from hanoi.store.db import normalise_url

PG_URL = os.environ.get("HANOI_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for one test (on PostgreSQL, already migrated)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'node.db'}"
    return _pg_database()


@pytest.fixture(params=BACKENDS)
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """Two fresh databases, for two nodes in one test."""
    if request.param == "sqlite":
        return [f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"]
    return [_pg_database(), _pg_database()]


def _pg_database() -> str:
    assert PG_URL
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"hanoi_t_{uuid.uuid4().hex[:12]}"
    try:
        template = _migrated_template(admin)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()
    # Dropped at the end of the session: DROP DATABASE forces a checkpoint, and one per test
    # would flush each test's writes to disk one by one.
    _TO_DROP.append(name)
    return make_url(normalise_url(PG_URL)).set(database=name).render_as_string(hide_password=False)


_TEMPLATE: list[str] = []
_TO_DROP: list[str] = []


def _migrated_template(admin: Engine) -> str:
    """A database migrated once per test session; each test copies it (CREATE DATABASE ...
    TEMPLATE), which is far quicker than running every migration again."""
    if _TEMPLATE:
        return _TEMPLATE[0]
    from hanoi.store.db import make_engine
    from hanoi.store.migrate import upgrade

    name = f"hanoi_tmpl_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(normalise_url(PG_URL or "")).set(database=name)
                         .render_as_string(hide_password=False), pool=False)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    _TEMPLATE.append(name)
    _TO_DROP.append(name)
    atexit.register(_drop_all)
    return name


def _drop_all() -> None:
    admin = create_engine(normalise_url(PG_URL or ""), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in reversed(_TO_DROP):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
