"""Backups that restore: ``hanoi backup DIR`` of a running node, ``hanoi restore DIR``.

A backup folder holds:

- ``manifest.json``: the node, when, how the database was copied (``method``), the schema's
  Alembic heads, the **ledger head inside the copy** (its sequence number and hash), and the
  SHA-256 of every other file of the folder;
- the database, copied online, in one consistent snapshot, while the node keeps writing:
  ``database.sqlite`` (SQLite's backup API, ``sqlite-backup-api``), ``database.pgdump``
  (PostgreSQL's ``pg_dump -Fc`` of a snapshot exported from a REPEATABLE READ transaction in
  which the ledger head is read, ``pg_dump``) or, where ``pg_dump`` is not on PATH,
  ``database.jsonl.gz`` (every table read by SQLAlchemy in one REPEATABLE READ transaction,
  ``snapshot``);
- ``evidence/``: the evidence store, copied after the database snapshot (files are stored
  before the rows naming them commit, so every file the copy names is there; each is checked
  against its SHA-256 on restore);
- ``home.enc``: the rest of the node's home (``config.yaml``, ``identity.key``, the retired
  keys, ``policy.yaml``) as a tar archive encrypted with a passphrase: scrypt (n=2^15, r=8,
  p=1) derives a 256-bit key, AES-256-GCM encrypts (``cryptography``), the manifest's node id
  and creation time as associated data. A wrong passphrase or an edited file fails to open.

``restore`` writes a new home from a backup (refusing a folder that is not empty), loads the
database (the node's SQLite file, or an empty PostgreSQL database given by URL), brings the
schema to this code's head, and ends with ``ledger verify``: the chain must verify and its head
must be the one the manifest recorded, or the restore says so and fails.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import Engine, Integer, func, select, text
from sqlalchemy.engine import Connection, make_url

from hanoi.config import DB_FILE, load_config, save_config
from hanoi.core.clock import isoformat, utcnow
from hanoi.core.errors import Conflict, InvalidInput, Problem
from hanoi.core.ledger import GENESIS
from hanoi.store.blobs import BlobStore
from hanoi.store.db import is_sqlite, make_engine, normalise_url, writer
from hanoi.store.migrate import alembic_config, status, upgrade
from hanoi.store.tables import evidence, metadata

FORMAT = "hanoi-backup/1"
MANIFEST = "manifest.json"
HOME_ARCHIVE = "home.enc"
EVIDENCE_DIR = "evidence"
PASSPHRASE_ENV = "HANOI_BACKUP_PASSPHRASE"  # noqa: S105  (the variable's name, not a secret)
SCRYPT = {"n": 2 ** 15, "r": 8, "p": 1}
METHODS = ("auto", "pg_dump", "snapshot")
_DB_FILES = {DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", f"{DB_FILE}-journal"}
_BATCH = 1000


class BackupError(InvalidInput):
    """A backup or restore that cannot go on, naming what is wrong (one CLI line, exit 1)."""

    def __init__(self, detail: str, field: str = "backup"):
        super().__init__(detail, [Problem(field, detail)])


@dataclass(frozen=True)
class Made:
    directory: Path
    method: str
    ledger_seq: int
    ledger_hash: str
    evidence_files: int
    bytes: int


# --- encryption of the home ------------------------------------------------------------------


def _key(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    if not passphrase:
        raise BackupError("the passphrase is empty", "passphrase")
    return Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"]).derive(
        passphrase.encode("utf-8"))


def seal(data: bytes, passphrase: str, associated: bytes) -> bytes:
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = AESGCM(_key(passphrase, salt, SCRYPT)).encrypt(nonce, data, associated)
    return json.dumps({"kdf": "scrypt", **SCRYPT, "cipher": "AES-256-GCM",
                       "salt": base64.b64encode(salt).decode(), "nonce": base64.b64encode(nonce).decode(),
                       "ciphertext": base64.b64encode(sealed).decode()}).encode()


def unseal(blob: bytes, passphrase: str, associated: bytes) -> bytes:
    try:
        doc = json.loads(blob)
        params = {k: int(doc[k]) for k in ("n", "r", "p")}
        salt, nonce, sealed = (base64.b64decode(doc[k]) for k in ("salt", "nonce", "ciphertext"))
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"{HOME_ARCHIVE} is not an encrypted home archive", HOME_ARCHIVE) from None
    if doc.get("kdf") != "scrypt" or doc.get("cipher") != "AES-256-GCM" or params["n"] > 2 ** 20:
        raise BackupError(f"{HOME_ARCHIVE} uses an unknown encryption", HOME_ARCHIVE)
    try:
        return AESGCM(_key(passphrase, salt, params)).decrypt(nonce, sealed, associated)
    except InvalidTag:
        raise BackupError("the passphrase does not open the keys (or the backup was altered)",
                          "passphrase") from None


def _home_tar(home: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(home.rglob("*")):
            rel = path.relative_to(home)
            if rel.parts[0] == EVIDENCE_DIR or rel.name in _DB_FILES or not path.is_file() \
                    or rel.name.endswith(".tmp"):
                continue
            tar.add(path, arcname=str(rel), recursive=False)
    return buf.getvalue()


def _untar_home(data: bytes, home: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(home, filter="data")  # no absolute paths, links out or devices
    for path in home.rglob("*"):
        if path.is_file() and (path.suffix == ".key"):
            path.chmod(0o600)


# --- the database ----------------------------------------------------------------------------


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory database cannot be backed up", "database")
    return Path(database)


def _backup_sqlite(engine: Engine, out: Path) -> tuple[int, str]:
    """SQLite's online backup API: a consistent copy while writers go on (WAL), then the
    ledger head read from the copy itself."""
    target = out / "database.sqlite"
    src = sqlite3.connect(_sqlite_path(engine), timeout=60)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, one snapshot
    finally:
        dst.close()
        src.close()
    copy = sqlite3.connect(target)
    try:
        row = copy.execute("SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        copy.close()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def _libpq_url(engine: Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def _repeatable_read(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET TRANSACTION READ ONLY"))
            yield conn


def _head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(text("SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1")).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def _backup_pg_dump(engine: Engine, out: Path, pg_dump: str) -> tuple[int, str]:
    """pg_dump of the snapshot a REPEATABLE READ transaction exports, the ledger head read in
    that same transaction: the dump holds exactly the entries up to that head."""
    with _repeatable_read(engine) as conn:
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        head = _head(conn)
        argv = [pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                "--file", str(out / "database.pgdump"), "--dbname", _libpq_url(engine)]
        done = subprocess.run(argv,  # noqa: S603  (our arguments, no shell)
                              capture_output=True, text=True, timeout=24 * 3600, check=False)
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise BackupError(f"pg_dump failed: {why}", "database")
    return head


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, decimal.Decimal):
        return {"$n": str(value)}
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)).startswith("$"):
            return {"$o": {k: _encode(v) for k, v in value.items()}}
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            (k, v), = value.items()
            if k == "$dt":
                return dt.datetime.fromisoformat(v)
            if k == "$d":
                return dt.date.fromisoformat(v)
            if k == "$b":
                return base64.b64decode(v)
            if k == "$n":
                return decimal.Decimal(v)
            if k == "$o":
                return {kk: _decode(vv) for kk, vv in v.items()}
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _backup_snapshot(engine: Engine, out: Path) -> tuple[int, str]:
    return _dump(engine, out / "database.jsonl.gz")


def _dump(engine: Engine, target: Path) -> tuple[int, str]:
    """Every table, in one REPEATABLE READ transaction, as JSON lines (``{"table": name}``
    then one line per row): what ``pg_dump`` would give, read by SQLAlchemy; the ledger head
    read in the same transaction."""
    with _repeatable_read(engine) as conn, gzip.open(target, "wt", encoding="utf-8") as fh:
        head = _head(conn)
        for table in metadata.sorted_tables:
            fh.write(json.dumps({"table": table.name}) + "\n")
            key = list(table.primary_key.columns) or list(table.columns)
            for row in conn.execute(select(table).order_by(*key)).mappings().yield_per(_BATCH):
                fh.write(json.dumps(_encode(dict(row)), separators=(",", ":")) + "\n")
    return head


def _restore_snapshot(engine: Engine, source: Path) -> None:
    tables = {t.name: t for t in metadata.sorted_tables}
    with writer(engine).begin() as conn, gzip.open(source, "rt", encoding="utf-8") as fh:
        for t in reversed(metadata.sorted_tables):  # rows the migrations seeded: the copy has them
            conn.execute(t.delete())
        table = None
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            if table is not None and batch:
                conn.execute(table.insert(), batch)
                batch.clear()

        for line in fh:
            doc = json.loads(line)
            if set(doc) == {"table"}:
                flush()
                table = tables.get(doc["table"])
                if table is None:
                    raise BackupError(f"the snapshot names a table this code does not know: {doc['table']!r}")
                continue
            batch.append(_decode(doc))
            if len(batch) >= _BATCH:
                flush()
        flush()
        if conn.dialect.name == "postgresql":  # serial ids go on after the restored ones
            for t in metadata.sorted_tables:
                for c in t.primary_key.columns:
                    if isinstance(c.type, Integer) and c.autoincrement in (True, "auto"):
                        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                           {"t": t.name, "c": c.name}).scalar()
                        if seq:
                            top = conn.execute(select(func.max(c))).scalar()
                            conn.execute(text("SELECT setval(:s, :v, :called)"),
                                         {"s": seq, "v": top or 1, "called": top is not None})


def _schema_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not engine.dialect.get_table_names(conn)


# --- backup ----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _prepare_dir(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        raise Conflict(f"{directory} is not empty: a backup goes into a new folder")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def backup(home: Path, engine: Engine, blobs: BlobStore, node_id: str, directory: Path,
           passphrase: str, *, method: str = "auto",
           which: Callable[[str], str | None] = shutil.which) -> Made:
    """Back up a running node's home into ``directory`` (new or empty)."""
    if method not in METHODS:
        raise BackupError(f"unknown method {method!r}: one of {', '.join(METHODS)}", "method")
    _prepare_dir(directory)
    created = isoformat(utcnow())
    if is_sqlite(engine):
        if method != "auto":
            raise BackupError("a SQLite node is copied with SQLite's backup API: no --method", "method")
        used = "sqlite-backup-api"
        seq, head_hash = _backup_sqlite(engine, directory)
    else:
        pg_dump = which("pg_dump") if method in ("auto", "pg_dump") else None
        if method == "pg_dump" and pg_dump is None:
            raise BackupError("pg_dump is not on PATH (install postgresql-client, or use --method snapshot)",
                              "method")
        if pg_dump is not None:
            used = "pg_dump"
            seq, head_hash = _backup_pg_dump(engine, directory, pg_dump)
        else:
            used = "snapshot"
            seq, head_hash = _backup_snapshot(engine, directory)
    heads = sorted(status(engine)[1])
    # Evidence after the snapshot: every file a committed row names is already stored.
    count = 0
    source = blobs.root / "sha256"
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and len(path.name) == 64:
                target = directory / EVIDENCE_DIR / path.relative_to(blobs.root)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                shutil.copy2(path, target)
                count += 1
    associated = f"{FORMAT}:{node_id}:{created}".encode()
    (directory / HOME_ARCHIVE).write_bytes(seal(_home_tar(home), passphrase, associated))
    files = {str(p.relative_to(directory)): _sha256(p) for p in sorted(directory.rglob("*"))
             if p.is_file() and p.name != MANIFEST and p.parts[len(directory.parts)] != EVIDENCE_DIR}
    manifest = {"format": FORMAT, "node_id": node_id, "created_at": created, "method": used,
                "database": "sqlite" if is_sqlite(engine) else "postgresql", "migrations": heads,
                "ledger": {"seq": seq, "hash": head_hash}, "evidence_files": count, "files": files}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    return Made(directory, used, seq, head_hash, count, size)


# --- restore ---------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory} is not a backup: it has no {MANIFEST}", "directory")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise BackupError(f"{path} is not JSON", "manifest") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a {FORMAT} manifest", "manifest")
    for name, digest in manifest.get("files", {}).items():
        f = directory / name
        if not f.is_file() or _sha256(f) != digest:
            raise BackupError(f"{name} is missing or altered (its SHA-256 is not the manifest's)", name)
    return manifest


def restore(directory: Path, home: Path, passphrase: str, *, database_url: str | None = None) -> dict[str, Any]:
    """Write a new home at ``home`` from the backup in ``directory`` and load its database
    (``database_url``: an empty PostgreSQL database; default: the node's SQLite file)."""
    manifest = read_manifest(directory)
    associated = f"{FORMAT}:{manifest['node_id']}:{manifest['created_at']}".encode()
    archive = unseal((directory / HOME_ARCHIVE).read_bytes(), passphrase, associated)
    if home.exists() and any(home.iterdir()):
        raise Conflict(f"{home} is not empty: a node is restored into a new folder")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    _untar_home(archive, home)
    config = load_config(home)
    config.database_url = database_url
    save_config(home, config)
    url = database_url or f"sqlite:///{home / DB_FILE}"
    method = manifest["method"]
    if manifest["database"] == "sqlite" and database_url and not is_sqlite(normalise_url(database_url)):
        method = "sqlite-to-postgresql"  # read the SQLite copy, write through SQLAlchemy
    engine = make_engine(normalise_url(url), pool=False)
    try:
        if not _schema_empty(engine):
            raise Conflict("the target database is not empty: restore into a new database")
        if method == "sqlite-backup-api":
            engine.dispose()
            shutil.copyfile(directory / "database.sqlite", home / DB_FILE)
            engine = make_engine(normalise_url(url), pool=False)
        elif method == "pg_dump":
            if is_sqlite(engine):
                raise BackupError("a pg_dump backup restores into PostgreSQL: give --database-url", "database_url")
            tool = shutil.which("pg_restore")
            if tool is None:
                raise BackupError("pg_restore is not on PATH (install postgresql-client)", "database")
            argv = [tool, "--no-owner", "--no-privileges", "--exit-on-error", "--dbname",
                    _libpq_url(engine), str(directory / "database.pgdump")]
            done = subprocess.run(argv,  # noqa: S603  (our arguments, no shell)
                                  capture_output=True, text=True, timeout=24 * 3600, check=False)
            if done.returncode != 0:
                raise BackupError(f"pg_restore failed: {done.stderr.strip()[-300:]}", "database")
        else:
            _load_through_alembic(engine, directory, manifest, method)
        upgrade(engine)  # a backup of an older version comes to this code's schema
        heads_now = status(engine)
    finally:
        engine.dispose()
    _restore_evidence(directory, home)
    return {"home": str(home), "method": manifest["method"], "ledger": manifest["ledger"],
            "migrations": sorted(heads_now[0]), "evidence_files": manifest["evidence_files"],
            "database": make_url(normalise_url(url)).render_as_string(hide_password=True)}


def _load_through_alembic(engine: Engine, directory: Path, manifest: dict[str, Any], method: str) -> None:
    """Schema at the backup's revisions, then the rows through SQLAlchemy."""
    cfg = alembic_config()
    with writer(engine).connect() as conn:
        cfg.attributes["connection"] = conn
        for head in manifest["migrations"]:
            command.upgrade(cfg, head)
        conn.commit()
    if method == "sqlite-to-postgresql":
        source = make_engine(f"sqlite:///{directory / 'database.sqlite'}", pool=False)
        tmp = directory.parent / f".{directory.name}-{secrets.token_hex(4)}.jsonl.gz"
        try:
            _dump(source, tmp)
            _restore_snapshot(engine, tmp)
        finally:
            source.dispose()
            tmp.unlink(missing_ok=True)
    else:
        _restore_snapshot(engine, directory / "database.jsonl.gz")


def _restore_evidence(directory: Path, home: Path) -> None:
    source = directory / EVIDENCE_DIR / "sha256"
    store = BlobStore(home / EVIDENCE_DIR)
    if not source.is_dir():
        return
    for path in source.rglob("*"):
        if path.is_file():
            if _sha256(path) != path.name:
                raise BackupError(f"evidence file {path.name} does not match its SHA-256", "evidence")
            target = store.path(path.name)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.copy2(path, target)
            target.chmod(0o600)


def missing_evidence(engine: Engine, blobs: BlobStore) -> list[str]:
    """Evidence rows whose file is not in the store (a restore checks there are none)."""
    with engine.connect() as conn:
        digests = set(conn.execute(select(evidence.c.sha256)).scalars())
    return sorted(d for d in digests if not blobs.exists(d))


def passphrase_from(file: Path | None) -> str:
    """The passphrase from ``--passphrase-file`` (its first line) or ``HANOI_BACKUP_PASSPHRASE``."""
    if file is not None:
        lines = file.read_text(encoding="utf-8").splitlines()
        value = lines[0] if lines else ""
    else:
        value = os.environ.get(PASSPHRASE_ENV, "")
    if not value:
        raise BackupError(f"no passphrase: give --passphrase-file FILE or set {PASSPHRASE_ENV}",
                          "passphrase")
    return value

