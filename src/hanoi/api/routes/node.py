"""Health (the one endpoint without a token) and who this node is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from hanoi.api.deps import current_principal, get_node
from hanoi.api.openapi import documented
from hanoi.api.schemas.platform import Health, NodeIdentity, Offence
from hanoi.core.offences import catalogue
from hanoi.node import peers
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal

router = APIRouter(tags=["node"])


@router.get("/health", summary="Liveness and database reachability (no token needed)")
@documented(returns=Health)
def health(node: Node = Depends(get_node)) -> dict[str, Any]:
    from sqlalchemy import text

    with node.read() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "node_id": node.node_id}


@router.get("/node", name="show", summary="This node's identity: id, public key and fingerprint, "
            "descriptor URL (what to give a partner), and who is asking")
@documented(returns=NodeIdentity)
def whoami(principal: Principal = Depends(current_principal),
           node: Node = Depends(get_node)) -> dict[str, Any]:
    return {**peers.identity(node),
            "you": {"token_id": principal.token_id, "role": principal.role.value,
                    "member_id": principal.member_id}}


@router.get("/offences", summary="The offence codes requests, signals and media hashes name, with their articles")
@documented(returns=list[Offence])
def offences(_: Principal = Depends(current_principal)) -> list[dict[str, Any]]:
    return catalogue()
