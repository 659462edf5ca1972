"""Federation between nodes: signed envelopes, receipts, node descriptors, key rotation and
retry backoff. This package holds the pure building blocks; the outbox worker and the inbox
endpoint wire them to the store and HTTP."""

from hanoi.federation.backoff import next_attempt_delay
from hanoi.federation.descriptor import (
    KeyRotation,
    NodeDescriptor,
    apply_rotation,
    open_descriptor,
    open_rotation,
    sign_descriptor,
    sign_rotation,
)
from hanoi.federation.envelope import (
    Envelope,
    Rejection,
    check_replay,
    open_envelope,
    sign_envelope,
)
from hanoi.federation.receipts import (
    LedgerHead,
    Receipt,
    accept,
    open_receipt,
    reject,
    sign_receipt,
)

__all__ = [
    "Envelope",
    "KeyRotation",
    "LedgerHead",
    "NodeDescriptor",
    "Receipt",
    "Rejection",
    "accept",
    "apply_rotation",
    "check_replay",
    "next_attempt_delay",
    "open_descriptor",
    "open_envelope",
    "open_receipt",
    "open_rotation",
    "reject",
    "sign_descriptor",
    "sign_envelope",
    "sign_receipt",
    "sign_rotation",
]
