"""Operations: liveness, readiness and Prometheus metrics, at the root where orchestrators and
scrapers look for them.

- ``/livez``: the process answers (no database touched): restart it if this fails.
- ``/readyz``: the database answers and its schema is at the migrations' head: send traffic
  only when this is 200 (503 names what is wrong).
- ``/metrics``: Prometheus text format (``hanoi.node.metrics``), for an auditor's or admin's
  token (it names the partners this node delivers to).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from hanoi.api.deps import get_node, require
from hanoi.api.openapi import documented
from hanoi.api.schemas.platform import Liveness, Readiness
from hanoi.core.errors import NotReady, Problem
from hanoi.core.roles import Permission
from hanoi.node import metrics
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal
from hanoi.store.migrate import status

router = APIRouter(tags=["ops"])


@router.get("/livez", name="live", summary="The process answers (no token, no database)")
@documented(returns=Liveness)
def livez() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", name="ready", summary="The database answers and its schema is current "
            "(no token); 503 names what is not ready")
@documented(returns=Readiness)
def readyz(node: Node = Depends(get_node)) -> dict[str, Any]:
    try:
        with node.read() as conn:
            conn.execute(text("SELECT 1"))
        current, heads = status(node.engine)
    except Exception as exc:  # the database is down or refuses us: not ready, say why
        raise NotReady(f"the database does not answer: {type(exc).__name__}",
                       [Problem("database", str(exc).splitlines()[0][:300] if str(exc) else "no answer")]) from None
    if current != heads:
        raise NotReady("the database schema is not at the migrations' head: restart `hanoi "
                       "serve`, which migrates (docs/operations.md)",
                       [Problem("migrations", f"at {sorted(current)}, head {sorted(heads)}")])
    return {"status": "ready", "node_id": node.node_id, "migrations": sorted(heads)}


@router.get("/metrics", name="metrics", summary="Prometheus metrics (text format 0.0.4)",
            response_class=Response)
@documented(returns=str, media="text/plain")
async def metrics_(_: Principal = Depends(require(Permission.LEDGER_READ)),
                   node: Node = Depends(get_node)) -> Response:
    body = await run_in_threadpool(metrics.scrape, node)
    return Response(body, media_type=metrics.CONTENT_TYPE)
