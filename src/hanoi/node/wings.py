"""How a wing plugs into the platform: a typed manifest, checked once at start-up.

A wing (``hanoi.requests``, ``hanoi.signals``, ``hanoi.media``) hands the platform one
``Wing``: the federation items it sends and receives, each with its inbox handler and its send
gate; the read models the node keeps for it (in-memory indexes); and its section of the node
policy. The composition root (``hanoi.bootstrap``) gives the platform's own items and every
wing to ``Registry``, which refuses at start what would otherwise fail at the first envelope:
an item type declared twice, an item that hands something over without its own send gate, two
policy sections claiming one key. After that, the outbox and the inbox look an item up by its
type in the registry the node was opened with; nothing is registered by importing a module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self, TypeVar

from hanoi.core.errors import Problem
from hanoi.core.gate import Decision
from hanoi.federation.envelope import Envelope
from hanoi.federation.receipts import Receipt

if TYPE_CHECKING:  # the runtime imports this module; these are only annotations
    from datetime import datetime

    from sqlalchemy.engine import Connection

    from hanoi.node.runtime import Node, Work

Handler = Callable[["Work", Envelope, dict[str, Any]], "dict[str, Any] | None"]
"""Applies an envelope inside the receiving unit of work: ``handler(work, envelope, sender)``,
``sender`` being the sender's member row plus ``inbound_decision`` (the inbound gate's decision
as a dict). It may return a dict (ledgered with ``inbox.accepted``; a ``subject`` in it names
the ledger subject, a ``receipt_detail`` text goes into the signed receipt, e.g. a witness's
countersignature); raising a ``HanoiError`` rejects the item with its rule code and rolls
back everything the handler wrote."""

SendGate = Callable[["Work", dict[str, Any], dict[str, Any]], Decision]
"""Decides again at the moment of sending: ``gate(work, outbox_row, member_row)``. ``deny``
refuses the row for good (ledgered, never sent), ``review`` holds it (re-checked), ``allow``
sends it."""


ReceiptObserver = Callable[["Work", "list[tuple[str, Receipt, str]]"], None]
"""Sees ``(recipient, verified receipt, its signed text)`` for each row a delivery round
settled, in the unit of work that records the round's outcomes."""

@dataclass(frozen=True)
class Reading:
    """One sample of a gauge read from the store when ``/metrics`` is scraped."""

    name: str  # hanoi_..., the same help for every sample of one name
    help: str
    labels: Mapping[str, str]
    value: float


Gauges = Callable[["Connection", "datetime"], "Iterable[Reading]"]
"""Reads a wing's gauges from the store at scrape time, in one or two cheap queries
(``gauges(conn, now)``): counts by state, oldest open item."""

RoundHook = Callable[["Node"], None]
"""Runs after each round of the delivery worker; it decides itself how often to act, and an
error in it is logged, never stops delivery."""


class Priority(IntEnum):
    """The order the outbox sends in (lower first); items of one subject still go in the order
    they were queued (an urgent item raises the open items before it of its subject)."""

    URGENT = 0
    """24/7: an emergency or expedited request, and every step of it."""
    CASEWORK = 1
    """Requests, their steps, responses and evidence; the platform's own items."""
    BULK = 2
    """Signals and hash lists: many items, none of them a person waiting."""


@dataclass(frozen=True)
class Item:
    """One federation item type.

    ``hands_over``: the item carries something of this node's to the peer (a request, evidence,
    signals, hashes): it must name its own ``send_gate``. An item that hands nothing over
    (a lifecycle step, a withdrawal, feedback to a source) may leave ``send_gate`` unset and is
    then gated by who the partner is (the platform's standing gate). ``priority``: where its
    items queue (a sender may make one more urgent, never less).
    """

    receive: Handler | None
    send_gate: SendGate | None = None
    hands_over: bool = True
    priority: Priority = Priority.CASEWORK


class PolicySection(Protocol):
    """A wing's keys of ``policy.yaml``, parsed into one typed object."""

    KEYS: ClassVar[tuple[str, ...]]
    DEFAULT_YAML: ClassVar[str]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], problems: list[Problem]) -> Self: ...

    def to_dict(self) -> dict[str, Any]: ...


class ReadModel(Protocol):
    """State a node keeps in memory for a wing (an index), built from the store on first use
    and kept current by the wing itself; the node holds one instance per class."""

    def __init__(self, node: Node) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Wing:
    name: str
    items: Mapping[str, Item] = field(default_factory=dict)
    read_models: tuple[type[ReadModel], ...] = ()
    policy: type[PolicySection] | None = None
    receipt_observers: tuple[ReceiptObserver, ...] = ()
    round_hooks: tuple[RoundHook, ...] = ()
    gauges: tuple[Gauges, ...] = ()


M = TypeVar("M")


class ManifestError(Exception):
    """A manifest that cannot work: raised at start-up, never at the first envelope."""


class Registry:
    """Every item type, read model and policy section of the platform and its wings, checked."""

    def __init__(self, wings: Iterable[Wing]):
        self.wings = tuple(wings)
        problems = check(self.wings)
        if problems:
            raise ManifestError("the wings do not fit together: " + "; ".join(problems))
        self.items: dict[str, Item] = {t: i for w in self.wings for t, i in w.items.items()}
        self.read_models: tuple[type[ReadModel], ...] = tuple(m for w in self.wings for m in w.read_models)
        self.policy_sections: tuple[type[PolicySection], ...] = tuple(
            w.policy for w in self.wings if w.policy is not None)
        self.receipt_observers = tuple(o for w in self.wings for o in w.receipt_observers)
        self.round_hooks = tuple(h for w in self.wings for h in w.round_hooks)
        self.gauges = tuple(g for w in self.wings for g in w.gauges)

    def item(self, type_: str) -> Item | None:
        return self.items.get(type_)

    def handler_types(self) -> list[str]:
        return sorted(t for t, i in self.items.items() if i.receive is not None)


def check(wings: Iterable[Wing]) -> list[str]:
    """Everything wrong with these manifests together (python-threatexchange's
    ``interface_validation``, for our wings)."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    names: set[str] = set()
    keys: dict[str, str] = {}
    models: dict[type, str] = {}
    for w in wings:
        if w.name in names:
            problems.append(f"wing {w.name!r} is given twice")
        names.add(w.name)
        for type_, item in w.items.items():
            if type_ in seen:
                problems.append(f"item type {type_!r} is declared by {seen[type_]!r} and {w.name!r}")
            seen[type_] = w.name
            if item.hands_over and item.send_gate is None:
                problems.append(f"item type {type_!r} of {w.name!r} hands something over but "
                                "declares no send gate")
        for m in w.read_models:
            if m in models:
                problems.append(f"read model {m.__name__} is declared by {models[m]!r} and {w.name!r}")
            models[m] = w.name
        if w.policy is not None:
            for key in w.policy.KEYS:
                if key in keys:
                    problems.append(f"policy key {key!r} is claimed by {keys[key]!r} and {w.name!r}")
                keys[key] = w.name
    return problems
