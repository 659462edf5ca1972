"""Between nodes: flattened JWS envelopes, signed receipts, descriptors, key rotations."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class FlattenedJws(BaseModel):
    """A flattened JWS (RFC 7515, Ed25519) over canonical JSON."""

    model_config = ConfigDict(extra="allow")
    payload: str
    protected: str
    signature: str


class Envelope(FlattenedJws):
    """One item for this node, signed by the sending node (id, sender, recipient, type, created
    time, payload, the id it answers)."""


class Receipt(FlattenedJws):
    """The receiving node's signed receipt: accepted or rejected, the rule, its ledger head."""


class SignedDescriptor(FlattenedJws):
    """A node's self-description (id, name, State, kind, endpoint, keys), signed by its key."""


class BatchError(BaseModel):
    error: dict[str, Any] = Field(description="{rule, detail}: an item that is not even an envelope")


class Rotation(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    rotation: Any = Field(description="The new key, signed by the old one")
