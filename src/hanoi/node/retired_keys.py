"""Retired signing keys, kept only while they are still valid, to announce a rotation afresh.

A key rotation is signed by the old key, and a peer accepts it only while that key is still
valid and only when it was announced within the clock-skew window (``open_rotation``). A peer
that is unreachable for longer than that window after ``hanoi peers rotate-key`` therefore
needs a new announcement, signed again by the old key, when it comes back. So ``rotate_key``
keeps the old private key (mode 0600, ``HOME/retired-keys/<key id>.key``) until its grace
period ends, and the outbox signs the rotation again at each attempt (``fresh_rotation``).
Once the grace has ended the file is deleted: the key can introduce nothing any more, and a
key file that can sign nothing useful is only a risk. A rotation made with no grace (a
compromised key) keeps nothing and announces nothing: see ``peers.rotate_key``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hanoi.core import keys
from hanoi.core.clock import parse_time
from hanoi.core.errors import HanoiError
from hanoi.federation.descriptor import TYP_ROTATION, KeyRotation, sign_rotation
from hanoi.federation.envelope import JWS, Rejection, read_signed
from hanoi.node.runtime import Node

RETIRED_DIR = "retired-keys"


def _path(home: Path, key_id: str) -> Path:
    # A key id is a safe token (letters, digits, ._:~-, starting alphanumeric): a file name.
    return home / RETIRED_DIR / f"{keys.check_key_id(key_id)}.key"


def keep(home: Path, key_id: str, private_key: Ed25519PrivateKey) -> None:
    """Keep a retired private key until its grace ends (created 0600, never readable by others)."""
    folder = home / RETIRED_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    path = _path(home, key_id)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(keys.private_key_to_pem(private_key))


def forget(home: Path, key_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _path(home, key_id).unlink()


def prune(home: Path, previous_keys: list[dict[str, Any]], now: datetime) -> None:
    """Delete the kept keys whose window has ended."""
    for old in previous_keys:
        end = old.get("not_after")
        if end and parse_time(end) <= now:
            forget(home, old["kid"])


def _private_key(node: Node, key_id: str) -> Ed25519PrivateKey | None:
    if node.config.key_id == key_id:  # a server started before the rotation still holds it
        return node.private_key
    try:
        return keys.private_key_from_pem(_path(node.home, key_id).read_bytes())
    except (OSError, HanoiError):
        return None


def fresh_rotation(node: Node, signed: JWS) -> JWS:
    """The rotation ``signed`` (this node's own, as queued by ``rotate_key``) announced again
    now and signed again by its old key, while that key is valid and kept; else ``signed`` as
    it is (the peer then decides, and refuses a stale or expired one)."""
    try:
        rotation = KeyRotation.from_dict(read_signed(signed, typ=TYP_ROTATION,
                                                     max_bytes=1 << 20).payload)
    except (Rejection, HanoiError):
        return signed
    now = node.now()
    if rotation.old_not_after is not None and rotation.old_not_after <= now:
        forget(node.home, rotation.old_key_id)
        return signed
    private_key = _private_key(node, rotation.old_key_id)
    if private_key is None:
        return signed
    try:
        return sign_rotation(dataclasses.replace(rotation, announced_at=now), private_key)
    except HanoiError:
        return signed
