"""Private lookups of signals: prefixes online, signed filters offline (docs/privacy.md).

- ``params`` tells a client the canonical form version, the prefix length (``bits``, from the
  number of signals stored and the node's ``private_lookup_k``) and the padding.
- ``prefixes`` answers, per prefix, the full digests of the signals under it that the caller
  may see: the same gate as every lookup (``SignalIndex.visible_signals`` runs the code of
  ``lookup_columns``), padded to a multiple of ``pad``. Ledgered as ``signal.prefixes`` with
  counts only (prefixes asked, digests answered, the prefix length), never a prefix.
- ``filter_file`` is a Bloom filter of the digests the caller may see, signed with the node's
  key; ``since`` a version gives a delta: the signals with a report stored or changed since.
  Ledgered as ``signal.filter`` (how many values, the version).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from sqlalchemy import select

from hanoi.core import prefixes as P
from hanoi.core.bounds import is_bigint
from hanoi.core.clock import isoformat
from hanoi.core.errors import invalid
from hanoi.node.runtime import Node
from hanoi.private_lookup import CANON, digest
from hanoi.signals import read_model, rows
from hanoi.signals.index import Asker, SignalIndex
from hanoi.signals.service import Caller, viewer_for
from hanoi.store.tables import ledger_entries, signal_reports, signals

RULE = P.RULE


def params(node: Node) -> dict[str, Any]:
    """What a client needs to ask: version, prefix length, padding, k, values stored (and the
    digests caught up, so the prefix calls that follow find them built)."""
    idx, _ = read_model.digests(node)
    k = node.config.private_lookup_k
    stored = len(idx)
    return {"version": CANON, "bits": P.prefix_bits(stored, k), "k": k, "pad": P.pad_size(k),
            "stored": stored}


def _asker(node: Node, caller: Caller, idx: SignalIndex) -> Asker:
    with node.read() as conn:
        viewer = viewer_for(conn, caller, node.policy().standing)
    return idx.asker(viewer)


def prefixes(node: Node, who: Any, body: Any, *, binary: bool = False) -> dict[str, Any] | bytes:
    """Per prefix asked, the digests the caller may see under it, padded: base64 in a dict, or
    (``binary``) the binary form (``hanoi.private_lookup.parse_prefix_answer``)."""
    caller = Caller.of(who)
    idx, digests = read_model.digests(node)
    k = node.config.private_lookup_k
    bits, asked = P.check_prefixes(body, P.prefix_bits(len(idx), k))
    asker = _asker(node, caller, idx)
    rows_, owner = digests.rows(asked, bits)
    keep = idx.visible_signals(digests.ids[rows_], asker, node.now().timestamp())
    pad = P.pad_size(k)
    answers, answered = P.padded_answers(digests, rows_, owner, keep, len(asked), pad)
    if not caller.internal:
        with node.write(caller.actor) as uow:
            who_ = caller.member_id or "public"
            uow.record("signal.prefixes", f"member:{who_}" if caller.member_id else "signals:public",
                       {"recipient": who_, "prefixes": len(asked), "bits": bits, "answered": answered,
                        "policy_digest": uow.policy.digest}, decision="allow", reasons=[{"code": RULE}])
    if binary:
        return P.binary_answer(CANON, bits, pad, answers)
    return {"version": CANON, "bits": bits, "pad": pad,
            "answers": [base64.b64encode(a).decode() for a in answers]}


def parse_version(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    r, sep, seq = text.partition(".")
    if not sep or not (r.isascii() and r.isdigit() and seq.isascii() and seq.isdigit()) \
            or len(r) > 19 or len(seq) > 19:
        raise invalid("since", "must be a filter version as the node gave it (REPORT.SEQ, e.g. 1200.3405)")
    if not (is_bigint(int(r)) and is_bigint(int(seq))):
        raise invalid("since", "is not a version this node gave (too large)")
    return int(r), int(seq)


def _changed_signals(node: Node, since: tuple[int, int]) -> list[tuple[int, str, str]]:
    """The signals with a report stored after ``since`` or changed by a ledgered act since."""
    last_report, last_seq = since
    with node.read() as conn:
        changed: set[int] = set()
        for action, payload in conn.execute(select(ledger_entries.c.action, ledger_entries.c.payload)
                                            .where(ledger_entries.c.seq > last_seq,
                                                   ledger_entries.c.action.in_(rows.CHANGES))):
            changed.update(rows.changed_reports(action, json.loads(payload)))
        q = (select(signals.c.id, signals.c.type, signals.c.value)
             .join(signal_reports, signal_reports.c.signal_id == signals.c.id)
             .where(signal_reports.c.id > last_report).distinct())
        found = {(r.id, r.type, r.value) for r in conn.execute(q)}
        ids = sorted(changed)
        for i in range(0, len(ids), rows.SQL_CHUNK):
            q = (select(signals.c.id, signals.c.type, signals.c.value)
                 .join(signal_reports, signal_reports.c.signal_id == signals.c.id)
                 .where(signal_reports.c.id.in_(ids[i:i + rows.SQL_CHUNK])))
            found.update((r.id, r.type, r.value) for r in conn.execute(q))
    return sorted(found)


def filter_file(node: Node, who: Any, since: str | None = None) -> tuple[bytes, dict[str, Any]]:
    """The signed filter file of the digests the caller may see, and its header."""
    caller = Caller.of(who)
    base = parse_version(since)
    rm = node.read_model(read_model.SignalReadModel)
    idx, digests = rm.digests()
    version = f"{idx.last_report_id}.{rm.changes_seen}"
    asker = _asker(node, caller, idx)
    now = node.now()
    if base is None:
        keep = idx.visible_signals(digests.ids, asker, now.timestamp())
        chosen = digests.digests[keep]
    else:
        new = _changed_signals(node, base)
        sids = np.asarray([sid for sid, _, _ in new], dtype=np.int64)
        keep = idx.visible_signals(sids, asker, now.timestamp()) if len(new) else np.zeros(0, bool)
        blob = b"".join(digest(t, v) for (_, t, v), ok in zip(new, keep.tolist(), strict=True) if ok)
        chosen = np.frombuffer(blob, dtype=np.uint8).reshape(-1, 32)
    n = len(chosen)
    m = P.bloom_size(n)
    header = {"canon": CANON, "kind": "delta" if base else "full", "version": version,
              "since": since, "values": n, "m": m, "k": P.BLOOM_HASHES,
              "fpr": round(P.bloom_fpr(m / max(n, 1)), 6), "node": node.node_id,
              "key_id": node.config.key_id, "member": caller.member_id, "created_at": isoformat(now)}
    blob = P.filter_blob(header, P.bloom_bits(chosen, m), node.sign)
    if not caller.internal:
        with node.write(caller.actor) as uow:
            who_ = caller.member_id or "public"
            uow.record("signal.filter", f"member:{who_}" if caller.member_id else "signals:public",
                       {"recipient": who_, "values": n, "version": version, "since": since,
                        "policy_digest": uow.policy.digest}, decision="allow")
    return blob, header


__all__ = ["filter_file", "params", "parse_version", "prefixes"]
