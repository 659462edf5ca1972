"""Compose a request: pick its type from the request-type table, fill the fields (each with
its article), see every problem beside its field as you type (``/compose/check`` answers with
the problems of ``hanoi requests validate``, the same function), start from the type's
template, and submit: the draft is stored, then submitted, which runs the gate; its decision
shows with every reason and article."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from hanoi.console.render import base_path, page
from hanoi.console.routes.requests import context_for
from hanoi.console.security import allowed, get_node
from hanoi.core.errors import HanoiError, InvalidInput, Problem
from hanoi.core.gate import GateRefused
from hanoi.core.roles import Permission
from hanoi.node.runtime import Node
from hanoi.node.users import ConsoleSession
from hanoi.requests import contents, desk, samples, service
from hanoi.requests.contents import FieldSpec
from hanoi.requests.types import REQUEST_TYPES

router = APIRouter(prefix="/compose")

FIELD_PREFIX = "f."


def _value(spec: FieldSpec, raw: str) -> Any:
    """A form's text as the JSON value the validator reads (empty: absent)."""
    text = raw.strip()
    if not text:
        return None
    if spec.kind == "int":
        try:
            return int(text)
        except ValueError:
            return text  # the validator names it
    if spec.kind == "bool":
        return text in ("1", "true", "on", "yes")
    if spec.kind == "list":
        return [part.strip() for part in text.replace("\r", "").split("\n") if part.strip()]
    return text


def _shown(spec: FieldSpec, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def fields_from(form: FormData, type_: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in contents.fields_for(type_):
        raw = form.get(FIELD_PREFIX + spec.name)
        value = _value(spec, raw if isinstance(raw, str) else "")
        if value is not None:
            out[spec.name] = value
    return out


def _form(request: Request, node: Node, type_: str, values: dict[str, Any], *, partner: str = "",
          problems: list[Problem] | None = None, error: str = "", status: int = 200) -> Response:
    by_field: dict[str, list[dict[str, str]]] = {}
    for p in problems or []:
        by_field.setdefault(p.field, []).append(p.as_dict())
    specs = [{**s.describe(type_), "value": _shown(s, values.get(s.name)),
              "problems": by_field.pop(s.name, [])} for s in contents.fields_for(type_)] if type_ else []
    return page(request, "compose.html", {
        "type": type_, "types": [t.as_dict() for t in REQUEST_TYPES.values()], "specs": specs,
        "partners": desk.partners(node), "partner": partner, "other_problems": [p for ps in by_field.values()
                                                                                for p in ps],
        "error": error, "prefix": FIELD_PREFIX,
    }, status=status)


@router.get("", name="compose")
def compose(request: Request, _: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
            node: Node = Depends(get_node)) -> Response:
    type_ = request.query_params.get("type", "")
    type_ = type_ if type_ in REQUEST_TYPES else ""
    values: dict[str, Any] = {}
    if type_ and request.query_params.get("template") == "1":
        values, _optional = samples.sample_fields(type_, node.now())
    return _form(request, node, type_, values, partner=request.query_params.get("partner", "")[:64])


@router.post("/check")
async def check(request: Request, _: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
                node: Node = Depends(get_node)) -> Response:
    """Every problem of the fields as they stand, with its field and article (JSON, for the
    page's script): ``hanoi requests validate`` run on the form."""
    form = await request.form()
    type_ = form.get("type")
    if not isinstance(type_, str) or type_ not in REQUEST_TYPES:
        return JSONResponse({"problems": [{"field": "type", "message": "choose a request type"}]})
    problems = service.validate(type_, fields_from(form, type_), node.now())
    return JSONResponse({"problems": [p.as_dict() for p in problems]})


@router.post("")
async def submit(request: Request, session: ConsoleSession = Depends(allowed(Permission.REQUESTS_WRITE)),
                 node: Node = Depends(get_node)) -> Response:
    form = await request.form()
    type_ = form.get("type")
    partner = form.get("partner")
    partner = partner if isinstance(partner, str) else ""
    if not isinstance(type_, str) or type_ not in REQUEST_TYPES:
        return _form(request, node, "", {}, partner=partner, status=422)
    fields = fields_from(form, type_)
    draft_only = form.get("action") == "draft"
    try:
        if not draft_only:
            problems = service.validate(type_, fields, node.now())
            if problems:
                raise InvalidInput(f"the {type_} request has {len(problems)} problem(s)", problems)
        created = service.create(node, session.actor, {"type": type_, "partner": partner, "fields": fields})
    except HanoiError as err:
        return _form(request, node, type_, fields, partner=partner, problems=err.problems,
                     error=err.detail, status=err.status)
    request_id = created["id"]
    if draft_only:
        return RedirectResponse(f"{base_path(request)}requests/{request_id}?done=draft", status_code=303)
    try:
        service.submit(node, session.actor, request_id)
    except HanoiError as err:
        ctx = context_for(node, session, request_id)
        ctx["refusal"] = {"detail": err.detail, "title": err.title, "rule": err.rule, "status": err.status,
                          "problems": [p.as_dict() for p in err.problems]}
        if isinstance(err, GateRefused):
            ctx["refusal"]["decision"] = err.decision.as_dict()
        return page(request, "request.html", ctx, status=err.status)
    return RedirectResponse(f"{base_path(request)}requests/{request_id}?done=submit", status_code=303)
