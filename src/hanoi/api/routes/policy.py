"""The node policy the gate applies: shown to every role that decides, changed by the admin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends

from hanoi.api.deps import get_node, require
from hanoi.api.openapi import documented
from hanoi.api.schemas.platform import PolicyDocument
from hanoi.core.roles import Permission
from hanoi.node import policy
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal

router = APIRouter(prefix="/policy", tags=["policy"])


@router.get("", name="show", summary="The policy in force, its digest and the gate's rule table")
def show(_: Principal = Depends(require(Permission.POLICY_READ)), node: Node = Depends(get_node)) -> dict[str, Any]:
    return policy.show(node)


@router.put("", summary="Replace the policy (ledgered)")
@documented(body=PolicyDocument)
def replace(body: dict[str, Any] = Body(...), who: Principal = Depends(require(Permission.POLICY_WRITE)),
            node: Node = Depends(get_node)) -> dict[str, Any]:
    return policy.update(node, who.actor, body)
