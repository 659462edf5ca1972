"""Members, their keys and safeguards assessments."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from hanoi.api.deps import get_node, require
from hanoi.api.openapi import documented
from hanoi.api.schemas.platform import Assessment, Member
from hanoi.core.roles import Permission
from hanoi.node import members
from hanoi.node.runtime import Node
from hanoi.node.tokens import Principal

router = APIRouter(prefix="/members", tags=["members"])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactIn(Strict):
    name: str = Field(max_length=200)
    role: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    phone: str = Field(default="", max_length=40)


class KeyIn(Strict):
    public_key: str = Field(max_length=400, description="base64url / base64 / hex of the 32 raw bytes, or PEM")
    kid: str | None = Field(default=None, max_length=128)
    not_before: str | None = None
    not_after: str | None = None


class AssessmentIn(Strict):
    """Optional at this layer so the domain can list every missing part with its article."""

    standing: Literal["good", "concerns", "suspended"] | None = None
    assessor: str | None = Field(default=None, max_length=200)
    findings: str | None = Field(default=None, max_length=20_000)
    articles: list[str] = Field(default_factory=list, max_length=50)
    sources: list[str] = Field(default_factory=list, max_length=100)
    assessed_at: str | None = None


class MemberIn(Strict):
    id: str | None = Field(default=None, max_length=64)
    name: str = Field(max_length=200)
    kind: str
    country: str = Field(max_length=8)
    state_status: str = "party"
    endpoint: str | None = Field(default=None, max_length=500)
    keys: list[KeyIn] = Field(default_factory=list, max_length=20)
    languages: list[str] = Field(default_factory=list, max_length=20)
    available_24_7: bool = False
    contacts: list[ContactIn] = Field(default_factory=list, max_length=50)
    other_treaties: list[str] = Field(default_factory=list, max_length=20)
    assessment: AssessmentIn | None = None


@router.get("", name="list", summary="List members")
@documented(returns=list[Member])
def list_members(standing: str | None = None, country: str | None = None, kind: str | None = None,
                 _: Principal = Depends(require(Permission.MEMBERS_READ)),
                 node: Node = Depends(get_node)) -> list[dict[str, Any]]:
    return members.list_members(node, standing=standing, country=country, kind=kind)


@router.post("", status_code=201, name="add", summary="Register a member")
@documented(returns=Member)
def add_member(body: MemberIn, who: Principal = Depends(require(Permission.MEMBERS_WRITE)),
               node: Node = Depends(get_node)) -> dict[str, Any]:
    return members.add(node, who.actor, body.model_dump(exclude_none=True))


@router.get("/{member_id}", name="show", summary="A member with its keys and assessment history")
@documented(returns=Member)
def show_member(member_id: str, _: Principal = Depends(require(Permission.MEMBERS_READ)),
                node: Node = Depends(get_node)) -> dict[str, Any]:
    return members.show(node, member_id)


@router.post("/{member_id}/assessments", status_code=201, name="assess",
             summary="Record a safeguards assessment (the only way a standing changes)")
@documented(returns=Member)
def assess_member(member_id: str, body: AssessmentIn,
                  who: Principal = Depends(require(Permission.MEMBERS_ASSESS)),
                  node: Node = Depends(get_node)) -> dict[str, Any]:
    return members.assess(node, who.actor, member_id, body.model_dump(exclude_none=True))


@router.get("/{member_id}/assessments", name="assessments", summary="Assessment history")
@documented(returns=list[Assessment])
def assessment_history(member_id: str, _: Principal = Depends(require(Permission.MEMBERS_READ)),
                       node: Node = Depends(get_node)) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = members.show(node, member_id)["assessments"]
    return result


@router.post("/{member_id}/keys", status_code=201, summary="Add a public key (rotation)")
@documented(returns=Member)
def add_key(member_id: str, body: KeyIn, who: Principal = Depends(require(Permission.MEMBERS_WRITE)),
            node: Node = Depends(get_node)) -> dict[str, Any]:
    return members.add_key(node, who.actor, member_id, body.model_dump(exclude_none=True))


class ExpireIn(Strict):
    at: str | None = None


@router.post("/{member_id}/keys/{kid}/expire", summary="End a key's validity window")
@documented(returns=Member)
def expire_key(member_id: str, kid: str, body: ExpireIn,
               who: Principal = Depends(require(Permission.MEMBERS_WRITE)),
               node: Node = Depends(get_node)) -> dict[str, Any]:
    return members.expire_key(node, who.actor, member_id, kid, body.at)
