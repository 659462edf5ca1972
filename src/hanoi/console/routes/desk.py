"""The caseworker's desk: the inbox and outbox of requests (filters, keyset pages) and the
deadline board (overdue first, emergencies in hours, preservation clocks, reviews awaited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from hanoi.console.render import page
from hanoi.console.security import allowed, get_node
from hanoi.core.clock import isoformat
from hanoi.core.roles import Permission, allows
from hanoi.node.runtime import Node
from hanoi.node.users import ConsoleSession
from hanoi.requests import desk
from hanoi.requests.lifecycle import State
from hanoi.requests.types import REQUEST_TYPES

router = APIRouter()

Filter = Annotated[str, Query(max_length=80)]
BOXES = {"inbox": "incoming", "outbox": "outgoing"}


@router.get("/desk", name="desk")
def show(request: Request, box: Filter = "inbox", type: Filter = "", partner: Filter = "",
         state: Filter = "", due: Filter = "", after: Annotated[str, Query(max_length=120)] = "",
         session: ConsoleSession = Depends(allowed(Permission.REQUESTS_READ)),
         node: Node = Depends(get_node)) -> Response:
    box = box if box in BOXES else "inbox"
    filters = desk.Filters(direction=BOXES[box], type=type.strip(), partner=partner.strip(), state=state.strip(),
                           due=due.strip())
    # One read of the open requests serves both the board and the list's due filter.
    watched = desk.board(node, within=max(desk.DUE_WINDOWS.values()))
    result = desk.page(node, filters, after=after or None, watched=watched)
    horizon = isoformat(node.now() + desk.BOARD_WINDOW)
    board = [d for d in watched if d["kind"] != "deadline" or d["due_at"] <= horizon]
    query = {k: v for k, v in {"box": box, "type": filters.type, "partner": filters.partner,
                                "state": filters.state, "due": filters.due}.items() if v}
    return page(request, "desk.html", {
        "box": box, "filters": filters, "result": result, "after": after, "query": query,
        "board": board, "types": REQUEST_TYPES, "states": [s.value for s in State],
        "partners": desk.partners(node), "due_windows": list(desk.DUE_WINDOWS),
        "can_write": allows(session.role, Permission.REQUESTS_WRITE),
    })
