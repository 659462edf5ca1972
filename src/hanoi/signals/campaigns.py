"""Campaigns: signals linked by the reports that name them together. Pure.

A report of a scam page that names a phone number and an IBAN links the three signals; any
signals connected through such links form one campaign (a connected component). Links only
ever arrive, so components are kept incrementally with a union-find (union by size, path
halving): adding a link and asking a signal's campaign are near O(1).

Every link keeps its *evidence* (the report that made it), because who may see a link depends
on who may see that report: ``component(x, allowed)`` walks only the links whose evidence
``allowed`` accepts, so a campaign shown to a partner never reveals a link it may not see.
The campaign id is the smallest signal id in the component, stable while the component only
grows by signals added later.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

E = TypeVar("E", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Link(Generic[E]):
    """Signals ``a`` and ``b`` (ids, ``a < b``) named together by ``evidence``."""

    a: int
    b: int
    evidence: E


class Campaigns(Generic[E]):
    """Connected components of signals over evidence-carrying links, kept incrementally."""

    __slots__ = ("_adjacency", "_links", "_members", "_parent", "_smallest")

    def __init__(self) -> None:
        self._parent: dict[int, int] = {}
        self._members: dict[int, list[int]] = {}  # root -> every signal in its component
        self._smallest: dict[int, int] = {}  # root -> smallest signal id (the campaign id)
        self._adjacency: dict[int, list[Link[E]]] = {}
        self._links: set[tuple[int, int, E]] = set()

    def __len__(self) -> int:
        """Number of links."""
        return len(self._links)

    def __contains__(self, signal: int) -> bool:
        return signal in self._parent

    @property
    def linked(self) -> dict[int, int]:
        """Read-only view for hot loops: ``x in linked`` is ``x in self`` without a call."""
        return self._parent

    def find(self, x: int) -> int:
        parent = self._parent
        if x not in parent:
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    def add(self, a: int, b: int, evidence: E) -> bool:
        """Link ``a`` and ``b`` by ``evidence``; False if exactly this link was already known."""
        if a == b:
            return False
        a, b = min(a, b), max(a, b)
        if (a, b, evidence) in self._links:
            return False
        self._links.add((a, b, evidence))
        link = Link(a, b, evidence)
        for x in (a, b):
            if x not in self._parent:
                self._parent[x] = x
                self._members[x] = [x]
                self._smallest[x] = x
            self._adjacency.setdefault(x, []).append(link)
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if len(self._members[ra]) < len(self._members[rb]):
                ra, rb = rb, ra
            self._parent[rb] = ra
            self._members[ra].extend(self._members.pop(rb))
            self._smallest[ra] = min(self._smallest[ra], self._smallest.pop(rb))
        return True

    def campaign_id(self, x: int) -> int | None:
        """The smallest signal id of ``x``'s component; None if ``x`` is linked to nothing."""
        if x not in self._parent:
            return None
        return self._smallest[self.find(x)]

    def members(self, x: int) -> list[int]:
        """Every signal in ``x``'s component (``[x]`` if it is linked to nothing), sorted."""
        if x not in self._parent:
            return [x]
        return sorted(self._members[self.find(x)])

    def links(self, x: int) -> list[Link[E]]:
        """Every link of ``x``'s component, in a stable order."""
        seen: dict[tuple[int, int, E], Link[E]] = {}
        for m in self.members(x):
            for link in self._adjacency.get(m, ()):
                seen[(link.a, link.b, link.evidence)] = link
        return sorted(seen.values(), key=lambda lk: (lk.a, lk.b, repr(lk.evidence)))

    def component(self, x: int, allowed: Callable[[E], bool]) -> tuple[list[int], list[Link[E]]]:
        """The component of ``x`` over the links whose evidence ``allowed`` accepts.

        A breadth-first walk from ``x``: a signal reached only through links the caller may
        not see is not part of the answer, nor is the link.
        """
        members = {x}
        kept: dict[tuple[int, int, E], Link[E]] = {}
        verdict: dict[E, bool] = {}
        queue = deque([x])
        while queue:
            y = queue.popleft()
            for link in self._adjacency.get(y, ()):
                ok = verdict.get(link.evidence)
                if ok is None:
                    ok = verdict[link.evidence] = bool(allowed(link.evidence))
                if not ok:
                    continue
                kept[(link.a, link.b, link.evidence)] = link
                other = link.b if link.a == y else link.a
                if other not in members:
                    members.add(other)
                    queue.append(other)
        return sorted(members), sorted(kept.values(), key=lambda lk: (lk.a, lk.b, repr(lk.evidence)))


__all__ = ["Campaigns", "Link"]
