"""The composition root: the platform and its three wings, checked once at start-up.

Every shell (the API, the CLI, the delivery worker, the demo) opens its node here, so each node
knows the same item types, read models and policy sections, and a manifest that cannot work
(an item type declared twice, an item handing something over without a send gate) stops the
process at start instead of at the first envelope. Nothing is registered by importing a module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hanoi.media.wing import WING as MEDIA
from hanoi.node import setup
from hanoi.node.platform import PLATFORM
from hanoi.node.runtime import Node
from hanoi.node.wings import Registry, Wing
from hanoi.requests.wing import WING as REQUESTS
from hanoi.signals.wing import WING as SIGNALS

WINGS: tuple[Wing, ...] = (PLATFORM, REQUESTS, SIGNALS, MEDIA)
REGISTRY = Registry(WINGS)


def open_node(home: Path, **options: Any) -> Node:
    """Open the node at ``home`` with every wing (``Node.open``'s options: migrate, pool)."""
    return Node.open(home, REGISTRY, **options)


def init_node(home: Path, **options: Any) -> tuple[Node, str]:
    """Create a node at ``home`` with every wing; the node and its first admin token."""
    return setup.init_node(home, REGISTRY, **options)
