"""Request body size limit as pure ASGI middleware (it counts streamed bytes too)."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanoi.api.problems import MEDIA_TYPE, TYPE_BASE


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, upload_suffixes: tuple[str, ...] = (),
                 max_upload_bytes: int = 0):
        self.app = app
        self.max_bytes = max_bytes
        # Upload endpoints (evidence files) have their own, larger limit.
        self.upload_suffixes = upload_suffixes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, path: str) -> int:
        if self.upload_suffixes and path.endswith(self.upload_suffixes):
            return self.max_upload_bytes
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit or declared < 0:
                    await _too_large(send, limit, scope.get("path", ""))
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
