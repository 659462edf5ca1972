"""Roles carried by API tokens and console users, and what each may do: the one permission table."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    CASEWORKER = "caseworker"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    PLATFORM = "platform"


class Permission(StrEnum):
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    MEMBERS_ASSESS = "members:assess"
    TOKENS_MANAGE = "tokens:manage"
    LEDGER_READ = "ledger:read"
    POLICY_READ = "policy:read"
    POLICY_WRITE = "policy:write"
    REQUESTS_READ = "requests:read"
    REQUESTS_WRITE = "requests:write"
    EVIDENCE_READ = "evidence:read"
    SIGNALS_READ = "signals:read"
    SIGNALS_WRITE = "signals:write"
    MATCH = "match"
    MEDIA_WRITE = "media:write"
    FEDERATION_MANAGE = "federation:manage"
    USERS_MANAGE = "users:manage"


_READ_ALL = {
    Permission.MEMBERS_READ,
    Permission.LEDGER_READ,
    Permission.POLICY_READ,
    Permission.REQUESTS_READ,
    Permission.EVIDENCE_READ,
    Permission.SIGNALS_READ,
}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.CASEWORKER: frozenset(
        {
            Permission.MEMBERS_READ,
            Permission.POLICY_READ,
            Permission.REQUESTS_READ,
            Permission.REQUESTS_WRITE,
            Permission.EVIDENCE_READ,
        }
    ),
    Role.ANALYST: frozenset(
        {
            Permission.MEMBERS_READ,
            Permission.POLICY_READ,
            Permission.SIGNALS_READ,
            Permission.SIGNALS_WRITE,
            Permission.MATCH,
            Permission.MEDIA_WRITE,
        }
    ),
    # Read-only over everything, the ledger included; never writes.
    Role.AUDITOR: frozenset(_READ_ALL),
    # Matching only: a platform checks values and hashes, and reports its matches back.
    Role.PLATFORM: frozenset({Permission.MATCH}),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def roles_with(permission: Permission) -> list[Role]:
    return [r for r in Role if permission in PERMISSIONS[r]]
