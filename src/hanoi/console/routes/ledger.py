"""The auditor's window on the ledger: browse and filter (keyset pages, newest first), one
entry with its hash and links, and "verify now" run in the background with its progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from hanoi.console.render import base_path, page
from hanoi.console.security import allowed, get_node
from hanoi.core.roles import Permission
from hanoi.node import jobs, ledger
from hanoi.node.runtime import Node
from hanoi.node.users import ConsoleSession

router = APIRouter(prefix="/ledger")

PAGE_SIZE = 50
DECISIONS = ("allow", "deny", "review", "rejected", "failed")
"""Offered as suggestions in the decision filter (any value may be typed)."""

Filter = Annotated[str, Query(max_length=300)]


@router.get("", name="ledger")
def browse(request: Request, subject: Filter = "", actor: Filter = "", action: Filter = "",
           decision: Filter = "", before: Annotated[int | None, Query(ge=1)] = None,
           _: ConsoleSession = Depends(allowed(Permission.LEDGER_READ)), node: Node = Depends(get_node)) -> Response:
    filters = {"subject": subject.strip(), "actor": actor.strip(), "action": action.strip(),
               "decision": decision.strip()}
    result = ledger.browse(node, before=before, limit=PAGE_SIZE, **{k: v or None for k, v in filters.items()})
    return page(request, "ledger.html", {"result": result, "filters": filters, "before": before,
                                         "decisions": DECISIONS,
                                         "query": {k: v for k, v in filters.items() if v}})


@router.post("/verify")
def start_verification(request: Request, session: ConsoleSession = Depends(allowed(Permission.LEDGER_READ)),
                       node: Node = Depends(get_node)) -> Response:
    job_id = jobs.start_ledger_verification(node, owner=session.actor)
    if request.headers.get("hx-request"):
        return page(request, "_verify_status.html", {"job": jobs.get(node, job_id, owner=session.actor)})
    return RedirectResponse(f"{base_path(request)}ledger/verify/{job_id}", status_code=303)


@router.get("/verify/{job_id}")
def verification(request: Request, job_id: Annotated[str, Path(max_length=32)],
                 session: ConsoleSession = Depends(allowed(Permission.LEDGER_READ)),
                 node: Node = Depends(get_node)) -> Response:
    job = jobs.get(node, job_id, owner=session.actor)
    template = "_verify_status.html" if request.headers.get("hx-request") else "verify.html"
    return page(request, template, {"job": job})


@router.get("/{seq}")
def entry(request: Request, seq: int, _: ConsoleSession = Depends(allowed(Permission.LEDGER_READ)),
          node: Node = Depends(get_node)) -> Response:
    found = ledger.entry(node, seq)
    head_seq = ledger.browse(node, limit=1)["head"]["seq"]
    return page(request, "ledger_entry.html", {"entry": found, "head_seq": head_seq})
