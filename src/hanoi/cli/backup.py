"""``hanoi backup DIR`` and ``hanoi restore DIR``: a running node's database (one consistent
snapshot), evidence and keys (encrypted with a passphrase), and a restore that ends with
``ledger verify`` (``hanoi.node.backup``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hanoi import bootstrap
from hanoi.cli.common import JsonFlag, actor, console, home, open_node, print_json, styled
from hanoi.node import backup as backups
from hanoi.node import ledger

PassphraseFile = Annotated[Path | None, typer.Option(
    "--passphrase-file", help=f"A file whose first line is the passphrase (or set {backups.PASSPHRASE_ENV})",
    exists=True, dir_okay=False, readable=True)]


def backup_command(
    directory: Annotated[Path, typer.Argument(help="A new or empty folder for the backup")],
    passphrase_file: PassphraseFile = None,
    method: Annotated[str, typer.Option(help="PostgreSQL only: auto (pg_dump if on PATH, else "
                                             "snapshot), pg_dump, or snapshot (SQLAlchemy, one "
                                             "REPEATABLE READ transaction)")] = "auto",
    as_json: JsonFlag = False,
) -> None:
    """Back up this node while it runs: its database in one consistent snapshot, its evidence
    store, and its keys and settings encrypted with a passphrase."""
    passphrase = backups.passphrase_from(passphrase_file)
    node = open_node()
    try:
        made = backups.backup(node.home, node.engine, node.blobs, node.node_id, directory.resolve(),
                              passphrase, method=method)
        with node.write(actor()) as work:
            work.record("node.backup", "node", {"directory": str(made.directory), "method": made.method,
                                                "ledger_seq": made.ledger_seq, "ledger_hash": made.ledger_hash,
                                                "evidence_files": made.evidence_files})
    finally:
        node.close()
    out = {"directory": str(made.directory), "method": made.method, "ledger_seq": made.ledger_seq,
           "ledger_hash": made.ledger_hash, "evidence_files": made.evidence_files, "bytes": made.bytes}
    if as_json:
        print_json(out)
        return
    console.print(f"backup in {made.directory}: database by {made.method}, ledger up to entry "
                  f"{made.ledger_seq}, {made.evidence_files} evidence files, {made.bytes:,} bytes; "
                  "keys encrypted with the passphrase")


def restore_command(
    directory: Annotated[Path, typer.Argument(help="The backup folder", exists=True, file_okay=False)],
    passphrase_file: PassphraseFile = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="An empty PostgreSQL database to restore into (default: SQLite in the "
                               "new home)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Restore a backup into a new home (--home or HANOI_HOME), then verify the ledger: exit 1
    unless it verifies up to the entry the backup recorded and every evidence file is there."""
    passphrase = backups.passphrase_from(passphrase_file)
    target = home()
    done = backups.restore(directory.resolve(), target, passphrase, database_url=database_url)
    node = bootstrap.open_node(target)
    try:
        result = ledger.verify(node)
        expected = done["ledger"]
        with node.read() as conn:
            row = conn.exec_driver_sql("SELECT hash FROM ledger_entries WHERE seq = "
                                       f"{int(expected['seq'])}").first()
        kept = (expected["seq"] == 0) or (row is not None and row[0] == expected["hash"])
        missing = backups.missing_evidence(node.engine, node.blobs)
        ok = result.ok and kept and not missing
        report: dict[str, Any] = {**done, "ledger_verified": result.ok, "ledger_message": result.message(),
                                  "ledger_head_kept": kept, "missing_evidence": missing, "ok": ok}
        if ok:
            with node.write(actor()) as work:
                work.record("node.restored", "node", {"from": str(directory.resolve()),
                                                      "method": done["method"], "ledger": expected})
    finally:
        node.close()
    if as_json:
        print_json(report)
    else:
        console.print(f"restored into {target} ({done['database']}), database by {done['method']}")
        console.print(result.message(), style=None if result.ok else "bold red")
        if not kept:
            console.print(styled((f"the ledger does not hold entry {expected['seq']} as the backup "
                                  "recorded it", "bold red")))
        if missing:
            console.print(styled((f"{len(missing)} evidence files missing: {', '.join(missing[:3])}",
                                  "bold red")))
    raise typer.Exit(0 if ok else 1)
