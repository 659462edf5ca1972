"""What a role's home page counts: only what that role may read.

Tables that stay small (members, requests, users, lists) are counted; the ledger, signals and
media hashes can hold millions of rows, so their figure is the newest id (one index probe:
rows are never deleted from the ledger, and the id counts what was ever stored elsewhere).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hanoi.core.roles import Permission, Role, allows
from hanoi.node.runtime import Node
from hanoi.store import ledger_store
from hanoi.store.tables import ledger_entries, media_hashes, media_lists, members, requests, signals, users

LOOKUP_MODES = {"clear": "signal.lookup", "prefix": "signal.prefixes", "filter": "signal.filter"}
"""The ledger action of each lookup mode: plain (values in clear, ledgered when something
matched), prefixes (no value sent), filter downloads (nothing sent)."""


def counts(node: Node, role: Role) -> dict[str, Any]:
    """``{name: number}`` plus ``requests_by_state`` and ``members_by_standing`` where the role
    may read them."""
    out: dict[str, Any] = {}
    with node.read() as conn:
        if allows(role, Permission.LEDGER_READ):
            out["ledger_entries"], _ = ledger_store.head(conn)
            out["ledger_checkpoints"] = len(ledger_store.checkpoints(conn))
            # How partners look signals up (docs/privacy.md): each mode's ledgered acts, counted
            # on the (action, seq) index.
            out["lookup_modes"] = {mode: int(conn.execute(select(func.count()).select_from(ledger_entries)
                                                         .where(ledger_entries.c.action == action)).scalar_one())
                                   for mode, action in LOOKUP_MODES.items()}
        if allows(role, Permission.MEMBERS_READ):
            rows = conn.execute(select(members.c.standing, func.count()).group_by(members.c.standing)).all()
            out["members_by_standing"] = {r[0]: int(r[1]) for r in rows}
            out["members"] = sum(out["members_by_standing"].values())
        if allows(role, Permission.REQUESTS_READ):
            rows = conn.execute(select(requests.c.state, func.count()).group_by(requests.c.state)).all()
            out["requests_by_state"] = {r[0]: int(r[1]) for r in sorted(rows)}
            out["requests"] = sum(out["requests_by_state"].values())
        if allows(role, Permission.SIGNALS_READ):
            out["signals"] = int(conn.execute(select(func.coalesce(func.max(signals.c.id), 0))).scalar_one())
        if allows(role, Permission.MATCH):
            out["media_lists"] = int(conn.execute(select(func.count()).select_from(media_lists)).scalar_one())
            out["media_hashes"] = int(conn.execute(
                select(func.coalesce(func.max(media_hashes.c.id), 0))).scalar_one())
        if allows(role, Permission.USERS_MANAGE):
            out["users"] = int(conn.execute(select(func.count()).select_from(users)).scalar_one())
    return out
