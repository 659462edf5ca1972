"""The request state machine: random walks stay legal; illegal moves are refused clearly."""

from __future__ import annotations

import json
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanoi.core.errors import Conflict, InvalidInput
from hanoi.requests.contents import REQUEST_TYPES
from hanoi.requests.lifecycle import (
    CONSULTATION_REQUIRED,
    MOVES,
    TERMINAL,
    Event,
    State,
    allowed_events,
    describe,
    moves_from,
    needs_consultation,
    replay,
    transition,
)

TYPES = sorted(REQUEST_TYPES)


def reachable(rtype: str) -> set[State]:
    seen = {State.DRAFT}
    todo = deque([State.DRAFT])
    while todo:
        for m in moves_from(todo.popleft(), rtype):
            if m.target not in seen:
                seen.add(m.target)
                todo.append(m.target)
    return seen


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(TYPES), st.lists(st.integers(min_value=0, max_value=50), max_size=30))
def test_random_walks_never_reach_an_illegal_state(rtype: str, choices: list[int]) -> None:
    state = State.DRAFT
    path: list[Event] = []
    legal = reachable(rtype)
    for c in choices:
        events = allowed_events(state, rtype)
        if not events:
            assert state in TERMINAL
            break
        assert state not in TERMINAL
        event = events[c % len(events)]
        previous, state = state, transition(state, event, request_type=rtype)
        path.append(event)
        assert state in legal
        if state in (State.REFUSED, State.POSTPONED) and rtype in CONSULTATION_REQUIRED:
            assert previous == State.CONSULTATION
        if state in (State.EXECUTED, State.PARTIALLY_EXECUTED):
            assert rtype not in ("preservation", "spontaneous")
        if state in (State.PRESERVED, State.EXTENDED, State.RELEASED, State.EXPIRED):
            assert rtype == "preservation"
    assert replay(path, rtype) == state


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TYPES), st.sampled_from(list(State)), st.sampled_from(list(Event)))
def test_every_move_outside_the_table_is_a_conflict(rtype: str, state: State,
                                                    event: Event) -> None:
    allowed = allowed_events(state, rtype)
    if event in allowed:
        assert transition(state, event, request_type=rtype) in State
        return
    with pytest.raises(Conflict) as e:
        transition(state, event, request_type=rtype)
    assert e.value.status == 409
    assert state.value in e.value.detail
    for a in allowed:
        assert a.value in e.value.detail


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_terminal_states_have_no_moves(state: State) -> None:
    for rtype in TYPES:
        assert allowed_events(state, rtype) == ()
        with pytest.raises(Conflict) as e:
            transition(state, Event.RESUME, request_type=rtype)
        assert "terminal" in e.value.detail


def test_every_state_is_reachable_and_no_open_state_is_stuck() -> None:
    everywhere = set().union(*(reachable(t) for t in TYPES))
    assert everywhere == set(State)
    for rtype in TYPES:
        for state in reachable(rtype) - TERMINAL:
            assert allowed_events(state, rtype), (rtype, state)


def test_one_move_per_state_and_event() -> None:
    keys = [(m.source, m.event) for m in MOVES]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("rtype", sorted(CONSULTATION_REQUIRED))
def test_refusal_needs_prior_consultation(rtype: str) -> None:
    assert needs_consultation(rtype)
    with pytest.raises(Conflict) as e:
        transition(State.IN_PROGRESS, Event.REFUSE, request_type=rtype)
    assert e.value.rule == "CONSULT-BEFORE-REFUSAL"
    assert "consult -> consultation" in e.value.detail
    assert replay(["submit", "receive", "acknowledge", "start", "consult", "refuse"],
                  rtype) == State.REFUSED


@pytest.mark.parametrize("rtype", ["emergency", "law-enforcement"])
def test_emergency_and_police_requests_may_be_refused_directly(rtype: str) -> None:
    assert not needs_consultation(rtype)
    assert transition(State.IN_PROGRESS, Event.REFUSE, request_type=rtype) == State.REFUSED
    assert transition(State.RECEIVED, "postpone", request_type=rtype) == State.POSTPONED


def test_preservation_branch() -> None:
    state = replay(["submit", "receive", "acknowledge", "start", "preserve", "extend", "extend"],
                   "preservation")
    assert state == State.EXTENDED
    assert transition(state, "release", request_type="preservation") == State.RELEASED
    assert transition(state, "expire", request_type="preservation") == State.EXPIRED


def test_preservation_cannot_expire_while_the_follow_up_is_pending() -> None:
    with pytest.raises(Conflict) as e:
        transition(State.PRESERVED, Event.EXPIRE, request_type="preservation",
                   follow_up_pending=True)
    assert e.value.rule == "PRESERVATION-60-DAYS"
    assert "release -> released" in e.value.detail


def test_preservation_is_not_executed_and_others_are_not_preserved() -> None:
    with pytest.raises(Conflict):
        transition(State.IN_PROGRESS, Event.EXECUTE, request_type="preservation")
    with pytest.raises(Conflict):
        transition(State.IN_PROGRESS, Event.PRESERVE, request_type="stored-data")


def test_more_information_returns_to_acknowledged() -> None:
    state = replay(["submit", "receive", "request-info", "provide-info"], "mla")
    assert state == State.ACKNOWLEDGED


def test_move_by_target_state() -> None:
    assert transition("draft", "submitted", request_type="mla") == State.SUBMITTED
    with pytest.raises(Conflict) as e:
        transition("draft", "executed", request_type="mla")
    assert "submit -> submitted" in e.value.detail


def test_unknown_names_are_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        transition("draft", "teleport", request_type="mla")
    with pytest.raises(InvalidInput):
        transition("limbo", "submit", request_type="mla")
    with pytest.raises(InvalidInput):
        transition("draft", "submit", request_type="extradition")


def test_describe_is_json_safe() -> None:
    d = json.loads(json.dumps(describe("preservation")))
    assert d["initial"] == "draft" and "expired" in d["terminal"]
    assert all("preservation" in m["types"] for m in d["moves"])
    assert {m["by"] for m in describe()["moves"]} <= {"requesting", "requested", "either",
                                                      "system"}
