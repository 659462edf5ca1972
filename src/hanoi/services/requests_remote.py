"""Requests across nodes: what a request's changes send to the partner, and how a node applies
what its partner sends.

Outgoing: ``notify`` is called inside the unit of work of a local change (submit, our side's
events, a response); when the partner is a peer (it has an endpoint) the item joins the outbox
in that same transaction. Incoming: the handlers below are registered with the inbox and run
inside the receiving unit of work, after the signature, freshness, replay and standing checks.

Items refer to a request by ``ref``, the requesting node's own id for it; the requested node
keeps that as ``remote_id`` on its incoming copy.
"""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

from sqlalchemy import select

from hanoi.core.errors import Conflict, InvalidInput, NotFound, Problem
from hanoi.core.gate import Decision, PartnerView, Review, decide_request
from hanoi.requests import contents, lifecycle
from hanoi.requests.deadlines import PreservationTerm
from hanoi.requests.lifecycle import Event
from hanoi.requests.responses import Response
from hanoi.services import requests as svc
from hanoi.store.tables import evidence, members
from hanoi.store.tables import requests as requests_t
from hanoi.store.uow import UnitOfWork

# Envelope payloads stay under the JWS library's 128,000-byte limit once base64-encoded.
CHUNK = 64 * 1024
REQUEST_SUBMIT = "request.submit"
REQUEST_EVENT = "request.event"
REQUEST_RESPONSE = "request.response"
EVIDENCE_CHUNK = "evidence.chunk"
EVIDENCE_MANIFEST = "evidence.manifest"


def _is_peer(uow: UnitOfWork, member_id: str) -> bool:
    endpoint = uow.conn.execute(select(members.c.endpoint).where(members.c.id == member_id)).scalar()
    return bool(endpoint)


def ref_of(row: dict[str, Any]) -> str:
    return row["id"] if row["direction"] == svc.OUTGOING else (row["remote_id"] or row["id"])


def notify(uow: UnitOfWork, row: dict[str, Any], item_type: str, payload: dict[str, Any]) -> str | None:
    """Queue an item for the partner of ``row`` if it is a peer; return the envelope id."""
    if not _is_peer(uow, row["partner_id"]):
        return None
    from hanoi.services import outbox

    return outbox.enqueue(uow, recipient=row["partner_id"], type=item_type,
                          payload={"ref": ref_of(row), **payload}, subject=svc.subject(row["id"]))


def notify_submit(uow: UnitOfWork, row: dict[str, Any]) -> None:
    notify(uow, row, REQUEST_SUBMIT, {"type": row["type"], "fields": row["fields"],
                                      "deadline_profiles": row["deadline_profiles"]})


def notify_event(uow: UnitOfWork, row: dict[str, Any], event: Event, data: dict[str, Any]) -> None:
    notify(uow, row, REQUEST_EVENT, {"event": event.value, "data": data,
                                     "preservation": row.get("preservation")})


def notify_response(uow: UnitOfWork, row: dict[str, Any], response: Response) -> None:
    """Evidence files (in chunks, each digest-checked on arrival), the signed manifest, then the
    response. Each is its own envelope, so an interrupted transfer resumes where it stopped."""
    if not _is_peer(uow, row["partner_id"]):
        return
    from hanoi.requests import evidence as packages
    from hanoi.services.evidence import blob_store

    node = uow.node
    store = blob_store(node)
    files = []
    for item in response.evidence:
        rec = uow.conn.execute(select(evidence).where((evidence.c.request_id == row["id"])
                                                      & (evidence.c.sha256 == item.sha256))).mappings().first()
        if rec is None:
            continue
        files.append({k: rec[k] for k in ("name", "sha256", "size", "media_type", "description")})
        with store.open(rec["sha256"]) as fh:
            data = fh.read()
        total = max(1, -(-len(data) // CHUNK))
        for index in range(total):
            part = data[index * CHUNK:(index + 1) * CHUNK]
            notify(uow, row, EVIDENCE_CHUNK, {
                "name": rec["name"], "sha256": rec["sha256"], "size": rec["size"], "media_type": rec["media_type"],
                "description": rec["description"], "index": index, "total": total,
                "chunk_sha256": hashlib.sha256(part).hexdigest(), "data": base64.b64encode(part).decode()})
    if files:
        manifest = packages.build_manifest(
            package_id=f"pkg-{row['id']}", request_id=ref_of(row), response_id=None,
            sender_node_id=node.node_id, sender_name=node.config.name, created=uow.now, files=files,
            conditions=response.conditions.as_dict() if response.conditions else None)
        signed = packages.sign_manifest(manifest, node.private_key, node.config.key_id)
        notify(uow, row, EVIDENCE_MANIFEST, {"manifest": dict(signed)})
    notify(uow, row, REQUEST_RESPONSE, {"response": response.as_dict()})


# --- applying what the partner sent ----------------------------------------------------------


def _local(uow: UnitOfWork, sender: dict[str, Any], ref: Any) -> dict[str, Any]:
    """Our copy of the request the partner refers to."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput("the item names no request", [Problem("payload.ref", "is required")], "FED-MALFORMED")
    q = select(requests_t).where(requests_t.c.partner_id == sender["id"]).where(
        ((requests_t.c.direction == svc.OUTGOING) & (requests_t.c.id == ref))
        | ((requests_t.c.direction == svc.INCOMING) & (requests_t.c.remote_id == ref)))
    row = uow.conn.execute(q).mappings().first()
    if row is None:
        raise NotFound(f"no request {ref!r} with {sender['id']}", "payload.ref")
    return dict(row)


def on_submit(uow: UnitOfWork, env: Any, sender: dict[str, Any]) -> dict[str, Any]:
    """A partner's request arrives: record it as received and let the gate decide on receipt."""
    p = env.payload
    type_ = p.get("type")
    contents.request_type(type_)
    fields = p.get("fields") or {}
    problems = contents.validate_draft(type_, fields, uow.now)
    if problems:
        raise InvalidInput(f"the {type_} request is incomplete: {len(problems)} problem(s)", problems,
                           "CONTENT-REQUIRED")
    existing = uow.conn.execute(select(requests_t.c.id).where(
        (requests_t.c.partner_id == sender["id"]) & (requests_t.c.remote_id == p.get("ref")))).scalar()
    if existing:
        raise Conflict(f"request {p.get('ref')!r} from {sender['id']} was already received as {existing}")
    node = uow.node
    request_id = svc.new_id(node, uow.now)
    row = svc.insert_row(uow, request_id=request_id, type_=type_, direction=svc.INCOMING, partner_id=sender["id"],
                         fields=contents.clean_fields(type_, fields), profiles=p.get("deadline_profiles"),
                         remote_id=p.get("ref"), actor=f"peer:{sender['id']}")
    svc.receive(uow, row, sender, via=f"federation envelope {env.id}")
    # Tell the requester it arrived: its copy moves from submitted to received.
    notify(uow, row, REQUEST_EVENT, {"event": Event.RECEIVE.value, "data": {}})
    return {"request_id": request_id, "state": row["state"], "decision": row["decision"]["outcome"]}


def on_event(uow: UnitOfWork, env: Any, sender: dict[str, Any]) -> dict[str, Any]:
    p = env.payload
    row = _local(uow, sender, p.get("ref"))
    event = lifecycle._parse(Event, p.get("event"), "payload.event")
    if event is Event.EXTEND or event is Event.PRESERVE:
        term = p.get("preservation")
        if term:
            PreservationTerm.from_dict(term)  # validates
            uow.conn.execute(requests_t.update().where(requests_t.c.id == row["id"]).values(preservation=term))
            row["preservation"] = term
    svc.move(uow, row, event, {"via": f"federation envelope {env.id}", **{
        k: v for k, v in (p.get("data") or {}).items() if k in ("note", "reason")}}, check_side=False)
    if lifecycle.is_terminal(row["state"]):
        svc.follow_up_links(uow, row)
    return {"request_id": row["id"], "state": row["state"]}


def on_response(uow: UnitOfWork, env: Any, sender: dict[str, Any]) -> dict[str, Any]:
    p = env.payload
    row = _local(uow, sender, p.get("ref"))
    if row["direction"] != svc.OUTGOING:
        raise Conflict("only the requested side responds", [Problem("payload.ref", "is not our request")])
    response = Response.from_dict(p.get("response") or {})
    svc.move(uow, row, response.event, {"via": f"federation envelope {env.id}", "reason": response.reason},
             check_side=False)
    uow.conn.execute(requests_t.update().where(requests_t.c.id == row["id"]).values(response=response.as_dict()))
    uow.record(f"request.response.{response.kind}", svc.subject(row["id"]), response.as_dict(),
               decision=response.kind, reasons=[{"code": g} for g in response.grounds])
    svc.follow_up_links(uow, row)
    return {"request_id": row["id"], "state": row["state"]}


def on_chunk(uow: UnitOfWork, env: Any, sender: dict[str, Any]) -> dict[str, Any]:
    """One chunk of an evidence file; the file is assembled and its SHA-256 checked when whole."""
    from hanoi.services.evidence import blob_store

    p = env.payload
    row = _local(uow, sender, p.get("ref"))
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
    uow.record("evidence.chunk", svc.subject(row["id"]),
               {"name": name, "sha256": sha, "index": index, "total": total, "envelope": env.id})
    if len(parts) < total:
        return {"request_id": row["id"], "received": len(parts), "total": total}
    whole = b"".join(part.read_bytes() for part in parts)
    if hashlib.sha256(whole).hexdigest() != sha:
        raise InvalidInput("the assembled evidence file does not match its SHA-256",
                           [Problem("payload.sha256", "digest mismatch")], "FED-MALFORMED")
    info = blob_store(uow.node).put_stream(io.BytesIO(whole), max_bytes=uow.node.config.max_evidence_bytes)
    already = uow.conn.execute(select(evidence.c.id).where((evidence.c.request_id == row["id"])
                                                          & (evidence.c.sha256 == sha))).first()
    if not already:
        record = {"request_id": row["id"], "name": name, "sha256": info.sha256, "size": info.size,
                  "media_type": p.get("media_type") or "application/octet-stream",
                  "description": p.get("description") or ""}
        uow.conn.execute(evidence.insert().values(**record, added_by=f"peer:{sender['id']}", added_at=uow.now))
        uow.record("evidence.add", svc.subject(row["id"]), {**record, "from": sender["id"]})
    for part in parts:
        part.unlink()
    staging.rmdir()
    return {"request_id": row["id"], "complete": True}


def on_manifest(uow: UnitOfWork, env: Any, sender: dict[str, Any]) -> dict[str, Any]:
    """The partner's signed evidence manifest: kept so a package can be verified against its key."""
    from hanoi.federation.envelope import read_signed
    from hanoi.requests.evidence import TYP_MANIFEST
    from hanoi.services.evidence import blob_store

    p = env.payload
    row = _local(uow, sender, p.get("ref"))
    import json

    raw = json.dumps(p.get("manifest") or {}).encode()
    signed = read_signed(raw, typ=TYP_MANIFEST, max_bytes=uow.node.config.max_body_bytes)
    info = blob_store(uow.node).put_stream(io.BytesIO(raw), max_bytes=uow.node.config.max_body_bytes)
    uow.record("evidence.manifest", svc.subject(row["id"]),
               {"manifest_sha256": info.sha256, "kid": signed.kid, "files": signed.payload.get("files", []),
                "from": sender["id"]})
    return {"request_id": row["id"], "manifest_sha256": info.sha256}


def send_gate(uow: UnitOfWork, row: dict[str, Any], member: dict[str, Any]) -> Decision:
    """At the moment of sending, the gate decides again on the request the item belongs to:
    a partner suspended, or a policy changed, after the item was queued stops it here."""
    from hanoi.services import outbox

    subj = str(row.get("subject") or "")
    if not subj.startswith("request:") or row.get("type") == REQUEST_EVENT:
        # A lifecycle step (received, acknowledged, preserved...) hands nothing over: who the
        # partner is decides. The request itself, responses and evidence face the whole gate.
        return outbox.default_send_gate(uow, row, member)
    req = svc._row(uow.conn, subj.split(":", 1)[1])
    review = Review.from_dict(req["review"]) if req["review"] else None
    return decide_request(svc._facts(req), PartnerView.from_dict(member), outbox.gate_policy(uow).gate,
                          role=svc.SIDE[req["direction"]], review=review)  # type: ignore[arg-type]


def register() -> None:
    """Register the request handlers with the inbox and the send gate with the outbox."""
    from hanoi.services import inbox, outbox

    for item_type, fn in ((REQUEST_SUBMIT, on_submit), (REQUEST_EVENT, on_event), (REQUEST_RESPONSE, on_response),
                          (EVIDENCE_CHUNK, on_chunk), (EVIDENCE_MANIFEST, on_manifest)):
        inbox.register_handler(item_type, fn)
    outbox.register_send_gate("request.", send_gate)
    outbox.register_send_gate("evidence.", send_gate)

