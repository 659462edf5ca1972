"""The API: tokens and roles on every endpoint, problem+json errors, body limits, no 500s."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanoi.core.roles import Role
from hanoi.node import ledger, tokens
from hanoi.node.runtime import Node
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body, public_key

PROBLEM = "application/problem+json"


def _seed(client: TestClient, admin: str) -> None:
    r = client.post("/api/v1/members", json=member_body(id="fr-pharos"), headers=auth(admin))
    assert r.status_code == 201, r.text


# (method, path, body, roles that may call it)
ENDPOINTS: list[tuple[str, str, Any, set[Role]]] = [
    ("GET", "/api/v1/members", None, {Role.ADMIN, Role.CASEWORKER, Role.ANALYST, Role.AUDITOR}),
    ("GET", "/api/v1/members/fr-pharos", None, {Role.ADMIN, Role.CASEWORKER, Role.ANALYST, Role.AUDITOR}),
    ("GET", "/api/v1/members/fr-pharos/assessments", None,
     {Role.ADMIN, Role.CASEWORKER, Role.ANALYST, Role.AUDITOR}),
    ("POST", "/api/v1/members", member_body(id="de-bka", name="BKA", country="DE"), {Role.ADMIN}),
    ("POST", "/api/v1/members/fr-pharos/assessments", GOOD_ASSESSMENT, {Role.ADMIN}),
    ("POST", "/api/v1/members/fr-pharos/keys", {"public_key": public_key(), "kid": "k-new"}, {Role.ADMIN}),
    ("GET", "/api/v1/ledger", None, {Role.ADMIN, Role.AUDITOR}),
    ("GET", "/api/v1/ledger/verify", None, {Role.ADMIN, Role.AUDITOR}),
    ("POST", "/api/v1/ledger/checkpoints", None, {Role.ADMIN}),
    ("GET", "/api/v1/tokens", None, {Role.ADMIN}),
    ("POST", "/api/v1/tokens", {"name": "x", "role": "auditor"}, {Role.ADMIN}),
    ("GET", "/api/v1/node", None, set(Role)),
]


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_endpoint_admits_exactly_its_roles(client: TestClient, role_tokens: dict[Role, str],
                                                 node: Node, role: Role) -> None:
    _seed(client, role_tokens[Role.ADMIN])
    for method, path, body, allowed in ENDPOINTS:
        before = ledger.verify(node).count
        r = client.request(method, path, json=body, headers=auth(role_tokens[role]))
        if role in allowed:
            assert r.status_code in (200, 201), (method, path, role, r.text)
        else:
            assert r.status_code == 403, (method, path, role, r.text)
            assert r.headers["content-type"] == PROBLEM
            problem = r.json()
            assert problem["rule"] == "AUTH-ROLE"
            assert role.value in problem["detail"]
            assert ledger.verify(node).count == before  # a refused call writes nothing


def test_auditor_reads_everything_but_cannot_write(client: TestClient, role_tokens: dict[Role, str]) -> None:
    auditor = role_tokens[Role.AUDITOR]
    for method, path, _body, allowed in ENDPOINTS:
        if method == "GET":
            assert Role.AUDITOR in allowed or path == "/api/v1/tokens", path
        else:
            assert Role.AUDITOR not in allowed, path
    assert client.get("/api/v1/ledger", headers=auth(auditor)).status_code == 200


def test_platform_token_is_matching_only(client: TestClient, role_tokens: dict[Role, str]) -> None:
    r = client.get("/api/v1/members", headers=auth(role_tokens[Role.PLATFORM]))
    assert r.status_code == 403
    assert "platform role may not members:read" in r.json()["detail"]


def test_health_needs_no_token_but_everything_else_does(client: TestClient) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"
    for method, path, body, _ in ENDPOINTS:
        r = client.request(method, path, json=body)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer hx_000000000000_forged", "Basic abc", "Bearer "])
def test_bad_tokens_are_refused(client: TestClient, header: str) -> None:
    r = client.get("/api/v1/node", headers={"Authorization": header})
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"


def test_expired_and_revoked_tokens_are_refused(client: TestClient, node: Node,
                                                role_tokens: dict[Role, str]) -> None:
    from datetime import timedelta

    secret, record = tokens.create(node, "test", name="short", role="auditor", expires="1h")
    assert client.get("/api/v1/ledger", headers=auth(secret)).status_code == 200
    real_clock = node.clock
    node.clock = lambda: real_clock() + timedelta(hours=2)
    try:
        r = client.get("/api/v1/ledger", headers=auth(secret))
        assert r.status_code == 401 and "expired" in r.json()["detail"]
    finally:
        node.clock = real_clock
    r = client.delete(f"/api/v1/tokens/{record['id']}", headers=auth(role_tokens[Role.ADMIN]))
    assert r.status_code == 200
    r = client.get("/api/v1/ledger", headers=auth(secret))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_token_secret_is_shown_once(client: TestClient, role_tokens: dict[Role, str]) -> None:
    admin = auth(role_tokens[Role.ADMIN])
    created = client.post("/api/v1/tokens", json={"name": "analyst", "role": "analyst"}, headers=admin).json()
    assert created["token"].startswith("hx_")
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert created["id"] in {t["id"] for t in listed}


def test_member_lifecycle_through_the_api(client: TestClient, role_tokens: dict[Role, str]) -> None:
    admin = auth(role_tokens[Role.ADMIN])
    r = client.post("/api/v1/members", json=member_body(id="fr-pharos"), headers=admin)
    assert r.status_code == 201
    assert r.json()["standing"] == "concerns"  # not yet assessed
    r = client.post("/api/v1/members/fr-pharos/assessments",
                    json={**GOOD_ASSESSMENT, "standing": "suspended", "findings": "Used to target journalists."},
                    headers=admin)
    assert r.status_code == 201
    m = client.get("/api/v1/members/fr-pharos", headers=admin).json()
    assert m["standing"] == "suspended"
    assert [a["standing"] for a in m["assessments"]] == ["suspended"]
    assert m["keys"][0]["valid_now"] is True
    suspended = client.get("/api/v1/members?standing=suspended", headers=admin).json()
    assert [x["id"] for x in suspended] == ["fr-pharos"]


BAD_MEMBERS: list[tuple[dict[str, Any], str, int]] = [
    (member_body(country="YY"), "country", 422),
    (member_body(country="123"), "country", 422),
    (member_body(kind="bank"), "kind", 422),
    (member_body(keys=[{"public_key": "not-a-key"}]), "keys[0].public_key", 422),
    (member_body(keys=[{"public_key": "A" * 43 + "Q" * 20}]), "keys[0].public_key", 422),
    (member_body(endpoint="ftp://x"), "endpoint", 422),
    (member_body(standing="good"), "standing", 422),
    (member_body(languages=["français"]), "languages[0]", 422),
    (member_body(available_24_7="sometimes"), "available_24_7", 422),
    (member_body(unknown_field=1), "unknown_field", 422),
    (member_body(assessment={"standing": "excellent"}), "assessment.standing", 422),
]


@pytest.mark.parametrize(("body", "field", "status"), BAD_MEMBERS,
                         ids=[b[1] for b in BAD_MEMBERS])
def test_bad_members_get_a_problem_naming_the_field(client: TestClient, node: Node,
                                                    role_tokens: dict[Role, str],
                                                    body: dict[str, Any], field: str, status: int) -> None:
    before = ledger.verify(node).count
    r = client.post("/api/v1/members", json=body, headers=auth(role_tokens[Role.ADMIN]))
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    fields = [e["field"] for e in r.json()["errors"]]
    assert field in fields, fields
    assert ledger.verify(node).count == before
    assert client.get("/api/v1/members", headers=auth(role_tokens[Role.ADMIN])).json() == []


def test_duplicate_member_is_a_conflict(client: TestClient, role_tokens: dict[Role, str]) -> None:
    admin = auth(role_tokens[Role.ADMIN])
    assert client.post("/api/v1/members", json=member_body(id="dup"), headers=admin).status_code == 201
    r = client.post("/api/v1/members", json=member_body(id="dup"), headers=admin)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "id"


def test_standing_change_needs_an_assessment(client: TestClient, role_tokens: dict[Role, str]) -> None:
    admin = auth(role_tokens[Role.ADMIN])
    _seed(client, role_tokens[Role.ADMIN])
    r = client.post("/api/v1/members/fr-pharos/assessments", json={"standing": "good"}, headers=admin)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"assessor", "findings", "articles"}
    assert r.json()["rule"] == "STANDING-ASSESSED"
    r = client.post("/api/v1/members/fr-pharos/assessments",
                    json={**GOOD_ASSESSMENT, "articles": []}, headers=admin)
    assert r.status_code == 422
    assert r.json()["rule"] == "STANDING-ASSESSED" and r.json()["citation"] == "UNCC Art. 6"
    assert client.get("/api/v1/members/fr-pharos", headers=admin).json()["standing"] == "concerns"


def test_unknown_member_is_404(client: TestClient, role_tokens: dict[Role, str]) -> None:
    r = client.get("/api/v1/members/nobody", headers=auth(role_tokens[Role.ADMIN]))
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


def test_body_limit(client: TestClient, node: Node, role_tokens: dict[Role, str]) -> None:
    admin = auth(role_tokens[Role.ADMIN])
    huge = member_body(name="x" * (node.config.max_body_bytes + 10))
    r = client.post("/api/v1/members", json=huge, headers=admin)
    assert r.status_code == 413 and r.json()["errors"][0]["field"] == "body"

    def chunks() -> Any:  # no Content-Length: the limit counts streamed bytes
        for _ in range(node.config.max_body_bytes // 1000 + 5):
            yield b" " * 1000

    r = client.post("/api/v1/members", content=chunks(), headers={**admin, "content-type": "application/json"})
    assert r.status_code == 413


def test_malformed_json_is_a_clear_422(client: TestClient, role_tokens: dict[Role, str]) -> None:
    r = client.post("/api/v1/members", content=b"{not json", headers={
        **auth(role_tokens[Role.ADMIN]), "content-type": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM


def test_openapi_is_published(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/members" in spec["paths"] and "/api/v1/ledger" in spec["paths"]


json_leaf = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
             | st.text(max_size=30))
json_any = st.recursive(
    json_leaf, lambda i: st.lists(i, max_size=4) | st.dictionaries(st.text(max_size=12), i, max_size=6),
    max_leaves=20)
member_like = st.fixed_dictionaries({}, optional={
    k: json_any | st.sampled_from(["FR", "GB", "QZ", "party", "cert", "https://x.test", public_key()])
    for k in ("id", "name", "kind", "country", "state_status", "endpoint", "keys", "languages",
              "available_24_7", "contacts", "other_treaties", "assessment")
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=member_like | json_any)
def test_no_input_produces_a_500(client: TestClient, role_tokens: dict[Role, str], body: Any) -> None:
    r = client.post("/api/v1/members", json=body, headers=auth(role_tokens[Role.ADMIN]))
    assert r.status_code in (201, 409, 422), r.text
    if r.status_code != 201:
        assert r.headers["content-type"] == PROBLEM and r.json()["errors"]
