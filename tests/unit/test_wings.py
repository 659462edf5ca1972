"""The wings' manifests: checked once at start-up, so a wiring mistake stops the process before
the first envelope instead of letting an item leave under the wrong gate."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Self

import pytest

from hanoi.bootstrap import REGISTRY, WINGS
from hanoi.core.errors import Problem
from hanoi.core.gate import Decision
from hanoi.node import inbox
from hanoi.node.wings import Item, ManifestError, Registry, Wing, check


def _allow(work: Any, row: dict[str, Any], member: dict[str, Any]) -> Decision:
    return Decision.of(())


class _Section:
    KEYS: ClassVar[tuple[str, ...]] = ("concerns",)
    DEFAULT_YAML: ClassVar[str] = ""

    @classmethod
    def from_dict(cls, data: Any, problems: list[Problem]) -> Self:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {}


def test_the_shipped_wings_fit_together() -> None:
    assert check(WINGS) == []
    # every item a wing hands over names its own gate; every item has a handler or is the
    # platform's key rotation (delivered to /federation/v1/rotation)
    for type_, item in REGISTRY.items.items():
        assert item.send_gate is not None or not item.hands_over, type_
        assert item.receive is not None or type_ == "key.rotation", type_
    assert {"request.submit", "signal.report", "media.hashes", "ping"} <= set(REGISTRY.items)


def test_an_item_type_declared_twice_is_refused_at_start() -> None:
    twice = Wing("copy", items={"request.submit": Item(inbox.ping, _allow)})
    with pytest.raises(ManifestError, match=re.escape("'request.submit' is declared by 'requests' and 'copy'")):
        Registry((*WINGS, twice))


def test_an_item_handing_something_over_without_a_send_gate_is_refused() -> None:
    leaky = Wing("leaky", items={"leaky.data": Item(inbox.ping)})
    message = "'leaky.data' of 'leaky' hands something over but declares no send gate"
    with pytest.raises(ManifestError, match=re.escape(message)):
        Registry((*WINGS, leaky))
    # the same item declared as handing nothing over is gated by the partner's standing
    assert Registry((*WINGS, Wing("ok", items={"ok.step": Item(inbox.ping, hands_over=False)}))).item("ok.step")


def test_two_wings_claiming_one_policy_key_are_refused() -> None:
    with pytest.raises(ManifestError, match="policy key 'concerns'"):
        Registry((Wing("a", policy=_Section), Wing("b", policy=_Section)))
