"""RFC 9457 problem details for every error, naming the field and, for a rule, its article."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from hanoi.core.citations import RULES
from hanoi.core.errors import HanoiError, Throttled

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://hanoi-exchange.org/problems/"


class FieldProblem(BaseModel):
    """One problem with one field, and the rule that refused it (with its article)."""

    field: str
    message: str
    rule: str | None = None
    citation: str | None = None


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: what went wrong, each field named, and for a legal rule its code,
    citation and text."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None
    rule: str | None = None
    citation: str | None = None
    rule_text: str | None = None


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


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at the request's path: Starlette names only the first
    route that matches the path, and FastAPI makes one route per method."""
    routes = request.app.router.routes
    allowed = [m for m in _METHODS
               if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)]
    return ", ".join(allowed)


# The pattern ``api.params.one_of`` gives a parameter taking one of a few names.
_CHOICES = re.compile(r"\^\(\?:(.*)\)\$")


def _message(error: Mapping[str, Any]) -> str:
    """pydantic's message, but for a parameter taking one of a few names, those names (as the
    services say it), not the regular expression that checks them."""
    if error.get("type") == "string_pattern_mismatch":
        choices = _CHOICES.fullmatch(str((error.get("ctx") or {}).get("pattern", "")))
        if choices:
            names = [re.sub(r"\\(.)", r"\1", name) for name in choices.group(1).split("|")]
            return f"{error.get('input')!r} is not one of: {', '.join(names)}"
    return str(error.get("msg", "invalid"))


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
        errors = [{"field": _field(e.get("loc", ())), "message": _message(e)} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem(422, "Invalid input", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail),
                       instance=request.url.path, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover
        # Last resort: never leak a traceback. Tests treat any 500 as a defect.
        return problem(500, "Internal error", "the node could not complete this request; "
                       "nothing was written (the transaction was rolled back)", instance=request.url.path)
