"""A request's page: its fields with their citations, the gate's decision, the timeline from
the ledger, the lifecycle moves allowed now (and only those), the response form, evidence
added, exported and verified, and the printable form as PDF. Every action calls the same
service function as the API and the CLI; every form carries the CSRF token (router-wide)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from hanoi.console.labels import EVENT_LABELS
from hanoi.console.render import base_path, page
from hanoi.console.security import allowed, get_node
from hanoi.core.citations import RULES
from hanoi.core.errors import HanoiError, invalid
from hanoi.core.gate import GateRefused
from hanoi.core.roles import Permission, allows
from hanoi.node.runtime import Node
from hanoi.node.users import ConsoleSession
from hanoi.requests import contents, custody, lifecycle, service
from hanoi.requests.gate import DUAL_CRIMINALITY
from hanoi.requests.packages import verify_package
from hanoi.requests.responses import CONSENT_KINDS, REFUSAL_GROUNDS, RESPONSE_KINDS
from hanoi.requests.types import REQUEST_TYPES

router = APIRouter(prefix="/requests")

Text = Annotated[str, Form(max_length=20_000)]
Short = Annotated[str, Form(max_length=200)]
RESPONSE_EVENTS = {"execute", "execute-partially", "refuse", "postpone"}


def context_for(node: Node, session: ConsoleSession, request_id: str) -> dict[str, Any]:
    shown = service.show(node, request_id)
    specs = {s.name: s for s in contents.fields_for(shown["type"])}
    fields = [{"spec": specs[name].describe(shown["type"]), "value": value}
              for name, value in shown["fields"].items() if name in specs]
    fields.sort(key=lambda f: list(specs).index(f["spec"]["name"]))
    allowed_events = shown["allowed_events"]
    moves = [e for e in allowed_events if e in EVENT_LABELS]
    responses = [e for e in allowed_events if e in RESPONSE_EVENTS]
    timeline = service.timeline(node, request_id)
    return {
        "r": shown, "fields": fields, "timeline": timeline, "moves": moves, "responses": responses,
        "side": "requested" if shown["direction"] == "incoming" else "requesting",
        "event_owner": {e: lifecycle.EVENT_ACTORS[lifecycle.Event(e)] for e in allowed_events},
        "consultation_required": lifecycle.needs_consultation(shown["type"]),
        "grounds": [(code, _rule(code)) for code in REFUSAL_GROUNDS], "response_kinds": RESPONSE_KINDS,
        "type_rule": REQUEST_TYPES[shown["type"]].as_dict(),
        "can_write": allows(session.role, Permission.REQUESTS_WRITE),
        "dual_criminality_values": DUAL_CRIMINALITY, "consent_kinds": CONSENT_KINDS,
        "received_package": any(e["action"] == "evidence.manifest" for e in timeline),
    }


def _rule(code: str) -> dict[str, Any]:
    return RULES[code].as_dict()


def _again(request: Request, node: Node, session: ConsoleSession, request_id: str, err: HanoiError,
           **extra: Any) -> Response:
    """The request's page again, with what was refused and why (every problem, its article)."""
    ctx = context_for(node, session, request_id)
    ctx["refusal"] = {"detail": err.detail, "title": err.title, "problems": [p.as_dict() for p in err.problems],
                      "rule": err.rule, "status": err.status}
    if isinstance(err, GateRefused):
        ctx["refusal"]["decision"] = err.decision.as_dict()
    ctx.update(extra)
    return page(request, "request.html", ctx, status=err.status)


def _done(request: Request, request_id: str, what: str) -> Response:
    return RedirectResponse(f"{base_path(request)}requests/{request_id}?done={what}", status_code=303)


@router.get("/{request_id}", name="request")
def show(request: Request, request_id: str, session: ConsoleSession = Depends(allowed(Permission.REQUESTS_READ)),
         node: Node = Depends(get_node)) -> Response:
    ctx = context_for(node, session, request_id)
    ctx["done"] = request.query_params.get("done", "")[:40]
    return page(request, "request.html", ctx)


@router.post("/{request_id}/move")
def move(request: Request, request_id: str, event: Short, note: Text = "", reason: Text = "",
         via: Short = "", days: Annotated[int | None, Form(ge=1, le=3650)] = None,
         session: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
         node: Node = Depends(get_node)) -> Response:
    data: dict[str, Any] = {k: v.strip() for k, v in (("note", note), ("reason", reason), ("via", via)) if v.strip()}
    if days is not None and event == "extend":
        data["days"] = days
    try:
        if event not in EVENT_LABELS:
            raise invalid("event", "is not a move this page makes")
        if event == "submit":
            service.submit(node, session.actor, request_id)
        else:
            service.act(node, session.actor, request_id, event, data)
    except HanoiError as err:
        return _again(request, node, session, request_id, err)
    return _done(request, request_id, event)


@router.post("/{request_id}/respond")
def respond(request: Request, request_id: str, kind: Short, reason: Text = "",
            grounds: Annotated[list[str] | None, Form()] = None,
            evidence: Annotated[list[str] | None, Form()] = None,
            proceedings: Short = "", specialty: Short = "", confidential: Short = "",
            data_protection: Text = "",
            session: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
            node: Node = Depends(get_node)) -> Response:
    """The response; what is handed over goes under conditions (speciality, confidentiality,
    data protection: Art. 36, Art. 40(~19)) when the proceedings are named."""
    shown = service.show(node, request_id)
    by_hash = {e["sha256"]: e for e in shown["evidence"]}
    items = [{k: by_hash[h][k] for k in ("name", "sha256", "media_type", "size", "description")}
             for h in (evidence or []) if h in by_hash]
    data: dict[str, Any] = {"kind": kind, "reason": reason.strip()}
    if grounds:
        data["grounds"] = grounds
    if items:
        data["evidence"] = items
    if proceedings.strip() and kind in ("executed", "partially-executed"):
        data["conditions"] = {"proceedings": proceedings.strip(), "specialty": specialty == "1",
                              "confidential": confidential == "1",
                              "data_protection": [x.strip() for x in data_protection.splitlines() if x.strip()]}
    try:
        service.respond(node, session.actor, request_id, data)
    except HanoiError as err:
        return _again(request, node, session, request_id, err)
    return _done(request, request_id, kind)


@router.post("/{request_id}/review")
def review(request: Request, request_id: str, reviewer: Short, decision: Short, note: Text = "",
           session: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
           node: Node = Depends(get_node)) -> Response:
    try:
        service.review(node, session.actor, request_id,
                       {"reviewer": reviewer.strip(), "approved": decision == "approve", "note": note.strip()})
    except HanoiError as err:
        return _again(request, node, session, request_id, err)
    return _done(request, request_id, "review")


@router.post("/{request_id}/consent")
def consent(request: Request, request_id: str, kind: Short, scope: Text = "", given_by: Short = "",
            session: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
            node: Node = Depends(get_node)) -> Response:
    """The sender's consent to reuse or onward transfer of what it handed over, as the API's
    `POST /requests/{id}/consents` records it (Art. 36, Art. 40(~19))."""
    try:
        service.record_consent(node, session.actor, request_id,
                               {"kind": kind, "scope": scope.strip(), "given_by": given_by.strip()})
    except HanoiError as err:
        return _again(request, node, session, request_id, err)
    return _done(request, request_id, "consent")


@router.post("/{request_id}/assess")
def assess(request: Request, request_id: str, dual_criminality: Short,
           confidentiality: Short = "", session: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
           node: Node = Depends(get_node)) -> Response:
    """The requested side's assessment, as `hanoi requests assess`: the gate decides again."""
    data: dict[str, Any] = {"dual_criminality": dual_criminality}
    if confidentiality in ("yes", "no"):
        data["confidentiality_can_keep"] = confidentiality == "yes"
    try:
        service.assess(node, session.actor, request_id, data)
    except HanoiError as err:
        return _again(request, node, session, request_id, err)
    return _done(request, request_id, "assessment")


@router.post("/{request_id}/evidence")
def add_evidence(request: Request, request_id: str, file: Annotated[UploadFile, File()],
                 description: Text = "", session: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
                 node: Node = Depends(get_node)) -> Response:
    try:
        custody.add(node, session.actor, request_id, name=file.filename or "", stream=file.file,
                    media_type=file.content_type or "application/octet-stream", description=description.strip())
    except HanoiError as err:
        return _again(request, node, session, request_id, err)
    return _done(request, request_id, "evidence")


def _export(node: Node, actor: str, request_id: str, received: bool) -> tuple[Path, dict[str, Any]]:
    out = Path(tempfile.mkdtemp(prefix="hanoi-console-pkg-")) / f"{request_id}-evidence.zip"
    try:
        info = (custody.export_received if received else custody.export)(node, actor, request_id, out)
    except BaseException:
        shutil.rmtree(out.parent, ignore_errors=True)
        raise
    return out, info


@router.post("/{request_id}/evidence/export")
def export_evidence(request: Request, request_id: str, received: Short = "",
                    session: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
                    node: Node = Depends(get_node)) -> Response:
    """The signed evidence package, downloaded (the export is ledgered: chain of custody)."""
    try:
        out, _ = _export(node, session.actor, request_id, received == "1")
    except HanoiError as err:
        return _again(request, node, session, request_id, err)
    return FileResponse(out, media_type="application/zip", filename=out.name,
                        background=BackgroundTask(shutil.rmtree, out.parent, True))


@router.post("/{request_id}/evidence/verify")
def verify_evidence(request: Request, request_id: str, received: Short = "",
                    session: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
                    node: Node = Depends(get_node)) -> Response:
    """Build the package as `hanoi requests evidence` would, and check it as `hanoi evidence
    verify` does: every file's digest, the manifest's signature against the signer's key."""
    try:
        out, _info = _export(node, session.actor, request_id, received == "1")
    except HanoiError as err:
        return _again(request, node, session, request_id, err)
    try:
        report = verify_package(out)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    ctx = context_for(node, session, request_id)
    ctx["verification"] = {**report.as_dict(), "summary": report.summary(), "received": received == "1"}
    return page(request, "request.html", ctx)


@router.get("/{request_id}/form.pdf")
def form_pdf(request_id: str, _: ConsoleSession = Depends(allowed(Permission.REQUESTS_READ)),
             node: Node = Depends(get_node)) -> Response:
    data = service.render_form(node, request_id, "pdf")
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{request_id}.pdf"'})

