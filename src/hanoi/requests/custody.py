"""Evidence attached to requests: content-addressed storage, signed packages, chain of custody.

Every handling is a ledger entry on the request (``evidence.add``, ``evidence.export``), so the
request's timeline is also the evidence's chain of custody.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from hanoi.core import keys
from hanoi.core.clock import isoformat
from hanoi.core.errors import Conflict, Problem, invalid
from hanoi.node import members as members_service
from hanoi.node.runtime import Node
from hanoi.requests import packages, rows, service
from hanoi.store.tables import ledger_entries

_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


def add(node: Node, actor: str, request_id: str, *, name: str, stream: BinaryIO,
        media_type: str = "application/octet-stream", description: str = "") -> dict[str, Any]:
    """Store a file (streamed, size-capped) and attach it to a request, ledgered as custody."""
    problem = packages.name_problem(name)
    if problem:
        raise invalid("name", problem)
    media_type = (media_type or "application/octet-stream").lower()
    if not _MEDIA_TYPE.fullmatch(media_type):
        raise invalid("media_type", f"{media_type!r} is not a media type like application/pdf")
    with node.read() as conn:
        row = rows.get(conn, request_id)
        if rows.evidence_record(conn, request_id, name=name) is not None:
            raise Conflict(f"request {request_id} already has evidence named {name!r}",
                           [Problem("name", "already attached")])
    # The blob is written first (content-addressed, idempotent); if the transaction below
    # fails, an unreferenced blob is harmless and is reused by the next upload of it.
    info = node.blobs.put_stream(stream, max_bytes=node.config.max_evidence_bytes)
    record = {"request_id": request_id, "name": name, "sha256": info.sha256, "size": info.size,
              "media_type": media_type, "description": description or ""}
    with node.write(actor) as uow:
        rows.insert_evidence(uow.conn, record, added_by=actor, added_at=uow.now)
        uow.record("evidence.add", rows.subject(request_id), {**record, "request_state": row["state"]})
    return {**record, "added_by": actor}


def export(node: Node, actor: str, request_id: str, out: Path) -> dict[str, Any]:
    """Write a signed evidence package; the export itself is ledgered (chain of custody)."""
    with node.read() as conn:
        row = rows.get(conn, request_id)
        files = rows.evidence_records(conn, request_id)
        custody = [
            {"seq": r.seq, "ts": r.ts, "actor": r.actor, "action": r.action, "hash": r.hash}
            for r in conn.execute(select(ledger_entries.c.seq, ledger_entries.c.ts, ledger_entries.c.actor,
                                         ledger_entries.c.action, ledger_entries.c.hash)
                                  .where((ledger_entries.c.subject == rows.subject(request_id))
                                         & ledger_entries.c.action.like("evidence.%"))
                                  .order_by(ledger_entries.c.seq))
        ]
    if not files:
        raise Conflict(f"request {request_id} has no evidence attached", [Problem("evidence", "none attached")])
    if row["direction"] == rows.INCOMING:  # a package for the requesting State: a hand-over, gated like one
        service.run_gate_or_refuse(node, actor, request_id, "export", f"exporting evidence of {request_id}")
    package_id = f"pkg-{secrets.token_hex(6)}"
    now = node.now()
    conditions = (row["response"] or {}).get("conditions")
    manifest = packages.build_manifest(
        package_id=package_id, request_id=request_id, response_id=None, sender_node_id=node.node_id,
        sender_name=node.config.name, created=now,
        files=[{k: f[k] for k in ("name", "sha256", "size", "media_type", "description")} for f in files],
        conditions=conditions, custody=custody)
    signed = packages.sign_manifest(manifest, node.private_key, node.config.key_id)
    store = node.blobs
    with node.write(actor) as uow:
        # Ledgered first, in the same unit of work: if writing the zip fails, neither stays.
        uow.record("evidence.export", rows.subject(request_id),
                   {"package_id": package_id, "files": manifest["files"], "to": str(out)})
        packages.write_package(out, signed, node.private_key.public_key(), node.config.key_id, store.open)
    return {"package_id": package_id, "path": str(out), "files": len(files),
            "signer_fingerprint": keys.fingerprint(node.private_key.public_key()), "created": isoformat(now)}


def export_received(node: Node, actor: str, request_id: str, out: Path) -> dict[str, Any]:
    """Write the package a partner sent: its own signed manifest, the files as they arrived,
    verifiable offline against the partner's key. The export is ledgered (chain of custody)."""


    with node.read() as conn:
        row = rows.get(conn, request_id)
        entry = conn.execute(select(ledger_entries.c.payload)
                             .where((ledger_entries.c.subject == rows.subject(request_id))
                                    & (ledger_entries.c.action == "evidence.manifest"))
                             .order_by(ledger_entries.c.seq.desc()).limit(1)).scalar()
        if entry is None:
            raise Conflict(f"no signed manifest was received for request {request_id}",
                           [Problem("evidence", "the partner has sent no evidence package")])
        info = json.loads(entry)
        records = members_service.key_records(conn, row["partner_id"])
    store = node.blobs
    with store.open(info["manifest_sha256"]) as fh:
        signed = json.loads(fh.read())
    key = next((r for r in records if r.key_id == info["kid"]), None)
    if key is None:
        raise Conflict(f"the manifest is signed with key {info['kid']!r}, unknown for {row['partner_id']}",
                       [Problem("kid", "not a registered key of the partner", "FED-UNKNOWN-KEY")])
    with node.write(actor) as uow:
        uow.record("evidence.export", rows.subject(request_id),
                   {"received_from": row["partner_id"], "manifest_sha256": info["manifest_sha256"], "to": str(out)})
        packages.write_package(out, signed, key, key.key_id, store.open)
    return {"path": str(out), "files": len(info.get("files", [])), "signer": row["partner_id"],
            "signer_fingerprint": key.fingerprint}
