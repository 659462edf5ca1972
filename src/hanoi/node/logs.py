"""Structured logs: one JSON object per line, each carrying the id of the request (or delivery
round) it belongs to.

``hanoi serve`` calls ``configure()``: every record of every logger (the node's, uvicorn's) is
written to standard error as JSON with ``ts``, ``level``, ``logger``, ``message``,
``request_id`` and, for the access log (logger ``hanoi.access``), ``method``, ``path``,
``route``, ``status``, ``duration_ms``, ``client`` and ``token_id``. The API's middleware sets
the request id from a well-formed ``X-Request-ID`` header (a proxy's) or a new one, and answers
it in ``X-Request-ID``; the delivery worker sets one per round (``outbox-...``). A line written
outside both says ``request_id: "-"``: the field is on every line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("hanoi_request_id", default="-")
HEADER = "x-request-id"
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
ACCESS = logging.getLogger("hanoi.access")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def new_id(prefix: str = "") -> str:
    return prefix + secrets.token_hex(8)


def accept_id(header: str | None) -> str:
    """A request id given by a proxy when it is well formed (8-128 of ``A-Za-z0-9._:-``),
    otherwise a new one: a header never writes arbitrary text into the logs."""
    return header if header is not None and _GOOD_ID.match(header) else new_id()


@contextmanager
def request_id(value: str) -> Iterator[str]:
    token = REQUEST_ID.set(value)
    try:
        yield value
    finally:
        REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; extra attributes (``log.info(..., extra={...})``) kept."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
                  .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out and not key.startswith("_") \
                    and key not in ("color_message",):
                out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def handler(stream: Any = None) -> logging.Handler:
    h = logging.StreamHandler(stream or sys.stderr)
    h.setFormatter(JsonFormatter())
    h.addFilter(RequestIdFilter())
    return h


def configure(level: int = logging.INFO, stream: Any = None) -> None:
    """JSON lines on standard error for every logger, uvicorn's included (its own access log
    off: ``hanoi.access`` writes one line per request with its id)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler(stream))
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # /readyz asks Alembic where the schema stands at every probe: not a line each time.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


UVICORN_LOG_CONFIG: dict[str, Any] = {
    # Handed to uvicorn.run so its workers keep the JSON handler set by ``configure``.
    "version": 1, "disable_existing_loggers": False,
    "formatters": {"json": {"()": "hanoi.node.logs.JsonFormatter"}},
    "filters": {"request_id": {"()": "hanoi.node.logs.RequestIdFilter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                            "filters": ["request_id"], "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {"uvicorn": {"handlers": [], "propagate": True, "level": "INFO"},
                "uvicorn.error": {"handlers": [], "propagate": True, "level": "INFO"},
                "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
                "alembic.runtime.migration": {"level": "WARNING"}},
}
