"""Federation endpoints (/federation/v1, between nodes) and their administration (/api/v1).

Between nodes there is no bearer token: the signature IS the authentication. The inbox answers
HTTP 200 with a signed receipt for an accepted AND for a rejected envelope (the receipt names
the rule); a problem+json 4xx comes back only when the body cannot even be read as an envelope
with an id. The body limit of the whole API applies first.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hanoi.api.deps import get_node, require
from hanoi.api.openapi import documented
from hanoi.api.params import member_id, one_of
from hanoi.api.schemas.federation import BatchError, Envelope, Receipt, Rotation, SignedDescriptor
from hanoi.api.schemas.platform import Outbox, OutboxRow, Peer, Queued
from hanoi.core.roles import Permission
from hanoi.federation.envelope import Rejection
from hanoi.node import inbox, outbox, peers, witness
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal

FEDERATION_PREFIX = "/federation/v1"
JSON = "application/json"

router = APIRouter(prefix=FEDERATION_PREFIX, tags=["federation"])
admin_router = APIRouter()  # each route names its resource (outbox, peers) as its tag


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Rejection("FED-MALFORMED", f"the body is not JSON ({exc})") from None


@router.get("/descriptor", name="descriptor",
            summary="This node's signed descriptor (no token needed)")
@documented(returns=SignedDescriptor)
def get_descriptor(node: Node = Depends(get_node)) -> JSONResponse:
    return JSONResponse(peers.descriptor(node), media_type=JSON)


@router.post("/inbox", name="inbox", summary="Receive one signed envelope; answers its signed receipt")
@documented(body=Envelope, returns=Receipt)
async def post_inbox(request: Request, node: Node = Depends(get_node)) -> Response:
    raw = await request.body()
    receipt = await run_in_threadpool(inbox.receive, node, raw)
    return Response(receipt, media_type=JSON)


@router.post("/inbox/batch", name="inbox_batch",
             summary="Receive several envelopes (a JSON list); answers a list of receipts")
# An item that is not an envelope is answered in its place (FED-MALFORMED), not by refusing
# the batch: one sender's bug must not hold up the items beside it; so the document admits it.
@documented(body=list[Envelope | Any], returns=list[Receipt | BatchError])
async def post_inbox_batch(request: Request, node: Node = Depends(get_node)) -> Response:
    items = _json_body(await request.body())
    if not isinstance(items, list) or not 1 <= len(items) <= inbox.MAX_BATCH:
        raise Rejection("FED-MALFORMED", f"expected a JSON list of 1-{inbox.MAX_BATCH} envelopes")
    outcomes = await run_in_threadpool(inbox.receive_batch, node, items)
    parts: list[str] = []
    for outcome in outcomes:
        if isinstance(outcome, str):
            parts.append(outcome)  # the stored receipt, byte for byte
        elif isinstance(outcome, inbox.Unreadable):
            rej = outcome.rejection
            parts.append(json.dumps({"error": {"rule": rej.rule_code, "detail": rej.detail}}))
        else:
            parts.append(json.dumps({"error": {"rule": None, "detail": outcome.detail}}))
    return Response("[" + ",".join(parts) + "]", media_type=JSON)


@router.post("/rotation", name="rotation", summary="A peer's key rotation, signed by its old key")
@documented(body=Rotation, returns=Receipt)
async def post_rotation(request: Request, node: Node = Depends(get_node)) -> Response:
    body = _json_body(await request.body())
    if not isinstance(body, dict) or "rotation" not in body:
        raise Rejection("FED-MALFORMED", "a rotation is posted as {id, rotation}")
    receipt = await run_in_threadpool(inbox.receive_rotation, node, body)
    return Response(receipt, media_type=JSON)


@router.post("/witness", summary="A peer asks, signed, for the newest head of its own ledger "
                                  "this node witnessed; answers a signed statement")
async def post_witness(request: Request, node: Node = Depends(get_node)) -> Response:
    body = await request.body()
    statement = await run_in_threadpool(witness.answer, node, body)
    return Response(statement, media_type=JSON)


# --- administration under /api/v1 -------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PeerIn(Strict):
    url: str = Field(max_length=500, description="The peer's base URL, e.g. https://node.example.org")


class PeerAssessmentIn(Strict):
    """The safeguards assessment recorded with a peer's trust."""

    standing: str | None = None
    assessor: str | None = Field(default=None, max_length=200)
    findings: str | None = Field(default=None, max_length=20_000)
    articles: list[str] = Field(default_factory=list, max_length=50)
    sources: list[str] = Field(default_factory=list, max_length=100)
    assessed_at: str | None = None


class TrustIn(Strict):
    fingerprint: str = Field(max_length=100, description="The fingerprint you confirmed out of band")
    state_status: str | None = Field(default=None, description="party, signatory or non-party")
    assessment: PeerAssessmentIn | None = None


@admin_router.get("/outbox", tags=["outbox"], name="list",
                   summary="Outbox rows: pending, held, delivered, or failed and why")
@documented(returns=Outbox)
def list_outbox(state: str | None = one_of((*outbox.STATES, "open", "all"), "Only rows in this state "
                                           "(open: pending and held; failed: every refusal)"),
                peer: str | None = member_id("Only rows for this peer"),
                limit: int = Query(200, ge=1, le=5000),
                _: Principal = Depends(require(Permission.LEDGER_READ)),
                node: Node = Depends(get_node)) -> dict[str, Any]:
    return {"counts": outbox.counts(node),
            "items": outbox.list_rows(node, state=state, recipient=peer, limit=limit)}


@admin_router.get("/outbox/{envelope_id}", tags=["outbox"], name="show",
                   summary="One outbox row with its payload and receipt")
@documented(returns=OutboxRow)
def show_outbox(envelope_id: str, _: Principal = Depends(require(Permission.LEDGER_READ)),
                node: Node = Depends(get_node)) -> dict[str, Any]:
    return outbox.show(node, envelope_id)


@admin_router.post("/outbox/{envelope_id}/retry", tags=["outbox"], name="retry",
                   summary="Make a pending or held row due now")
@documented(returns=OutboxRow)
def retry_outbox(envelope_id: str, who: Principal = Depends(require(Permission.FEDERATION_MANAGE)),
                 node: Node = Depends(get_node)) -> dict[str, Any]:
    return outbox.retry(node, who.actor, envelope_id)


@admin_router.get("/peers", tags=["peers"], name="list",
                   summary="Fetched peers, trusted or not")
@documented(returns=list[Peer])
def list_peers(_: Principal = Depends(require(Permission.MEMBERS_READ)),
               node: Node = Depends(get_node)) -> list[dict[str, Any]]:
    return peers.list_peers(node)


@admin_router.post("/peers", status_code=201, tags=["peers"], name="add",
                   summary="Fetch a peer's descriptor; shows its fingerprints, trusts nothing yet")
@documented(returns=Peer)
def add_peer(body: PeerIn, who: Principal = Depends(require(Permission.FEDERATION_MANAGE)),
             node: Node = Depends(get_node)) -> dict[str, Any]:
    return peers.fetch(node, who.actor, body.url)


@admin_router.post("/peers/{peer_id}/trust", tags=["peers"], name="trust",
                   summary="Trust a fetched peer after confirming its fingerprint out of band")
@documented(returns=Peer)
def trust_peer(peer_id: str, body: TrustIn,
               who: Principal = Depends(require(Permission.FEDERATION_MANAGE)),
               node: Node = Depends(get_node)) -> dict[str, Any]:
    assessment = body.assessment.model_dump(exclude_none=True) if body.assessment else None
    return peers.trust(node, who.actor, peer_id, body.fingerprint,
                       state_status=body.state_status, assessment=assessment)


@admin_router.post("/peers/{peer_id}/ping", status_code=202, tags=["peers"], name="ping",
                   summary="Queue a ping to a peer")
@documented(returns=Queued)
def ping_peer(peer_id: str, count: int = Query(1, ge=1, le=1000),
              who: Principal = Depends(require(Permission.FEDERATION_MANAGE)),
              node: Node = Depends(get_node)) -> dict[str, Any]:
    return {"queued": peers.ping(node, who.actor, peer_id, count)}

