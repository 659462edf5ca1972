"""What a request's changes send to the partner, and the gate at the moment of sending.

``notify`` is called inside the unit of work of a local change (submit, our side's events, a
response); when the partner is a peer (it has an endpoint) the item joins the outbox in that
same transaction. Items refer to a request by ``ref``, the requesting node's own id for it; the
requested node keeps that as ``remote_id`` on its incoming copy (``receive``).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from hanoi.core.errors import InvalidInput, Problem
from hanoi.core.gate import Decision
from hanoi.node import outbox
from hanoi.node.runtime import Work
from hanoi.node.wings import Priority
from hanoi.requests import packages, rows
from hanoi.requests.gate import RequestPolicy, decide_on
from hanoi.requests.lifecycle import Event
from hanoi.requests.responses import Response
from hanoi.requests.types import REQUEST_TYPES

# Envelope payloads stay under the JWS library's 128,000-byte limit once base64-encoded.
CHUNK = 64 * 1024
REQUEST_SUBMIT = "request.submit"
REQUEST_EVENT = "request.event"
REQUEST_RESPONSE = "request.response"
EVIDENCE_CHUNK = "evidence.chunk"
EVIDENCE_MANIFEST = "evidence.manifest"


def priority(row: dict[str, Any]) -> Priority:
    """Urgent for what goes through the 24/7 network (an emergency, an expedited preservation
    or disclosure) and for a request its author marks urgent or an emergency; casework else."""
    kind = REQUEST_TYPES.get(str(row.get("type")))
    urgency = (row.get("fields") or {}).get("urgency")
    if (kind is not None and kind.channel == "24/7") or urgency in ("urgent", "emergency"):
        return Priority.URGENT
    return Priority.CASEWORK


def notify(uow: Work, row: dict[str, Any], item_type: str, payload: dict[str, Any]) -> str | None:
    """Queue an item for the partner of ``row`` if it is a peer; return the envelope id."""
    if not rows.is_peer(uow.conn, row["partner_id"]):
        return None
    return outbox.enqueue(uow, recipient=row["partner_id"], type=item_type,
                          payload={"ref": rows.ref_of(row), **payload}, subject=rows.subject(row["id"]),
                          priority=priority(row))


def delivery(partner: dict[str, Any], request_id: str) -> dict[str, Any]:
    """How what is queued for ``partner`` reaches it: through federation when it is a peer (it
    has an endpoint), otherwise not at all: the request must then go by another channel."""
    if partner.get("endpoint"):
        return {"federated": True, "endpoint": partner["endpoint"],
                "detail": f"queued for {partner['id']} at {partner['endpoint']} (hanoi outbox shows its delivery)"}
    return {"federated": False, "endpoint": None,
            "detail": f"{partner['id']} has no endpoint: nothing will be delivered to it; send the signed "
                      f"form (hanoi requests render {request_id} -o form.pdf) by another channel, or peer with its "
                      "node (hanoi peers add URL)"}


def notify_submit(uow: Work, row: dict[str, Any]) -> None:
    notify(uow, row, REQUEST_SUBMIT, {"type": row["type"], "fields": row["fields"],
                                      "deadline_profiles": row["deadline_profiles"]})


def notify_event(uow: Work, row: dict[str, Any], event: Event, data: dict[str, Any]) -> None:
    notify(uow, row, REQUEST_EVENT, {"event": event.value, "data": data,
                                     "preservation": row.get("preservation")})


def notify_response(uow: Work, row: dict[str, Any], response: Response) -> None:
    """Evidence files (in chunks, each digest-checked on arrival), the signed manifest, then the
    response. Each is its own envelope, so an interrupted transfer resumes where it stopped."""
    if not rows.is_peer(uow.conn, row["partner_id"]):
        return
    node = uow.node
    store = uow.blobs
    files = []
    for item in response.evidence:
        rec = rows.evidence_record(uow.conn, row["id"], sha256=item.sha256)
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
            package_id=f"pkg-{row['id']}", request_id=rows.ref_of(row), response_id=None,
            sender_node_id=node.node_id, sender_name=node.config.name, created=uow.now, files=files,
            conditions=response.conditions.as_dict() if response.conditions else None)
        signed = packages.sign_manifest(manifest, node.private_key, node.config.key_id)
        notify(uow, row, EVIDENCE_MANIFEST, {"manifest": dict(signed)})
    notify(uow, row, REQUEST_RESPONSE, {"response": response.as_dict()})


def send_gate(uow: Work, row: dict[str, Any], member: dict[str, Any]) -> Decision:
    """At the moment of sending, the gate decides again on the request the item belongs to:
    a partner suspended, or a policy changed, after the item was queued stops it here."""
    subj = str(row.get("subject") or "")
    req = rows.get(uow.conn, subj.split(":", 1)[1]) if subj.startswith("request:") else None
    if req is None:
        raise InvalidInput("the item belongs to no request", [Problem("subject", f"{subj!r} names no request")])
    return decide_on(req, member, uow.policy.standing, uow.policy.section(RequestPolicy))


