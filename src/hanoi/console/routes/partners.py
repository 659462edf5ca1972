"""Partners: the members with their standing and assessment history (who, when, findings,
articles), a form to record an assessment (as `hanoi members assess`), and the peers with
their delivery health (items waiting, the oldest, the last error)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from hanoi.console.render import base_path, page
from hanoi.console.security import allowed, get_node
from hanoi.core.errors import HanoiError
from hanoi.core.members import Standing
from hanoi.core.roles import Permission, allows
from hanoi.node import members, outbox
from hanoi.node.runtime import Node
from hanoi.node.users import ConsoleSession

router = APIRouter(prefix="/partners")


def _context(node: Node, session: ConsoleSession) -> dict[str, Any]:
    listed = members.list_members(node)
    health = outbox.health(node)
    return {"members": listed, "health": health, "standings": [s.value for s in Standing],
            "can_assess": allows(session.role, Permission.MEMBERS_ASSESS)}


@router.get("", name="partners")
def partners(request: Request, session: ConsoleSession = Depends(allowed(Permission.MEMBERS_READ)),
             node: Node = Depends(get_node)) -> Response:
    return page(request, "partners.html", _context(node, session))


def _member_page(request: Request, node: Node, session: ConsoleSession, member_id: str, *,
                 refusal: HanoiError | None = None, form: dict[str, str] | None = None) -> Response:
    shown = members.show(node, member_id)
    ctx = {"m": shown, "standings": [s.value for s in Standing], "form": form or {},
           "can_assess": allows(session.role, Permission.MEMBERS_ASSESS),
           "health": outbox.health(node).get(member_id), "done": request.query_params.get("done") == "1"}
    if refusal is not None:
        by_field: dict[str, list[dict[str, str]]] = {}
        for p in refusal.problems:
            by_field.setdefault(p.field.split("[")[0], []).append(p.as_dict())
        ctx["refusal"] = {"detail": refusal.detail, "by_field": by_field}
    return page(request, "partner.html", ctx, status=refusal.status if refusal else 200)


@router.get("/{member_id}")
def member(request: Request, member_id: str, session: ConsoleSession = Depends(allowed(Permission.MEMBERS_READ)),
           node: Node = Depends(get_node)) -> Response:
    return _member_page(request, node, session, member_id)


Short = Annotated[str, Form(max_length=200)]


@router.post("/{member_id}/assess")
def assess(request: Request, member_id: str, standing: Short, assessor: Short,
           findings: Annotated[str, Form(max_length=20_000)] = "", articles: Short = "", sources: Short = "",
           session: ConsoleSession = Depends(allowed(Permission.MEMBERS_ASSESS)),
           node: Node = Depends(get_node)) -> Response:
    data = {"standing": standing, "assessor": assessor.strip(), "findings": findings.strip(),
            "articles": [a.strip() for a in articles.split(",") if a.strip()],
            "sources": [s.strip() for s in sources.split(",") if s.strip()]}
    try:
        members.assess(node, session.actor, member_id, data)
    except HanoiError as err:
        return _member_page(request, node, session, member_id, refusal=err,
                            form={"standing": standing, "assessor": assessor, "findings": findings,
                                  "articles": articles, "sources": sources})
    return RedirectResponse(f"{base_path(request)}partners/{member_id}?done=1", status_code=303)
