"""Console users (admin only): add, list, disable, set a password. Passwords are never returned."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from hanoi.api.deps import get_node, require
from hanoi.api.openapi import documented
from hanoi.api.schemas.platform import User
from hanoi.core.roles import Permission
from hanoi.node import users
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal
from hanoi.node.users import USERNAME

UsernamePath = Annotated[str, Path(pattern=USERNAME.pattern, description="A console user's name")]

router = APIRouter(prefix="/users", tags=["users"])


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=64)
    role: str = Field(max_length=16)
    password: str = Field(max_length=users.PASSWORD_MAX)
    language: str | None = Field(default=None, max_length=8)
    time_zone: str | None = Field(default=None, max_length=64)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(max_length=users.PASSWORD_MAX)


@router.post("", status_code=201, name="add", summary="Add a console user")
@documented(returns=User)
def add_user(body: UserIn, who: Principal = Depends(require(Permission.USERS_MANAGE)),
             node: Node = Depends(get_node)) -> dict[str, Any]:
    return users.add_user(node, who.actor, username=body.username, role=body.role, password=body.password,
                          language=body.language, time_zone=body.time_zone)


@router.get("", name="list", summary="List console users")
@documented(returns=list[User])
def list_users(_: Principal = Depends(require(Permission.USERS_MANAGE)),
               node: Node = Depends(get_node)) -> list[dict[str, Any]]:
    return users.list_users(node)


@router.get("/{username}", name="show", summary="One console user")
@documented(returns=User)
def get_user(username: UsernamePath, _: Principal = Depends(require(Permission.USERS_MANAGE)),
             node: Node = Depends(get_node)) -> dict[str, Any]:
    return users.get_user(node, username)


@router.post("/{username}/disable", name="disable", summary="Disable a user (their sessions end now)")
@documented(returns=User)
def disable_user(username: UsernamePath, who: Principal = Depends(require(Permission.USERS_MANAGE)),
                 node: Node = Depends(get_node)) -> dict[str, Any]:
    return users.disable_user(node, who.actor, username)


@router.put("/{username}/password", summary="Set a user's password (their sessions end)")
@documented(returns=User)
def set_password(username: UsernamePath, body: PasswordIn, who: Principal = Depends(require(Permission.USERS_MANAGE)),
                 node: Node = Depends(get_node)) -> dict[str, Any]:
    return users.set_password(node, who.actor, username, body.password)
