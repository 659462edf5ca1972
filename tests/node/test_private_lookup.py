"""Private lookups (issue 21): prefixes online, signed filters offline, exact media hashes; the
gate applied to every answer; the vendorable client against the API and a live server."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanoi.cli.main import run
from hanoi.core import prefixes as P
from hanoi.media import service as media_service
from hanoi.node import ledger, members, tokens
from hanoi.node.runtime import Node
from hanoi.private_lookup import (
    CANON,
    Filter,
    FilterError,
    PrivateLookup,
    digest,
    media_digest,
    parse_prefix_answer,
    prefix_of,
    split_digests,
)
from hanoi.signals import private, service
from hanoi.signals.service import Caller
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body, serving

MEMBERS = ("fr-cert", "de-bka", "nl-police")


@pytest.fixture
def partners(node: Node) -> Node:
    for mid, country in zip(MEMBERS, ("FR", "DE", "NL"), strict=True):
        members.add(node, "setup", member_body(id=mid, name=mid.upper(), country=country,
                                               assessment=GOOD_ASSESSMENT))
    return node


def item(value: str, tlp: str = "GREEN", type_: str = "domain", **over: Any) -> dict[str, Any]:
    return {"type": type_, "value": value, "tlp": tlp, "abuse_type": "UNCC-13", "confidence": 70, **over}


def token(node: Node, member: str | None, role: str = "platform") -> str:
    secret, _ = tokens.create(node, "test", name=f"{role}-{member}", role=role, member_id=member)
    return secret


class Spy:
    """Every request body the client sends, as text."""

    def __init__(self, client: TestClient) -> None:
        self.bodies: list[str] = []
        client.event_hooks["request"].append(self)

    def __call__(self, request: httpx.Request) -> None:
        self.bodies.append(request.read().decode())


def test_a_private_check_sends_no_value_that_does_not_match(client: TestClient, partners: Node) -> None:
    node = partners
    service.report(node, "t", "fr-cert", [
        item("green.example.com"), item("red.example.com", "RED"),
        item("amber.example.com", "AMBER", recipients=["nl-police"]),
        item("strict.example.com", "AMBER+STRICT", recipients=["de-bka"]),
        item("+44 20 7946 0958", type_="phone", consent=True),  # personal data: passed on with consent
        *[item(f"filler{i}.example.net") for i in range(60)]])
    spy = Spy(client)
    asked = [("domain", "green.example.com"), ("domain", "red.example.com"),
             ("domain", "amber.example.com"), ("domain", "strict.example.com"),
             ("phone", "+442079460958"), ("domain", "innocent.example.org"), ("url", "https://bank.example/")]
    with PrivateLookup(client=client, token=token(node, "de-bka")) as lookup:
        got = lookup.check(asked)
        bits = lookup.params()["bits"]
        assert bits == 3  # 65 stored, k = 8: 65 / 2**3 = 8.1 values under each prefix
        assert lookup.asked == len({prefix_of(digest(t, v), bits) for t, v in asked})  # each prefix once
    assert [g is not None for g in got] == [True, False, False, True, True, False, False]
    assert got[0] is not None and got[0]["tlp"] == "GREEN" and got[3] is not None and got[3]["tlp"] == "AMBER+STRICT"
    sent = "\n".join(spy.bodies)
    for _, value in asked[1:3] + asked[5:]:  # what did not match never left, not even hashed whole
        assert value not in sent and digest("domain", value).hex() not in sent
    assert "green.example.com" in sent  # a real match is asked for by value, for its report
    entry = ledger.page(node, subject="member:de-bka")["items"]
    prefix_entry = next(e for e in entry if e["action"] == "signal.prefixes")
    assert set(prefix_entry["payload"]) == {"recipient", "prefixes", "bits", "answered", "policy_digest"}
    assert prefix_entry["payload"]["prefixes"] == lookup.asked
    assert [e["action"] for e in entry].count("signal.lookup") == 1  # only the matches


def test_answers_are_padded_and_the_prefix_length_keeps_k_values(client: TestClient, partners: Node) -> None:
    node = partners
    service.report(node, "t", "fr-cert", [item(f"v{i}.example.com") for i in range(100)])
    headers = auth(token(node, "nl-police"))
    params = client.get("/api/v1/signals/prefixes", headers=headers).json()
    assert params == {"version": CANON, "bits": 3, "k": 8, "pad": 32, "stored": 100}  # 100 / 2**3 = 12.5
    r = client.post("/api/v1/signals/prefixes", json={"bits": 4, "prefixes": [1]}, headers=headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "bits"
    assert "PRIVATE-PREFIX" in r.text
    r = client.post("/api/v1/signals/prefixes", json={"bits": 3, "prefixes": [8, "a"]}, headers=headers)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["prefixes[0]", "prefixes[1]"]
    out = client.post("/api/v1/signals/prefixes", json={"bits": 3, "prefixes": list(range(8))},
                      headers=headers).json()
    sizes = {len(base64.b64decode(a)) for a in out["answers"]}
    assert sizes == {32 * 32}  # every prefix answered alike: real digests and random padding
    real = {digest("domain", f"v{i}.example.com") for i in range(100)}
    answered = [d for a in out["answers"] for d in split_digests(base64.b64decode(a))]
    assert real <= set(answered)
    for p, blob in enumerate(out["answers"]):
        assert all(prefix_of(d, 3) == p for d in split_digests(base64.b64decode(blob)) if d in real)
    r = client.post("/api/v1/signals/prefixes", json={"bits": 3, "prefixes": [5, 2]},
                    headers={**headers, "Accept": "application/octet-stream"})
    assert r.headers["content-type"] == "application/octet-stream"
    header, blobs = parse_prefix_answer(r.content)  # the binary form: the same answer, a third smaller
    assert header == {"version": CANON, "bits": 3, "pad": 32, "count": 2} and [len(b) for b in blobs] == [1024] * 2
    assert {d for d in split_digests(blobs[0]) if d in real} == {d for d in real if prefix_of(d, 3) == 5}


def test_a_signed_filter_and_its_deltas(client: TestClient, partners: Node) -> None:
    node = partners
    service.report(node, "t", "fr-cert", [item("green.example.com"), item("red.example.com", "RED")])
    headers = auth(token(node, "de-bka"))
    key = client.get("/api/v1/node", headers=headers).json()["public_key"]
    r = client.get("/api/v1/signals/filter", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    base = Filter.parse(r.content)
    base.verify(key)
    assert base.header["kind"] == "full" and base.header["values"] == 1
    assert digest("domain", "green.example.com") in base
    with pytest.raises(FilterError):
        Filter.parse(r.content[:-1] + bytes([r.content[-1] ^ 1])).verify(key)
    service.report(node, "t", "fr-cert", [item("later.example.com"), item("later-red.example.com", "RED")])
    delta = Filter.parse(client.get("/api/v1/signals/filter", params={"since": base.header["version"]},
                                    headers=headers).content)
    delta.verify(key)
    assert delta.header["kind"] == "delta" and delta.header["values"] == 1
    assert digest("domain", "later.example.com") in delta
    r = client.get("/api/v1/signals/filter", params={"since": "yesterday"}, headers=headers)
    assert r.status_code == 422
    actions = [e["action"] for e in ledger.page(node, subject="member:de-bka")["items"]]
    assert actions.count("signal.filter") == 2


def test_exact_media_hashes_through_the_same_protocol(client: TestClient, partners: Node,
                                                      role_tokens: dict[Any, str]) -> None:
    from hanoi.core.roles import Role

    node = partners
    admin = auth(role_tokens[Role.ADMIN])
    lst = client.post("/api/v1/media/lists", json={"name": "ncii", "category": "ncii", "tlp": "AMBER"},
                      headers=admin)
    assert lst.status_code == 201, lst.text
    md5s = [f"{i:032x}" for i in range(1, 41)]
    r = client.post(f"/api/v1/media/lists/{lst.json()['id']}/hashes",
                    json={"hashes": [{"md5": h, "case_ref": "C"} for h in md5s]}, headers=admin)
    assert r.status_code == 201, r.text
    spy = Spy(client)
    with PrivateLookup(client=client, token=token(node, "de-bka")) as lookup:
        assert lookup.params(media=True)["stored"] == 40
        assert lookup.check_media("md5", [md5s[3], "f" * 32]) == [True, False]
    assert "f" * 32 not in "".join(spy.bodies) and md5s[3] not in "".join(spy.bodies)
    assert media_digest("md5", md5s[3]) != digest("md5", md5s[3])  # one canonical form per wing
    stored = {h["value"]: h["id"] for h in media_service.list_hashes(node, lst.json()["id"])}
    media_service.withdraw(node, "t", hash_ids=[stored[md5s[3]]])  # a withdrawn hash is not answered
    with PrivateLookup(client=client, token=token(node, "nl-police")) as lookup:
        assert lookup.check_media("md5", [md5s[3], md5s[4]]) == [False, True]
        assert lookup.params(media=True)["stored"] == 39
    assert [e["action"] for e in ledger.page(node, subject="media:prefixes")["items"]].count("media.prefixes") == 2


def test_the_client_matches_in_full_only_the_media_hashes_the_node_holds(client: TestClient,
                                                                         partners: Node) -> None:
    node = partners
    lst = media_service.create_list(node, "t", {"name": "ncii", "category": "ncii"})
    held = [f"{i:032x}" for i in range(1, 30)]
    media_service.submit(node, "t", lst["id"], [{"md5": h} for h in held] + [{"sha256": "ab" * 32}],
                         case_ref="C")
    asked = [("md5", held[5].upper()), ("md5", "e" * 32), ("sha256", "ab" * 32), ("sha256", "cd" * 32)]
    spy = Spy(client)
    with PrivateLookup(client=client, token=token(node, "fr-cert")) as lookup:
        got = lookup.match_media(asked)
        assert [[m["algorithm"] for m in g] for g in got] == [["md5"], [], ["sha256"], []]
        assert got[0][0]["list"] == "ncii" and got[0][0]["match_id"] > 0
        assert lookup.revealed == 2 and 1 <= lookup.asked <= 4
        assert "e" * 32 not in "".join(spy.bodies) and "cd" * 32 not in "".join(spy.bodies)
        plain = lookup.match_media(asked, private=False)
        assert [[m["hash_id"] for m in g] for g in plain] == [[m["hash_id"] for m in g] for g in got]
        assert lookup.revealed == 6 and "e" * 32 in "".join(spy.bodies)
        with pytest.raises(ValueError, match="pdq"):
            lookup.match_media([("pdq", "0" * 64)])
    assert lookup.match_media([]) == []


def test_the_client_and_the_cli_against_a_live_node(partners: Node, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    node = partners
    service.report(node, "t", "fr-cert", [item("green.example.com"), item("red.example.com", "RED"),
                                          item("+44 20 7946 0958", type_="phone", consent=True)])
    secret = token(node, "de-bka")
    values = tmp_path / "values.txt"
    values.write_text("GREEN.example.com.\nred.example.com\n020 7946 0958\nnothing.example.org\n")
    with serving(node.home) as base:
        with PrivateLookup(base, secret) as lookup:
            assert [g is not None for g in lookup.check([("domain", "green.example.com"),
                                                         ("domain", "nothing.example.org")])] == [True, False]
        common = ["--home", str(node.home), "signals"]
        assert run([*common, "check", str(values), "--private", "--url", base, "--token", secret,
                    "--region", "GB", "--json"]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [x["match"] for x in lines] == ["yes", "no", "yes", "no"]
        assert lines[0]["value"] == "green.example.com" and lines[2]["value"] == "+442079460958"
        assert run([*common, "check", str(values), "--url", base, "--token", secret, "--region", "GB"]) == 0
        assert "2 of 4 value(s) matched (4 value(s) sent in clear)" in capsys.readouterr().out  # plain
        out = tmp_path / "de.filter"
        assert run([*common, "filter", "--out", str(out), "--url", base, "--token", secret, "--json"]) == 0
        header = json.loads(capsys.readouterr().out)
        assert header["values"] == 2 and header["kind"] == "full"
        assert run([*common, "check", str(values), "--filter", str(out), "--region", "GB", "--json"]) == 0
        offline = [json.loads(x)["match"] for x in capsys.readouterr().out.splitlines()]
        assert offline[0] == offline[2] == "possible"  # known offline; nothing was sent
        assert run([*common, "check", str(values), "--private", "--url", base]) == 2  # no token
        assert "--token" in capsys.readouterr().err
        assert run([*common, "check", str(values), "--private", "--url", base, "--token", "hx_wrong"]) == 1
        err = capsys.readouterr().err
        assert "answered 401" in err and len(err.strip().splitlines()) == 1


# --- the property: nothing a member may not see, in any answer --------------------------------

TLPS = ("CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED")
report_st = st.fixed_dictionaries({
    "tlp": st.sampled_from(TLPS), "source": st.sampled_from((None, *MEMBERS)),
    "recipients": st.lists(st.sampled_from(MEMBERS), max_size=2, unique=True),
    "consent": st.booleans(), "shared": st.booleans()})
_counter = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(report_st, min_size=1, max_size=6))
def test_no_prefix_answer_or_filter_holds_a_value_the_member_may_not_see(partners: Node,
                                                                         batch: list[dict[str, Any]]) -> None:
    """Other members' RED and AMBER reports, reports without consent, the same value reported
    twice under different markings: the prefix answer (all prefixes: bits 0) and the filter
    hold exactly the values the plain lookup shows each member."""
    node = partners
    for spec in batch:
        n = next(_counter)
        value = f"v{n // 2 if spec['shared'] else n + 10_000}.example.com"  # some values twice
        report = item(value, spec["tlp"], consent=spec["consent"],
                      recipients=spec["recipients"] if spec["tlp"].startswith("AMBER") else None)
        service.report(node, "t", spec["source"], [{k: v for k, v in report.items() if v is not None}])
    idx, _ = private.read_model.digests(node)
    stored = [(t, v) for _, t, v in idx.signals()]
    for member in (*MEMBERS, None):
        caller = Caller("t", member, public=member is None)
        shown = service.lookup(node, caller, [{"type": t, "value": v} for t, v in stored])["results"]
        may = {digest(t, v) for (t, v), r in zip(stored, shown, strict=True) if r["match"]}
        may_not = {digest(t, v) for t, v in stored} - may
        out = private.prefixes(node, caller, {"bits": 0, "prefixes": [0]})
        answered = set(split_digests(base64.b64decode(out["answers"][0])))
        assert may <= answered and not may_not & answered
        blob, header = private.filter_file(node, caller)
        f = Filter.parse(blob)
        assert header["values"] == len(may)
        expected = P.bloom_bits(P.DigestIndex().with_added(sorted(may), range(len(may))).digests, f.m)
        assert f.bits == expected  # the filter is built of exactly these digests


def test_the_benchmark_runs_small() -> None:
    """bench/private_lookup.py end to end at a small size (no timing asserted): the private
    check finds exactly what the plain lookup finds; the filters hold what they should."""
    import importlib.util

    from tests.paths import ROOT

    spec = importlib.util.spec_from_file_location("bench_private_lookup", ROOT / "bench" / "private_lookup.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(["--size", "3000", "--rounds", "1", "--hits", "0.5", "--filter-size", "20000"])
    (row,) = out["http"]
    assert row["values"] == 10_000 and 4_000 < row["matched"] < 6_000 and row["bits"] == 8
    node_filter, random_filter = out["filters"]
    assert node_filter["values"] == 2_700  # GREEN and AMBER naming the partner; never RED
    assert random_filter["bytes"] == 40_000 and random_filter["fpr"] < 0.005


@pytest.mark.usefixtures("cheap_passwords")
def test_the_console_home_says_which_modes_partners_use(client: TestClient, partners: Node) -> None:
    from hanoi.node import users
    from tests.node.test_console import PASSWORD, _client, sign_in

    node = partners
    service.report(node, "t", "fr-cert", [item("green.example.com")])
    with PrivateLookup(client=client, token=token(node, "de-bka")) as lookup:
        lookup.check([("domain", "green.example.com"), ("domain", "quiet.example.org")])
        lookup.download_filter()
    users.add_user(node, "test", username="auditor", role="auditor", password=PASSWORD)
    with _client(node) as browser:
        assert sign_in(browser, "auditor").status_code == 303
        page = browser.get("/console/").text
    line = page[page.index('id="lookup-modes"'):].split("</span>")[0]
    assert "Lookups by mode: 1 with values in clear, 1 by prefix (no value sent), 1 filter downloads" in line


class Sent:
    """Every request body any ``httpx.Client`` of this process sends (the CLI's own client)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bodies: list[bytes] = []
        send = httpx.Client.send

        def spy(client: httpx.Client, request: httpx.Request, **kw: Any) -> httpx.Response:
            self.bodies.append(request.read())
            return send(client, request, **kw)

        monkeypatch.setattr(httpx.Client, "send", spy)

    def text(self) -> str:
        return b"\n".join(self.bodies).decode()


def test_media_check_against_a_live_node_sends_no_hash_of_a_file_that_does_not_match(
        partners: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    node = partners
    known, innocent = tmp_path / "known.bin", tmp_path / "photos" / "holiday.jpg"
    innocent.parent.mkdir()
    known.write_bytes(b"a file the node holds" * 100)
    innocent.write_bytes(b"a file of the platform's user, nobody's business" * 100)
    lst = media_service.create_list(node, "t", {"name": "ncii", "category": "ncii", "tlp": "AMBER"})
    media_service.submit(node, "t", lst["id"], [
        {"md5": hashlib.md5(known.read_bytes()).hexdigest()},
        *[{"md5": f"{i:032x}"} for i in range(1, 41)]], case_ref="C-1")
    secret = token(node, "de-bka")
    md5 = {p: hashlib.md5(p.read_bytes()).hexdigest() for p in (known, innocent)}
    sha = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (known, innocent)}
    secret_forms = [md5[innocent], sha[innocent], media_digest("md5", md5[innocent]).hex(),
                    media_digest("sha256", sha[innocent]).hex(),
                    base64.b64encode(media_digest("md5", md5[innocent])).decode(),
                    base64.b64encode(media_digest("sha256", sha[innocent])).decode()]
    h = ["--home", str(node.home), "media", "check"]
    with serving(node.home) as base:
        sent = Sent(monkeypatch)
        assert run([*h, str(known), str(innocent.parent), "--private", "--url", base, "--token", secret,
                    "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert [(f["path"], f["match"]) for f in out["files"]] == [(str(known), True), (str(innocent), False)]
        assert out["files"][0]["md5"] == md5[known] and out["files"][1]["sha256"] == sha[innocent]
        assert [m["algorithm"] for m in out["files"][0]["matches"]] == ["md5"]
        assert out["files"][0]["matches"][0]["list"] == "ncii"
        assert out["sent"] == {"mode": "private", "prefixes": out["sent"]["prefixes"], "hashes_in_clear": 1}
        assert 1 <= out["sent"]["prefixes"] <= 4
        wire = sent.text()
        assert not [s for s in secret_forms if s in wire]  # what does not match never left, in any form
        assert md5[known] in wire and sha[known] not in wire  # only the real hit is matched in full
        entries = ledger.page(node, limit=500)["items"]
        assert not [s for s in secret_forms if s in json.dumps(entries)]  # nor did the node keep it
        asked = [e for e in entries if e["action"] == "media.prefixes"]
        assert len(asked) == 1 and set(asked[0]["payload"]) == {"member_id", "prefixes", "bits", "answered"}
        assert asked[0]["payload"]["prefixes"] == out["sent"]["prefixes"]
        matched = [e for e in entries if e["action"] == "media.match"]
        assert len(matched) == 1 and matched[0]["payload"]["queries"] == 1  # the hit alone

        sent.bodies.clear()  # the plain match it compares with: everything goes in clear
        assert run([*h, str(known), str(innocent), "--url", base, "--token", secret]) == 0
        text = capsys.readouterr().out
        assert "1 of 2 file(s) matched (4 hash(es) sent in clear)" in text and "ncii" in text
        assert md5[innocent] in sent.text() and sha[innocent] in sent.text()

        assert run([*h, str(known), "--private", "--url", base, "--token", secret, "--matches"]) == 0
        assert "1 of 1 file(s) matched (" in capsys.readouterr().out
        monkeypatch.setenv("HANOI_URL", base)
        monkeypatch.setenv("HANOI_TOKEN", secret)
        assert run([*h, str(innocent), "--private", "--json"]) == 0  # the environment, like signals check
        assert json.loads(capsys.readouterr().out)["matched"] == 0
        monkeypatch.delenv("HANOI_TOKEN")
        for argv, code, says in (([str(known), "--private", "--url", base], 2, "--token"),
                                 ([str(tmp_path / "nope.jpg"), "--private", "--url", base, "--token", secret], 2,
                                  "no such file"),
                                 ([str(known), "--private", "--url", base, "--token", "hx_wrong"], 1, "answered 401"),
                                 ([str(known), "--private", "--url", "http://127.0.0.1:9", "--token", secret], 1,
                                  "cannot reach")):
            sent.bodies.clear()
            assert run([*h, *argv]) == code, argv
            err = capsys.readouterr().err
            assert says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
            if code == 2:
                assert sent.bodies == []  # a usage error sends nothing
