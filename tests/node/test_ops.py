"""Operations (issue 17 item 5): /metrics scraped and parsed as Prometheus reads it, /livez and
/readyz, JSON logs with a request id on every line and one access line per request, and the
per-token rate limits of lookups and matches set in the node policy (429 with Retry-After)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from hanoi.core.roles import Role
from hanoi.demo import sample_partners
from hanoi.node import logs, members, peers
from hanoi.node.runtime import Node
from hanoi.requests.samples import PRESERVATION_FIELDS
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body

PROBLEM = "application/problem+json"


def scrape(client: TestClient, token: str) -> dict[str, Any]:
    r = client.get("/metrics", headers=auth(token))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def value(families: dict[str, Any], sample: str, **labels: str) -> float:
    """The value of one sample (0 when absent: a counter not yet counted)."""
    for family in families.values():
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def test_metrics_scraped_and_parsed(client: TestClient, node: Node, role_tokens: dict[Role, str]) -> None:
    for spec in sample_partners():
        members.add(node, "setup", spec)
    members.add(node, "setup", member_body(id="fr-peer", endpoint="https://fr.example.test",
                                           assessment=GOOD_ASSESSMENT))
    admin, auditor = role_tokens[Role.ADMIN], role_tokens[Role.AUDITOR]
    cw = auth(role_tokens[Role.CASEWORKER])
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth(role_tokens[Role.ANALYST])).status_code == 403
    before = scrape(client, auditor)

    r = client.post("/api/v1/requests", headers=cw, json={
        "type": "preservation", "partner": "fr-pharos", "fields": PRESERVATION_FIELDS})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert client.post(f"/api/v1/requests/{rid}/submit", headers=cw).status_code == 200
    client.post("/api/v1/requests", headers=cw, json={
        "type": "preservation", "partner": "fr-pharos", "fields": {"offence_code": "UNCC-13"}})
    analyst = auth(role_tokens[Role.ANALYST])
    assert client.post("/api/v1/signals", headers=analyst, json={
        "type": "domain", "value": "bad.example", "tlp": "CLEAR", "abuse_type": "UNCC-13",
        "confidence": 80}).status_code == 201
    r = client.post("/api/v1/signals/lookup", json={"values": ["bad.example", "good.example"]}, headers=analyst)
    assert r.status_code == 200 and r.json()["matches"] == 1
    r = client.post("/api/v1/media/match", json={"md5": ["0" * 32]}, headers=analyst)
    assert r.status_code == 200, r.text
    peers.ping(node, "test", "fr-peer", count=2)  # no worker here: they wait in the outbox

    after = scrape(client, admin)
    # Read from the store at scrape time: the submitted request's envelope waits for its peer.
    assert value(after, "hanoi_outbox_depth", peer="fr-peer", state="pending") == 2
    assert value(after, "hanoi_outbox_oldest_seconds", peer="fr-peer") >= 0
    assert value(after, "hanoi_requests", direction="outgoing", state="submitted") == 1
    assert value(after, "hanoi_requests", direction="outgoing", state="draft") == 1
    assert value(after, "hanoi_requests_overdue", direction="outgoing") == 0
    assert value(after, "hanoi_ledger_head_seq") > value(before, "hanoi_ledger_head_seq")
    # Counted in the process: the gate allowed the submission, the lookups were timed.
    assert value(after, "hanoi_gate_decisions_total", outcome="allow") > \
        value(before, "hanoi_gate_decisions_total", outcome="allow")
    assert value(after, "hanoi_lookups_total", kind="lookup") == value(before, "hanoi_lookups_total", kind="lookup") + 1
    assert value(after, "hanoi_lookup_values_total", kind="lookup") - \
        value(before, "hanoi_lookup_values_total", kind="lookup") == 2
    assert value(after, "hanoi_lookup_matches_total", kind="lookup") - \
        value(before, "hanoi_lookup_matches_total", kind="lookup") == 1
    assert value(after, "hanoi_lookup_seconds_count", kind="match") == \
        value(before, "hanoi_lookup_seconds_count", kind="match") + 1
    assert after["hanoi_lookup_seconds"].type == "histogram"
    assert after["hanoi_outbox_depth"].type == "gauge"
    # HTTP requests by route template, never by path.
    routes = {s.labels["route"] for s in after["hanoi_http_requests"].samples}
    assert "/api/v1/requests/{request_id}/submit" in routes
    assert not any(rid in route for route in routes)


def test_livez_and_readyz(client: TestClient, node: Node) -> None:
    r = client.get("/livez")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready" and r.json()["migrations"]
    with node.engine.begin() as conn:  # a schema behind the code: not ready, and says why
        heads = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0001')"))
    try:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.headers["content-type"] == PROBLEM
        assert r.json()["errors"][0]["field"] == "migrations"
    finally:
        with node.engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
            for v in heads:
                conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": v})


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    h = logs.handler(stream)
    root = logging.getLogger()
    old = root.level
    root.addHandler(h)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(h)
        root.setLevel(old)


def test_json_logs_carry_the_request_id(client: TestClient, captured: io.StringIO,
                                        role_tokens: dict[Role, str]) -> None:
    r = client.get("/api/v1/node", headers={**auth(role_tokens[Role.ADMIN]), "X-Request-ID": "proxy-id-1234"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "proxy-id-1234"
    r = client.get("/api/v1/health", headers={"X-Request-ID": "bad id\nforged line"})
    mine = r.headers["x-request-id"]
    assert mine != "bad id\nforged line" and len(mine) == 16
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert lines and all("request_id" in line for line in lines)
    access = [line for line in lines if line["logger"] == "hanoi.access"]
    first = next(a for a in access if a["path"] == "/api/v1/node")
    assert first["request_id"] == "proxy-id-1234" and first["status"] == 200
    assert first["route"] == "/api/v1/node" and first["token_id"] and first["duration_ms"] >= 0
    assert next(a for a in access if a["path"] == "/api/v1/health")["request_id"] == mine


def test_rate_limits_from_the_policy(client: TestClient, node: Node, role_tokens: dict[Role, str]) -> None:
    admin = auth(role_tokens[Role.ADMIN])
    policy = client.get("/api/v1/policy", headers=admin).json()["policy"]
    assert policy["rate_limits"]["lookup"] == {"per_minute": 600, "burst": 60}
    policy["rate_limits"]["lookup"] = {"per_minute": 1, "burst": 2}
    r = client.put("/api/v1/policy", json=policy, headers=admin)
    assert r.status_code == 200, r.text
    analyst = auth(role_tokens[Role.ANALYST])
    for _ in range(2):
        assert client.post("/api/v1/signals/lookup", json=["a.example"], headers=analyst).status_code == 200
    r = client.post("/api/v1/signals/lookup", json=["a.example"], headers=analyst)
    assert r.status_code == 429 and r.headers["content-type"] == PROBLEM
    assert int(r.headers["retry-after"]) >= 1
    assert "rate_limits.lookup" in r.json()["detail"]
    # Per token: another token still may; matches have their own budget.
    platform = auth(role_tokens[Role.PLATFORM])
    assert client.post("/api/v1/signals/lookup", json=["a.example"], headers=platform).status_code == 200
    assert client.post("/api/v1/media/match", json={"md5": ["0" * 32]}, headers=analyst).status_code == 200
    # A bad setting is refused naming the field.
    policy["rate_limits"]["match"] = {"per_minute": -1, "burst": 1}
    r = client.put("/api/v1/policy", json=policy, headers=admin)
    assert r.status_code == 422
    assert any(e["field"] == "policy.rate_limits.match.per_minute" for e in r.json()["errors"])
    assert yaml.safe_load(node.policies.path.read_text())["rate_limits"]["lookup"]["per_minute"] == 1
