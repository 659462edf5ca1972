"""Cooperation requests under Chapter V: drafting, the gate, lifecycle, responses, deadlines."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, File, Form, Query, UploadFile
from fastapi.responses import FileResponse, Response
from starlette.convertors import Convertor, register_url_convertor

from hanoi.api.deps import get_node, require
from hanoi.api.openapi import documented
from hanoi.api.params import duration
from hanoi.api.schemas import requests as schemas
from hanoi.api.schemas.common import LedgerEntry
from hanoi.core.roles import Permission
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal, parse_duration
from hanoi.requests import contents, custody, lifecycle, service
from hanoi.requests.responses import refusal_grounds


class RequestIdConvertor(Convertor[str]):
    """A request id as ``services.requests.new_id`` makes them (``GB-2026-1a2b3c4d``): so
    ``/requests/due``, ``/types`` and ``/validate`` are never read as a request id (a PATCH
    there is a 405 naming the methods the path takes, as the OpenAPI document says)."""

    regex = "[A-Za-z]{2,3}-[0-9]{4}-[0-9a-f]{8}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("request_id", RequestIdConvertor())
router = APIRouter(prefix="/requests", tags=["requests"])
READ = Depends(require(Permission.REQUESTS_READ))
WRITE = Depends(require(Permission.REQUESTS_WRITE))
NODE = Depends(get_node)
ANY_OBJECT = Body(..., examples=[{}])


@router.get("/types", name="types", summary="Request types, their fields and citations, lifecycle and refusal grounds")
@documented(returns=schemas.RequestTypes)
def types(_: Principal = READ) -> dict[str, Any]:
    return {"types": contents.describe_types(), "fields": contents.describe_fields(),
            "lifecycle": lifecycle.describe(), "refusal_grounds": refusal_grounds()}


@router.post("/validate", summary="Check a draft without storing it: every problem with its article")
@documented(body=schemas.RequestDraft, returns=schemas.Validation)
def validate(body: dict[str, Any] = ANY_OBJECT, _: Principal = WRITE, node: Node = NODE) -> dict[str, Any]:
    problems = service.validate(body.get("type"), body.get("fields") or {}, node.now())  # type: ignore[arg-type]
    return {"ok": not problems, "problems": [p.as_dict() for p in problems]}


@router.post("", status_code=201, summary="Create a draft (outgoing) or record a request received (incoming)")
@documented(body=schemas.RequestNew, returns=schemas.Request)
def create(body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE, node: Node = NODE) -> dict[str, Any]:
    return service.create(node, who.actor, body)


@router.get("", name="list", summary="List requests")
@documented(returns=list[schemas.RequestSummary])
def list_(state: str | None = None, direction: str | None = None, partner: str | None = None,
          type: str | None = None, limit: int = Query(200, ge=1, le=1000),
          _: Principal = READ, node: Node = NODE) -> list[dict[str, Any]]:
    return service.list_requests(node, state=state, direction=direction, partner=partner, type_=type, limit=limit)


@router.get("/due", summary="Deadlines due within a period or overdue, soonest first")
@documented(returns=list[schemas.DueDeadline])
def due(within: str = duration("7d", "30m, 12h, 7d, 2w"),
        _: Principal = READ, node: Node = NODE) -> list[dict[str, Any]]:
    return service.due(node, parse_duration(within, "within"))


@router.get("/{request_id:request_id}", summary="A request with its checklist, decision, deadlines and evidence")
@documented(returns=schemas.Request)
def show(request_id: str, _: Principal = READ, node: Node = NODE) -> dict[str, Any]:
    return service.show(node, request_id)


@router.patch("/{request_id:request_id}", summary="Edit a draft (null removes a field)")
@documented(body=schemas.RequestChange, returns=schemas.Request)
def update(request_id: str, body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE,
           node: Node = NODE) -> dict[str, Any]:
    return service.update(node, who.actor, request_id, body)


@router.post("/{request_id:request_id}/submit", summary="Submit: completeness, then the gate, then the move; says "
             "whether it will be delivered (a partner without endpoint gets nothing)")
@documented(returns=schemas.RequestSubmitted)
def submit(request_id: str, who: Principal = WRITE, node: Node = NODE) -> dict[str, Any]:
    return service.submit(node, who.actor, request_id)


@router.post("/{request_id:request_id}/events", summary="Record a lifecycle event (409 names the allowed moves)")
@documented(body=schemas.LifecycleEvent, returns=schemas.Request)
def event(request_id: str, body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE,
          node: Node = NODE) -> dict[str, Any]:
    data = dict(body)
    name = data.pop("event", None)
    return service.act(node, who.actor, request_id, name, data)


@router.post("/{request_id:request_id}/review", summary="A named person's review (approve, refuse, findings)")
@documented(body=schemas.NamedReview, returns=schemas.Request)
def review(request_id: str, body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE,
           node: Node = NODE) -> dict[str, Any]:
    return service.review(node, who.actor, request_id, body)


@router.post("/{request_id:request_id}/assessment", summary="The requested side's assessment; the gate re-decides")
@documented(body=schemas.RequestedSideAssessment, returns=schemas.Request)
def assess(request_id: str, body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE,
           node: Node = NODE) -> dict[str, Any]:
    return service.assess(node, who.actor, request_id, body)


@router.post("/{request_id:request_id}/response", name="respond",
             summary="Execute, partly execute, refuse (with grounds) or postpone")
@documented(body=schemas.ResponseToRequest, returns=schemas.Request)
def respond(request_id: str, body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE,
            node: Node = NODE) -> dict[str, Any]:
    return service.respond(node, who.actor, request_id, body)


@router.post("/{request_id:request_id}/consents", summary="Record the sender's consent to reuse or onward transfer")
@documented(body=schemas.ConsentNew, returns=schemas.Request)
def consent(request_id: str, body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE,
            node: Node = NODE) -> dict[str, Any]:
    return service.record_consent(node, who.actor, request_id, body)


@router.post("/{request_id:request_id}/use-checks", summary="May evidence received be put to this use? (ledgered)")
@documented(body=schemas.UseCheck, returns=schemas.UseDecision)
def use_check(request_id: str, body: dict[str, Any] = ANY_OBJECT, who: Principal = WRITE,
              node: Node = NODE) -> dict[str, Any]:
    return service.check_evidence_use(node, who.actor, request_id, body)


@router.get("/{request_id:request_id}/timeline", summary="Every ledger entry about the request, in order")
@documented(returns=list[LedgerEntry])
def timeline(request_id: str, _: Principal = READ, node: Node = NODE) -> list[dict[str, Any]]:
    return service.timeline(node, request_id)


@router.post("/{request_id:request_id}/evidence", status_code=201,
             summary="Attach a file (multipart; stored by SHA-256)")
@documented(returns=schemas.EvidenceAdded)
def add_evidence(request_id: str, file: UploadFile = File(...), description: str = Form(""),
                 who: Principal = WRITE, node: Node = NODE) -> dict[str, Any]:
    return custody.add(node, who.actor, request_id, name=file.filename or "", stream=file.file,
                        media_type=file.content_type or "application/octet-stream", description=description)


@router.get("/{request_id:request_id}/evidence/package",
            summary="A signed evidence package (zip); the export is ledgered", response_class=FileResponse,
            responses={200: {"description": "The package", "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
def evidence_package(request_id: str, background: BackgroundTasks,
                     received: bool = Query(False, description="The package the partner sent, signed by it"),
                     who: Principal = WRITE, node: Node = NODE) -> FileResponse:
    tmp = Path(tempfile.mkdtemp(prefix="hanoi-pkg-")) / f"{request_id}-evidence.zip"
    if received:
        info = custody.export_received(node, who.actor, request_id, tmp)
        headers = {"X-Signer": info["signer"]}
    else:
        info = custody.export(node, who.actor, request_id, tmp)
        headers = {"X-Package-Id": info["package_id"]}
    background.add_task(_cleanup, tmp)
    return FileResponse(tmp, media_type="application/zip", filename=tmp.name, headers=headers)


def _cleanup(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()


@router.get("/{request_id:request_id}/render",
            summary="Printable form for signature: both authorities, the submission, every field with "
                    "its citation, the gate's decision, deadlines, history (html or pdf)",
            response_class=Response, responses={200: {"content": {"text/html": {}, "application/pdf": {}},
                                                      "description": "The form"}})
def render(request_id: str, format: str = Query("html", pattern="^(html|pdf)$"),
           _: Principal = READ, node: Node = NODE) -> Response:
    data = service.render_form(node, request_id, format)
    media = "application/pdf" if format == "pdf" else "text/html; charset=utf-8"
    return Response(data, media_type=media)
