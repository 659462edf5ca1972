"""The lifecycle of a cooperation request as an explicit state machine.

``MOVES`` is the whole machine as data: from a state, an event leads to a state, for the
request types listed, done by one side. Anything not in the table is refused with
``Conflict`` naming the current state and the moves allowed from it. Two legal points are
encoded in the table rather than in code: for the Art. 40 family a refusal or postponement
is only reachable through ``consultation`` (Art. 40(~28)), and preservation has its own
branch (preserved -> extended -> released | expired) that cannot expire while the follow-up
request for mutual legal assistance is pending (Art. 42).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from hanoi.core.citations import RULES
from hanoi.core.errors import Conflict, InvalidInput, Problem
from hanoi.requests.contents import (
    ALL,
    EMERGENCY,
    LAW_ENFORCEMENT,
    PRESERVATION,
    SPONTANEOUS,
)
from hanoi.requests.contents import (
    request_type as _request_type,
)


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in-progress"
    MORE_INFO = "more-info-requested"
    CONSULTATION = "consultation"
    POSTPONED = "postponed"
    EXECUTED = "executed"
    PARTIALLY_EXECUTED = "partially-executed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    PRESERVED = "preserved"
    EXTENDED = "extended"
    RELEASED = "released"
    EXPIRED = "expired"


class Event(StrEnum):
    SUBMIT = "submit"
    RECEIVE = "receive"
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    REQUEST_INFO = "request-info"
    PROVIDE_INFO = "provide-info"
    CONSULT = "consult"
    RESUME = "resume"
    EXECUTE = "execute"
    EXECUTE_PARTIALLY = "execute-partially"
    REFUSE = "refuse"
    POSTPONE = "postpone"
    WITHDRAW = "withdraw"
    PRESERVE = "preserve"
    EXTEND = "extend"
    RELEASE = "release"
    EXPIRE = "expire"


Actor = Literal["requesting", "requested", "either", "system"]

# Who may cause each event: the requesting side, the requested side, either, or the node
# itself (a receipt arrived, a time ran out).
EVENT_ACTORS: dict[Event, Actor] = {
    Event.SUBMIT: "requesting",
    Event.RECEIVE: "system",
    Event.ACKNOWLEDGE: "requested",
    Event.START: "requested",
    Event.REQUEST_INFO: "requested",
    Event.PROVIDE_INFO: "requesting",
    Event.CONSULT: "requested",
    Event.RESUME: "requested",
    Event.EXECUTE: "requested",
    Event.EXECUTE_PARTIALLY: "requested",
    Event.REFUSE: "requested",
    Event.POSTPONE: "requested",
    Event.WITHDRAW: "requesting",
    Event.PRESERVE: "requested",
    Event.EXTEND: "requested",
    Event.RELEASE: "either",
    Event.EXPIRE: "system",
}

TERMINAL: frozenset[State] = frozenset({State.EXECUTED, State.PARTIALLY_EXECUTED, State.REFUSED,
                                        State.WITHDRAWN, State.RELEASED, State.EXPIRED})

# Art. 40(~28): consult before refusing or postponing. Applied to the requests executed under
# Art. 40 and the data measures built on it; an emergency (hours) and police-to-police
# cooperation (Art. 47) may be refused or postponed directly. Spontaneous information is not
# executed, so it is never refused or postponed.
CONSULTATION_REQUIRED: frozenset[str] = ALL - {EMERGENCY, LAW_ENFORCEMENT, SPONTANEOUS}
_DIRECT_REFUSAL = frozenset({EMERGENCY, LAW_ENFORCEMENT})
_EXECUTED = ALL - {SPONTANEOUS, PRESERVATION}
_WORKED = ALL - {SPONTANEOUS}


@dataclass(frozen=True, slots=True)
class Move:
    """One row of the machine."""

    source: State
    event: Event
    target: State
    types: frozenset[str] = ALL
    rule: str = "LIFECYCLE-TRANSITION"

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.source.value, "event": self.event.value, "to": self.target.value,
                "by": EVENT_ACTORS[self.event], "types": sorted(self.types), "rule": self.rule,
                "citation": RULES[self.rule].citation}


S, E = State, Event
_OPEN = (S.SUBMITTED, S.RECEIVED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.MORE_INFO, S.CONSULTATION,
         S.POSTPONED)

MOVES: tuple[Move, ...] = (
    Move(S.DRAFT, E.SUBMIT, S.SUBMITTED),
    Move(S.DRAFT, E.WITHDRAW, S.WITHDRAWN),
    Move(S.SUBMITTED, E.RECEIVE, S.RECEIVED),
    Move(S.RECEIVED, E.ACKNOWLEDGE, S.ACKNOWLEDGED),
    Move(S.ACKNOWLEDGED, E.START, S.IN_PROGRESS, _WORKED),
    *(Move(s, E.REQUEST_INFO, S.MORE_INFO, ALL, "CONTENT-REQUIRED")
      for s in (S.RECEIVED, S.ACKNOWLEDGED, S.IN_PROGRESS)),
    Move(S.MORE_INFO, E.PROVIDE_INFO, S.ACKNOWLEDGED, ALL, "CONTENT-REQUIRED"),
    *(Move(s, E.CONSULT, S.CONSULTATION, _WORKED, "CONSULT-BEFORE-REFUSAL")
      for s in (S.RECEIVED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.POSTPONED)),
    Move(S.CONSULTATION, E.RESUME, S.IN_PROGRESS, _WORKED, "CONSULT-BEFORE-REFUSAL"),
    Move(S.CONSULTATION, E.REFUSE, S.REFUSED, _WORKED, "REFUSE-REASONS"),
    Move(S.CONSULTATION, E.POSTPONE, S.POSTPONED, _WORKED, "POSTPONE-PROCEEDINGS"),
    *(Move(s, E.REFUSE, S.REFUSED, _DIRECT_REFUSAL, "REFUSE-REASONS")
      for s in (S.RECEIVED, S.ACKNOWLEDGED, S.IN_PROGRESS)),
    *(Move(s, E.POSTPONE, S.POSTPONED, _DIRECT_REFUSAL, "POSTPONE-PROCEEDINGS")
      for s in (S.RECEIVED, S.ACKNOWLEDGED, S.IN_PROGRESS)),
    Move(S.POSTPONED, E.RESUME, S.IN_PROGRESS, _WORKED, "POSTPONE-PROCEEDINGS"),
    Move(S.IN_PROGRESS, E.EXECUTE, S.EXECUTED, _EXECUTED, "RESPONSE-EVIDENCE"),
    Move(S.IN_PROGRESS, E.EXECUTE_PARTIALLY, S.PARTIALLY_EXECUTED, _EXECUTED,
         "RESPONSE-EVIDENCE"),
    Move(S.IN_PROGRESS, E.PRESERVE, S.PRESERVED, frozenset({PRESERVATION}),
         "PRESERVATION-60-DAYS"),
    *(Move(s, E.EXTEND, S.EXTENDED, frozenset({PRESERVATION}), "PRESERVATION-EXTENSION-30D")
      for s in (S.PRESERVED, S.EXTENDED)),
    *(Move(s, E.RELEASE, S.RELEASED, frozenset({PRESERVATION}), "PRESERVATION-60-DAYS")
      for s in (S.PRESERVED, S.EXTENDED)),
    *(Move(s, E.EXPIRE, S.EXPIRED, frozenset({PRESERVATION}), "PRESERVATION-60-DAYS")
      for s in (S.PRESERVED, S.EXTENDED)),
    *(Move(s, E.WITHDRAW, S.WITHDRAWN) for s in _OPEN),
)

_INDEX: dict[tuple[State, Event], Move] = {(m.source, m.event): m for m in MOVES}
assert len(_INDEX) == len(MOVES), "one move per (state, event)"


def _parse(enum: type[StrEnum], value: Any, field_name: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise InvalidInput(f"{field_name}: {value!r} is not one of: {allowed}",
                           [Problem(field_name, f"{value!r} is not one of: {allowed}")]) from None


def parse_event(value: Any, field_name: str = "event") -> Event:
    """The lifecycle event named ``value``; ``InvalidInput`` listing the events otherwise."""
    event: Event = _parse(Event, value, field_name)
    return event


def moves_from(state: State | str, request_type: str) -> tuple[Move, ...]:
    """The moves a request of this type may make from this state, in table order."""
    st = _parse(State, state, "state")
    _request_type(request_type)
    return tuple(m for m in MOVES if m.source == st and request_type in m.types)


def allowed_events(state: State | str, request_type: str) -> tuple[Event, ...]:
    return tuple(m.event for m in moves_from(state, request_type))


def is_terminal(state: State | str) -> bool:
    return _parse(State, state, "state") in TERMINAL


def needs_consultation(request_type: str) -> bool:
    """Whether a refusal or postponement of this type must go through consultation first."""
    _request_type(request_type)
    return request_type in CONSULTATION_REQUIRED


def _allowed_text(moves: Iterable[Move]) -> str:
    listed = [f"{m.event.value} -> {m.target.value}" for m in moves]
    return ", ".join(listed) if listed else "none"


def transition(state: State | str, move: Event | State | str, *, request_type: str,
               follow_up_pending: bool = False) -> State:
    """The state after ``move`` (an event, or the target state) from ``state``.

    Raises ``Conflict`` (409) naming the state and the allowed moves if the move is illegal,
    and ``InvalidInput`` for an unknown state, event or request type. ``follow_up_pending``
    says whether the follow-up request for mutual legal assistance is still undecided: a
    preservation cannot expire while it is (Art. 42).
    """
    current = _parse(State, state, "state")
    moves = moves_from(current, request_type)
    event = _event_for(current, move, moves, request_type)
    found = next((m for m in moves if m.event == event), None)
    if found is None:
        raise _illegal(current, event, moves, request_type)
    if event == Event.EXPIRE and follow_up_pending:
        raise Conflict(
            "preservation cannot expire while the follow-up request for mutual legal "
            "assistance is undecided; allowed: " + _allowed_text(
                m for m in moves if m.event != Event.EXPIRE),
            [Problem("state", f"{current.value}: the follow-up request is pending",
                     "PRESERVATION-60-DAYS")], "PRESERVATION-60-DAYS")
    return found.target


def _event_for(current: State, move: Event | State | str, moves: tuple[Move, ...],
               request_type: str) -> Event:
    text = move.value if isinstance(move, StrEnum) else move
    if text in Event._value2member_map_:
        return Event(text)
    if text in State._value2member_map_:
        target = State(text)
        for m in moves:
            if m.target == target:
                return m.event
        raise Conflict(
            f"a {request_type} request cannot go from {current.value} to {target.value}; "
            f"allowed: {_allowed_text(moves)}",
            [Problem("state", f"{current.value} -> {target.value} is not a move",
                     "LIFECYCLE-TRANSITION")], "LIFECYCLE-TRANSITION")
    known = ", ".join([e.value for e in Event] + [s.value for s in State])
    raise InvalidInput(f"move: {move!r} is not an event or a state",
                       [Problem("move", f"{move!r} is not one of: {known}")])


def _illegal(current: State, event: Event, moves: tuple[Move, ...],
             request_type: str) -> Conflict:
    if current in TERMINAL:
        detail = (f"the request is {current.value}, a terminal state: no further moves "
                  f"(tried {event.value})")
        return Conflict(detail, [Problem("state", detail, "LIFECYCLE-TRANSITION")],
                        "LIFECYCLE-TRANSITION")
    rule = "LIFECYCLE-TRANSITION"
    why = ""
    if event in (Event.REFUSE, Event.POSTPONE) and request_type in CONSULTATION_REQUIRED:
        rule = "CONSULT-BEFORE-REFUSAL"
        why = "; a refusal or postponement needs a prior consultation (consult first)"
    detail = (f"cannot {event.value} a {request_type} request in state {current.value}"
              f"{why}; allowed: {_allowed_text(moves)}")
    return Conflict(detail, [Problem("state", detail, rule)], rule)


def replay(events: Iterable[Event | str], request_type: str,
           start: State | str = State.DRAFT) -> State:
    """The state after applying ``events`` in order from ``start`` (checking each move)."""
    state = _parse(State, start, "state")
    for e in events:
        state = transition(state, e, request_type=request_type)
    return state


def describe(request_type: str | None = None) -> dict[str, Any]:
    """The machine as JSON-safe data, for the API, the console and the docs."""
    if request_type is not None:
        _request_type(request_type)
    moves = [m for m in MOVES if request_type is None or request_type in m.types]
    return {
        "states": [s.value for s in State],
        "initial": State.DRAFT.value,
        "terminal": sorted(s.value for s in TERMINAL),
        "consultation_required_for": sorted(CONSULTATION_REQUIRED),
        "moves": [m.as_dict() for m in moves],
    }
