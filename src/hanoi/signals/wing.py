"""The signals wing's manifest: what it sends and receives, the index the node keeps for it,
and its section of the policy."""

from __future__ import annotations

from hanoi.node.wings import Item, Priority, Wing
from hanoi.signals import feeds, receive, send
from hanoi.signals.domains import DomainLinkPolicy
from hanoi.signals.read_model import SignalReadModel

WING = Wing(
    "signals",
    items={
        send.ITEM_REPORT: Item(receive.on_report, send.send_gate, priority=Priority.BULK),
        # Feedback tells a source about its own report, and a pull only asks: neither hands
        # anything of this node's over, so who the partner is decides.
        send.ITEM_FEEDBACK: Item(receive.on_feedback, hands_over=False, priority=Priority.BULK),
        send.ITEM_PULL: Item(receive.on_pull, hands_over=False),
    },
    read_models=(SignalReadModel,),
    gauges=(feeds.gauges,),
    policy=DomainLinkPolicy,
)
