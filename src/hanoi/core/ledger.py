"""The ledger's pure rules: what an entry is, how it is hashed, how a chain is checked.

An entry is hashed over the RFC 8785 canonical JSON of all its fields except ``hash``; each
entry names the previous entry's hash, the first names ``GENESIS``. Verification walks the
entries in sequence order and reports the first one that breaks the chain: a gap or repeat in
the sequence (deleted, inserted or reordered entries), a wrong previous hash, a hash that does
not match the fields (an edited entry), or a payload that does not match its digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hanoi.core.canonical import digest, fast_canonical_json

GENESIS = "0" * 64
ENTRY_FIELDS = (
    "seq",
    "ts",
    "actor",
    "action",
    "subject",
    "decision",
    "reasons",
    "payload_digest",
    "prev_hash",
)


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    decision: str | None
    reasons: list[dict[str, Any]]
    payload: Any
    payload_digest: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "decision": self.decision,
            "reasons": self.reasons,
            "payload": self.payload,
            "payload_digest": self.payload_digest,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def entry_hash(
    seq: int,
    ts: str,
    actor: str,
    action: str,
    subject: str,
    decision: str | None,
    reasons: list[dict[str, Any]],
    payload_digest: str,
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "ts": ts,
        "actor": actor,
        "action": action,
        "subject": subject,
        "decision": decision,
        "reasons": reasons,
        "payload_digest": payload_digest,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(fast_canonical_json(body)).hexdigest()


_str = json.encoder.encode_basestring  # JSON string, no ASCII escaping


def entry_bytes(seq: int, ts: str, actor: str, action: str, subject: str, decision: str | None,
                reasons_json: str, payload_digest: str, prev_hash: str) -> bytes:
    """The canonical JSON of an entry's hashed fields, built directly from the stored text.

    Equal to ``fast_canonical_json(body)`` whenever ``reasons_json`` is the canonical JSON of
    the reasons (which is how the store writes it; a property test holds the two equal). Keys
    are in RFC 8785 order. Verification hashes these bytes first and falls back to parsing
    only when they do not match, so the verdict never depends on this shortcut.
    """
    return (
        '{"action":' + _str(action) + ',"actor":' + _str(actor)
        + ',"decision":' + ("null" if decision is None else _str(decision))
        + ',"payload_digest":' + _str(payload_digest) + ',"prev_hash":' + _str(prev_hash)
        + ',"reasons":' + reasons_json + ',"seq":' + str(int(seq)) + ',"subject":' + _str(subject)
        + ',"ts":' + _str(ts) + "}"
    ).encode()


def make_entry(
    *,
    seq: int,
    ts: str,
    actor: str,
    action: str,
    subject: str,
    decision: str | None,
    reasons: Sequence[dict[str, Any]],
    payload: Any,
    prev_hash: str,
) -> Entry:
    reasons_list = [dict(r) for r in reasons]
    payload_digest = digest(payload)
    h = entry_hash(seq, ts, actor, action, subject, decision, reasons_list, payload_digest, prev_hash)
    return Entry(seq, ts, actor, action, subject, decision, reasons_list, payload,
                 payload_digest, prev_hash, h)


@dataclass(frozen=True, slots=True)
class Break:
    """Where and why a chain is broken."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.reason}"


# A stored row: (seq, ts, actor, action, subject, decision, reasons_json, payload_json,
# payload_digest, prev_hash, hash), the text columns exactly as stored.
Row = tuple[int, str, str, str, str, "str | None", str, str, str, str, str]


def check_rows(
    rows: Iterable[Row], *, expect_seq: int = 1, expect_prev: str = GENESIS,
    check_payloads: bool = True,
) -> tuple[int, str, Break | None]:
    """Check a run of stored rows in sequence order.

    Returns ``(count, last_hash, first_break)``. ``expect_seq`` / ``expect_prev`` let a caller
    check a chain in slices (in parallel) and join the slices at their boundaries.
    """
    count = 0
    prev = expect_prev
    seq_expected = expect_seq
    loads = json.loads
    sha256 = hashlib.sha256
    for seq, ts, actor, action, subject, decision, reasons_text, payload_text, pdigest, prev_hash, h in rows:
        if seq != seq_expected:
            what = "missing" if seq > seq_expected else "repeated or out of order"
            return count, prev, Break(seq_expected if seq > seq_expected else seq,
                                      f"sequence broken: expected {seq_expected}, found {seq} "
                                      f"(entry {what})")
        if prev_hash != prev:
            return count, prev, Break(seq, "previous-hash link does not match the entry before it "
                                           "(an entry was deleted, inserted or reordered)")
        # Fast path: the stored text hashes to the recorded hash. Otherwise parse and
        # re-canonicalise, so text that was merely re-serialised is not taken for an edit.
        if sha256(entry_bytes(seq, ts, actor, action, subject, decision, reasons_text, pdigest,
                              prev_hash)).hexdigest() != h:
            try:
                reasons = loads(reasons_text)
            except ValueError:
                return count, prev, Break(seq, "reasons are not valid JSON (edited)")
            if entry_hash(seq, ts, actor, action, subject, decision, reasons, pdigest, prev_hash) != h:
                return count, prev, Break(seq, "hash does not match the entry's contents (edited)")
        if check_payloads and "sha256:" + sha256(payload_text.encode()).hexdigest() != pdigest:
            try:
                payload = loads(payload_text)
            except ValueError:
                return count, prev, Break(seq, "payload is not valid JSON (edited)")
            if digest(payload) != pdigest:
                return count, prev, Break(seq, "payload does not match its digest (edited)")
        prev = h
        seq_expected += 1
        count += 1
    return count, prev, None


def iter_entries(rows: Iterable[Row]) -> Iterator[Entry]:
    for seq, ts, actor, action, subject, decision, reasons, payload, pdigest, prev_hash, h in rows:
        yield Entry(seq, ts, actor, action, subject, decision, json.loads(reasons),
                    json.loads(payload), pdigest, prev_hash, h)


def checkpoint_message(seq: int, head_hash: str, node_id: str) -> bytes:
    """The bytes a checkpoint signature covers."""
    return fast_canonical_json({"node": node_id, "seq": seq, "head": head_hash})
