"""The ledger: paged reading for auditors, verification, checkpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from hanoi.api.deps import get_node, require
from hanoi.api.params import Cursor
from hanoi.core.roles import Permission
from hanoi.services import ledger
from hanoi.services.node import Node
from hanoi.services.tokens import Principal

router = APIRouter(prefix="/ledger", tags=["ledger"])


@router.get("", summary="Ledger entries in order, paged by sequence number")
def read_ledger(after: Cursor | None = None, limit: int = Query(100, ge=1, le=1000),
                subject: str | None = Query(None, max_length=300),
                action: str | None = Query(None, max_length=100),
                _: Principal = Depends(require(Permission.LEDGER_READ)),
                node: Node = Depends(get_node)) -> dict[str, Any]:
    return ledger.page(node, after=after, limit=limit, subject=subject, action=action)


@router.get("/verify", summary="Recompute the chain and check the signed checkpoints")
def verify_ledger(_: Principal = Depends(require(Permission.LEDGER_READ)),
                  node: Node = Depends(get_node)) -> dict[str, Any]:
    return ledger.verify(node, workers=1).as_dict()


@router.post("/checkpoints", status_code=201, summary="Sign the current head now")
def checkpoint(who: Principal = Depends(require(Permission.TOKENS_MANAGE)),
               node: Node = Depends(get_node)) -> dict[str, Any]:
    return ledger.checkpoint(node, who.actor)
