"""RFC 9457 problem details for every error, naming the field and, for a rule, its article."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hanoi.core.citations import RULES
from hanoi.core.errors import HanoiError, Throttled

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://hanoi-exchange.org/problems/"


def problem(status: int, title: str, detail: str, *, instance: str | None = None,
            errors: list[dict[str, Any]] | None = None, rule: str | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    if rule:
        r = RULES.get(rule)
        body["rule"] = rule
        if r:
            body["citation"] = r.citation
            body["rule_text"] = r.text
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(HanoiError)
    async def _hanoi(request: Request, exc: HanoiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, Throttled):
            headers = {"Retry-After": str(exc.retry_after)}
        return problem(exc.status, exc.title, exc.detail, instance=request.url.path,
                       errors=[p.as_dict() for p in exc.problems] or None, rule=exc.rule,
                       headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "invalid")}
                  for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(422, "Invalid input", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail),
                       instance=request.url.path, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover
        # Last resort: never leak a traceback. Tests treat any 500 as a defect.
        return problem(500, "Internal error", "the node could not complete this request; "
                       "nothing was written (the transaction was rolled back)", instance=request.url.path)
