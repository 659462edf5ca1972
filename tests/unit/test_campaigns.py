"""Campaigns: the incremental union-find equals a from-scratch graph walk, whatever the order."""

from __future__ import annotations

import random
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from hanoi.signals.campaigns import Campaigns

links = st.lists(st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(1, 8)), max_size=60)


def _components(edges: list[tuple[int, int, int]], allowed: set[int] | None = None) -> dict[int, set[int]]:
    """Reference: each node's component by a plain graph search."""
    graph: dict[int, set[int]] = defaultdict(set)
    for a, b, e in edges:
        if a != b and (allowed is None or e in allowed):
            graph[a].add(b)
            graph[b].add(a)
    out: dict[int, set[int]] = {}
    for start in graph:
        if start in out:
            continue
        seen, stack = {start}, [start]
        while stack:
            for y in graph[stack.pop()]:
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        for x in seen:
            out[x] = seen
    return out


@settings(max_examples=300)
@given(links, st.randoms(use_true_random=False))
def test_components_match_a_graph_walk_in_any_order(edges: list[tuple[int, int, int]],
                                                    rnd: random.Random) -> None:
    c: Campaigns[int] = Campaigns()
    shuffled = list(edges)
    rnd.shuffle(shuffled)
    for a, b, e in shuffled:
        c.add(a, b, e)
    expected = _components(edges)
    for x in range(1, 31):
        if x in expected:
            assert set(c.members(x)) == expected[x]
            assert c.campaign_id(x) == min(expected[x])
        else:
            assert c.members(x) == [x] and c.campaign_id(x) is None
    assert len(c) == len({(min(a, b), max(a, b), e) for a, b, e in edges if a != b})


@settings(max_examples=300)
@given(links, st.sets(st.integers(1, 8)), st.integers(1, 30))
def test_filtered_component_never_crosses_a_hidden_link(edges: list[tuple[int, int, int]],
                                                        visible: set[int], start: int) -> None:
    c: Campaigns[int] = Campaigns()
    for a, b, e in edges:
        c.add(a, b, e)
    members, shown = c.component(start, lambda e: e in visible)
    expected = _components(edges, visible).get(start, {start})
    assert set(members) == expected
    assert all(link.evidence in visible for link in shown)
    assert all(link.a in expected and link.b in expected for link in shown)


def test_links_keep_their_evidence() -> None:
    c: Campaigns[str] = Campaigns()
    assert c.add(3, 1, "report-7")
    assert not c.add(1, 3, "report-7")  # the same link again
    assert c.add(1, 3, "report-9")  # the same pair, other evidence: a second link
    c.add(3, 4, "report-9")
    assert [(lk.a, lk.b, lk.evidence) for lk in c.links(4)] == [
        (1, 3, "report-7"), (1, 3, "report-9"), (3, 4, "report-9")]
    assert c.campaign_id(4) == 1
