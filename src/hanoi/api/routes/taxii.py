"""TAXII 2.1 under ``/taxii2/``: discovery, the API root, collections, objects, manifest,
versions and status (``services.taxii`` holds the logic).

Authentication is HTTP Basic with an API token as the password (the username is free; a
client that can only set a username may put the token there), as TAXII 2.1 requires servers to
support, or a bearer token. Without either: 401 with ``WWW-Authenticate: Basic``. Errors are
TAXII error messages (``application/taxii+json;version=2.1``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from hanoi.api.params import Count, since
from hanoi.api.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from hanoi.core.errors import HanoiError, Unauthorized
from hanoi.node import tokens
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal
from hanoi.signals import taxii


class TaxiiResponse(JSONResponse):
    """What every TAXII route answers (documented so; each builds its own body)."""

    media_type = taxii.MEDIA_TYPE


_TAXII_ERROR = {"$ref": "#/components/schemas/TaxiiError"}  # api/schemas/common.py, added by api/openapi.py


def _answers(description: str, *, problem_too: bool = False) -> dict[str, Any]:
    """A TAXII error message; ``problem_too`` where the API's own layers (body limits, parameter
    validation) may answer first, as problem+json."""
    content: dict[str, Any] = {taxii.MEDIA_TYPE: {"schema": _TAXII_ERROR}}
    if problem_too:
        content[PROBLEM_MEDIA_TYPE] = {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
    return {"description": description, "content": content}


router = APIRouter(prefix="/taxii2", tags=["taxii"], default_response_class=TaxiiResponse, responses={
    400: _answers("The request could not be read", problem_too=True),
    401: _answers("No credentials, or credentials that are not a valid token"),
    403: _answers("The token may not read or write this collection"),
    404: _answers("No such collection, object or status"),
    406: _answers("The Accept header does not take TAXII 2.1"),
    413: _answers("The envelope is larger than this node accepts", problem_too=True),
    422: _answers("A parameter or an object is invalid", problem_too=True),
})
ROOT = "api"
CHALLENGE = 'Basic realm="Hanoi Exchange TAXII", charset="UTF-8", Bearer'


def _response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                    status_code=status, media_type=taxii.MEDIA_TYPE, headers=headers)


def _error(status: int, title: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return _response({"title": title, "description": description, "http_status": str(status)},
                     status, headers)


def _principal(request: Request, node: Node) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    token: str | None = None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are not valid base64 'user:token'") from None
        token = password or user
    elif scheme.lower() == "bearer":
        token = value.strip()
    if not token:
        raise Unauthorized("send an API token as the password of HTTP Basic, or as a bearer token")
    return tokens.authenticate(node, token)


def _accepts(request: Request) -> bool:
    accept = request.headers.get("accept", "").replace(" ", "").lower()
    return not accept or "application/taxii+json" in accept or "*/*" in accept \
        or "application/*" in accept


async def _run(request: Request, fn: Callable[[Node, Principal], Response]) -> Response:
    """Authenticate, check Accept, run ``fn`` off the event loop, and turn errors into TAXII
    error messages."""
    node: Node = request.app.state.node
    try:
        who = await run_in_threadpool(_principal, request, node)
        if not _accepts(request):
            return _error(406, "Not acceptable", f"this server answers {taxii.MEDIA_TYPE}")
        return await run_in_threadpool(fn, node, who)
    except HanoiError as err:
        headers = {"WWW-Authenticate": CHALLENGE} if err.status == 401 else None
        detail = err.detail + "".join(f"; {p}" for p in err.problems[:20])
        return _error(err.status, err.title, detail, headers)


def _root_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + f"/taxii2/{ROOT}/"


@router.get("/", summary="TAXII discovery")
async def discovery(request: Request) -> Response:
    def go(node: Node, who: Principal) -> Response:
        return _response({"title": f"Hanoi Exchange — {node.config.name}",
                          "description": "Signals of fraud and attack, each collection holding "
                                         "what the safeguards gate lets its audience receive.",
                          "default": _root_url(request), "api_roots": [_root_url(request)]})
    return await _run(request, go)


@router.get(f"/{ROOT}/", summary="TAXII API root")
async def api_root(request: Request) -> Response:
    def go(node: Node, who: Principal) -> Response:
        return _response({"title": f"{node.config.name} signals", "versions": [taxii.MEDIA_TYPE],
                          "max_content_length": node.config.max_body_bytes})
    return await _run(request, go)


@router.get(f"/{ROOT}/collections/", summary="The collections you may read")
async def collections(request: Request) -> Response:
    def go(node: Node, who: Principal) -> Response:
        found = taxii.collections_for(node, who)
        return _response({"collections": [c.resource() for c in found]} if found else {})
    return await _run(request, go)


@router.get(f"/{ROOT}/collections/{{cid}}/", summary="One collection")
async def get_collection(request: Request, cid: str) -> Response:
    def go(node: Node, who: Principal) -> Response:
        return _response(taxii.collection(node, who, cid).resource())
    return await _run(request, go)


def _filters(request: Request, limit: int | None, added_after: str | None, next_: str | None) -> taxii.Filters:
    q = request.query_params
    return taxii.filters(added_after=added_after, limit=limit, next_=next_, ids=q.get("match[id]"),
                         types=q.get("match[type]"), versions=q.get("match[version]"),
                         spec_versions=q.get("match[spec_version]"))


def _page_headers(p: taxii.Page) -> dict[str, str]:
    if not p.rows:
        return {}
    first, last = p.first_added, p.last_added
    assert first is not None and last is not None
    return {"X-TAXII-Date-Added-First": taxii.stix_time(first),
            "X-TAXII-Date-Added-Last": taxii.stix_time(last)}


LIMIT = Query(None)
AFTER = since("Only objects added after this RFC 3339 time")
NEXT = Query(None, alias="next", max_length=200)


@router.get(f"/{ROOT}/collections/{{cid}}/objects/", summary="Objects, paged (added_after, "
            "limit, next, match[id|type|version|spec_version])")
async def objects(request: Request, cid: str, limit: Count | None = LIMIT, added_after: str | None = AFTER,
                  next_: str | None = NEXT) -> Response:
    def go(node: Node, who: Principal) -> Response:
        p = taxii.page(node, taxii.collection(node, who, cid), _filters(request, limit, added_after, next_))
        return _response(taxii.envelope(p), headers=_page_headers(p))
    return await _run(request, go)


@router.post(f"/{ROOT}/collections/{{cid}}/objects/", status_code=202,
             summary="Add objects (a STIX envelope); answers a status resource")
async def add_objects(request: Request, cid: str) -> Response:
    body = await request.body()

    def go(node: Node, who: Principal) -> Response:
        return _response(taxii.add_objects(node, who, taxii.collection(node, who, cid), body), 202)
    return await _run(request, go)


@router.get(f"/{ROOT}/collections/{{cid}}/objects/{{oid}}/", summary="One object")
async def get_object(request: Request, cid: str, oid: str, limit: Count | None = LIMIT,
                     added_after: str | None = AFTER, next_: str | None = NEXT) -> Response:
    def go(node: Node, who: Principal) -> Response:
        f = _filters(request, limit, added_after, next_)
        p = taxii.page(node, taxii.collection(node, who, cid), taxii.Filters(
            f.added_after, f.limit, f.next, (oid,), f.types, f.versions, f.spec_versions))
        if not p.rows:
            return _error(404, "Not found", f"no object {oid[:80]!r} in this collection that you may read")
        return _response(taxii.envelope(p), headers=_page_headers(p))
    return await _run(request, go)


@router.get(f"/{ROOT}/collections/{{cid}}/objects/{{oid}}/versions/", summary="An object's versions")
async def object_versions(request: Request, cid: str, oid: str, limit: Count | None = LIMIT,
                          added_after: str | None = AFTER, next_: str | None = NEXT) -> Response:
    def go(node: Node, who: Principal) -> Response:
        f = _filters(request, limit, added_after, next_)
        p = taxii.page(node, taxii.collection(node, who, cid), taxii.Filters(
            f.added_after, f.limit, f.next, (oid,), (), ("all",), f.spec_versions))
        if not p.rows:
            return _error(404, "Not found", f"no object {oid[:80]!r} in this collection that you may read")
        return _response(taxii.versions(p), headers=_page_headers(p))
    return await _run(request, go)


@router.get(f"/{ROOT}/collections/{{cid}}/manifest/", summary="The manifest, paged like objects")
async def get_manifest(request: Request, cid: str, limit: Count | None = LIMIT, added_after: str | None = AFTER,
                       next_: str | None = NEXT) -> Response:
    def go(node: Node, who: Principal) -> Response:
        p = taxii.page(node, taxii.collection(node, who, cid), _filters(request, limit, added_after, next_))
        return _response(taxii.manifest(p), headers=_page_headers(p))
    return await _run(request, go)


@router.get(f"/{ROOT}/status/{{sid}}/", summary="The status of an add-objects request")
async def get_status(request: Request, sid: str) -> Response:
    def go(node: Node, who: Principal) -> Response:
        return _response(taxii.status(node, sid))
    return await _run(request, go)
