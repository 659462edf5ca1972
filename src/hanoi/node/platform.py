"""The platform's own federation items, declared like a wing's: a connectivity check, the
announcement of this node's new key, and the ledger checkpoints peers witness."""

from __future__ import annotations

from typing import Any

from hanoi.core.gate import Decision
from hanoi.node import inbox, outbox, witness
from hanoi.node.outbox import ROTATION_TYPE
from hanoi.node.rate_limits import Limiter, RateLimits
from hanoi.node.runtime import Work
from hanoi.node.wings import Item, Wing


def key_management_gate(work: Work, row: dict[str, Any], member: dict[str, Any]) -> Decision:
    """A key rotation carries only this node's new public key: every peer, whatever its
    standing, must be able to verify what this node signs (and a suspended peer learns nothing
    by it), so it is never held."""
    return Decision.of(())


PLATFORM = Wing("platform", items={
    "ping": Item(receive=inbox.ping, hands_over=False),
    # Delivered to the peer's /federation/v1/rotation, not its inbox: no handler here.
    ROTATION_TYPE: Item(receive=None, send_gate=key_management_gate),
    # Our ledger head (seq, hash, signature): nothing else; who the peer is decides.
    witness.ITEM_TYPE: Item(receive=witness.on_checkpoint, hands_over=False),
}, read_models=(witness.Announcements, Limiter), receipt_observers=(witness.saw_receipts,),
    round_hooks=(witness.announce_due,), policy=RateLimits, gauges=(outbox.gauges,))
