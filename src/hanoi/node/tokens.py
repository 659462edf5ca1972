"""API tokens: created with a role, shown once, stored only as a SHA-256 digest.

Tokens are 256-bit random secrets, so a plain SHA-256 digest (no salt, no slow KDF) is enough
to make a stolen database useless for logging in, while lookup stays one indexed query.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from hanoi.core.clock import DURATION_PATTERN, isoformat
from hanoi.core.errors import NotFound, Unauthorized, invalid
from hanoi.core.roles import Role
from hanoi.node.runtime import Node, Work
from hanoi.store.tables import api_tokens, members

PREFIX = "hx_"
_DURATION = re.compile(DURATION_PATTERN)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's id, name, role and (for a partner's token) its member."""

    token_id: str
    name: str
    role: Role
    member_id: str | None

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}({self.name})"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_duration(text: str, field_name: str = "expires") -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w``."""
    if not isinstance(text, str) or not _DURATION.fullmatch(text):
        raise invalid(field_name, f"{text!r} is not a duration such as 30m, 12h, 7d or 2w (at most "
                                  "99999999m, 999999h, 99999d or 9999w)")
    n, unit = int(text[:-1]), text[-1]
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n),
            "w": timedelta(weeks=n)}[unit]


def _role(value: Any) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise invalid("role", f"{value!r} is not one of: {', '.join(r.value for r in Role)}") from None


def create_in(uow: Work, *, name: str, role: Role | str, member_id: str | None = None,
              expires_at: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """Create a token inside an open unit of work; return the secret (shown once) and its record."""
    role = _role(role)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise invalid("name", "give the token a name of 1-200 characters")
    if expires_at is not None and expires_at <= uow.now:
        raise invalid("expires_at", "must be in the future")
    if member_id is not None and uow.conn.execute(
        select(members.c.id).where(members.c.id == member_id)
    ).first() is None:
        raise NotFound(f"no member {member_id!r}", "member_id")
    token_id = secrets.token_hex(6)
    secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    record = {"id": token_id, "name": name.strip(), "role": role.value, "member_id": member_id,
              "created_at": uow.now, "expires_at": expires_at, "revoked_at": None}
    uow.conn.execute(api_tokens.insert().values(token_hash=digest(secret), **record))
    uow.record("token.create", f"token:{token_id}",
               {k: (isoformat(v) if isinstance(v, datetime) else v) for k, v in record.items()})
    return secret, _public(record)


def create(node: Node, actor: str, *, name: str, role: str, member_id: str | None = None,
           expires: str | None = None) -> tuple[str, dict[str, Any]]:
    expires_at = node.now() + parse_duration(expires) if expires else None
    with node.write(actor) as uow:
        return create_in(uow, name=name, role=role, member_id=member_id, expires_at=expires_at)


def revoke(node: Node, actor: str, token_id: str) -> dict[str, Any]:
    with node.write(actor) as uow:
        row = uow.conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
        if row is None:
            raise NotFound(f"no token {token_id!r}", "token_id")
        if row["revoked_at"] is None:
            uow.conn.execute(api_tokens.update().where(api_tokens.c.id == token_id)
                             .values(revoked_at=uow.now))
        uow.record("token.revoke", f"token:{token_id}", {"id": token_id})
        return _public({**row, "revoked_at": row["revoked_at"] or uow.now})


def list_tokens(node: Node) -> list[dict[str, Any]]:
    with node.read() as conn:
        rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at)).mappings().all()
    return [_public(dict(r)) for r in rows]


def authenticate(node: Node, token: str | None) -> Principal:
    """The principal for a bearer token, or Unauthorized saying why (never which part failed
    beyond what helps a legitimate user: unknown, expired or revoked)."""
    if not token:
        raise Unauthorized("a bearer token is required")
    if not token.startswith(PREFIX) or len(token) > 200:
        raise Unauthorized("the token is not valid")
    with node.read() as conn:
        row = conn.execute(
            select(api_tokens).where(api_tokens.c.token_hash == digest(token))
        ).mappings().first()
    if row is None:
        raise Unauthorized("the token is not valid")
    if row["revoked_at"] is not None:
        raise Unauthorized("the token has been revoked")
    if row["expires_at"] is not None and row["expires_at"] <= node.now():
        raise Unauthorized("the token has expired")
    return Principal(row["id"], row["name"], Role(row["role"]), row["member_id"])


def _public(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: record.get(k) for k in ("id", "name", "role", "member_id", "created_at", "expires_at",
                                      "revoked_at")}
    return {k: (isoformat(v) if isinstance(v, datetime) else v) for k, v in out.items()}
