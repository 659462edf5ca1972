"""Media hash lists: lists, submissions, distribution, withdrawal, matching and feedback.

Matching and feedback need ``match`` (the platform role has it); everything else needs
``media:write`` (analysts). Only hashes cross this API, never images: a device hashes its files
with ``hanoi hash`` and submits or matches the output.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response

from hanoi.api.deps import current_principal, get_node, limited, require
from hanoi.api.openapi import documented
from hanoi.api.params import RowId, one_of
from hanoi.api.schemas import media as M
from hanoi.api.schemas import signals as S
from hanoi.core.errors import Forbidden, invalid
from hanoi.core.roles import Permission, allows, roles_with
from hanoi.media import matching, model, private, read_model, service
from hanoi.node import metrics
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal
from hanoi.private_lookup import BINARY


def require_any(*permissions: Permission) -> Callable[..., Principal]:
    """Admit roles holding any of ``permissions`` (403 naming who may)."""

    def check(principal: Principal = Depends(current_principal)) -> Principal:
        if not any(allows(principal.role, p) for p in permissions):
            allowed = sorted({r.value for p in permissions for r in roles_with(p)})
            raise Forbidden(f"the {principal.role.value} role may not read media lists; this "
                            f"needs one of: {', '.join(allowed)}")
        return principal

    return check


# Hash ids match only digits in the path ({hash_id:int}), so GET /media/hashes/withdraw is
# a 405 naming POST, not a hash id that is not a number.
router = APIRouter(prefix="/media", tags=["media"])
WRITE = Depends(require(Permission.MEDIA_WRITE))
# Reading: analysts, and auditors (read-only over everything). A MEDIA_READ permission in
# core/roles.py would say this directly.
READ = Depends(require_any(Permission.MEDIA_WRITE, Permission.LEDGER_READ))
MATCH = Depends(require(Permission.MATCH))
MATCH_LIMITED = Depends(limited(Permission.MATCH, "match"))
NODE = Depends(get_node)
ANY_OBJECT = Body(..., examples=[{}])


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body


@router.post("/lists", status_code=201, summary="Create a hash list (category, threshold, TLP, "
                                                "named recipients, spike rule)")
@documented(body=M.HashListSettings, returns=M.HashList)
def create_list(body: Any = ANY_OBJECT, who: Principal = WRITE, node: Node = NODE) -> dict[str, Any]:
    return service.create_list(node, who.actor, _object(body))


@router.get("/lists", summary="Every hash list, with counts by status")
@documented(returns=list[M.HashList])
def list_lists(_: Principal = READ, node: Node = NODE) -> list[dict[str, Any]]:
    return service.list_lists(node)


@router.get("/lists/{list_id}", summary="A hash list")
@documented(returns=M.HashList)
def show_list(list_id: str, _: Principal = READ, node: Node = NODE) -> dict[str, Any]:
    return service.show_list(node, list_id)


@router.patch("/lists/{list_id}", summary="Change a list's name, threshold, TLP, recipients or "
                                          "spike rule")
@documented(body=M.HashListSettings, returns=M.HashList)
def update_list(list_id: str, body: Any = ANY_OBJECT, who: Principal = WRITE,
                node: Node = NODE) -> dict[str, Any]:
    return service.update_list(node, who.actor, list_id, _object(body))


@router.post("/lists/{list_id}/hashes", status_code=201,
             summary="Submit up to 10,000 hashes (all or nothing), each with its case reference")
@documented(body=M.HashSubmission, returns=M.HashesStored)
def submit(list_id: str, body: Any = ANY_OBJECT, who: Principal = WRITE,
           node: Node = NODE) -> dict[str, Any]:
    b = _object(body)
    return service.submit(node, who.actor, list_id, b.get("hashes"), case_ref=b.get("case_ref"))


@router.get("/lists/{list_id}/hashes", summary="The hashes of a list")
@documented(returns=list[M.ListedHash])
def list_hashes(list_id: str, status: str | None = one_of(model.STATUSES, "Only hashes in this status"),
                case_ref: str | None = None,
                limit: int = Query(1000, ge=1, le=10_000), _: Principal = READ,
                node: Node = NODE) -> list[dict[str, Any]]:
    return service.list_hashes(node, list_id, status=status, case_ref=case_ref, limit=limit)


@router.post("/lists/{list_id}/distribute",
             summary="Pass the list to a member through the gate (standing, TLP) and federation")
@documented(body=M.Distribution, returns=dict[str, Any])
def distribute(list_id: str, body: Any = ANY_OBJECT, who: Principal = WRITE,
               node: Node = NODE) -> dict[str, Any]:
    b = _object(body)
    recipient = b.get("recipient")
    if not isinstance(recipient, str) or not recipient:
        raise invalid("recipient", "name the member to distribute to")
    return service.distribute(node, who.actor, list_id, recipient, b.get("review"))


@router.get("/hashes/{hash_id:int}", summary="A hash, with the members it was delivered to")
def show_hash(hash_id: RowId, _: Principal = READ, node: Node = NODE) -> dict[str, Any]:
    return service.show_hash(node, hash_id)


@router.post("/hashes/withdraw",
             summary="Withdraw or delete hashes (by id, or a case in a list); every member that "
                     "received them is told to drop them")
@documented(body=M.Withdrawal, returns=dict[str, Any])
def withdraw(body: Any = ANY_OBJECT, who: Principal = WRITE, node: Node = NODE) -> dict[str, Any]:
    b = _object(body)
    return service.withdraw(node, who.actor, hash_ids=b.get("hash_ids"), list_id=b.get("list_id"),
                          case_ref=b.get("case_ref"), status=b.get("status", "withdrawn"),
                          reason=b.get("reason", ""))


@router.post("/hashes/{hash_id:int}/review", summary="Release or withdraw a quarantined hash")
@documented(body=M.QuarantineReview, returns=dict[str, Any])
def review(hash_id: RowId, body: Any = ANY_OBJECT, who: Principal = WRITE,
           node: Node = NODE) -> dict[str, Any]:
    b = _object(body)
    return matching.review(node, who.actor, hash_id, str(b.get("decision", "")), b.get("note", ""))


@router.post("/match", summary="Match up to 10,000 hashes: MD5 / SHA-256 exactly, PDQ within each "
                               "list's threshold, dihedral groups of 8")
@documented(body=M.MatchQuery, returns=M.MatchResult, throttled=True)
def match(body: Any = ANY_OBJECT, who: Principal = MATCH_LIMITED, node: Node = NODE) -> dict[str, Any]:
    started = time.perf_counter()
    result = matching.match(node, who.actor, member_id=who.member_id, **_object(body))
    metrics.looked_up("match", sum(result["queries"].values()), result["matched_queries"],
                      time.perf_counter() - started)
    return result


@router.get("/prefixes", name="prefix_params", summary="Private matching of MD5 / SHA-256 hashes: "
            "the canonical form, prefix length and padding (docs/privacy.md)")
@documented(returns=S.PrefixParams)
def prefix_params(who: Principal = MATCH, node: Node = NODE) -> dict[str, Any]:
    return private.params(node)


@router.post("/prefixes", summary="Private matching of MD5 / SHA-256 hashes: the digests of the "
             "active hashes under each prefix, padded (docs/privacy.md)")
@documented(body=M.MediaPrefixQuery, returns=S.PrefixAnswer, returns_also={BINARY: bytes})
def prefixes(request: Request, body: Any = ANY_OBJECT, who: Principal = MATCH, node: Node = NODE) -> Any:
    if BINARY in request.headers.get("accept", ""):
        return Response(private.prefixes(node, who.actor, body, member_id=who.member_id, binary=True),
                        media_type=BINARY)
    return private.prefixes(node, who.actor, body, member_id=who.member_id)


@router.post("/feedback", status_code=201,
             summary="Verdicts on matches: confirmed, false-positive or not-violating")
@documented(body=M.VerdictBatch | M.Verdict, returns=M.VerdictsRecorded)
def feedback(body: Any = ANY_OBJECT, who: Principal = MATCH, node: Node = NODE) -> dict[str, Any]:
    b = _object(body)
    return matching.feedback(node, who.actor, b.get("items", b if "match_id" in b else None),
                          member_id=who.member_id)


@router.get("/feedback", summary="Feedback on this node's hashes (local and from members)")
def list_feedback(list_id: str | None = None, hash_id: RowId | None = None,
                  limit: int = Query(1000, ge=1, le=10_000), _: Principal = READ,
                  node: Node = NODE) -> list[dict[str, Any]]:
    return matching.list_feedback(node, list_id=list_id, hash_id=hash_id, limit=limit)


@router.get("/index", summary="The PDQ index: size, store version, snapshot")
def index_status(_: Principal = READ, node: Node = NODE) -> dict[str, Any]:
    return read_model.index_status(node)
