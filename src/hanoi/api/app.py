"""The FastAPI application for one node."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from hanoi.api import problems
from hanoi.api.limits import BodyLimit
from hanoi.api.routes import federation, ledger, media, members, policy, requests, tokens
from hanoi.api.routes import node as node_routes
from hanoi.api.routes import signals as signals_routes
from hanoi.api.routes import taxii as taxii_routes
from hanoi.services.node import Node

API_PREFIX = "/api/v1"


def create_app(node: Node) -> FastAPI:
    app = FastAPI(
        title=f"Hanoi Exchange — {node.config.name}",
        version="0.1.0",
        description="A node of Hanoi Exchange: cooperation against cybercrime under the UN "
                    "Convention against Cybercrime. Every endpoint but /api/v1/health needs a "
                    "bearer token; errors are RFC 9457 problem+json.",
        openapi_url="/openapi.json",
        responses=problems.PROBLEM_RESPONSES,
    )
    app.state.node = node
    from hanoi.services import outbox

    outbox.load_plugins()  # inbox handlers and send gates of requests, signals and media
    problems.install(app)
    problems.document(app)
    for router in (node_routes.router, members.router, requests.router, policy.router, ledger.router,
                   tokens.router, federation.admin_router):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(federation.router)  # /federation/v1: node to node, signed, no token
    app.include_router(signals_routes.router, prefix=API_PREFIX)
    app.include_router(media.router, prefix=API_PREFIX)
    app.include_router(taxii_routes.router)  # /taxii2: TAXII 2.1, Basic (token as password) or bearer
    # Evidence: multipart framing adds a little to the file itself; the service enforces the
    # exact limit. An import is the raw document: the same limit as `hanoi signals import`.
    app.add_middleware(BodyLimit, max_bytes=node.config.max_body_bytes,
                       upload_limits={"/evidence": node.config.max_evidence_bytes + 65_536,
                                      "/signals/import": node.config.max_import_bytes})
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` with several workers: each opens the node itself."""
    return create_app(Node.open(Path(os.environ["HANOI_HOME"]), migrate=False))
