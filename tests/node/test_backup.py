"""Backups that restore (issue 17 item 4): `hanoi backup DIR` of a node while a thread keeps
writing, `hanoi restore DIR` into a new home (and, on PostgreSQL, a new empty database), ending
with ledger verify: nothing committed before the backup started is lost, the restored ledger is
the source's up to the head the manifest names, the evidence files are there, the keys open
only with the passphrase."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from hanoi.bootstrap import open_node
from hanoi.cli.main import run
from hanoi.demo import sample_partners
from hanoi.node import members, tokens
from hanoi.node.runtime import Node
from hanoi.requests import custody
from hanoi.requests import service as requests_service
from hanoi.requests.samples import STORED_DATA_FIELDS
from hanoi.store.db import normalise_url
from hanoi.store.tables import api_tokens, evidence, ledger_entries
from tests.conftest import PG_URL


@pytest.fixture
def empty_pg() -> Iterator[str]:
    """A PostgreSQL database with no schema at all, to restore into."""
    assert PG_URL
    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"hanoi_r_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_url(PG_URL)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Writer(threading.Thread):
    """Writes until stopped: a token every turn, an evidence file every third; each write's
    name kept once its unit of work has committed."""

    def __init__(self, node: Node, request_id: str):
        super().__init__(daemon=True)
        self.node, self.request_id = node, request_id
        self.stop = threading.Event()
        self.tokens: list[str] = []
        self.files: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        i = 0
        try:
            while not self.stop.is_set():
                tokens.create(self.node, "writer", name=f"w{i}", role="analyst")
                self.tokens.append(f"w{i}")
                if i % 3 == 0:
                    custody.add(self.node, "writer", self.request_id, name=f"log{i}.txt",
                                stream=io.BytesIO(f"evidence {i}\n".encode()), media_type="text/plain")
                    self.files.append(f"log{i}.txt")
                i += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


def _names(node: Node) -> tuple[set[str], set[str], list[tuple[int, str]]]:
    with node.read() as conn:
        names = set(conn.execute(select(api_tokens.c.name)).scalars())
        files = set(conn.execute(select(evidence.c.name)).scalars())
        chain = [(int(s), str(h)) for s, h in conn.execute(
            select(ledger_entries.c.seq, ledger_entries.c.hash).order_by(ledger_entries.c.seq))]
    return names, files, chain


@pytest.mark.parametrize("method", ["auto", "snapshot"])
def test_backup_during_writes_restores_and_verifies(node: Node, database_url: str, method: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str],
                                                    request: pytest.FixtureRequest) -> None:
    postgres = not database_url.startswith("sqlite")
    if method == "snapshot" and not postgres:
        pytest.skip("SQLite is always copied with its backup API")
    for spec in sample_partners():
        members.add(node, "setup", spec)
    rid = requests_service.create(node, "setup", {"type": "stored-data", "partner": "fr-pharos",
                                                  "direction": "incoming", "fields": STORED_DATA_FIELDS})["id"]
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    writer = Writer(node, rid)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while len(writer.files) < 3 and writer.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        before_tokens, before_files = list(writer.tokens), list(writer.files)
        backup_dir = tmp_path / "backup"
        args = ["--home", str(node.home), "backup", str(backup_dir), "--passphrase-file", str(secret), "--json"]
        assert run([*args, "--method", method] if postgres else args) == 0
        made = json.loads(capsys.readouterr().out)
        during = len(writer.tokens)
        deadline = time.monotonic() + 30
        while len(writer.tokens) < during + 3 and writer.error is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the writer went on during and after the backup
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert before_files, "the writer stored no evidence before the backup"
    expected = {"auto": "pg_dump", "snapshot": "snapshot"}[method] if postgres else "sqlite-backup-api"
    assert made["method"] == expected
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["ledger"]["seq"] == made["ledger_seq"] > 0
    keys_text = (node.home / "identity.key").read_bytes()
    assert keys_text not in (backup_dir / "home.enc").read_bytes()  # the keys only encrypted

    target = tmp_path / "restored"
    restore = ["--home", str(target), "restore", str(backup_dir), "--passphrase-file", str(secret), "--json"]
    if postgres:
        restore += ["--database-url", request.getfixturevalue("empty_pg")]
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    assert run(["--home", str(tmp_path / "nope"), "restore", str(backup_dir), "--passphrase-file", str(wrong)]) == 1
    assert "passphrase does not open" in capsys.readouterr().err
    assert not (tmp_path / "nope").exists()

    assert run(restore) == 0, capsys.readouterr()
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["ledger_verified"] and report["ledger_head_kept"] and not report["missing_evidence"]

    restored = open_node(target)
    try:
        names, files, chain = _names(restored)
        src_names, src_files, src_chain = _names(node)
        # Nothing committed before the backup started is lost.
        assert set(before_tokens) <= names and set(before_files) <= files
        # The restored ledger is the source's, entry for entry, up to the manifest's head
        # (then the restore's own entry).
        head = manifest["ledger"]["seq"]
        assert chain[:head] == src_chain[:head]
        assert chain[head - 1] == (head, manifest["ledger"]["hash"])
        assert [a for (a,) in _actions(restored, head)] == ["node.restored"]
        # And only what the snapshot held: rows written after it are not half there.
        assert names <= src_names and files <= src_files
        for name in before_files:
            with restored.read() as conn:
                digest = conn.execute(select(evidence.c.sha256).where(evidence.c.name == name)).scalar_one()
            assert restored.blobs.path(digest).read_bytes() == node.blobs.path(digest).read_bytes()
        assert restored.node_id == node.node_id
        assert (target / "identity.key").read_bytes() == keys_text
        assert oct((target / "identity.key").stat().st_mode & 0o777) == "0o600"
    finally:
        restored.close()
    assert run(["--home", str(target), "ledger", "verify"]) == 0
    # A new token works on the restored node (serial ids and sequences carry on).
    restored = open_node(target)
    try:
        tokens.create(restored, "test", name="after-restore", role="auditor")
        custody.add(restored, "test", rid, name="after-restore.txt", stream=io.BytesIO(b"new\n"))
    finally:
        restored.close()


def _actions(node: Node, after: int) -> list[tuple[str]]:
    with node.read() as conn:
        return [(str(a),) for a in conn.execute(select(ledger_entries.c.action)
                                               .where(ledger_entries.c.seq > after)).scalars()]


def test_backup_refuses_without_passphrase_and_into_a_full_folder(node: Node, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANOI_BACKUP_PASSPHRASE", raising=False)
    assert run(["--home", str(node.home), "backup", str(tmp_path / "b")]) == 1
    assert "no passphrase" in capsys.readouterr().err
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    monkeypatch.setenv("HANOI_BACKUP_PASSPHRASE", "pass phrase")
    assert run(["--home", str(node.home), "backup", str(full)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert run(["--home", str(node.home), "backup", str(tmp_path / "ok")]) == 0
    # An altered backup is refused before anything is written.
    db = next(p for p in (tmp_path / "ok").iterdir() if p.name.startswith("database."))
    db.write_bytes(db.read_bytes() + b"x")
    assert run(["--home", str(tmp_path / "r"), "restore", str(tmp_path / "ok")]) == 1
    assert "altered" in capsys.readouterr().err
