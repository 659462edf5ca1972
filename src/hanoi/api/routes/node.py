"""Health (the one endpoint without a token) and who this node is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from hanoi.api.deps import current_principal, get_node
from hanoi.core import keys
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal

router = APIRouter(tags=["node"])


@router.get("/health", summary="Liveness and database reachability (no token needed)")
def health(node: Node = Depends(get_node)) -> dict[str, Any]:
    from sqlalchemy import text

    with node.read() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "node_id": node.node_id}


@router.get("/node", summary="This node's identity")
def whoami(principal: Principal = Depends(current_principal),
           node: Node = Depends(get_node)) -> dict[str, Any]:
    c = node.config
    return {"node_id": c.node_id, "name": c.name, "country": c.country, "kind": c.kind,
            "key_id": c.key_id, "public_key": node.public_key_b64,
            "fingerprint": keys.fingerprint(node.private_key.public_key()),
            "you": {"token_id": principal.token_id, "role": principal.role.value,
                    "member_id": principal.member_id}}
