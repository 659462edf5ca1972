"""The caseworker's desk, read side: the inbox and outbox of requests in keyset pages, and
the deadline board.

Pages are ordered newest first by ``(created_at, id)`` and continue after a cursor (the last
row's ``created_at`` and ``id``), read through ``ix_requests_desk`` (direction, created_at, id):
never OFFSET, so page 1,000 costs what page 1 costs.

The board reads only the *open* requests (neither draft nor final: ``ix_requests_state``),
which is what a desk works on; requests closed long ago do not slow it down however many
there are. Each open request's deadlines are computed as ``hanoi requests due`` computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select

from hanoi.core.clock import isoformat
from hanoi.core.errors import invalid
from hanoi.node.runtime import Node
from hanoi.requests import lifecycle, rows
from hanoi.requests.deadlines import PreservationTerm, aware, request_deadlines
from hanoi.requests.lifecycle import State
from hanoi.requests.types import EMERGENCY, REQUEST_TYPES

PAGE_SIZE = 50
DUE_WINDOWS = {"overdue": timedelta(0), "24h": timedelta(hours=24), "7d": timedelta(days=7),
               "30d": timedelta(days=30)}
"""The ``due`` filter: overdue only, or due within a day, a week, a month (overdue included)."""

BOARD_WINDOW = timedelta(days=7)
"""The board shows the deadlines due within a week (and every overdue one)."""

OPEN_STATES = tuple(s.value for s in State if s not in lifecycle.TERMINAL and s is not State.DRAFT)

@dataclass(frozen=True, slots=True)
class Filters:
    direction: str = rows.INCOMING
    type: str = ""
    partner: str = ""
    state: str = ""
    due: str = ""

    def check(self) -> None:
        if self.direction not in rows.SIDE:
            raise invalid("direction", "must be incoming (inbox) or outgoing (outbox)")
        if self.type and self.type not in REQUEST_TYPES:
            raise invalid("type", "is not a request type")
        if self.state and self.state not in State._value2member_map_:
            raise invalid("state", "is not a lifecycle state")
        if self.due and self.due not in DUE_WINDOWS:
            raise invalid("due", "must be one of: " + ", ".join(DUE_WINDOWS))


def encode_cursor(created_at: datetime, request_id: str) -> str:
    return f"{isoformat(created_at)}~{request_id}"


def decode_cursor(text: str) -> tuple[datetime, str]:
    when, sep, request_id = text.partition("~")
    if not sep or not request_id:
        raise invalid("after", "is not a page cursor")
    try:
        return aware(when, "after"), request_id
    except ValueError:
        raise invalid("after", "is not a page cursor") from None


def list_query(filters: Filters, *, after: tuple[datetime, str] | None = None, limit: int = PAGE_SIZE,
               ids: list[str] | None = None) -> Select[Any]:
    """The SQL of one page: newest first by (created_at, id), after a cursor, never OFFSET."""
    return rows.desk_query(filters.direction, type_=filters.type, partner=filters.partner, state=filters.state,
                           ids=ids, after=after, limit=limit)


def page(node: Node, filters: Filters, *, after: str | None = None, limit: int = PAGE_SIZE,
         watched: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One page of the inbox or outbox, newest first: ``items``, ``next`` (the cursor of the
    following page, or None). Each item's ``due`` is its soonest deadline on the board
    (``watched``: the board already read for the same page, with a horizon of at least the
    ``due`` filter's window; read here when not given)."""
    filters.check()
    due_by: dict[str, dict[str, Any]] = {}
    if watched is None:
        watched = board(node, within=max(DUE_WINDOWS.values())) if filters.due else []
    if filters.due:
        horizon = isoformat(node.now() + DUE_WINDOWS[filters.due])
        for item in watched:
            if item["kind"] != "review" and (item["state"] == "overdue" if filters.due == "overdue"
                                             else item["due_at"] <= horizon):
                due_by.setdefault(item["request_id"], item)
    else:
        for item in watched:
            if item["kind"] != "review":
                due_by.setdefault(item["request_id"], item)
    q = list_query(filters, after=decode_cursor(after) if after else None, limit=limit + 1,
                   ids=sorted(due_by) if filters.due else None)
    with node.read() as conn:
        found = [dict(r) for r in conn.execute(q).mappings()]
    more = len(found) > limit
    found = found[:limit]
    items = [{**r, "type_label": REQUEST_TYPES[r["type"]].label, "terminal": lifecycle.is_terminal(r["state"]),
              "due": due_by.get(r["id"])} for r in found]
    return {"items": items, "next": encode_cursor(found[-1]["created_at"], found[-1]["id"]) if more else None}


def partners(node: Node) -> list[dict[str, Any]]:
    """Every member, for the partner filter: id and name."""
    with node.read() as conn:
        return rows.member_names(conn)


def board(node: Node, *, within: timedelta = BOARD_WINDOW, overdue_only: bool = False) -> list[dict[str, Any]]:
    """What a desk must watch among the open requests, overdue first, then soonest:

    - every deadline (partner agreement, the requester's reasoned one) and preservation term
      that falls within ``within`` or has passed; an emergency's counts down in hours;
    - every preservation's 60-day clock, however far its end (the term must not lapse unseen);
    - every request whose gate decision waits for a named reviewer (``kind`` review).
    """
    now = node.now()
    horizon = now + within
    with node.read() as conn:
        found = rows.board_rows(conn, OPEN_STATES)
        decisions = rows.decisions(conn, [r["id"] for r in found if r["outcome"] == "review" and not r["reviewer"]])
    out: list[dict[str, Any]] = []
    for row in found:
        base = {"request_id": row["id"], "type": row["type"], "type_label": REQUEST_TYPES[row["type"]].label,
                "request_state": row["state"], "direction": row["direction"], "partner_id": row["partner_id"],
                "partner_name": row["partner_name"], "emergency": row["type"] == EMERGENCY}
        if row["started_at"] is not None and not lifecycle.is_terminal(row["state"]):
            requester = row["requester_deadline"]
            try:
                deadlines = request_deadlines(
                    row["type"], row["started_at"], profile_codes=row["deadline_profiles"],
                    requester_deadline=aware(requester, "deadline") if requester else None,
                    requester_reason=row["requester_reason"] or "")
            except ValueError:
                deadlines = []
            for d in deadlines:
                if d.due_at <= horizon:
                    out.append({**base, "kind": "deadline", **d.status(now)})
        if row["preservation"]:
            st = PreservationTerm.from_dict(row["preservation"]).status(now)
            out.append({**base, "kind": "preservation", "label": "Preservation", "start": st["preserved_at"],
                        "due_at": st["until"], "rule": st["rule"], "citation": st["citation"],
                        "state": st["due"], "remaining_seconds": st["remaining_seconds"], "preservation": st})
        if row["id"] in decisions:
            decision = decisions[row["id"]] or {}
            reasons = [r for r in decision.get("reasons", []) if r.get("effect") == "review"]
            out.append({**base, "kind": "review", "label": "Awaiting a named reviewer",
                        "due_at": decision.get("at"), "rule": reasons[0]["code"] if reasons else "",
                        "citation": reasons[0]["citation"] if reasons else "", "state": "review",
                        "remaining_seconds": None, "reasons": reasons})
    if overdue_only:
        out = [d for d in out if d["state"] == "overdue"]
    rank = {"overdue": 0, "due-soon": 1, "ok": 2, "review": 3}
    return sorted(out, key=lambda d: (rank.get(d["state"], 2), d["due_at"] or ""))
