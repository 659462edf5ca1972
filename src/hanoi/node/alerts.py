"""Alerts: the right person learns of an event in seconds, by a signed webhook.

A **subscription** names an event (``EVENTS``), a webhook URL, and the role whose view the
alert carries: an event is queued only for subscriptions whose role may read what it is about
(``EVENTS[event]``, a permission), and carries only what that role may see — for a request,
its id, type, partner, state and the gate's outcome, never its contents.

``queue(work, event, payload)`` writes one row per matching subscription **in the unit of work
of the event itself**: the alert commits with the event or not at all, and a crash loses
neither. The delivery thread of ``hanoi serve`` (``start_worker``) is woken when such a unit of
work commits and POSTs each alert as JSON with

    X-Hanoi-Event: request.emergency
    X-Hanoi-Delivery: <alert id>          (the same on every retry: a receiver de-duplicates)
    X-Hanoi-Timestamp: <unix seconds>
    X-Hanoi-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

(``verify_signature`` is what a receiver checks). A 2xx delivers it (ledgered
``alert.delivered``); anything else is retried with exponential backoff and full jitter, the
error kept (``hanoi alerts list`` shows it).

By e-mail (``channel: email``): a plain-text message through the SMTP relay named in
``config.yaml`` (``smtp_host``, ``smtp_port``, ``smtp_from``), STARTTLS when the relay offers
it, its Message-ID the alert's id (the same on every retry).

Not yet (issue 17 item 2, left): daily digests, and the events for deadlines
due, gate reviews waiting for a named reviewer, list matches, quarantines, failing feeds or
deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import secrets
import smtplib
import threading
import time
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import delete, insert, select, update

from hanoi.core.clock import isoformat
from hanoi.core.errors import InvalidInput, NotFound, Problem
from hanoi.core.roles import Permission, Role, allows
from hanoi.federation.backoff import next_attempt_delay
from hanoi.node import logs
from hanoi.node.runtime import Node, Work
from hanoi.store.tables import alert_queue, alert_subscriptions

log = logging.getLogger(__name__)

EVENTS: dict[str, Permission] = {
    "request.emergency": Permission.REQUESTS_READ,  # an emergency request arrived (24/7)
    "request.received": Permission.REQUESTS_READ,  # any request arrived
}
CHANNELS = ("webhook", "email")
SUBJECT = "alerts"
_wake = threading.Event()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None,
                     tolerance: float = 300.0) -> bool:
    """What a receiver checks: the HMAC over timestamp and body, and a fresh timestamp."""
    try:
        age = abs((now if now is not None else time.time()) - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


def subscribe(node: Node, actor: str, data: dict[str, Any]) -> dict[str, Any]:
    """A new subscription; its signing secret is returned once."""
    problems: list[Problem] = []
    event, channel, target = data.get("event"), data.get("channel", "webhook"), data.get("target")
    role, name = data.get("role"), data.get("name")
    if event not in EVENTS:
        problems.append(Problem("event", f"one of {', '.join(EVENTS)}"))
    if channel not in CHANNELS:
        problems.append(Problem("channel", f"one of {', '.join(CHANNELS)}"))
    elif channel == "webhook" and (not isinstance(target, str) or not re.match(r"^https?://\S+$", target)):
        problems.append(Problem("target", "the webhook's http(s) URL"))
    elif channel == "email" and (not isinstance(target, str) or not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", target)):
        problems.append(Problem("target", "an e-mail address"))
    elif channel == "email" and not node.config.smtp_host:
        problems.append(Problem("channel", "this node has no SMTP relay: set smtp_host in config.yaml"))
    if role not in {r.value for r in Role}:
        problems.append(Problem("role", f"the subscriber's role: one of {', '.join(r.value for r in Role)}"))
    elif event in EVENTS and not allows(Role(role), EVENTS[event]):
        problems.append(Problem("role", f"the {role} role may not see {event} alerts"))
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(Problem("name", "who this is for, 1-200 characters"))
    if problems:
        raise InvalidInput("the subscription is not valid: " + "; ".join(str(p) for p in problems[:3]), problems)
    secret = secrets.token_urlsafe(32)
    with node.write(actor) as work:
        sid = work.conn.execute(insert(alert_subscriptions).values(
            name=name, event=event, channel=channel, target=target, secret=secret, role=role,
            created_by=actor, created_at=work.now).returning(alert_subscriptions.c.id)).scalar_one()
        work.record("alert.subscribed", SUBJECT, {"subscription": sid, "name": name, "event": event,
                                                  "channel": channel, "target": target, "role": role})
    return {"id": sid, "name": name, "event": event, "channel": channel, "target": target, "role": role,
            "secret": secret}


def listing(node: Node) -> list[dict[str, Any]]:
    with node.read() as conn:
        subs = conn.execute(select(alert_subscriptions).order_by(alert_subscriptions.c.id)).mappings().all()
        pending = dict(conn.execute(select(alert_queue.c.subscription_id, alert_queue.c.last_error)
                                    .where(alert_queue.c.state == "pending")).all())
    return [{"id": s["id"], "name": s["name"], "event": s["event"], "channel": s["channel"],
             "target": s["target"], "role": s["role"], "pending_error": pending.get(s["id"])} for s in subs]


def unsubscribe(node: Node, actor: str, sid: int) -> dict[str, Any]:
    with node.write(actor) as work:
        gone = work.conn.execute(delete(alert_subscriptions).where(alert_subscriptions.c.id == sid)).rowcount
        if not gone:
            raise NotFound(f"no alert subscription {sid}", "id")
        work.conn.execute(delete(alert_queue).where(alert_queue.c.subscription_id == sid))
        work.record("alert.unsubscribed", SUBJECT, {"subscription": sid})
    return {"id": sid, "removed": True}


def queue(work: Work, event: str, payload: dict[str, Any]) -> int:
    """Queue ``event`` for every subscription to it whose role may see it, inside ``work``."""
    permission = EVENTS[event]
    subs = work.conn.execute(select(alert_subscriptions.c.id, alert_subscriptions.c.role)
                             .where(alert_subscriptions.c.event == event)).all()
    rows = [{"id": f"alert-{secrets.token_hex(12)}", "subscription_id": sid, "event": event,
             "payload": {"event": event, "at": isoformat(work.now), **payload}, "state": "pending",
             "attempts": 0, "next_attempt_at": work.now, "created_at": work.now}
            for sid, role in subs if allows(Role(role), permission)]
    if rows:
        work.conn.execute(insert(alert_queue), rows)
        work.after_commit(_wake.set)
    return len(rows)


def deliver_due(node: Node, client: httpx.Client, *, limit: int = 100, rng: random.Random | None = None) -> int:
    now = node.now()
    with node.read() as conn:
        due = conn.execute(
            select(alert_queue, alert_subscriptions.c.target, alert_subscriptions.c.secret,
                   alert_subscriptions.c.channel)
            .join(alert_subscriptions, alert_subscriptions.c.id == alert_queue.c.subscription_id)
            .where((alert_queue.c.state == "pending") & (alert_queue.c.next_attempt_at <= now))
            .order_by(alert_queue.c.next_attempt_at).limit(limit)).mappings().all()
    for row in due:
        error = (_send_email(node, row) if row["channel"] == "email" else _post(client, row))
        if error is None:
            with node.write("alerts") as work:
                work.conn.execute(update(alert_queue).where(alert_queue.c.id == row["id"])
                                  .values(state="delivered", delivered_at=work.now, attempts=row["attempts"] + 1,
                                          last_error=None))
                work.record("alert.delivered", SUBJECT, {"alert": row["id"], "event": row["event"],
                                                         "subscription": row["subscription_id"]})
        else:
            delay = next_attempt_delay(row["attempts"] + 1, 1.0, 300.0, rng or random.Random())
            with node.writes.engine.begin() as conn:  # bookkeeping, like the outbox's retries
                conn.execute(update(alert_queue).where(alert_queue.c.id == row["id"]).values(
                    attempts=row["attempts"] + 1, last_error=error,
                    next_attempt_at=node.now() + timedelta(seconds=delay)))
    return len(due)


def _post(client: httpx.Client, row: Any) -> str | None:
    body = json.dumps(row["payload"], separators=(",", ":"), sort_keys=True).encode()
    stamp = str(int(time.time()))
    try:
        r = client.post(row["target"], content=body, headers={
            "content-type": "application/json", "x-hanoi-event": row["event"], "x-hanoi-delivery": row["id"],
            "x-hanoi-timestamp": stamp, "x-hanoi-signature": sign(row["secret"], stamp, body)})
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"


def _send_email(node: Node, row: Any) -> str | None:
    """The alert as a plain-text e-mail through the node's SMTP relay (STARTTLS if offered)."""
    cfg = node.config
    p = row["payload"]
    msg = EmailMessage()
    msg["From"] = cfg.smtp_from
    msg["To"] = row["target"]
    msg["Subject"] = f"[Hanoi {cfg.name}] {row['event']}: {p.get('type', '')} {p.get('request_id', '')}".strip()
    msg["Message-ID"] = f"<{row['id']}@{cfg.node_id}>"  # the same on every retry
    msg.set_content("\n".join(f"{k}: {v}" for k, v in sorted(p.items())) + "\n")
    try:
        with smtplib.SMTP(cfg.smtp_host or "localhost", cfg.smtp_port, timeout=10) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


def run_forever(node: Node, stop: threading.Event, *, max_wait: float = 2.0) -> None:
    """Deliver as soon as an alert is queued in this process, and every ``max_wait`` seconds
    for those queued by another (the API's workers)."""
    client = httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False)
    try:
        while not stop.is_set():
            _wake.clear()
            try:
                with logs.request_id(logs.new_id("alerts-")):
                    deliver_due(node, client)
            except Exception:
                log.exception("alert delivery round failed")
            _wake.wait(max_wait)
    finally:
        client.close()


def start_worker(node: Node) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(node, stop), name="hanoi-alerts", daemon=True).start()
    return stop
