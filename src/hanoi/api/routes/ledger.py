"""The ledger: paged reading for auditors, verification, checkpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from hanoi.api.deps import get_node, require
from hanoi.api.openapi import documented
from hanoi.api.params import Cursor
from hanoi.api.schemas.platform import Checkpoint, LedgerPage, LedgerVerification, WitnessedVerification
from hanoi.core.roles import Permission
from hanoi.node import ledger, witness
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal

router = APIRouter(prefix="/ledger", tags=["ledger"])


@router.get("", name="read", summary="Ledger entries in order, paged by sequence number")
@documented(returns=LedgerPage)
def read_ledger(after: Cursor | None = None, limit: int = Query(100, ge=1, le=1000),
                subject: str | None = Query(None, max_length=300),
                action: str | None = Query(None, max_length=100),
                _: Principal = Depends(require(Permission.LEDGER_READ)),
                node: Node = Depends(get_node)) -> dict[str, Any]:
    return ledger.page(node, after=after, limit=limit, subject=subject, action=action)


@router.get("/verify", name="verify", summary="Recompute the chain and check the signed checkpoints; with "
                                               "witnesses=true, also ask every peer for the newest head it saw")
@documented(returns=LedgerVerification | WitnessedVerification)
def verify_ledger(witnesses: bool = Query(False, description="Also hold the ledger against "
                                                             "what every peer witnessed of it"),
                  _: Principal = Depends(require(Permission.LEDGER_READ)),
                  node: Node = Depends(get_node)) -> dict[str, Any]:
    if witnesses:
        return witness.verify(node)
    return ledger.verify(node, workers=1).as_dict()


@router.post("/checkpoints", status_code=201, summary="Sign the current head now")
@documented(returns=Checkpoint)
def checkpoint(who: Principal = Depends(require(Permission.TOKENS_MANAGE)),
               node: Node = Depends(get_node)) -> dict[str, Any]:
    made = ledger.checkpoint(node, who.actor)
    return {**made, "announced_to": sorted(witness.announce(node, who.actor))}
