"""The OpenAPI document that partners generate their clients from.

FastAPI builds the document from the routes; three things are settled here, in one place:

- **Operation ids people would type**: ``{tag}_{route name}`` (``requests_submit``,
  ``signals_lookup``), unique across the API (``operation_id``).
- **Bodies described by models, validated by the domain.** Many routes take their body as a
  plain object (or read it raw) so that the domain, not the web layer, refuses a wrong value
  and names the article that asks for it. ``documented(body=..., returns=...)`` attaches the
  pydantic models (``api/schemas/``) that describe such a body and the success response; they
  replace the bare ``object`` in the document, and nothing changes on the wire.
  ``tests/node/conftest.py`` holds every response the API tests see to the document.
- **Errors are problem+json** (RFC 9457, ``schemas.common.ProblemDetails``), declared on every
  operation under ``/api/v1`` and ``/federation/v1`` for the statuses it can give; TAXII
  answers its own error messages (``TaxiiError``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from hanoi.api.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from hanoi.api.schemas.common import ProblemDetails, TaxiiError

F = TypeVar("F", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
JSON = "application/json"

# Which problems an operation can answer, by what it takes.
REASONS = {
    400: "The body cannot be read (the federation inbox: not an envelope)",
    401: "No valid bearer token",
    403: "The token's role may not do this, or the safeguards gate refused (the rule and its article)",
    404: "Nothing by that id",
    409: "It conflicts with the current state (an illegal move names the allowed ones), or a named "
         "person must review first",
    413: "The body is larger than this node accepts",
    422: "A field is missing or invalid: every problem with its field and, where a legal rule "
         "refused it, the rule and its article",
    405: "The path does not take this method (Allow names those it takes)",
    429: "Too many attempts: wait for Retry-After seconds",
    500: "This node could not complete the request; nothing was written",
    503: "This node cannot take the item now; nothing was applied, try again",
}


@dataclass(frozen=True, slots=True)
class Doc:
    """What the document says about one operation beyond what its signature shows."""

    body: Any = None  # a type, or {media type: type} where the media types differ
    body_media: tuple[str, ...] = (JSON,)
    body_required: bool = True
    returns: Any = None
    media: str = JSON
    extra: dict[str, Any] = field(default_factory=dict)
    throttled: bool = False  # a per-token rate limit applies: 429 with Retry-After


_DOCS: dict[str, Doc] = {}


def documented(*, body: Any = None, body_media: tuple[str, ...] = (JSON,), body_required: bool = True,
               returns: Any = None, media: str = JSON,
               returns_also: dict[str, Any] | None = None, throttled: bool = False) -> Callable[[F], F]:
    """Describe a route's body and success response by models (the route keeps reading what it
    reads today; the domain validates). ``returns_also``: other media types the success may be
    answered in (by the request's Accept), each with its type; ``throttled``: a per-token rate
    limit applies (429 with Retry-After)."""

    def mark(fn: F) -> F:
        fn.__hanoi_doc__ = Doc(body, body_media, body_required, returns, media,  # type: ignore[attr-defined]
                               dict(returns_also or {}), throttled=throttled)
        return fn

    return mark


def operation_id(route: APIRoute) -> str:
    """``{tag}_{name}``: the first tag, then the route's name (its function's, or ``name=``)."""
    tag = (route.tags[0] if route.tags else "node")
    name = route.name.rstrip("_")
    op = re.sub(r"[^a-z0-9]+", "_", f"{tag}_{name}".lower()).strip("_")
    doc = getattr(route.endpoint, "__hanoi_doc__", None)
    if doc is not None:
        _DOCS[op] = doc
    return op


def _schema(kind: Any, components: dict[str, Any], mode: str) -> dict[str, Any]:
    """The JSON schema of a type, its models moved into the components (one name, one model)."""
    schema = TypeAdapter(kind).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
    for name, definition in schema.pop("$defs", {}).items():
        _add_component(components, name, definition)
    if schema.get("title") and "properties" in schema and isinstance(kind, type):
        _add_component(components, kind.__name__, schema)
        return {"$ref": REF.format(model=kind.__name__)}
    return schema


def _add_component(components: dict[str, Any], name: str, definition: dict[str, Any]) -> None:
    known = components.get(name)
    if known is not None and known != definition:
        raise ValueError(f"two schemas are named {name}: give one of them another name")
    components[name] = definition


def _problems_for(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    # Every problem a route can answer is declared, so a client (and the fuzzer, tests/fuzz.py)
    # finds each status in the document: 405 and 500 can come from any route.
    codes = [405, 422, 500]
    if operation.get("security"):
        codes += [401, 403, 404]  # 404: an id in the path, or one the body names
    if method in ("post", "put", "patch", "delete"):
        codes += [400, 409, 413]
    if path.endswith("/evidence/package"):
        codes += [409]  # a hand-over: the gate may hold it until a named person decides
    if path.startswith("/federation/"):
        codes = [400, 405, 413, 422, 500, 503] if method == "post" else [405, 422, 500]
    if path == "/readyz":
        codes.append(503)
    return sorted(set(codes))


def build(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description,
                       routes=app.routes, servers=app.servers)
    components: dict[str, Any] = spec.setdefault("components", {}).setdefault("schemas", {})
    problem = _schema(ProblemDetails, components, "serialization")
    _schema(TaxiiError, components, "serialization")  # the TAXII routes refer to it
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            doc = _DOCS.get(operation.get("operationId", ""))
            if doc is not None and doc.body is not None:
                by_media = doc.body if isinstance(doc.body, dict) else dict.fromkeys(doc.body_media, doc.body)
                operation["requestBody"] = {"required": doc.body_required, "content": {
                    m: {"schema": _schema(kind, components, "validation")} for m, kind in by_media.items()}}
            responses = operation.setdefault("responses", {})
            if doc is not None and doc.returns is not None:
                ok = next((c for c in responses if c.startswith("2")), "200")
                responses[ok] = {"description": responses.get(ok, {}).get("description", "Success"),
                                 "content": {doc.media: {"schema": _schema(doc.returns, components,
                                                                           "serialization")}}}
                responses[ok]["content"].update({m: {"schema": _schema(kind, components, "serialization")}
                                                 for m, kind in doc.extra.items()})
            # TAXII routes declare their own errors (TAXII error messages, api/routes/taxii.py);
            # what any route can answer (405, 500) is problem+json everywhere.
            statuses = (405, 500) if path.startswith("/taxii2") else _problems_for(path, method, operation)
            if doc is not None and doc.throttled:
                statuses = sorted({*statuses, 429})
            for status in statuses:
                responses[str(status)] = {"description": REASONS[status],
                                          "content": {PROBLEM_MEDIA_TYPE: {"schema": problem}}}
                if status == 429:
                    responses["429"]["headers"] = {"Retry-After": {
                        "description": "Seconds until the token may call again",
                        "schema": {"type": "integer", "minimum": 1}}}
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components and f'"{REF.format(model=unused)}"' not in str(spec).replace("'", '"'):
            del components[unused]
    return spec


def install(app: FastAPI) -> None:
    """Serve ``build(app)`` as the app's OpenAPI document (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
