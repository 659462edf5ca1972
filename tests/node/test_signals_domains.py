"""Registered-domain links (issue 13 item 5): URLs and domains under one registered domain form
one campaign, a domain lookup answers the URLs under it as related matches, the node's policy
turns it off or excludes shared hosting; through the API and the CLI on every backend."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanoi.cli.main import run
from hanoi.node import members, tokens
from hanoi.node.runtime import Node
from hanoi.signals import service
from hanoi.signals.domains import DEFAULT_EXCLUSIONS
from hanoi.signals.service import Caller
from hanoi.signals.types import registered_domain
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body

REASON = "same registered domain example.co.uk"
DE = Caller("test", "de-bka")


@pytest.fixture
def partners(node: Node) -> Node:
    members.add(node, "setup", member_body(id="fr-cert", name="CERT-FR", assessment=GOOD_ASSESSMENT))
    members.add(node, "setup", member_body(id="de-bka", name="BKA", country="DE", assessment=GOOD_ASSESSMENT))
    return node


def _token(node: Node, role: str, member: str | None = None) -> dict[str, str]:
    secret, _ = tokens.create(node, "test", name=f"{role}-{member}", role=role, member_id=member)
    return auth(secret)


def item(value: str, type_: str = "url", **over: Any) -> dict[str, Any]:
    return {"type": type_, "value": value, "tlp": "GREEN", "abuse_type": "UNCC-13", "confidence": 70, **over}


def _report(client: TestClient, headers: dict[str, str], *items: dict[str, Any]) -> None:
    r = client.post("/api/v1/signals", json={"items": list(items)}, headers=headers)
    assert r.status_code == 201, r.text


def _campaign(client: TestClient, headers: dict[str, str], value: str) -> dict[str, Any]:
    r = client.get("/api/v1/signals/campaigns", params={"value": value}, headers=headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_urls_under_one_registered_domain_are_one_campaign_with_the_reason(client: TestClient,
                                                                           partners: Node) -> None:
    fr = _token(partners, "analyst", "fr-cert")
    de = _token(partners, "analyst", "de-bka")
    _report(client, fr, item("https://login.example.co.uk/a"), item("http://pay.example.co.uk/b?x=1"),
            item("https://other.example.org/c"),
            item("https://secret.example.co.uk/red", tlp="RED"))
    got = _campaign(client, de, "https://login.example.co.uk/a")
    values = {m["value"] for m in got["members"]}
    # The RED URL is not shown to a partner, and neither is a link to it; example.org is apart.
    assert values == {"https://login.example.co.uk/a", "http://pay.example.co.uk/b?x=1"}
    assert got["campaign"] == min(m["signal_id"] for m in got["members"])
    assert [(lk["reason"], lk["report_id"], lk["source"]) for lk in got["links"]] == [(REASON, None, None)]
    staff = _campaign(client, _token(partners, "analyst"), "http://pay.example.co.uk/b?x=1")
    assert len(staff["members"]) == 3 and {lk["reason"] for lk in staff["links"]} == {REASON}
    alone = _campaign(client, de, "https://other.example.org/c")
    assert alone["campaign"] is None and alone["links"] == []


def test_a_domain_lookup_answers_the_urls_under_it_marked_related(client: TestClient, partners: Node) -> None:
    fr = _token(partners, "analyst", "fr-cert")
    de = _token(partners, "analyst", "de-bka")
    _report(client, fr, item("https://login.example.co.uk/a"), item("https://x.example.co.uk/b", tlp="RED"),
            item("https://login.example.org/a"))
    r = client.post("/api/v1/signals/lookup", json={"values": ["example.co.uk", "www.example.org"]}, headers=de)
    assert r.status_code == 200
    first, second = r.json()["results"]
    assert first["match"] is False  # the domain itself was never reported...
    assert [(x["value"], x["related"], x["reason"], x["match"]) for x in first["related"]] == [
        ("https://login.example.co.uk/a", True, REASON, True)]  # ...the URL under it is; RED stays home
    assert [x["value"] for x in second["related"]] == ["https://login.example.org/a"]
    assert r.json()["matches"] == 0  # related matches are not matches of the values asked
    # A URL lookup answers the URL only.
    r = client.post("/api/v1/signals/lookup", json={"values": ["https://login.example.co.uk/a"]}, headers=de)
    assert "related" not in r.json()["results"][0]


def test_shared_hosting_never_merges_campaigns(client: TestClient, partners: Node) -> None:
    fr = _token(partners, "analyst", "fr-cert")
    _report(client, fr, item("https://alice.blogspot.com/p"), item("https://bob.blogspot.com/q"),
            item("https://alice.blogspot.com/other"),
            item("https://sites.google.com/view/scam-a"), item("https://docs.google.com/forms/d/scam-b"))
    alice = _campaign(client, fr, "https://alice.blogspot.com/p")
    # The same blog is one registrant's; another blog on blogspot.com is not (PSL private section).
    assert {m["value"] for m in alice["members"]} == {"https://alice.blogspot.com/p",
                                                      "https://alice.blogspot.com/other"}
    assert alice["links"][0]["reason"] == "same registered domain alice.blogspot.com"
    bob = _campaign(client, fr, "https://bob.blogspot.com/q")
    assert bob["campaign"] is None and len(bob["members"]) == 1
    # google.com is on the node's exclusion list: two forms on it are two campaigns.
    google = _campaign(client, fr, "https://sites.google.com/view/scam-a")
    assert google["campaign"] is None and len(google["members"]) == 1
    r = client.post("/api/v1/signals/lookup", json={"values": ["google.com", "blogspot.com"]}, headers=fr)
    assert all("related" not in x for x in r.json()["results"])


def test_the_node_policy_turns_domain_links_off_or_excludes_more(client: TestClient, partners: Node) -> None:
    fr = _token(partners, "analyst", "fr-cert")
    _report(client, fr, item("https://a.example.co.uk/1"), item("https://b.example.co.uk/2"),
            item("https://a.example.net/1"), item("https://b.example.net/2"))
    assert len(_campaign(client, fr, "https://a.example.co.uk/1")["members"]) == 2
    path = partners.home / "policy.yaml"
    text = path.read_text()
    assert "link_registered_domains: true" in text
    path.write_text(text.replace("registered_domain_exclusions: [",
                                 "registered_domain_exclusions: [example.net, "))
    assert len(_campaign(client, fr, "https://a.example.co.uk/1")["members"]) == 2
    assert len(_campaign(client, fr, "https://a.example.net/1")["members"]) == 1
    path.write_text(text.replace("link_registered_domains: true", "link_registered_domains: false"))
    off = _campaign(client, fr, "https://a.example.co.uk/1")
    assert off["campaign"] is None and len(off["members"]) == 1
    r = client.post("/api/v1/signals/lookup", json={"values": ["example.co.uk"]}, headers=fr)
    assert "related" not in r.json()["results"][0]
    path.write_text(text.replace("link_registered_domains: true", "link_registered_domains: maybe"))
    r = client.post("/api/v1/signals/lookup", json={"values": ["example.co.uk"]}, headers=fr)
    assert r.status_code >= 400  # a bad policy is refused, not read as a default


def test_report_links_and_domain_links_join_through_the_cli(partners: Node, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    home = str(partners.home)
    assert run(["--home", home, "signals", "add", "https://pay.example.co.uk/x", "--tlp", "GREEN",
                "--offence", "UNCC-13", "--related", "phone:+33612345678"]) == 0
    assert run(["--home", home, "signals", "add", "https://login.example.co.uk/y", "--tlp", "GREEN",
                "--offence", "UNCC-13"]) == 0
    capsys.readouterr()
    assert run(["--home", home, "signals", "campaign", "+33612345678", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {m["value"] for m in out["members"]} == {"+33612345678", "https://pay.example.co.uk/x",
                                                    "https://login.example.co.uk/y"}
    reasons = sorted(lk["reason"] for lk in out["links"])
    assert reasons[1] == REASON and reasons[0].startswith("named together by report ")
    assert run(["--home", home, "signals", "campaign", "https://login.example.co.uk/y"]) == 0
    assert REASON in capsys.readouterr().out
    f = tmp_path / "values.txt"
    f.write_text("example.co.uk\n")
    assert run(["--home", home, "signals", "lookup", str(f), "--json"]) == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["match"] is False and {x["reason"] for x in line["related"]} == {REASON}
    assert run(["--home", home, "signals", "lookup", str(f)]) == 0
    assert "related: same registered domain" in capsys.readouterr().out


def test_the_shipped_exclusions_are_not_split_by_the_bundled_suffix_list() -> None:
    """Each excluded domain is the registered domain of pages under it (else the entry is dead
    weight), and the free-hosting suffixes left off the list are split already."""
    for entry in DEFAULT_EXCLUSIONS:
        assert registered_domain(f"someone.{entry}") == entry, entry
    for suffix in ("blogspot.com", "github.io", "herokuapp.com", "netlify.app", "wixsite.com", "firebaseapp.com",
                   "web.app", "pages.dev", "vercel.app", "azurewebsites.net", "cloudfront.net", "appspot.com"):
        assert registered_domain(f"someone.{suffix}") == f"someone.{suffix}", suffix


_ZONES = itertools.count()
_MARKINGS = st.lists(st.tuples(st.sampled_from(["alpha", "beta", "gamma.alpha"]),
                               st.sampled_from(["CLEAR", "GREEN", "AMBER", "RED"]),
                               st.booleans()), min_size=1, max_size=6)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(markings=_MARKINGS)
def test_a_partner_never_learns_of_a_signal_it_may_not_see_through_a_domain_link(
        partners: Node, markings: list[tuple[str, str, bool]]) -> None:
    """Whatever the TLPs, recipients and hosts, the related matches and the campaign members a
    partner is shown under a registered domain are exactly those it would match by itself."""
    zone = f"zone{next(_ZONES)}.co.uk"  # a registered domain of its own per example
    items = [item(f"https://{host}.{zone}/{n}", tlp=tlp,
                  **({"recipients": ["de-bka"]} if tlp == "AMBER" and named else {}))
             for n, (host, tlp, named) in enumerate(markings)]
    service.report(partners, "t", "fr-cert", items)
    values = [x["value"] for x in items]
    visible = {v for v, r in zip(values, service.lookup(partners, DE, values)["results"], strict=True)
               if r["match"]}
    got = service.lookup(partners, DE, [zone])["results"][0]
    assert {x["value"] for x in got.get("related", [])} == visible
    for v in visible:
        camp = service.campaign(partners, DE, v)
        assert {m["value"] for m in camp["members"]} == visible
        assert all(lk["reason"] == f"same registered domain {zone}" for lk in camp["links"])
