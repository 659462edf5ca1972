"""`hanoi init`: the node's home, key, database, first admin token."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import inspect

from hanoi.bootstrap import init_node, open_node
from hanoi.cli.main import run
from hanoi.core.errors import Conflict, InvalidInput
from hanoi.node import ledger, tokens
from hanoi.node.runtime import Node


def test_init_creates_home_key_database_and_admin_token(node_home: Path, database_url: str) -> None:
    node, admin = init_node(node_home, name="UK Central Authority", country="gb",
                            kind="central-authority", database_url_=database_url)
    try:
        assert (node_home / "config.yaml").exists()
        key_mode = stat.S_IMODE((node_home / "identity.key").stat().st_mode)
        assert key_mode == 0o600
        assert node.config.country == "GB"
        tables = set(inspect(node.engine).get_table_names())
        assert {"members", "ledger_entries", "ledger_checkpoints", "api_tokens", "alembic_version"} <= tables
        principal = tokens.authenticate(node, admin)
        assert principal.role.value == "admin"
        # the token is stored only as a digest
        with node.read() as conn:
            stored = conn.exec_driver_sql("SELECT token_hash FROM api_tokens").scalars().all()
        assert admin not in stored and tokens.digest(admin) in stored
        result = ledger.verify(node)
        assert result.ok and result.count == 3  # node.init, policy.init, token.create
    finally:
        node.close()


def test_sqlite_runs_in_wal_mode(node: Node) -> None:
    if node.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with node.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_init_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "n"
    with pytest.raises(InvalidInput) as err:
        init_node(home, name="", country="XY1", kind="bank")
    fields = {p.field for p in err.value.problems}
    assert fields == {"name", "country", "kind"}
    assert not home.exists()


def test_init_refuses_to_overwrite(node: Node) -> None:
    with pytest.raises(Conflict):
        init_node(node.home, name="Other", country="FR", kind="cert")


def test_cli_init_prints_token_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "cli-node"
    code = run(["--home", str(home), "init", "--name", "Helpline", "--country", "GB", "--kind", "hotline"])
    out = capsys.readouterr().out
    assert code == 0
    token = next(line for line in out.splitlines() if line.startswith("hx_"))
    node = open_node(home)
    try:
        assert tokens.authenticate(node, token).role.value == "admin"
    finally:
        node.close()
    assert run(["--home", str(home), "init", "--name", "Again", "--country", "GB", "--kind", "hotline"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_cli_init_unknown_kind_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["--home", str(tmp_path / "x"), "init", "--name", "N", "--country", "ZX", "--kind", "bank"])
    err = capsys.readouterr().err
    assert code == 1
    assert "kind: 'bank' is not one of" in err
    assert "country: 'ZX' is not an assigned ISO 3166-1 alpha-2 code" in err


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HANOI_HOME", str(tmp_path / "env-node"))
    assert run(["init", "--name", "CERT", "--country", "VN", "--kind", "cert"]) == 0
    assert (tmp_path / "env-node" / "config.yaml").exists()
    capsys.readouterr()
    assert run(["ledger", "verify"]) == 0
    assert capsys.readouterr().out.startswith("ledger ok: 3 entries, head ")
