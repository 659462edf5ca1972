"""The media wing's manifest: what it sends and receives, and the PDQ index the node keeps."""

from __future__ import annotations

from hanoi.media import receive, send
from hanoi.media.private import MediaDigests
from hanoi.media.read_model import MediaReadModel
from hanoi.node.wings import Item, Priority, Wing

WING = Wing(
    "media",
    items={
        send.ITEM_HASHES: Item(receive.on_hashes, send.hashes_send_gate, priority=Priority.BULK),
        # A withdrawal only tells a member to drop what it holds: never held, whatever its standing;
        # casework, not bulk, so a wrong hash stops matching before the next list arrives.
        send.ITEM_WITHDRAW: Item(receive.on_withdraw, send.withdraw_send_gate, hands_over=False),
        # Feedback tells a source about its own hash: who the partner is decides.
        send.ITEM_FEEDBACK: Item(receive.on_feedback, hands_over=False, priority=Priority.BULK),
    },
    read_models=(MediaReadModel, MediaDigests),
)
