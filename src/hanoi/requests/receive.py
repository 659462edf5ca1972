"""How a node applies what its partner sends about a request: the request itself (the gate
decides on receipt), the partner's lifecycle steps, its response, and evidence in chunks with
the signed manifest. Each handler runs inside the receiving unit of work, after the inbox's
signature, freshness, replay and standing checks (``hanoi.node.inbox``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from typing import Any

from hanoi.core.errors import Conflict, InvalidInput, Problem
from hanoi.federation.envelope import Envelope, read_signed
from hanoi.node import alerts
from hanoi.node.runtime import Work
from hanoi.requests import contents, lifecycle, rows, send, service
from hanoi.requests.deadlines import PreservationTerm
from hanoi.requests.lifecycle import Event
from hanoi.requests.packages import TYP_MANIFEST
from hanoi.requests.responses import Response
from hanoi.requests.types import EMERGENCY, request_type


def on_submit(uow: Work, env: Envelope, sender: dict[str, Any]) -> dict[str, Any]:
    """A partner's request arrives: record it as received and let the gate decide on receipt."""
    p = env.payload
    type_ = request_type(p.get("type")).code
    fields = p.get("fields") or {}
    problems = contents.validate_draft(type_, fields, uow.now, received=True)
    if problems:
        raise InvalidInput(f"the {type_} request is incomplete: {len(problems)} problem(s)", problems,
                           "CONTENT-REQUIRED")
    existing = rows.received_as(uow.conn, sender["id"], p.get("ref"))
    if existing:
        raise Conflict(f"request {p.get('ref')!r} from {sender['id']} was already received as {existing}")
    request_id = rows.new_id(uow.node.config.country, uow.now)
    row = rows.insert(uow, request_id=request_id, type_=type_, direction=rows.INCOMING, partner_id=sender["id"],
                         fields=contents.clean_fields(type_, fields), profiles=p.get("deadline_profiles"),
                         remote_id=p.get("ref"), actor=f"peer:{sender['id']}")
    service.receive(uow, row, sender, via=f"federation envelope {env.id}")
    # Whoever subscribed learns of it in seconds (its id, type, partner, state, the gate's
    # outcome: never its contents), queued in this unit of work.
    seen = {"request_id": request_id, "type": type_, "partner_id": sender["id"], "state": row["state"],
            "decision": row["decision"]["outcome"]}
    alerts.queue(uow, "request.received", seen)
    if type_ == EMERGENCY:
        alerts.queue(uow, "request.emergency", seen)
    # Tell the requester it arrived: its copy moves from submitted to received.
    send.notify(uow, row, send.REQUEST_EVENT, {"event": Event.RECEIVE.value, "data": {}})
    return {"request_id": request_id, "state": row["state"], "decision": row["decision"]["outcome"]}


def on_event(uow: Work, env: Envelope, sender: dict[str, Any]) -> dict[str, Any]:
    p = env.payload
    row = rows.by_partner_ref(uow.conn, sender["id"], p.get("ref"))
    event = lifecycle.parse_event(p.get("event"), "payload.event")
    if event is Event.EXTEND or event is Event.PRESERVE:
        term = p.get("preservation")
        if term:
            PreservationTerm.from_dict(term)  # validates
            rows.set_values(uow.conn, row["id"], preservation=term)
            row["preservation"] = term
    service.move(uow, row, event, {"via": f"federation envelope {env.id}", **{
        k: v for k, v in (p.get("data") or {}).items() if k in ("note", "reason")}}, check_side=False)
    if lifecycle.is_terminal(row["state"]):
        service.follow_up_links(uow, row)
    return {"request_id": row["id"], "state": row["state"]}


def on_response(uow: Work, env: Envelope, sender: dict[str, Any]) -> dict[str, Any]:
    p = env.payload
    row = rows.by_partner_ref(uow.conn, sender["id"], p.get("ref"))
    if row["direction"] != rows.OUTGOING:
        raise Conflict("only the requested side responds", [Problem("payload.ref", "is not our request")])
    response = Response.from_dict(p.get("response") or {})
    service.move(uow, row, response.event, {"via": f"federation envelope {env.id}", "reason": response.reason},
             check_side=False)
    rows.set_values(uow.conn, row["id"], response=response.as_dict())
    uow.record(f"request.response.{response.kind}", rows.subject(row["id"]), response.as_dict(),
               decision=response.kind, reasons=[{"code": g} for g in response.grounds])
    service.follow_up_links(uow, row)
    return {"request_id": row["id"], "state": row["state"]}


def on_chunk(uow: Work, env: Envelope, sender: dict[str, Any]) -> dict[str, Any]:
    """One chunk of an evidence file; the file is assembled and its SHA-256 checked when whole."""
    p = env.payload
    row = rows.by_partner_ref(uow.conn, sender["id"], p.get("ref"))
    try:
        data = base64.b64decode(p.get("data", ""), validate=True)
        index, total = int(p["index"]), int(p["total"])
        sha, name = str(p["sha256"]), str(p["name"])
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInput("the evidence chunk is malformed", [Problem("payload", str(exc))], "FED-MALFORMED") from None
    if hashlib.sha256(data).hexdigest() != p.get("chunk_sha256") or not 0 <= index < total:
        raise InvalidInput("the evidence chunk does not match its digest",
                           [Problem("payload.data", "digest mismatch")], "FED-MALFORMED")
    staging = uow.node.home / "evidence" / "incoming" / sha
    staging.mkdir(parents=True, exist_ok=True)
    (staging / f"{index:06d}").write_bytes(data)
    parts = sorted(staging.iterdir())
    uow.record("evidence.chunk", rows.subject(row["id"]),
               {"name": name, "sha256": sha, "index": index, "total": total, "envelope": env.id})
    if len(parts) < total:
        return {"request_id": row["id"], "received": len(parts), "total": total}
    whole = b"".join(part.read_bytes() for part in parts)
    if hashlib.sha256(whole).hexdigest() != sha:
        raise InvalidInput("the assembled evidence file does not match its SHA-256",
                           [Problem("payload.sha256", "digest mismatch")], "FED-MALFORMED")
    info = uow.blobs.put_stream(io.BytesIO(whole), max_bytes=uow.node.config.max_evidence_bytes)
    if rows.evidence_record(uow.conn, row["id"], sha256=sha) is None:
        record = {"request_id": row["id"], "name": name, "sha256": info.sha256, "size": info.size,
                  "media_type": p.get("media_type") or "application/octet-stream",
                  "description": p.get("description") or ""}
        rows.insert_evidence(uow.conn, record, added_by=f"peer:{sender['id']}", added_at=uow.now)
        uow.record("evidence.add", rows.subject(row["id"]), {**record, "from": sender["id"]})
    for part in parts:
        part.unlink()
    staging.rmdir()
    return {"request_id": row["id"], "complete": True}


def on_manifest(uow: Work, env: Envelope, sender: dict[str, Any]) -> dict[str, Any]:
    """The partner's signed evidence manifest: kept so a package can be verified against its key."""
    p = env.payload
    row = rows.by_partner_ref(uow.conn, sender["id"], p.get("ref"))

    raw = json.dumps(p.get("manifest") or {}).encode()
    signed = read_signed(raw, typ=TYP_MANIFEST, max_bytes=uow.node.config.max_body_bytes)
    info = uow.blobs.put_stream(io.BytesIO(raw), max_bytes=uow.node.config.max_body_bytes)
    uow.record("evidence.manifest", rows.subject(row["id"]),
               {"manifest_sha256": info.sha256, "kid": signed.kid, "files": signed.payload.get("files", []),
                "from": sender["id"]})
    return {"request_id": row["id"], "manifest_sha256": info.sha256}
