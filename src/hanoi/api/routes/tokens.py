"""API tokens (admin only). A token's secret is returned once, at creation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from hanoi.api.deps import get_node, require
from hanoi.api.openapi import documented
from hanoi.api.schemas.platform import Token, TokenCreated
from hanoi.core.roles import Permission
from hanoi.node import tokens
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal

router = APIRouter(prefix="/tokens", tags=["tokens"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    role: str
    member_id: str | None = Field(default=None, max_length=64)
    expires: str | None = Field(default=None, description="30m, 12h, 7d, 2w", max_length=16)


@router.post("", status_code=201, name="create", summary="Create a token (its secret is shown once)")
@documented(returns=TokenCreated)
def create_token(body: TokenIn, who: Principal = Depends(require(Permission.TOKENS_MANAGE)),
                 node: Node = Depends(get_node)) -> dict[str, Any]:
    secret, record = tokens.create(node, who.actor, name=body.name, role=body.role,
                                   member_id=body.member_id, expires=body.expires)
    return {**record, "token": secret}


@router.get("", name="list", summary="List tokens (never their secrets)")
@documented(returns=list[Token])
def list_tokens(_: Principal = Depends(require(Permission.TOKENS_MANAGE)),
                node: Node = Depends(get_node)) -> list[dict[str, Any]]:
    return tokens.list_tokens(node)


@router.delete("/{token_id}", name="revoke", summary="Revoke a token")
@documented(returns=Token)
def revoke_token(token_id: str, who: Principal = Depends(require(Permission.TOKENS_MANAGE)),
                 node: Node = Depends(get_node)) -> dict[str, Any]:
    return tokens.revoke(node, who.actor, token_id)
