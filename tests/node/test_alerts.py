"""Alerts (issue 17 item 2, first slice): an emergency request from a peer reaches the
requested node's webhook within seconds, signed, carrying only what the subscriber's role may
see; the alert is queued with the request itself and retried until the webhook answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from hanoi.core.errors import InvalidInput
from hanoi.node import alerts
from hanoi.node.runtime import Node
from hanoi.requests import service
from hanoi.requests.samples import sample_fields
from tests.node.helpers import free_port, wait_for
from tests.node.test_federation_nodes import Served, nodes  # noqa: F401  (fixture)


class Hook:
    """A webhook receiver on loopback: what arrived, when, with which headers; ``down`` answers 503."""

    def __init__(self) -> None:
        self.got: list[tuple[float, dict[str, str], bytes]] = []
        self.down = False
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if hook.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                hook.got.append((time.time(), {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def test_emergency_request_reaches_the_webhook_within_seconds(nodes: tuple[Served, Served],  # noqa: F811
                                                               hook: Hook) -> None:
    gb, fr = nodes
    with pytest.raises(InvalidInput, match="may not see"):
        alerts.subscribe(fr.node, "test", {"event": "request.emergency", "target": hook.url, "role": "analyst",
                                           "name": "analyst on duty"})
    sub = alerts.subscribe(fr.node, "test", {"event": "request.emergency", "target": hook.url,
                                             "role": "caseworker", "name": "24/7 duty officer"})
    fields, _ = sample_fields("emergency", datetime.now(UTC))
    req = service.create(gb.node, "gb-247", {"type": "emergency", "partner": fr.node.node_id, "fields": fields})
    service.submit(gb.node, "gb-247", req["id"])
    wait_for("the webhook receives the emergency", lambda: bool(hook.got), 30)
    arrived, headers, body = hook.got[0]
    incoming = next(r for r in service.list_requests(fr.node, direction="incoming") if r["remote_id"] == req["id"])
    received_at = datetime.fromisoformat(service.show(fr.node, incoming["id"])["created_at"].replace("Z", "+00:00"))
    latency = arrived - received_at.timestamp()
    print(f"emergency request: received by FR to webhook: {latency:.2f} s")
    assert latency < 5.0
    # Signed; what a receiver checks.
    assert headers["x-hanoi-event"] == "request.emergency"
    assert alerts.verify_signature(sub["secret"], headers["x-hanoi-timestamp"], body, headers["x-hanoi-signature"])
    assert not alerts.verify_signature("another secret", headers["x-hanoi-timestamp"], body,
                                       headers["x-hanoi-signature"])
    sent = json.loads(body)
    assert sent["request_id"] == incoming["id"] and sent["type"] == "emergency"
    assert sent["partner_id"] == gb.node.node_id
    assert "fields" not in sent and not any(str(v) in body.decode() for v in fields.values() if len(str(v)) > 12)


def test_alerts_wait_for_a_webhook_that_is_down(nodes: tuple[Served, Served], hook: Hook) -> None:  # noqa: F811
    gb, fr = nodes
    alerts.subscribe(fr.node, "test", {"event": "request.received", "target": hook.url, "role": "auditor",
                                       "name": "inspectorate"})
    hook.down = True
    fields, _ = sample_fields("emergency", datetime.now(UTC))
    req = service.create(gb.node, "gb-247", {"type": "emergency", "partner": fr.node.node_id, "fields": fields})
    service.submit(gb.node, "gb-247", req["id"])
    wait_for("the alert is tried and fails", lambda: any(s["pending_error"] for s in alerts.listing(fr.node)), 30)
    assert not hook.got
    hook.down = False
    wait_for("the alert arrives once the webhook is back", lambda: bool(hook.got), 60)
    assert len({h["x-hanoi-delivery"] for _, h, _ in hook.got}) == 1


def test_alert_by_email_through_a_local_smtp_server(node: Node) -> None:
    class Inbox(Message):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[Any] = []

        def handle_message(self, message: Any) -> None:
            self.messages.append(message)

    inbox = Inbox()
    port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with pytest.raises(InvalidInput, match="no SMTP relay"):
            alerts.subscribe(node, "test", {"event": "request.emergency", "channel": "email",
                                            "target": "duty@example.test", "role": "caseworker", "name": "duty"})
        node.config = node.config.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
        alerts.subscribe(node, "test", {"event": "request.emergency", "channel": "email",
                                        "target": "duty@example.test", "role": "caseworker", "name": "duty"})
        with node.write("test") as work:
            assert alerts.queue(work, "request.emergency", {"request_id": "FR-2026-0001", "type": "emergency",
                                                            "partner_id": "gb-uk-ca", "state": "received",
                                                            "decision": "allow"}) == 1
            work.record("test.event", "test", {})
        with httpx.Client() as client:
            assert alerts.deliver_due(node, client) == 1
        (mail,) = inbox.messages
        assert mail["To"] == "duty@example.test" and "request.emergency" in mail["Subject"]
        assert "request_id: FR-2026-0001" in mail.get_payload()
        assert alerts.listing(node)[0]["pending_error"] is None
    finally:
        smtp.stop()
