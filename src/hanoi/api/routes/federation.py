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
from hanoi.api.params import member_id, one_of
from hanoi.core.roles import Permission
from hanoi.federation.envelope import TOKEN_PATTERN, Rejection
from hanoi.node import inbox, outbox, peers, witness
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal

FEDERATION_PREFIX = "/federation/v1"
JSON = "application/json"

router = APIRouter(prefix=FEDERATION_PREFIX, tags=["federation"])

# The bodies these routes read themselves (the signature is the authentication), as OpenAPI
# describes them, so clients and fuzzers see what goes in and comes out.
_B64URL = {"type": "string", "pattern": "^[A-Za-z0-9_-]*$"}
JWS_SCHEMA: dict[str, Any] = {
    "type": "object", "description": "A flattened JWS (Ed25519) over canonical JSON",
    "required": ["payload", "protected", "signature"], "additionalProperties": False,
    "properties": {"payload": _B64URL, "protected": _B64URL, "signature": _B64URL},
}
_ITEM_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["rule", "detail"],
    "properties": {"rule": {"type": ["string", "null"]}, "detail": {"type": "string"}}}}}


def _body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": description,
                            "content": {JSON: {"schema": schema}}}}


def _answer(schema: dict[str, Any], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {JSON: {"schema": schema}}}}
admin_router = APIRouter(tags=["federation admin"])


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Rejection("FED-MALFORMED", f"the body is not JSON ({exc})") from None


@router.get("/descriptor", summary="This node's signed descriptor (no token needed)",
            responses=_answer(JWS_SCHEMA, "The descriptor, signed by this node's key"))
def get_descriptor(node: Node = Depends(get_node)) -> JSONResponse:
    return JSONResponse(peers.descriptor(node), media_type=JSON)


@router.post("/inbox", summary="Receive one signed envelope; answers its signed receipt",
             openapi_extra=_body(JWS_SCHEMA, "One envelope"),
             responses=_answer(JWS_SCHEMA, "The signed receipt: accepted, or rejected naming the rule"))
async def post_inbox(request: Request, node: Node = Depends(get_node)) -> Response:
    raw = await request.body()
    receipt = await run_in_threadpool(inbox.receive, node, raw)
    return Response(receipt, media_type=JSON)


@router.post("/inbox/batch", summary="Receive several envelopes (a JSON list); answers a list of receipts",
             openapi_extra=_body({"type": "array", "minItems": 1, "maxItems": inbox.MAX_BATCH, "items": {}},
                                 "1-500 envelopes; an element that is not one is answered with its own "
                                 "error, and the others are received"),
             responses=_answer({"type": "array", "items": {"anyOf": [JWS_SCHEMA, _ITEM_ERROR]}},
                               "One answer per element, in order: a signed receipt, or an error for "
                               "an element too broken to name"))
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


@router.post("/rotation", summary="A peer's key rotation, signed by its old key",
             openapi_extra=_body({"type": "object", "required": ["id", "rotation"], "properties": {
                 "id": {"type": "string", "pattern": TOKEN_PATTERN},
                 "rotation": {"description": "The rotation JWS; anything else is answered with a "
                                             "signed rejected receipt naming the id"}}},
                 "The sender's id for this rotation, and the rotation"),
             responses=_answer(JWS_SCHEMA, "The signed receipt: accepted, or rejected naming the rule"))
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


class AssessmentIn(Strict):
    standing: str | None = None
    assessor: str | None = Field(default=None, max_length=200)
    findings: str | None = Field(default=None, max_length=20_000)
    articles: list[str] = Field(default_factory=list, max_length=50)
    sources: list[str] = Field(default_factory=list, max_length=100)
    assessed_at: str | None = None


class TrustIn(Strict):
    fingerprint: str = Field(max_length=100, description="The fingerprint you confirmed out of band")
    state_status: str | None = Field(default=None, description="party, signatory or non-party")
    assessment: AssessmentIn | None = None


@admin_router.get("/outbox", summary="Outbox rows: pending, held, delivered, or failed and why")
def list_outbox(state: str | None = one_of((*outbox.STATES, "open", "all"), "Only rows in this state "
                                           "(open: pending and held; failed: every refusal)"),
                peer: str | None = member_id("Only rows for this peer"),
                limit: int = Query(200, ge=1, le=5000),
                _: Principal = Depends(require(Permission.LEDGER_READ)),
                node: Node = Depends(get_node)) -> dict[str, Any]:
    return {"counts": outbox.counts(node),
            "items": outbox.list_rows(node, state=state, recipient=peer, limit=limit)}


@admin_router.get("/outbox/{envelope_id}", summary="One outbox row with its payload and receipt")
def show_outbox(envelope_id: str, _: Principal = Depends(require(Permission.LEDGER_READ)),
                node: Node = Depends(get_node)) -> dict[str, Any]:
    return outbox.show(node, envelope_id)


@admin_router.post("/outbox/{envelope_id}/retry", summary="Make a pending or held row due now")
def retry_outbox(envelope_id: str, who: Principal = Depends(require(Permission.FEDERATION_MANAGE)),
                 node: Node = Depends(get_node)) -> dict[str, Any]:
    return outbox.retry(node, who.actor, envelope_id)


@admin_router.get("/peers", summary="Fetched peers, trusted or not")
def list_peers(_: Principal = Depends(require(Permission.MEMBERS_READ)),
               node: Node = Depends(get_node)) -> list[dict[str, Any]]:
    return peers.list_peers(node)


@admin_router.post("/peers", status_code=201,
                   summary="Fetch a peer's descriptor; shows its fingerprints, trusts nothing yet")
def add_peer(body: PeerIn, who: Principal = Depends(require(Permission.FEDERATION_MANAGE)),
             node: Node = Depends(get_node)) -> dict[str, Any]:
    return peers.fetch(node, who.actor, body.url)


@admin_router.post("/peers/{peer_id}/trust",
                   summary="Trust a fetched peer after confirming its fingerprint out of band")
def trust_peer(peer_id: str, body: TrustIn,
               who: Principal = Depends(require(Permission.FEDERATION_MANAGE)),
               node: Node = Depends(get_node)) -> dict[str, Any]:
    assessment = body.assessment.model_dump(exclude_none=True) if body.assessment else None
    return peers.trust(node, who.actor, peer_id, body.fingerprint,
                       state_status=body.state_status, assessment=assessment)


@admin_router.post("/peers/{peer_id}/ping", status_code=202, summary="Queue a ping to a peer")
def ping_peer(peer_id: str, count: int = Query(1, ge=1, le=1000),
              who: Principal = Depends(require(Permission.FEDERATION_MANAGE)),
              node: Node = Depends(get_node)) -> dict[str, Any]:
    return {"queued": peers.ping(node, who.actor, peer_id, count)}

