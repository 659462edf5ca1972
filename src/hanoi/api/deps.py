"""Dependencies shared by the routes: the node, and the caller with a required permission."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hanoi.core.errors import Forbidden
from hanoi.core.roles import Permission, allows, roles_with
from hanoi.node import tokens
from hanoi.node.rate_limits import Limiter
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal

bearer = HTTPBearer(auto_error=False, description="An API token created with `hanoi tokens create`.")


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def current_principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    node: Node = Depends(get_node),
) -> Principal:
    principal = tokens.authenticate(node, credentials.credentials if credentials else None)
    request.state.token_id = principal.token_id  # for the access log
    return principal


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that admits only roles holding ``permission`` (403 naming who may)."""

    def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not allows(principal.role, permission):
            allowed = ", ".join(r.value for r in roles_with(permission))
            raise Forbidden(f"the {principal.role.value} role may not {permission.value}; "
                            f"this needs one of: {allowed}")
        return principal

    return check


def limited(permission: Permission, kind: str) -> Callable[..., Principal]:
    """``require(permission)``, then one call of the token's ``kind`` rate limit (429 with
    Retry-After over it; ``hanoi.node.rate_limits``)."""
    allowed = require(permission)

    def check(principal: Principal = Depends(allowed), node: Node = Depends(get_node)) -> Principal:
        node.read_model(Limiter).take(principal.token_id, kind)
        return principal

    return check
