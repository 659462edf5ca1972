"""The node policy in force, the gate's rule table, and the history of policy changes."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from hanoi.console.render import page
from hanoi.console.security import allowed, get_node
from hanoi.core.roles import Permission, allows
from hanoi.node import ledger, policy
from hanoi.node.runtime import Node
from hanoi.node.users import ConsoleSession

router = APIRouter()


@router.get("/policy", name="policy")
def show(request: Request, before: Annotated[int | None, Query(ge=1)] = None,
         session: ConsoleSession = Depends(allowed(Permission.POLICY_READ)),
         node: Node = Depends(get_node)) -> Response:
    shown = policy.show(node)
    history = ledger.browse(node, subject=policy.SUBJECT, before=before, limit=20)
    return page(request, "policy.html", {
        "can_read_ledger": allows(session.role, Permission.LEDGER_READ),
        "policy": shown, "document": yaml.safe_dump(shown["policy"], sort_keys=False, allow_unicode=True),
        "history": history, "before": before,
    })
