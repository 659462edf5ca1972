"""The requests wing's manifest: what it sends and receives, and its section of the policy."""

from __future__ import annotations

from hanoi.node.wings import Item, Wing
from hanoi.requests import receive, send, service
from hanoi.requests.gate import RequestPolicy

WING = Wing(
    "requests",
    items={
        send.REQUEST_SUBMIT: Item(receive.on_submit, send.send_gate),
        # A lifecycle step (received, acknowledged, preserved...) hands nothing over: who the
        # partner is decides. The request itself, responses and evidence face the whole gate.
        send.REQUEST_EVENT: Item(receive.on_event, hands_over=False),
        send.REQUEST_RESPONSE: Item(receive.on_response, send.send_gate),
        send.EVIDENCE_CHUNK: Item(receive.on_chunk, send.send_gate),
        send.EVIDENCE_MANIFEST: Item(receive.on_manifest, send.send_gate),
    },
    policy=RequestPolicy,
    gauges=(service.gauges,),
)
