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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
    check a chain in slices (in parallel) and join the slices at their boundaries. The rows
    must be all there are in the range, whatever their numbers: a row numbered below 1 (which a
    reader starting at 1 would never see) breaks the chain where it stands, and a row whose
    fields are not what the store writes (a number where text belongs, text where a number
    belongs) is a break naming it, never an exception.
    """
    count = 0
    prev = expect_prev
    seq_expected = expect_seq
    loads = json.loads
    sha256 = hashlib.sha256
    for row in rows:
        seq, ts, actor, action, subject, decision, reasons_text, payload_text, pdigest, prev_hash, h = row
        try:
            if seq != seq_expected:
                return count, prev, _sequence_break(seq, seq_expected)
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
        except (TypeError, ValueError, AttributeError, OverflowError):
            # SQLite keeps whatever is written: a number where text belongs fails to hash.
            return count, prev, Break(seq_expected, "entry is malformed: a field holds a value the "
                                                    "ledger never writes (edited)")
        prev = h
        seq_expected += 1
        count += 1
    return count, prev, None


def _sequence_break(seq: object, seq_expected: int) -> Break:
    if isinstance(seq, bool) or not isinstance(seq, int):
        return Break(seq_expected, f"sequence number {seq!r} is not a whole number (edited)")
    if seq < 1:
        return Break(seq, f"sequence number {seq} is below 1: an entry was inserted before the first one")
    what = "missing" if seq > seq_expected else "repeated or out of order"
    return Break(seq_expected if seq > seq_expected else seq,
                 f"sequence broken: expected {seq_expected}, found {seq} (entry {what})")


def iter_entries(rows: Iterable[Row]) -> Iterator[Entry]:
    for seq, ts, actor, action, subject, decision, reasons, payload, pdigest, prev_hash, h in rows:
        yield Entry(seq, ts, actor, action, subject, decision, json.loads(reasons),
                    json.loads(payload), pdigest, prev_hash, h)


def checkpoint_message(seq: int, head_hash: str, node_id: str) -> bytes:
    """The bytes a checkpoint signature covers."""
    return fast_canonical_json({"node": node_id, "seq": seq, "head": head_hash})


# A stored checkpoint: (seq, head_hash, key_id, signature as hex, ts), as stored.
CheckpointRow = tuple[Any, Any, Any, Any, Any]


def check_checkpoints(
    checkpoints: Iterable[CheckpointRow], *, node_id: str, keys: Mapping[str, Any],
    stored_hashes: Mapping[int, str], head_seq: int,
    verify: Callable[[Any, bytes, bytes], bool],
) -> Break | None:
    """The first checkpoint that does not hold, as a break naming it; None if all hold.

    Each must be signed by one of this node's ``keys`` (key id -> public key; ``verify(key,
    signature, message)`` checks a signature), name an entry the ledger still has
    (``head_seq`` is the newest) and agree with that entry's stored hash (``stored_hashes``).
    A checkpoint whose fields are not what the store writes (a signature that is not hex, a
    number that is not a whole number) is named, never an exception.
    """
    for seq, head_hash, key_id, signature, _ts in checkpoints:
        if isinstance(seq, bool) or not isinstance(seq, int):
            return Break(head_seq + 1, f"a checkpoint's sequence number {seq!r} is not a whole number (edited)")
        public = keys.get(key_id) if isinstance(key_id, str) else None
        if public is None:
            return Break(seq, f"checkpoint signed with unknown key {key_id!r}")
        try:
            raw_signature = bytes.fromhex(signature)
        except (TypeError, ValueError):
            return Break(seq, f"checkpoint signature is not hexadecimal ({str(signature)[:40]!r}): edited")
        try:
            message = checkpoint_message(seq, head_hash, node_id)
        except (TypeError, ValueError):  # e.g. a number beyond what canonical JSON holds
            message = None
        if message is None or not isinstance(head_hash, str) or not verify(public, raw_signature, message):
            return Break(seq, "checkpoint signature is not valid")
        if seq > head_seq:
            return Break(head_seq + 1, f"ledger truncated: a signed checkpoint covers entry {seq} "
                                       f"but the newest entry is {head_seq}")
        if stored_hashes.get(seq) != head_hash:
            return Break(seq, "entry differs from the signed checkpoint (the chain was rewritten)")
    return None
