"""Ledgers that peers witness: sending our heads to peers, keeping theirs, and asking them.

A node's chain and signed checkpoints live in its own database, so by themselves they cannot
show a tail that was cut together with its checkpoints, nor a tail re-hashed and re-signed by
someone who holds the node's key. Peers therefore witness each other's ledger heads, as
Certificate Transparency logs are watched by monitors (``federation.witness`` holds the pure
rules):

- **checkpoints go out**: ``announce`` queues this node's newest signed checkpoint to every
  peer as a ``ledger.checkpoint`` item (payload: seq, head hash, key id, signature: nothing
  else). It runs after delivery rounds (at most every ``ANNOUNCE_EVERY`` seconds) and after
  ``hanoi ledger checkpoint``. The send gate is the standing gate, as for pings: a suspended
  peer is sent nothing, one under concerns waits for a person.
- **peers keep them**: ``on_checkpoint`` (the inbox handler) checks the checkpoint's
  signature against the sender's registered keys, stores ``(node, seq, head hash, key id,
  signature, received_at)`` in ``witnessed_heads`` and countersigns: its signed receipt says
  what it witnessed, and names the digest of the envelope that carried it.
- **heads in receipts too**: every receipt a peer signs carries its ledger head;
  ``saw_receipts`` (a receipt observer of the outbox) keeps the newest one per peer, with the
  signed receipt as evidence.
- **asking**: ``verify`` (``hanoi ledger verify --witnesses``) verifies the ledger locally,
  then asks every peer, with a query signed by this node (``POST /federation/v1/witness``,
  answered by ``answer`` with a statement signed by the witness), for the newest head of ours it
  holds, and reports a witness that saw an entry the ledger no longer has (a cut tail) or with
  another hash (a rewritten chain), naming the witness and the entry, and whether the witness's
  evidence carries this node's own signature.

What it cannot detect: a change after the newest head any witness holds (the entries since it
was sent), nor anything when no peer is reachable or every witness is in league with the
tamperer. A witness's word without this node's signature is reported as such.

The item, its handler, the receipt observer and the round hook are declared in the platform's
manifest (``hanoi.node.platform``); what was announced to whom is kept by the node's
``Announcements`` read model.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import and_, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hanoi.core.errors import HanoiError, invalid
from hanoi.federation.envelope import Envelope, Rejection, read_signed
from hanoi.federation.receipts import TYP_RECEIPT, Receipt
from hanoi.federation.witness import (
    Finding,
    WitnessedHead,
    WitnessQuery,
    WitnessStatement,
    checkpoint_item,
    compare,
    open_checkpoint_item,
    open_query,
    open_statement,
    sign_query,
    sign_statement,
)
from hanoi.node import ledger, outbox
from hanoi.node import members as members_service
from hanoi.node.peers import own_keys
from hanoi.node.runtime import Node, Work
from hanoi.store import ledger_store
from hanoi.store.tables import ledger_checkpoints, members, witnessed_heads
from hanoi.store.tables import outbox as outbox_t

ITEM_TYPE = "ledger.checkpoint"
SUBJECT = "ledger:witness"
WITNESS_PATH = "/federation/v1/witness"
ANNOUNCE_EVERY = 2.0
"""Seconds between two looks, by a delivery worker, for a checkpoint not yet announced."""
ACTOR = "system:witness"


# --- sending our checkpoints ----------------------------------------------------------------


def _witnesses(conn: Any) -> list[str]:
    """Members this node federates with (an endpoint and a key): its witnesses."""
    ids = conn.execute(select(members.c.id).where(members.c.endpoint.is_not(None)
                                                  & (members.c.endpoint != ""))
                       .order_by(members.c.id)).scalars().all()
    return [m for m in ids if members_service.key_records(conn, m)]


def _announced(conn: Any) -> dict[str, int]:
    """Per peer, the newest checkpoint already queued for it (whatever became of the row)."""
    rows = conn.execute(select(outbox_t.c.recipient, outbox_t.c.payload)
                        .where(outbox_t.c.type == ITEM_TYPE)).all()
    out: dict[str, int] = {}
    for recipient, payload in rows:
        seq = payload.get("seq") if isinstance(payload, dict) else None
        if isinstance(seq, int):
            out[recipient] = max(out.get(recipient, 0), seq)
    return out


def announce(node: Node, actor: str = ACTOR) -> dict[str, str]:
    """Queue this node's newest signed checkpoint to every peer that was not sent it yet;
    return ``{peer: envelope id}`` of what was queued."""
    done = node.read_model(Announcements)
    with node.read() as conn:
        newest = conn.execute(select(func.max(ledger_checkpoints.c.seq))).scalar()
        if newest is None or done.sent_to_all == newest:
            return {}
        announced = _announced(conn)
        targets = [p for p in _witnesses(conn) if announced.get(p, 0) < newest]
    queued: dict[str, str] = {}
    if targets:
        with node.write(actor) as uow:
            row = uow.conn.execute(select(ledger_checkpoints)
                                   .where(ledger_checkpoints.c.seq == newest)).mappings().one()
            payload = checkpoint_item(int(row["seq"]), row["head_hash"], row["key_id"],
                                      row["signature"])
            for peer in targets:
                queued[peer] = outbox.enqueue(uow, recipient=peer, type=ITEM_TYPE,
                                              payload=payload, subject=SUBJECT)
    # Every peer of the moment has it: until the next checkpoint there is nothing to read.
    done.sent_to_all = newest
    return queued


class Announcements:
    """What this process announced: the newest checkpoint every peer was sent (a peer added
    since gets the next), and when the round hook last looked."""

    def __init__(self, node: Node) -> None:
        self.sent_to_all: int | None = None
        self.last_look = float("-inf")
        self.lock = threading.Lock()

    def close(self) -> None:
        self.sent_to_all = None


def announce_due(node: Node) -> None:
    """``announce``, at most every ``ANNOUNCE_EVERY`` seconds per node (a round hook)."""
    now = time.monotonic()
    state = node.read_model(Announcements)
    with state.lock:
        if now - state.last_look < ANNOUNCE_EVERY:
            return
        state.last_look = now
    announce(node)


# --- keeping the peers' heads ----------------------------------------------------------------


def _keep(uow: Work, node_id: str, head: WitnessedHead) -> bool:
    """Store a witnessed head; False when a different head for that entry is already held
    (the first is kept: a node that signed two heads for one entry forked its ledger)."""
    key = and_(witnessed_heads.c.node == node_id, witnessed_heads.c.source == head.source,
               witnessed_heads.c.seq == head.seq)
    held = uow.conn.execute(select(witnessed_heads.c.head_hash).where(key)).scalar()
    if held is not None:
        return bool(held == head.head_hash)
    if head.source == "receipt":  # only the newest receipt head is kept per peer
        newer = uow.conn.execute(select(func.max(witnessed_heads.c.seq)).where(
            (witnessed_heads.c.node == node_id) & (witnessed_heads.c.source == "receipt"))).scalar()
        if newer is not None and newer > head.seq:
            return True
        uow.conn.execute(delete(witnessed_heads).where(
            (witnessed_heads.c.node == node_id) & (witnessed_heads.c.source == "receipt")))
    # Two delivery workers may settle receipts carrying the same head at once (a repeat):
    # the second insert is then a no-op, never an error on the delivery path.
    dialect_insert = pg_insert if uow.conn.dialect.name == "postgresql" else sqlite_insert
    uow.conn.execute(dialect_insert(witnessed_heads).values(
        node=node_id, source=head.source, seq=head.seq, head_hash=head.head_hash,
        key_id=head.key_id, signature=head.signature, received_at=head.received_at)
        .on_conflict_do_nothing())
    return True


def on_checkpoint(uow: Work, env: Envelope, sender: dict[str, Any]) -> dict[str, Any]:
    """The inbox handler for ``ledger.checkpoint``: verify the checkpoint against the sender's
    registered keys, keep it, countersign it in the receipt."""
    sender_keys = members_service.key_records(uow.conn, env.sender)
    seq, head_hash, key_id, signature = open_checkpoint_item(env.payload, node_id=env.sender,
                                                             node_keys=sender_keys)
    head = WitnessedHead(seq, head_hash, "checkpoint", key_id, signature, uow.now)
    if not _keep(uow, env.sender, head):
        raise invalid("head_hash", f"{env.sender} already signed another head for entry {seq}: "
                                   "its ledger was forked; the first head is kept", "FED-ITEM-INVALID")
    return {"subject": f"witness:{env.sender}", "seq": seq, "head_hash": head_hash,
            "receipt_detail": f"witnessed {env.sender} entry {seq} head {head_hash}"}


def saw_receipts(uow: Work, settled: Sequence[tuple[str, Receipt, str]]) -> None:
    """Keep the newest ledger head each peer signed in this round's receipts (a receipt
    observer of the outbox), with the signed receipt as evidence."""
    newest: dict[str, tuple[Receipt, str]] = {}
    for peer, receipt, text in settled:
        if receipt.ledger_head.seq < 1:
            continue
        if peer not in newest or receipt.ledger_head.seq > newest[peer][0].ledger_head.seq:
            newest[peer] = (receipt, text)
    for peer, (receipt, text) in newest.items():
        kid = _kid(text)
        if kid is None:
            continue
        _keep(uow, peer, WitnessedHead(receipt.ledger_head.seq, receipt.ledger_head.hash,
                                       "receipt", kid, text, receipt.received_at))


def _kid(receipt_text: str) -> str | None:
    try:
        return read_signed(receipt_text, typ=TYP_RECEIPT, max_bytes=1 << 20).kid
    except Rejection:
        return None


def latest_for(conn: Any, node_id: str) -> WitnessedHead | None:
    """The newest head of ``node_id`` this node holds as its witness."""
    row = conn.execute(select(witnessed_heads).where(witnessed_heads.c.node == node_id)
                       .order_by(witnessed_heads.c.seq.desc(),
                                 witnessed_heads.c.source).limit(1)).mappings().first()
    if row is None:
        return None
    return WitnessedHead(int(row["seq"]), row["head_hash"], row["source"], row["key_id"],
                         row["signature"], row["received_at"])


# --- answering and asking ------------------------------------------------------------------


def answer(node: Node, body: Any) -> str:
    """Answer a peer's signed question about its own ledger with a signed statement (JSON
    text). Raises ``Rejection`` for a query that is not the asking node's own, signed now."""
    skew = timedelta(seconds=node.config.federation_max_skew_seconds)
    with node.read() as conn:
        query = open_query(body, me=node.node_id, now=node.now(), max_skew=skew,
                           resolve_keys=lambda who: members_service.key_records(conn, who))
        latest = latest_for(conn, query.node)
    statement = WitnessStatement(node.node_id, query.node, query.nonce, node.now(), latest)
    return json.dumps(sign_statement(statement, node.private_key, node.config.key_id),
                      separators=(",", ":"))


def _ask(node: Node, peer: str, endpoint: str, client: httpx.Client) -> WitnessStatement:
    query = WitnessQuery(node.node_id, peer, node.now(), secrets.token_hex(16))
    r = client.post(endpoint.rstrip("/") + WITNESS_PATH,
                    json=sign_query(query, node.private_key, node.config.key_id))
    if r.status_code != 200:
        raise Rejection("FED-MALFORMED", f"HTTP {r.status_code}: {r.text[:300]}")
    with node.read() as conn:
        witness_keys = members_service.key_records(conn, peer)
    return open_statement(r.content, query=query, witness_keys=witness_keys)


def verify(node: Node, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """Verify the ledger, then hold it against what every peer witnessed of it. ``ok`` only
    when the ledger verifies, every witness answered, and none saw an entry the ledger lost
    or has with another hash."""
    local = ledger.verify(node)
    mine = own_keys(node.config, node.private_key)
    http = client or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False)
    results: list[dict[str, Any]] = []
    try:
        with node.read() as conn:
            targets = [(m, conn.execute(select(members.c.endpoint).where(members.c.id == m)).scalar())
                       for m in _witnesses(conn)]
        for peer, endpoint in targets:
            try:
                statement = _ask(node, peer, str(endpoint), http)
            except (httpx.HTTPError, HanoiError) as exc:
                detail = exc.detail if isinstance(exc, HanoiError) else f"{type(exc).__name__}: {exc}"
                results.append({"witness": peer, "outcome": "unanswered",
                                "detail": f"could not ask {peer}: {detail}"[:500]})
                continue
            results.append(_judge(node, peer, statement, local.head_seq, mine))
    finally:
        if client is None:
            http.close()
    # No witness at all proves nothing: asked to verify against witnesses, say so.
    ok = local.ok and bool(results) and all(r["outcome"] in ("consistent", "nothing witnessed")
                                            for r in results)
    return {"ok": ok, "ledger": local.as_dict(), "witnesses": results}


def _judge(node: Node, peer: str, statement: WitnessStatement, head_seq: int,
           mine: Sequence[Any]) -> dict[str, Any]:
    head = statement.latest
    if head is None:
        return {"witness": peer, "outcome": "nothing witnessed",
                "detail": f"witness {peer} holds no head of this ledger yet"}
    with node.read() as conn:
        hash_at = ledger_store.hashes_at(conn, [head.seq]).get(head.seq)
    finding: Finding = compare(peer, head, ledger_head_seq=head_seq, hash_at_seq=hash_at)
    signed = head.signed_by(node.node_id, mine)
    detail = finding.detail
    if finding.tampered:
        detail += ("; the witness holds this node's own signature over that head" if signed else
                   "; the witness's evidence is NOT signed by a key of this node: its word only")
    return {"witness": peer, "outcome": finding.outcome, "seq": finding.seq,
            "witnessed": head.as_dict() | {"signature": head.signature[:128]},
            "signed_by_this_node": signed, "detail": detail}
