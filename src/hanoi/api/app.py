"""The FastAPI application for one node."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from hanoi.api import openapi, problems
from hanoi.api.limits import BodyLimit
from hanoi.api.observe import Observe
from hanoi.api.routes import federation, ledger, media, members, ops, policy, requests, tokens, users
from hanoi.api.routes import feeds as feeds_routes
from hanoi.api.routes import node as node_routes
from hanoi.api.routes import signals as signals_routes
from hanoi.api.routes import taxii as taxii_routes
from hanoi.bootstrap import open_node
from hanoi.node.runtime import Node

API_PREFIX = "/api/v1"
SWAGGER_UI_VERSION = "5.35.0"  # swagger-ui-dist from the npm registry (api/static/swagger-ui/README.md)
SWAGGER_UI_DIR = Path(__file__).parent / "static" / "swagger-ui"
DOCS_STATIC = "/docs/static"


def create_app(node: Node) -> FastAPI:
    app = FastAPI(
        title=f"Hanoi Exchange — {node.config.name}",
        version="0.1.0",
        description="A node of Hanoi Exchange: cooperation against cybercrime under the UN "
                    "Convention against Cybercrime. Every endpoint but /api/v1/health needs a "
                    "bearer token; errors are RFC 9457 problem+json.",
        openapi_url="/openapi.json",
        docs_url=None,  # served below from the package, not from a CDN
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.node = node
    problems.install(app)
    openapi.install(app)
    for router in (node_routes.router, members.router, requests.router, policy.router, ledger.router,
                   tokens.router, users.router, federation.admin_router):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(federation.router)  # /federation/v1: node to node, signed, no token
    app.include_router(signals_routes.router, prefix=API_PREFIX)
    app.include_router(media.router, prefix=API_PREFIX)
    app.include_router(feeds_routes.router, prefix=API_PREFIX)
    app.include_router(taxii_routes.router)  # /taxii2: TAXII 2.1, Basic (token as password) or bearer
    app.include_router(ops.router)  # /livez, /readyz, /metrics
    _mount_docs(app)
    _mount_console(app, node)
    # Evidence: multipart framing adds a little to the file itself; the service enforces the
    # exact limit. An import is the raw document: the same limit as `hanoi signals import`.
    app.add_middleware(BodyLimit, max_bytes=node.config.max_body_bytes,
                       upload_limits={"/evidence": node.config.max_evidence_bytes + 65_536,
                                      "/signals/import": node.config.max_import_bytes})
    app.add_middleware(Observe)  # outermost: the request id before anything else, one access line
    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI at /docs, its files vendored in the package (``api/static/swagger-ui``):
    nodes run air-gapped."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount(DOCS_STATIC, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def _docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} — API",
                                   swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png")


def _mount_console(app: FastAPI, node: Node) -> None:
    """The web console under /console/ (its own error pages, headers and CSRF checks)."""
    from fastapi.responses import RedirectResponse

    from hanoi.console.app import create_console

    @app.get("/console", include_in_schema=False)
    def _console_slash() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=308)

    app.mount("/console", create_console(node))


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` with several workers: each opens the node itself."""
    return create_app(open_node(Path(os.environ["HANOI_HOME"]), migrate=False))
