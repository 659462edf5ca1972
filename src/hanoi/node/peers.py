"""Peering: who this node says it is, whom it trusts, and how it changes its key.

``descriptor`` is this node's signed self-description (served at /federation/v1/descriptor).
``fetch`` reads a peer's descriptor from its URL, verifies its self-signature, keeps it and
returns the key fingerprints; nothing is trusted yet. ``trust`` is the second step, after a
person has compared the fingerprint out of band (a phone call, a letter): the peer becomes a
member (id = its node id) with its keys and endpoint, in one ledgered transaction. A peer
registered without an assessment starts at ``concerns``, so the gate holds every exchange until
someone records its standing (``trust(..., assessment=...)`` or ``hanoi members assess``).

``rotate_key`` gives this node a new key: the rotation is signed with the OLD key and queued to
every peer through the outbox (delivered to /federation/v1/rotation before anything signed
with the new key); the old key stays valid for a grace period so that a running server, which
still holds it until restarted, keeps working; its public half stays in the config
(``previous_keys``) to verify what it signed. A peer accepts the rotation only while the old key
is valid, so the private half is kept until the grace ends (``retired_keys``) to announce it
afresh to a peer that was away. With no grace (a compromised key) nothing is announced: a
rotation signed by a key that is no longer valid proves nothing, and each peer adds this node
again, confirming the new fingerprint out of band.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from hanoi.config import KEY_FILE, NodeConfig, save_config
from hanoi.core import keys
from hanoi.core.clock import isoformat, parse_time
from hanoi.core.errors import Conflict, InvalidInput, NotFound, Problem, invalid
from hanoi.core.members import MemberKind, validate_assessment, validate_member
from hanoi.federation.descriptor import (
    TYP_DESCRIPTOR,
    KeyRotation,
    NodeDescriptor,
    check_endpoint,
    open_descriptor,
    sign_descriptor,
    sign_rotation,
)
from hanoi.federation.envelope import JWS, Rejection, read_signed
from hanoi.node import members as members_service
from hanoi.node import outbox, retired_keys
from hanoi.node.runtime import Node, Work
from hanoi.store.tables import member_keys, members, peers
from hanoi.store.tables import outbox as outbox_t

PUBLIC_URL_ENV = "HANOI_PUBLIC_URL"
DESCRIPTOR_PATH = "/federation/v1/descriptor"
DEFAULT_GRACE = timedelta(days=1)


# --- this node -----------------------------------------------------------------------------


def public_url(node: Node) -> str | None:
    """Where peers reach this node: the config's ``public_url``, else what ``hanoi serve`` set
    from a loopback host and port."""
    url = node.config.public_url or os.environ.get(PUBLIC_URL_ENV)
    return url.rstrip("/") if url else None


def identity(node: Node) -> dict[str, Any]:
    """What a partner needs to know this node by: its id, name, State and kind, its current
    public key with the key's fingerprint (to confirm out of band), and where its signed
    descriptor is served (None until a public URL is set)."""
    c = node.config
    url = public_url(node)
    return {"node_id": c.node_id, "name": c.name, "country": c.country, "kind": c.kind,
            "key_id": c.key_id, "public_key": node.public_key_b64,
            "fingerprint": keys.fingerprint(node.private_key.public_key()),
            "public_url": url, "descriptor_url": url.rstrip("/") + DESCRIPTOR_PATH if url else None}


def _time(text: str | None, default: datetime) -> datetime:
    return parse_time(text) if text else default


def own_keys(config: NodeConfig, private_key: Any) -> list[keys.PublicKeyRecord]:
    """This node's keys: the current one and every earlier one with its window (what a peer,
    or ``ledger verify`` for old checkpoints, needs to check what each signed)."""
    start = _time(config.key_not_before, parse_time(config.created_at))
    out = [keys.PublicKeyRecord(config.key_id, keys.public_key_b64(private_key), start, None)]
    for old in config.previous_keys:
        out.append(keys.PublicKeyRecord(
            old["kid"], old["public_key"],
            parse_time(old["not_before"]) if old.get("not_before") else None,
            parse_time(old["not_after"]) if old.get("not_after") else None))
    return out


def descriptor(node: Node) -> JWS:
    """This node's descriptor, signed with its current key."""
    url = public_url(node)
    if not url:
        raise InvalidInput("this node has no public URL: set public_url in config.yaml (or "
                           "`hanoi init --public-url`)", [Problem("public_url", "is not set")])
    desc = NodeDescriptor(node.node_id, node.config.name, node.config.country, node.config.kind,
                          url, tuple(own_keys(node.config, node.private_key)), node.now())
    return sign_descriptor(desc, node.private_key, node.config.key_id)


# --- fetching and trusting a peer -------------------------------------------------------------


def _describe(desc: NodeDescriptor, signed_by: str, url: str,
              known: list[keys.PublicKeyRecord]) -> dict[str, Any]:
    registered = {k.key_id: k for k in known}
    return {
        "id": desc.node_id, "name": desc.name, "country": desc.country, "kind": desc.kind,
        "endpoint": desc.endpoint, "url": url, "issued_at": isoformat(desc.issued_at),
        "signed_by": signed_by,
        "fingerprint": next(k.fingerprint for k in desc.keys if k.key_id == signed_by),
        "keys": [{**k.as_dict(), "fingerprint": k.fingerprint,
                  "registered": k.key_id in registered and registered[k.key_id].same_key(k)}
                 for k in desc.keys],
    }


def _open_stored(text: str) -> tuple[NodeDescriptor, str]:
    jws = json.loads(text)
    desc = open_descriptor(jws)
    kid = read_signed(jws, typ=TYP_DESCRIPTOR, max_bytes=1 << 20).kid
    return desc, kid


def fetch(node: Node, actor: str, url: str, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """Fetch and verify a peer's descriptor from ``url`` (its base URL or the descriptor URL);
    keep it for ``trust`` and return what a person must confirm: the fingerprints."""
    base = url.strip().rstrip("/")
    if base.endswith(DESCRIPTOR_PATH):
        base = base[: -len(DESCRIPTOR_PATH)]
    try:
        check_endpoint(base)
    except InvalidInput as err:
        raise invalid("url", err.problems[0].message if err.problems else err.detail) from None
    http = client or httpx.Client(timeout=10.0, follow_redirects=False)
    try:
        r = http.get(base + DESCRIPTOR_PATH)
    except httpx.HTTPError as exc:
        raise invalid("url", f"cannot reach {base}: {type(exc).__name__}: {exc}") from None
    finally:
        if client is None:
            http.close()
    if r.status_code != 200:
        raise invalid("url", f"{base}{DESCRIPTOR_PATH} answered HTTP {r.status_code}")
    try:
        desc = open_descriptor(r.content)
    except Rejection as rej:
        raise InvalidInput(f"the descriptor does not verify: {rej.detail}",
                           [Problem("descriptor", rej.detail, rej.rule_code)], rej.rule_code) from None
    kid = read_signed(r.content, typ=TYP_DESCRIPTOR, max_bytes=1 << 20).kid
    if desc.node_id == node.node_id:
        raise invalid("url", "that is this node's own descriptor")
    text = json.dumps(json.loads(r.content), separators=(",", ":"))
    with node.write(actor) as uow:
        known = members_service.key_records(uow.conn, desc.node_id)
        exists = uow.conn.execute(select(peers.c.id).where(peers.c.id == desc.node_id)).first()
        values = {"url": base, "descriptor": text, "fetched_at": uow.now}
        if exists:
            uow.conn.execute(update(peers).where(peers.c.id == desc.node_id).values(**values))
        else:
            uow.conn.execute(peers.insert().values(id=desc.node_id, **values))
        shown = _describe(desc, kid, base, known)
        uow.record("peer.fetched", f"peer:{desc.node_id}", {"descriptor": desc.as_dict(),
                                                            "signed_by": kid, "url": base})
    shown["trusted"] = _trusted(node, desc.node_id)
    return shown


def _trusted(node: Node, peer_id: str) -> bool:
    with node.read() as conn:
        row = conn.execute(select(peers.c.trusted_at).where(peers.c.id == peer_id)).first()
    return bool(row and row.trusted_at)


def normalise_fingerprint(text: str) -> str:
    return re.sub(r"[^0-9a-f]", "", text.lower())


def trust(node: Node, actor: str, peer_id: str, fingerprint: str, *,
          state_status: str | None = None, assessment: dict[str, Any] | None = None) -> dict[str, Any]:
    """Trust a fetched peer once a person confirmed ``fingerprint`` (of the key that signed its
    descriptor) out of band: create or update its member row with its keys and endpoint."""
    with node.read() as conn:
        row = conn.execute(select(peers).where(peers.c.id == peer_id)).mappings().first()
    if row is None:
        raise NotFound(f"no fetched peer {peer_id!r}: fetch its descriptor first "
                       "(hanoi peers add URL, or POST /api/v1/peers)", "id")
    desc, kid = _open_stored(row["descriptor"])
    expected = next(k.fingerprint for k in desc.keys if k.key_id == kid)
    if not fingerprint or normalise_fingerprint(fingerprint) != normalise_fingerprint(expected):
        raise InvalidInput("the fingerprint does not match the peer's key: do not trust it",
                           [Problem("fingerprint", f"does not match key {kid}", "PEER-FINGERPRINT")],
                           "PEER-FINGERPRINT")
    if desc.kind not in MemberKind._value2member_map_:
        raise invalid("kind", f"{desc.kind!r} is not a member kind this node knows")
    checked = validate_assessment(dict(assessment), node.now()) if assessment else None
    with node.write(actor) as uow:
        member = members_service.find(uow.conn, peer_id)
        added = (_add_member(uow, desc, state_status or "party") if member is None
                 else _update_member(uow, member, desc))
        uow.conn.execute(update(peers).where(peers.c.id == peer_id).values(
            fingerprint=normalise_fingerprint(expected)[:64], trusted_at=uow.now, trusted_by=actor))
        uow.record("peer.trust", f"member:{peer_id}",
                   {"peer": peer_id, "signed_by": kid, "fingerprint": expected,
                    "endpoint": desc.endpoint, "keys_added": added, "confirmed_by": actor},
                   reasons=[{"code": "PEER-FINGERPRINT", "detail": f"{actor} confirmed {expected}"}])
        if checked is not None:
            members_service.insert_assessment(uow, peer_id, checked)
    return members_service.show(node, peer_id)


def _add_member(uow: Work, desc: NodeDescriptor, state_status: str) -> list[str]:
    draft = validate_member({"id": desc.node_id, "name": desc.name, "kind": desc.kind,
                             "country": desc.country, "state_status": state_status,
                             "endpoint": desc.endpoint})
    data = draft.as_dict()
    standing = members_service.UNASSESSED.value
    uow.conn.execute(members.insert().values(**data, standing=standing, created_at=uow.now,
                                             updated_at=uow.now))
    for rec in desc.keys:
        _insert_key(uow, desc.node_id, rec)
    uow.record("member.add", f"member:{desc.node_id}",
               {**data, "standing": standing, "keys": [k.as_dict() for k in desc.keys]})
    return [k.key_id for k in desc.keys]


def _insert_key(uow: Work, member_id: str, rec: keys.PublicKeyRecord) -> None:
    if len(rec.key_id) > 64:
        raise invalid("keys", f"key id {rec.key_id!r} is longer than 64 characters")
    members_service.insert_key(uow, member_id, rec)


def _update_member(uow: Work, member: dict[str, Any], desc: NodeDescriptor) -> list[str]:
    if member["country"] != desc.country:
        raise Conflict(f"member {desc.node_id!r} is registered in {member['country']}, the "
                       f"descriptor says {desc.country}",
                       [Problem("country", "differs from the registered member", "MEMBER-STATE")])
    known = {k.key_id: k for k in members_service.key_records(uow.conn, desc.node_id)}
    added = []
    for rec in desc.keys:
        old = known.get(rec.key_id)
        if old is None:
            _insert_key(uow, desc.node_id, rec)
            added.append(rec.key_id)
        elif old.public_key_b64 != rec.public_key_b64:
            raise Conflict(f"key id {rec.key_id!r} is registered with another key: a key changes "
                           "only by a rotation signed with the old key",
                           [Problem("keys", f"{rec.key_id} differs", "FED-ROTATION")], "FED-ROTATION")
        elif rec.not_after is not None and (old.not_after is None or rec.not_after < old.not_after):
            # The peer ended a key (retired, or revoked after a compromise): end it here too,
            # or the old key would stay valid on this node and could still sign, or rotate.
            end = rec.not_after if old.not_before is None or rec.not_after > old.not_before \
                else old.not_before + timedelta(microseconds=1)
            uow.conn.execute(update(member_keys).where(
                (member_keys.c.member_id == desc.node_id) & (member_keys.c.key_id == rec.key_id))
                .values(not_after=end))
    uow.conn.execute(update(members).where(members.c.id == desc.node_id).values(
        endpoint=desc.endpoint, updated_at=uow.now))
    return added


def list_peers(node: Node) -> list[dict[str, Any]]:
    """Fetched peers with their member standing, endpoint and outbox counts."""
    from sqlalchemy import func

    with node.read() as conn:
        rows = conn.execute(select(peers, members.c.standing, members.c.endpoint, members.c.name)
                            .select_from(peers.outerjoin(members, members.c.id == peers.c.id))
                            .order_by(peers.c.id)).mappings().all()
        pending: dict[str, int] = dict(conn.execute(
            select(outbox_t.c.recipient, func.count()).where(outbox_t.c.state.in_(outbox.OPEN_STATES))
            .group_by(outbox_t.c.recipient)).all())
        out = []
        for r in rows:
            desc, kid = _open_stored(r["descriptor"])
            out.append({
                "id": r["id"], "name": r["name"] or desc.name, "country": desc.country,
                "kind": desc.kind, "url": r["url"], "endpoint": r["endpoint"] or desc.endpoint,
                "standing": r["standing"], "trusted": r["trusted_at"] is not None,
                "trusted_at": isoformat(r["trusted_at"]) if r["trusted_at"] else None,
                "trusted_by": r["trusted_by"],
                "fingerprint": next(k.fingerprint for k in desc.keys if k.key_id == kid),
                "keys": [k.key_id for k in members_service.key_records(conn, r["id"])],
                "open_outbox": int(pending.get(r["id"], 0)),
                "fetched_at": isoformat(r["fetched_at"]),
            })
    return out


# --- outgoing helpers ---------------------------------------------------------------------


def ping(node: Node, actor: str, peer_id: str, count: int = 1) -> list[str]:
    """Queue ``count`` ping envelopes to a peer (a connectivity check the peer only ledgers)."""
    if not 1 <= count <= 10_000:
        raise invalid("count", "must be between 1 and 10000")
    with node.write(actor) as uow:
        return [outbox.enqueue(uow, recipient=peer_id, type="ping", payload={"n": i})
                for i in range(count)]


# --- key rotation -------------------------------------------------------------------------


def rotate_key(node: Node, actor: str, *, grace: timedelta = DEFAULT_GRACE) -> dict[str, Any]:
    """Give this node a new key, announce it to every peer (signed with the old key, through
    the outbox) and keep the old public key in the config. The old key stays valid for
    ``grace`` (restart ``hanoi serve`` within it so it signs with the new key)."""
    if grace < timedelta(0):
        raise invalid("grace", "must not be negative")
    now = node.now().astimezone(UTC)
    cfg = node.config
    old_id = cfg.key_id
    old_public = keys.public_key_b64(node.private_key)
    new_key = keys.generate_private_key()
    new_id = f"{cfg.node_id}:{now.strftime('%Y%m%d%H%M%S')}"
    if new_id == old_id or any(k.get("kid") == new_id for k in cfg.previous_keys):
        raise Conflict("a key was already made this second; try again", [Problem("key_id", new_id)])
    keys.check_key_id(new_id)
    old_end = now + grace if grace else now + timedelta(microseconds=1)
    retired_keys.prune(node.home, cfg.previous_keys, now)
    rotation = KeyRotation(cfg.node_id, old_id, keys.PublicKeyRecord.of(new_id, new_key, now, None),
                           now, old_end)
    signed = sign_rotation(rotation, node.private_key)
    # The new private key is on disk before anything announces it, so an announced key is
    # never lost; it replaces the old one only after the announcement committed.
    staged = node.home / (KEY_FILE + ".next")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(keys.private_key_to_pem(new_key))
    with node.write(actor) as uow:
        targets = uow.conn.execute(select(members.c.id).where(members.c.endpoint.is_not(None))
                                   .order_by(members.c.id)).scalars().all()
        uow.record("node.key.rotate", f"node:{cfg.node_id}",
                   {"rotation": rotation.as_dict(), "signed": signed, "announced_to": list(targets)})
        # Without a grace the old key is dead at once, and a peer refuses what it signs.
        queued = {t: outbox.enqueue(uow, recipient=t, type=outbox.ROTATION_TYPE,
                                    payload={"rotation": signed}, subject=f"node:{cfg.node_id}")
                  for t in targets if grace and members_service.key_records(uow.conn, t)}
    if grace:
        retired_keys.keep(node.home, old_id, node.private_key)
    staged.replace(node.home / KEY_FILE)
    previous = [*cfg.previous_keys, {
        "kid": old_id, "public_key": old_public,
        "not_before": isoformat(_time(cfg.key_not_before, parse_time(cfg.created_at))),
        "not_after": isoformat(old_end)}]
    new_cfg = cfg.model_copy(update={"key_id": new_id, "key_not_before": isoformat(now),
                                     "previous_keys": previous})
    save_config(node.home, new_cfg)
    node.config = new_cfg
    node.private_key = new_key
    return {"old_key_id": old_id, "new_key_id": new_id,
            "fingerprint": keys.fingerprint(new_key.public_key()),
            "old_key_valid_until": isoformat(old_end), "announcements": queued,
            "readd_by": [] if grace else list(targets)}
