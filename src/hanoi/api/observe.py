"""Every HTTP request: its id (``X-Request-ID``), one access-log line and its metrics.

Pure ASGI middleware, outermost: the request id is set before anything else runs, so every
line logged while the request is handled carries it (``hanoi.node.logs``), and the answer
carries it back. The route label of the metrics is the route's template (``/api/v1/requests/
{request_id}``), never the path itself, so ids never become label values.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanoi.node import logs, metrics


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope.get("headers", [])
                       if k == b"x-request-id"), None)
        rid = logs.accept_id(header)
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        with logs.request_id(rid):
            try:
                await self.app(scope, receive, sending)
            finally:
                elapsed = time.perf_counter() - started
                route = _route(scope)
                method = scope.get("method", "")
                metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
                metrics.HTTP_SECONDS.labels(method, route).observe(elapsed)
                state: Any = scope.get("state") or {}
                client = scope.get("client")
                logs.ACCESS.info("%s %s %s", method, scope.get("path", ""), status, extra={
                    "method": method, "path": scope.get("path", ""), "route": route,
                    "status": status, "duration_ms": round(elapsed * 1000, 3),
                    "client": client[0] if client else None,
                    "token_id": state.get("token_id") if isinstance(state, dict) else None})


def _route(scope: Scope) -> str:
    """The template of the route that answered, its routers' prefixes included (FastAPI keeps
    an included router's routes under their own path: the prefix is the literal part of the
    path before the route's own match)."""
    raw = scope.get("path", "")
    route = scope.get("route")
    template, regex = getattr(route, "path_format", None), getattr(route, "path_regex", None)
    if isinstance(template, str) and regex is not None:
        for i, ch in enumerate(raw):
            if ch == "/" and regex.match(raw[i:]):
                return raw[:i] + template
        return template
    for prefix in ("/console", "/docs", "/taxii2"):  # mounted apps: their prefix only
        if raw.startswith(prefix):
            return prefix
    return "unmatched"
