"""Each role's home page: counts of what that role may read."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hanoi.console import overview
from hanoi.console.render import page
from hanoi.console.security import get_node, signed_in
from hanoi.node.runtime import Node
from hanoi.node.users import ConsoleSession

router = APIRouter()


@router.get("/", name="home")
def home(request: Request, session: ConsoleSession = Depends(signed_in), node: Node = Depends(get_node)) -> Response:
    return page(request, "home.html", {"counts": overview.counts(node, session.role)})
