"""Private lookups of exact media hashes (MD5, SHA-256): the prefix protocol of the signals
wing (docs/privacy.md) over the digests ``hanoi.private_lookup.media_digest`` defines.

What a member may match is what ``matching.match`` matches: every active exact hash of the node
(a quarantined, withdrawn or deleted hash is not answered). The digests are built from the store
on first use and again after any ledgered act that changes which hashes are active. Queries are
ledgered as ``media.prefixes`` with counts, never a prefix.

PDQ is not offered: a prefix of a perceptual hash says nothing about the hashes within a
Hamming distance of it (docs/privacy.md says what a private PDQ match would need).
"""

from __future__ import annotations

import base64
import threading
from typing import Any

from sqlalchemy import func, select

from hanoi.core import prefixes as P
from hanoi.media import model
from hanoi.media.algorithms import EXACT
from hanoi.node.runtime import Node
from hanoi.private_lookup import MEDIA_CANON, media_digest
from hanoi.store.tables import ledger_entries, media_hashes

_QUIET = ("media.prefixes", "media.match", "media.feedback", "media.feedback.received",
          "media.distribute", "media.distribute.gate")
"""Media acts that change no hash's status."""


class MediaDigests:
    """The media wing's read model of the digests of its active exact hashes (rebuilt when a
    ledgered act may have changed which hashes are active)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._held: tuple[int, P.DigestIndex] | None = None

    def digests(self) -> P.DigestIndex:
        with self._lock, self._node.read() as conn:
            seq = int(conn.execute(select(func.max(ledger_entries.c.seq)).where(
                ledger_entries.c.action.like("media.%"), ledger_entries.c.action.not_in(_QUIET))).scalar() or 0)
            if self._held is not None and self._held[0] == seq:
                return self._held[1]
            found = conn.execute(select(media_hashes.c.id, media_hashes.c.algorithm, media_hashes.c.value)
                                 .where(media_hashes.c.algorithm.in_(EXACT),
                                        media_hashes.c.status == model.ACTIVE)).all()
            index = P.DigestIndex().with_added([media_digest(a, v) for _, a, v in found],
                                               [i for i, _, _ in found])
            self._held = (seq, index)
            return index

    def close(self) -> None:
        with self._lock:
            self._held = None


def _digests(node: Node) -> P.DigestIndex:
    return node.read_model(MediaDigests).digests()


def params(node: Node) -> dict[str, Any]:
    k = node.config.private_lookup_k
    stored = len(_digests(node))
    return {"version": MEDIA_CANON, "bits": P.prefix_bits(stored, k), "k": k, "pad": P.pad_size(k),
            "stored": stored}


def prefixes(node: Node, actor: str, body: Any, *, member_id: str | None = None,
             binary: bool = False) -> dict[str, Any] | bytes:
    """Per prefix asked, the digests of the active exact hashes under it (base64, padded)."""
    index = _digests(node)
    k = node.config.private_lookup_k
    bits, asked = P.check_prefixes(body, P.prefix_bits(len(index), k))
    rows, owner = index.rows(asked, bits)
    pad = P.pad_size(k)
    keep = rows >= 0
    answers, answered = P.padded_answers(index, rows, owner, keep, len(asked), pad)
    with node.write(actor) as uow:
        uow.record("media.prefixes", "media:prefixes",
                   {"member_id": member_id, "prefixes": len(asked), "bits": bits, "answered": answered},
                   decision="allow", reasons=[{"code": P.RULE}])
    if binary:
        return P.binary_answer(MEDIA_CANON, bits, pad, answers)
    return {"version": MEDIA_CANON, "bits": bits, "pad": pad,
            "answers": [base64.b64encode(a).decode() for a in answers]}


__all__ = ["MediaDigests", "params", "prefixes"]
