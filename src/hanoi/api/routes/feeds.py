"""Feeds through the API: the same as ``hanoi feeds`` (``hanoi.signals.feeds``). Reading them
takes ``signals:read``; adding, running, pausing and removing one takes an admin's token
(``federation:manage``: a feed makes this node fetch from the address it names). A feed from a
folder on the node is added with the CLI only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Path
from starlette.concurrency import run_in_threadpool

from hanoi.api.deps import get_node, require
from hanoi.api.openapi import documented
from hanoi.api.schemas import signals as S
from hanoi.core.errors import invalid
from hanoi.core.roles import Permission
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal
from hanoi.signals import feeds

router = APIRouter(prefix="/feeds", tags=["feeds"])
READ = Depends(require(Permission.SIGNALS_READ))
MANAGE = Depends(require(Permission.FEDERATION_MANAGE))
NODE = Depends(get_node)
NAME = Path(..., pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="The feed's name")


@router.get("", name="list", summary="Every feed, its schedule, checkpoint and failures")
@documented(returns=list[S.Feed])
def list_(_: Principal = READ, node: Node = NODE) -> list[dict[str, Any]]:
    return feeds.listing(node)


@router.post("", name="add", status_code=201, summary="Add a feed (due at once)")
@documented(body=S.FeedNew, returns=S.Feed)
def add(body: dict[str, Any] = Body(..., examples=[{}]), who: Principal = MANAGE, node: Node = NODE) -> dict[str, Any]:
    if "path" in body:
        raise invalid("path", "a feed from a folder on the node is added with `hanoi feeds add --path`")
    return feeds.add(node, who.actor, dict(body))


@router.get("/{name}", name="show", summary="One feed")
@documented(returns=S.Feed)
def show(name: str = NAME, _: Principal = READ, node: Node = NODE) -> dict[str, Any]:
    return feeds.show(node, name)


@router.post("/{name}/run", name="run", summary="Run a feed now (under the feed runners' lease)")
@documented(returns=S.FeedRun)
async def run(name: str = NAME, _: Principal = MANAGE, node: Node = NODE) -> dict[str, Any]:
    return await run_in_threadpool(feeds.run_named, node, name)


@router.post("/{name}/pause", name="pause", summary="Stop running a feed on its schedule")
@documented(returns=S.Feed)
def pause(name: str = NAME, who: Principal = MANAGE, node: Node = NODE) -> dict[str, Any]:
    return feeds.set_paused(node, who.actor, name, True)


@router.post("/{name}/resume", name="resume", summary="Run a paused feed again (due at once)")
@documented(returns=S.Feed)
def resume(name: str = NAME, who: Principal = MANAGE, node: Node = NODE) -> dict[str, Any]:
    return feeds.set_paused(node, who.actor, name, False)


@router.delete("/{name}", name="remove", summary="Remove a feed (what it imported stays)")
@documented(returns=S.FeedRemoved)
def remove(name: str = NAME, who: Principal = MANAGE, node: Node = NODE) -> dict[str, Any]:
    return feeds.remove(node, who.actor, name)
