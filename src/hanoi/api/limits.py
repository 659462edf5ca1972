"""Request body limits as pure ASGI middleware: size (streamed bytes counted too) and, for JSON
bodies, nesting depth."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanoi.api.problems import MEDIA_TYPE, TYPE_BASE, problem
from hanoi.core.errors import InvalidInput
from hanoi.core.nesting import check_json_depth


class BodyLimit:
    """``max_bytes`` for every body, except paths ending in a suffix of ``upload_limits``
    (evidence files, signal imports), which have their own, larger limits."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_limits: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.upload_limits = dict(upload_limits or {})

    def _limit(self, path: str) -> tuple[int, bool]:
        """The limit for ``path`` and whether it is an upload (streamed, not measured)."""
        for suffix, limit in self.upload_limits.items():
            if path.endswith(suffix):
                return limit, True
        return self.max_bytes, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit, upload = self._limit(path)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit or declared < 0:
                    await _too_large(send, limit, path)
                    return
        if not upload:  # every other route takes JSON (or nothing), whatever the content type says
            await self._measured(scope, receive, send, limit)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)

    async def _measured(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """A body (at most ``limit`` bytes) read whole and measured as JSON before any route
        parses it: nested deeper than ``MAX_DEPTH`` it is refused here (422 naming the body and
        its depth), where a parser would raise RecursionError and a route answer 500."""
        path = scope.get("path", "")
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                await self.app(scope, _replay([message], receive), send)
                return
            body = message.get("body", b"")
            received += len(body)
            if received > limit:
                await _too_large(send, limit, path)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        try:
            check_json_depth(whole, "body")
        except InvalidInput as exc:
            response = problem(422, exc.title, exc.detail, instance=path,
                               errors=[p.as_dict() for p in exc.problems])
            await response(scope, receive, send)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": whole, "more_body": False}],
                                      receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then the real one's."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


class _BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing lets it through to the problem handler."""

    def __init__(self, limit: int = 0):
        super().__init__(413, f"the request body exceeds this node's limit of {limit} bytes")


async def _too_large(send: Send, limit: int, path: str) -> None:
    body: dict[str, Any] = {
        "type": TYPE_BASE + "payload-too-large",
        "title": "Payload too large",
        "status": 413,
        "detail": f"the request body exceeds this node's limit of {limit} bytes",
        "instance": path,
        "errors": [{"field": "body", "message": f"larger than {limit} bytes"}],
    }
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", MEDIA_TYPE.encode()),
                            (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})
