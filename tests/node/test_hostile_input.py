"""Hostile input found by an adversarial run (issue 11): every one a 4xx naming what was wrong,
never a 500 or a traceback, and a hostile item never costs the good ones beside it."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoi.api.app import create_app
from hanoi.bootstrap import init_node, open_node
from hanoi.cli.main import run
from hanoi.core.bounds import BIGINT_MAX, BIGINT_MIN
from hanoi.federation.envelope import Envelope, sign_envelope
from hanoi.node import inbox, peers
from hanoi.node.runtime import Node
from hanoi.store.tables import inbox as inbox_t
from tests.node.helpers import GOOD_ASSESSMENT, auth

A_URL = "http://127.0.0.1:18001"
B_URL = "http://127.0.0.1:18002"


@pytest.fixture
def peered(tmp_path: Path, two_urls: list[str]) -> Iterator[tuple[Node, Node, TestClient]]:
    """Node A and node B, each trusting the other; a TestClient on B's API."""
    a, _ = init_node(tmp_path / "a", name="UK CA", country="GB", kind="central-authority",
                     database_url_=two_urls[0], public_url=A_URL)
    b, _ = init_node(tmp_path / "b", name="Pharos", country="FR", kind="contact-point",
                     database_url_=two_urls[1], public_url=B_URL)
    ca, cb = TestClient(create_app(a)), TestClient(create_app(b), raise_server_exceptions=False)
    for me, peer_url, peer_client in ((a, B_URL, cb), (b, A_URL, ca)):
        shown = peers.fetch(me, "test", peer_url, client=peer_client)
        peers.trust(me, "test", shown["id"], shown["fingerprint"], assessment=GOOD_ASSESSMENT)
    yield a, b, cb
    a.close()
    b.close()


def _ping(a: Node, b: Node) -> dict[str, str]:
    env = Envelope(id=f"env-{uuid.uuid4().hex[:24]}", sender=a.node_id, recipient=b.node_id,
                   type="ping", created=b.now(), payload={"n": 1})
    return sign_envelope(env, a.private_key, a.config.key_id)


# --- item 3: 500s that must be 4xx --------------------------------------------------------------


@pytest.mark.parametrize("hostile", [5, None, True, [1], "text", 1.5])
def test_a_hostile_element_of_a_batch_is_refused_alone(peered: tuple[Node, Node, TestClient],
                                                       hostile: Any) -> None:
    a, b, cb = peered
    first, last = _ping(a, b), _ping(a, b)
    r = cb.post("/federation/v1/inbox/batch", json=[first, hostile, last])  # no token: none needed
    assert r.status_code == 200, r.text
    answers = r.json()
    assert len(answers) == 3
    assert inbox.receipt_payload(json.dumps(answers[0]))["status"] == "accepted"
    assert answers[1]["error"]["rule"] == "FED-MALFORMED"
    if not isinstance(hostile, str):  # a text is read as the JWS's JSON text
        assert "expected a flattened JWS object" in answers[1]["error"]["detail"]
    assert inbox.receipt_payload(json.dumps(answers[2]))["status"] == "accepted"
    with b.read() as conn:
        stored = set(conn.execute(select(inbox_t.c.envelope_id)).scalars())
    ids = {json.loads(base64.urlsafe_b64decode(e["payload"] + "==="))["id"] for e in (first, last)}
    assert ids <= stored


@pytest.fixture
def api(node_and_admin: tuple[Node, str]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    node, admin = node_and_admin
    with TestClient(create_app(node), raise_server_exceptions=False) as c:
        yield c, auth(admin)


@pytest.mark.parametrize("url", ["/api/v1/signals/campaigns?value=x&type=nope",
                                 "/api/v1/signals/campaigns/x?type=nope"])
def test_a_campaign_of_an_unknown_type_is_refused_naming_the_type(
        api: tuple[TestClient, dict[str, str]], url: str) -> None:
    c, h = api
    r = c.get(url, headers=h)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["type"]
    assert "'nope' is not one of: url, domain" in r.json()["detail"]


def test_a_campaign_of_an_unknown_type_is_one_line_on_the_cli(node: Node, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--home", str(node.home), "signals", "campaign", "x", "--type", "nope"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unknown signal type 'nope'" in err


TOO_LARGE = BIGINT_MAX + 1
TOO_SMALL = BIGINT_MIN - 1
OUT_OF_RANGE: list[tuple[str, str, str, Any]] = [
    ("GET", f"/api/v1/media/hashes/{TOO_LARGE}", "hash_id", None),
    ("GET", f"/api/v1/ledger?after={TOO_SMALL}", "after", None),
    ("POST", f"/api/v1/media/hashes/{TOO_LARGE}/review", "hash_id", {"decision": "release"}),
    ("GET", f"/api/v1/media/feedback?hash_id={TOO_LARGE}", "hash_id", None),
    ("GET", f"/api/v1/ledger?after={TOO_LARGE}", "after", None),
    ("PUT", f"/api/v1/signals/reports/{TOO_LARGE}/named", "report_id", {"members": []}),
    ("POST", "/api/v1/media/hashes/withdraw", "hash_ids", {"hash_ids": [TOO_LARGE]}),
    ("POST", "/api/v1/media/feedback", "items[0].match_id",
     {"items": [{"match_id": TOO_LARGE, "verdict": "confirmed"}]}),
]


@pytest.mark.parametrize(("method", "url", "field", "body"), OUT_OF_RANGE,
                         ids=[f"{m} {u.split('?')[0][8:40]} {f}" for m, u, f, _ in OUT_OF_RANGE])
def test_integers_beyond_the_database_range_are_refused_naming_the_field(
        api: tuple[TestClient, dict[str, str]], method: str, url: str, field: str, body: Any) -> None:
    c, h = api
    r = c.request(method, url, headers=h, json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


def test_taxii_refuses_out_of_range_integers(api: tuple[TestClient, dict[str, str]]) -> None:
    c, h = api
    base = "/taxii2/api/collections/"
    cid = c.get(base, headers=h).json()["collections"][0]["id"]
    r = c.get(f"{base}{cid}/objects/?limit={TOO_LARGE}", headers=h)
    assert r.status_code == 422, r.text
    forged = base64.urlsafe_b64encode(f"2026-01-01T00:00:00.000000|{TOO_LARGE}".encode()).decode()
    r = c.get(f"{base}{cid}/objects/?next={forged.rstrip('=')}", headers=h)
    assert r.status_code == 422, r.text
    assert "next" in r.json()["description"]


def test_every_integer_parameter_of_every_route_is_bounded(node: Node) -> None:
    """The class of bug, not the instances: any integer a route reads from its path or query is
    held to what the database holds, so a new route cannot bring the overflow back."""
    spec = create_app(node).openapi()
    unbounded = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                schema = param.get("schema", {})
                for variant in schema.get("anyOf", [schema]):
                    if variant.get("type") != "integer":
                        continue
                    if not (variant.get("minimum", BIGINT_MIN - 1) >= BIGINT_MIN
                            and variant.get("maximum", BIGINT_MAX + 1) <= BIGINT_MAX):
                        unbounded.append(f"{method.upper()} {path} {param['name']}")
    assert unbounded == []


@pytest.mark.parametrize("argv", [
    ["media", "review", str(TOO_LARGE), "release"],
    ["media", "withdraw", str(TOO_LARGE)],
    ["ledger", "show", "--after", str(TOO_LARGE)],
    ["signals", "name", str(TOO_LARGE), "de-bka"],
])
def test_the_cli_refuses_out_of_range_integers_as_a_usage_error(
        node: Node, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--home", str(node.home), *argv]) == 2
    assert "9223372036854775807" in capsys.readouterr().err



# --- item 4: deep nesting and the import limit ----------------------------------------------------

DEEP = 100_000
DEEP_BUNDLE = b'{"type": "bundle", "objects": ' + b"[" * DEEP + b"]" * DEEP + b"}"
DEEP_MISP = b'{"Event": {"info": "x", "Attribute": ' + b"[" * DEEP + b"]" * DEEP + b"}}"
DEEP_ARRAYS = b"[" * DEEP + b"]" * DEEP


def _one_line_refusal(err: str, *needles: str) -> None:
    assert "Traceback" not in err and "RecursionError" not in err
    assert all(n in err for n in needles), err


@pytest.mark.parametrize(("name", "data", "extra", "field"), [
    ("deep.json", DEEP_BUNDLE, [], "bundle"),
    ("deep.json", DEEP_ARRAYS, ["--format", "stix"], "bundle"),
    ("deep.json", DEEP_MISP, [], "Event"),
    ("deep.json", DEEP_ARRAYS, ["--format", "misp"], "Event"),
])
def test_the_cli_refuses_a_deep_import_in_one_line(node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   name: str, data: bytes, extra: list[str], field: str) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    assert run(["--home", str(node.home), "signals", "import", str(f), *extra]) == 1
    _one_line_refusal(capsys.readouterr().err, f"{field}: nested", "levels deep; at most 64")


def test_the_cli_refuses_a_deep_misp_feed_file(node: Node, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "manifest.json").write_text(json.dumps({"5f3e0b4c-0000-4000-8000-000000000001": {"info": "x"}}))
    (feed / "5f3e0b4c-0000-4000-8000-000000000001.json").write_bytes(DEEP_MISP)
    assert run(["--home", str(node.home), "signals", "import", str(feed)]) == 1
    _one_line_refusal(capsys.readouterr().err, "5f3e0b4c-0000-4000-8000-000000000001.json: nested")


@pytest.mark.parametrize(("argv", "name", "data"), [
    (["requests", "validate", "--from"], "draft.json", DEEP_ARRAYS),
    (["requests", "validate", "--from"], "draft.yaml", DEEP_ARRAYS),
    (["members", "add", "--from"], "member.json", b'{"name": ' + DEEP_ARRAYS + b"}"),
    (["media", "submit", "some-list"], "hashes.json", DEEP_ARRAYS),
])
def test_the_cli_refuses_other_deep_documents_in_one_line(node: Node, tmp_path: Path, argv: list[str], name: str,
                                                          data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    assert run(["--home", str(node.home), *argv, str(f)]) == 1
    _one_line_refusal(capsys.readouterr().err, "file: nested", "levels deep; at most 64")


@pytest.mark.parametrize(("url", "data"), [
    ("/api/v1/signals/import?format=stix", DEEP_BUNDLE),
    ("/api/v1/signals/import", DEEP_MISP),
    ("/api/v1/signals", b'{"items": ' + DEEP_ARRAYS + b"}"),
    ("/api/v1/signals/lookup", DEEP_ARRAYS),
    ("/api/v1/requests/validate", DEEP_ARRAYS),
    ("/federation/v1/inbox/batch", DEEP_ARRAYS),
    ("/federation/v1/inbox", DEEP_ARRAYS),
    ("/federation/v1/rotation", DEEP_ARRAYS),
])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_the_api_refuses_a_deep_body_naming_the_field(api: tuple[TestClient, dict[str, str]], url: str,
                                                      data: bytes, content_type: str) -> None:
    c, h = api
    r = c.post(url, content=data, headers={**h, "content-type": content_type})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"][0]["field"] in ("body", "bundle", "Event")
    assert "levels deep; at most 64" in problem["errors"][0]["message"]


def test_taxii_refuses_a_deep_envelope(api: tuple[TestClient, dict[str, str]]) -> None:
    c, h = api
    base = "/taxii2/api/collections/"
    writable = [x["id"] for x in c.get(base, headers=h).json()["collections"] if x["can_write"]]
    r = c.post(f"{base}{writable[0]}/objects/", content=b'{"objects": ' + DEEP_ARRAYS + b"}",
               headers={**h, "content-type": "application/taxii+json;version=2.1"})
    assert r.status_code == 422, r.text
    assert "levels deep" in r.text


def test_imports_have_one_size_limit_on_the_cli_and_the_api(node: Node, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """max_import_bytes in config.yaml bounds `hanoi signals import` and POST /signals/import
    alike; the CLI refuses before reading the file."""
    from hanoi.config import load_config, save_config

    config = load_config(node.home)
    config.max_import_bytes = 4096
    save_config(node.home, config)
    small = ("value\n" + "".join(f"d{i}.example.org\n" for i in range(100))).encode()
    large = ("value\n" + "".join(f"d{i}.example.org\n" for i in range(300))).encode()
    assert len(small) < 4096 < len(large)
    files = {}
    for label, data in (("small", small), ("large", large)):
        files[label] = tmp_path / f"{label}.csv"
        files[label].write_bytes(data)
    args = ["--type", "domain", "--tlp", "CLEAR", "--abuse-type", "UNCC-13"]
    home = ["--home", str(node.home)]

    assert run([*home, "signals", "import", str(files["large"]), *args]) == 1
    err = capsys.readouterr().err
    _one_line_refusal(err, f"{len(large):,} bytes", "at most 4,096 bytes", "max_import_bytes")
    assert run([*home, "media", "submit", "some-list", str(files["large"])]) == 1
    _one_line_refusal(capsys.readouterr().err, "max_import_bytes")
    assert run([*home, "signals", "import", str(files["small"]), *args]) == 0

    reopened = open_node(node.home)
    try:
        with TestClient(create_app(reopened), raise_server_exceptions=False) as c:
            token = _admin_token(reopened)
            params = {"type": "domain", "tlp": "CLEAR", "abuse_type": "UNCC-13"}
            r = c.post("/api/v1/signals/import", content=large, params=params, headers=auth(token))
            assert r.status_code == 413 and "4096 bytes" in r.json()["detail"]
            r = c.post("/api/v1/signals/import", content=small, params=params, headers=auth(token))
            assert r.status_code == 201, r.text
    finally:
        reopened.close()


def _admin_token(node: Node) -> str:
    from hanoi.node import tokens

    secret, _ = tokens.create(node, "test", name="import admin", role="admin")
    return secret


# --- item 8: what schemathesis found (tests/fuzz.py) ----------------------------------------------


@pytest.mark.parametrize(("method", "url", "allowed"), [
    ("OPTIONS", "/api/v1/members", {"GET", "POST"}),      # Starlette named the first route's only
    ("DELETE", "/api/v1/signals", {"GET", "POST"}),
    ("GET", "/api/v1/media/hashes/withdraw", {"POST"}),    # was a 422: "withdraw" is no hash id
])
def test_a_method_a_path_does_not_take_is_a_405_naming_every_method_it_does(
        api: tuple[TestClient, dict[str, str]], method: str, url: str, allowed: set[str]) -> None:
    c, h = api
    r = c.request(method, url, headers=h)
    assert r.status_code == 405, r.text
    assert set(r.headers["allow"].split(", ")) - {"HEAD"} == allowed


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/requests/due?within=9999999w", "within"),          # was a 500: past the year 9999
    ("/api/v1/requests/due?within=07d", "within"),
    ("/api/v1/signals?since=0001-01-01T00:00:00%2B05:00", "since"),  # was a 500: before year 1 in UTC
    ("/api/v1/signals?since=", "since"),                       # was "no filter"
    ("/api/v1/signals?type=", "type"),
    ("/api/v1/outbox?state=", "state"),
    ("/api/v1/signals/export?format=stix&since=2026-13-01T00:00:00Z", "since"),
])
def test_query_parameters_are_held_to_what_the_api_documents(
        api: tuple[TestClient, dict[str, str]], url: str, field: str) -> None:
    c, h = api
    r = c.get(url, headers=h)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


@pytest.mark.parametrize("argv", [
    ["requests", "due", "--within", "9999999w"],
    ["signals", "list", "--since", "0001-01-01T00:00:00+05:00"],
])
def test_the_cli_refuses_times_beyond_the_calendar_in_one_line(
        node: Node, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--home", str(node.home), *argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "OverflowError" not in err and "error:" in err


def test_a_rotation_without_its_rotation_is_unreadable(peered: tuple[Node, Node, TestClient]) -> None:
    _a, _b, cb = peered
    r = cb.post("/federation/v1/rotation", json={"id": "rot-1"})
    assert r.status_code == 422 and r.json()["rule"] == "FED-MALFORMED"


def test_every_error_answer_is_documented_as_problem_json(node: Node) -> None:
    """Each operation documents the errors it can answer, as the media type it answers them
    in (problem+json; TAXII error messages under /taxii2/), never application/json."""
    spec = create_app(node).openapi()
    assert "ProblemDetails" in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            statuses = {int(s) for s in op["responses"] if s.isdigit()}
            assert {405, 422, 500} <= statuses, (method, path)
            if op.get("security"):  # a route that asks who calls can refuse them
                assert {401, 403, 404} <= statuses, (method, path)
            for status, answer in op["responses"].items():
                if int(status) >= 400:
                    media = set(answer["content"])
                    assert "application/json" not in media, (method, path, status)
                    assert media & {"application/problem+json", "application/taxii+json;version=2.1"}
