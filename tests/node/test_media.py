"""Media hash lists on the node: submission, distribution through federation, withdrawal,
matching (equal to brute force), feedback, quarantine, the index snapshot; through the service,
the API (two nodes, the demo scenario) and the CLI (`hanoi hash`, `hanoi media`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from hanoi import demo
from hanoi.api.app import API_PREFIX, create_app
from hanoi.api.routes import media as media_routes
from hanoi.bootstrap import init_node
from hanoi.cli.main import run
from hanoi.core.errors import Conflict, Forbidden, InvalidInput
from hanoi.core.roles import Role
from hanoi.media import matching, read_model, receive, send, service
from hanoi.media.algorithms import pdq_distance
from hanoi.media.index import brute_force
from hanoi.media.pdq import hash_path
from hanoi.node import ledger, members, outbox, peers, tokens
from hanoi.node.runtime import Node
from hanoi.store.tables import ledger_entries, media_hashes, media_lists
from hanoi.store.tables import members as members_t
from tests.node.helpers import GOOD_ASSESSMENT, auth, member_body
from tests.paths import PDQ_FIXTURES, dihedral_variants

FIX = PDQ_FIXTURES

H_URL = "http://127.0.0.1:18101"
P_URL = "http://127.0.0.1:18102"



def _app(node: Node) -> FastAPI:
    app = create_app(node)
    if not any(getattr(r, "path", "").startswith(f"{API_PREFIX}/media") for r in app.routes):
        app.include_router(media_routes.router, prefix=API_PREFIX)  # until the lead mounts it
    return app


def _lines(name: str) -> list[str]:
    return [x.strip() for x in (FIX / name).read_text().splitlines() if x.strip()]


def _entries(node: Node, action: str) -> list[dict[str, Any]]:
    with node.read() as conn:
        rows = conn.execute(select(ledger_entries).where(ledger_entries.c.action == action)
                            .order_by(ledger_entries.c.seq)).mappings().all()
    return [{**r, "payload": json.loads(r["payload"]), "reasons": json.loads(r["reasons"])}
            for r in rows]


def _hashes_of(path: Path, case_ref: str = "RPH-1") -> dict[str, Any]:
    h = hash_path(path)
    assert h.pdq is not None
    return {"pdq": h.pdq.hash, "quality": h.pdq.quality, "md5": h.md5, "sha256": h.sha256,
            "case_ref": case_ref}


def _pdq(path: Path) -> str:
    h = hash_path(path)
    assert h.pdq is not None
    return h.pdq.hash


ORIG = FIX / "bridge-mods" / "aaa-orig.jpg"
EDITED = FIX / "bridge-mods" / "sharpen-a-lot.jpg"
UNRELATED = FIX / "labelme-subset" / "q0122.jpg"


# --- one node: the service ---------------------------------------------------------------------


def test_submission_is_validated_whole_and_nothing_half_stored(node: Node) -> None:
    lst = service.create_list(node, "t", {"name": "NCII", "category": "ncii"})
    assert lst["tlp"] == "AMBER" and lst["threshold"] == 31  # the defaults
    good = _hashes_of(ORIG)
    bad = [
        good,
        {"pdq": good["pdq"], "quality": 30, "case_ref": "C-2"},  # quality below 50
        {"pdq": "0" * 64, "quality": 100, "case_ref": "C-3"},  # degenerate
        {"md5": "f" * 32, "case_ref": "C-4"},  # degenerate
        {"sha256": "ab" * 31, "case_ref": "C-5"},  # wrong length
        {"pdq": "g" * 64, "quality": 100, "case_ref": "C-6"},  # wrong alphabet
        {"md5": "d41d8cd98f00b204e9800998ecf8427e", "case_ref": "C-7"},  # the empty file
        {"md5": "1" * 32, "case_ref": "jane.doe@example.org"},  # personal data as a reference
        {"path": "/home/me/x.jpg", "case_ref": "C-9"},  # no hash at all
    ]
    with pytest.raises(InvalidInput) as err:
        service.submit(node, "t", lst["id"], bad)
    fields = {p.field for p in err.value.problems}
    assert fields == {"hashes[1].quality", "hashes[2].pdq", "hashes[3].md5", "hashes[4].sha256",
                      "hashes[5].pdq", "hashes[6].md5", "hashes[7].case_ref", "hashes[8]"}
    rules = {p.field: p.rule for p in err.value.problems}
    assert rules["hashes[1].quality"] == "MEDIA-HASH-VALUE"
    assert rules["hashes[7].case_ref"] == "MEDIA-CASE-REF"
    messages = " ".join(p.message for p in err.value.problems)
    assert "below 50" in messages and "degenerate" in messages
    assert service.show_list(node, lst["id"])["counts"]["active"] == 0
    assert _entries(node, "media.submit") == []

    with pytest.raises(InvalidInput) as err:
        service.submit(node, "t", lst["id"], [{"md5": f"{i:032x}", "case_ref": "C"}
                                           for i in range(1, 10_002)])
    assert err.value.problems[0].rule == "MEDIA-BATCH" and "10,001" in str(err.value)

    res = service.submit(node, "t", lst["id"], [{**good, "path": "/home/me/secret.jpg"}])
    assert res["stored"] == 3 and res["already_listed"] == 0
    stored = service.list_hashes(node, lst["id"])
    assert {h["algorithm"] for h in stored} == {"pdq", "md5", "sha256"}
    assert all(h["case_ref"] == "RPH-1" for h in stored)
    assert "secret.jpg" not in json.dumps(stored)  # the path is never stored
    again = service.submit(node, "t", lst["id"], [good])
    assert again["stored"] == 0 and again["already_listed"] == 3
    entry = _entries(node, "media.submit")[0]
    assert sorted(entry["payload"]["digests"]) == sorted(h["digest"] for h in stored)
    assert good["pdq"] not in json.dumps(entry["payload"])  # the ledger names digests only


def test_fixture_images_match_edited_copies_not_unrelated_ones(node: Node, tmp_path: Path) -> None:
    lst = service.create_list(node, "t", {"name": "NCII", "category": "ncii"})
    service.submit(node, "t", lst["id"], [_hashes_of(ORIG)])
    edits = sorted((FIX / "bridge-mods").glob("*.jpg"))
    res = matching.match(node, "t", pdq=[_pdq(p) for p in edits])
    assert sorted(m["query"] for m in res["matches"]) == list(range(len(edits)))
    assert all(m["list_id"] == lst["id"] and m["category"] == "ncii" and m["source"] == node.node_id
               and 0 <= m["distance"] <= 31 and m["match_id"] for m in res["matches"])
    others = sorted((FIX / "labelme-subset").glob("*.jpg"))
    assert matching.match(node, "t", pdq=[_pdq(p) for p in others])["matches"] == []

    # rotated / flipped copies: found only through the 8 dihedral hashes
    rotated = [hash_path(p, dihedral=True).pdq for p in dihedral_variants(tmp_path / "dih")]
    assert all(r is not None for r in rotated)
    plain = matching.match(node, "t", pdq=[r.hash for r in rotated if r])
    assert sorted(m["query"] for m in plain["matches"]) == [0]  # only the original
    dih = matching.match(node, "t", dihedral=[list(r.dihedral or ()) for r in rotated if r])
    assert sorted(m["query"] for m in dih["matches"]) == list(range(8))
    assert {m["algorithm"] for m in dih["matches"]} == {"dihedral"}

    # exact MD5 / SHA-256
    h = hash_path(ORIG)
    exact = matching.match(node, "t", md5=[h.md5, "1" * 32], sha256=[h.sha256.upper()])
    assert [(m["algorithm"], m["query"], m["distance"]) for m in exact["matches"]] == \
        [("md5", 0, 0), ("sha256", 0, 0)]
    assert len(_entries(node, "media.match")) == 4  # one per call that matched anything


def test_results_equal_brute_force_with_per_list_thresholds(node: Node) -> None:
    haystack, needles = _lines("haystack.txt"), _lines("needles.txt")
    wide = service.create_list(node, "t", {"name": "wide", "category": "ncii", "threshold": 40})
    narrow = service.create_list(node, "t", {"name": "narrow", "category": "csam", "threshold": 20})
    service.submit(node, "t", wide["id"], [{"pdq": h, "quality": 90} for h in haystack[:900]],
                 case_ref="W-1")
    service.submit(node, "t", narrow["id"], [{"pdq": h, "quality": 90} for h in haystack[600:]],
                 case_ref="N-1")
    first = matching.match(node, "t", pdq=needles, record=False)  # builds the index
    # change the store after the index exists: it must catch up incrementally
    with node.read() as conn:
        some = [int(i) for i in conn.execute(select(media_hashes.c.id).where(
            media_hashes.c.list_id == wide["id"]).order_by(media_hashes.c.id).limit(50)).scalars()]
    service.withdraw(node, "t", hash_ids=some[::2])
    service.update_list(node, "t", narrow["id"], {"threshold": 25})
    service.submit(node, "t", narrow["id"], [{"pdq": h, "quality": 90} for h in haystack[100:150]],
                 case_ref="N-2")

    res = matching.match(node, "t", pdq=needles, record=False)
    got = [(m["query"], m["hash_id"], m["distance"]) for m in res["matches"]]
    with node.read() as conn:
        rows = conn.execute(select(media_hashes.c.id, media_hashes.c.value, media_lists.c.threshold)
                            .join(media_lists, media_lists.c.id == media_hashes.c.list_id)
                            .where(media_hashes.c.status == "active")).all()
    expected: list[tuple[int, int, int]] = []
    for t in {r.threshold for r in rows}:
        mine = [r for r in rows if r.threshold == t]
        ids = np.array([r.id for r in mine], np.int64)
        words = np.frombuffer(bytes.fromhex("".join(r.value for r in mine)), ">u8")
        bf = brute_force(words.reshape(-1, 4).astype(np.uint64), ids, needles, t)
        expected += bf.as_tuples()
    assert len(expected) > 50 and len(first["matches"]) > 0  # a real test, not an empty one
    assert sorted(got) == sorted(expected)
    assert got == sorted(got, key=lambda x: (x[0], x[2], x[1]))  # by query, closest first
    assert not any(i in some[::2] for _, i, _ in got)  # withdrawn: gone from the index


def test_batch_limits_and_malformed_queries(node: Node) -> None:
    with pytest.raises(InvalidInput) as err:
        matching.match(node, "t", pdq=["ab" * 32] * 10_000, md5=["1" * 32])
    assert err.value.problems[0].field == "hashes" and err.value.problems[0].rule == "MEDIA-BATCH"
    with pytest.raises(InvalidInput) as err:
        matching.match(node, "t", pdq=["ab" * 32, "xyz"], md5=["12"])
    assert {p.field for p in err.value.problems} == {"pdq[1]", "md5[0]"}
    with pytest.raises(InvalidInput):
        matching.match(node, "t", dihedral=[["ab" * 32] * 7])
    assert matching.match(node, "t", pdq=["ab" * 32] * 10_000)["matches"] == []  # empty node


def test_withdrawn_hash_is_not_listed_again(node: Node) -> None:
    a = service.create_list(node, "t", {"name": "A", "category": "ncii"})
    b = service.create_list(node, "t", {"name": "B", "category": "ncii"})
    res = service.submit(node, "t", a["id"], [_hashes_of(ORIG, "CASE-1")])
    out = service.withdraw(node, "t", list_id=a["id"], case_ref="CASE-1", status="deleted",
                         reason="the person asked")
    assert out["changed"] == 3 and out["told"] == {}
    gone = service.list_hashes(node, a["id"])
    assert {h["status"] for h in gone} == {"deleted"} and {h["value"] for h in gone} == {None}
    assert matching.match(node, "t", pdq=[_pdq(ORIG)])["matches"] == []

    fresh = {"md5": "12" * 16, "case_ref": "CASE-2"}
    with pytest.raises(Conflict) as err:
        service.submit(node, "t", b["id"], [fresh, _hashes_of(ORIG, "CASE-2")])
    assert err.value.rule == "MEDIA-WITHDRAWN"
    assert {p.field for p in err.value.problems} == {"hashes[1].pdq", "hashes[1].md5",
                                                     "hashes[1].sha256"}
    assert service.show_list(node, b["id"])["counts"]["active"] == 0  # not even the fresh one
    assert res["hash_ids"] and _entries(node, "media.delete")[0]["payload"]["count"] == 3


def test_a_spike_quarantines_the_hash_until_reviewed(node: Node) -> None:
    lst = service.create_list(node, "t", {"name": "NCII", "category": "ncii", "spike_matches": 3,
                                        "spike_minutes": 10})
    service.submit(node, "t", lst["id"], [{"pdq": _pdq(ORIG), "quality": 100, "case_ref": "C-1"}])
    edits = [_pdq(p) for p in sorted((FIX / "bridge-mods").glob("*.jpg"))[:4]]
    calm = matching.match(node, "t", pdq=edits[:2])
    assert calm["quarantined"] == [] and len(calm["matches"]) == 2
    spike = matching.match(node, "t", pdq=edits[:2])  # 4 matches within 10 minutes > 3
    (hid,) = spike["quarantined"]
    assert all(m["quarantined"] for m in spike["matches"])  # the caller is told not to act
    assert service.show_hash(node, hid)["status"] == "quarantined"
    assert matching.match(node, "t", pdq=edits)["matches"] == []  # excluded from matching
    q = _entries(node, "media.quarantine")[0]
    assert q["decision"] == "review" and q["reasons"][0]["code"] == "MEDIA-QUARANTINE"

    with pytest.raises(InvalidInput):
        matching.review(node, "t", hid, "maybe")
    released = matching.review(node, "analyst", hid, "release", "a viral copy, checked by hand")
    assert released["status"] == "active"
    again = matching.match(node, "t", pdq=edits[:3])  # the window restarts at the release
    assert again["quarantined"] == [] and len(again["matches"]) == 3
    with pytest.raises(Conflict):
        matching.review(node, "t", hid, "release")  # not quarantined any more


def test_snapshot_is_loaded_caught_up_or_rebuilt(node: Node) -> None:
    lst = service.create_list(node, "t", {"name": "NCII", "category": "ncii"})
    haystack = _lines("haystack.txt")
    service.submit(node, "t", lst["id"], [{"pdq": h, "quality": 90} for h in haystack[:500]],
                 case_ref="C-1")
    assert read_model.index_status(node)["hashes"] == 500
    saved = read_model.save_snapshot(node)
    assert Path(saved["path"]) == node.home / "media" / "index.snap"

    node.forget_read_model(read_model.MediaReadModel)  # a restart
    service.submit(node, "t", lst["id"], [{"pdq": haystack[600], "quality": 90}], case_ref="C-2")
    status = read_model.index_status(node)
    assert status["loaded_from"] == "snapshot" and status["hashes"] == 501  # caught up
    assert matching.match(node, "t", pdq=[haystack[600]], record=False)["matches"][0]["distance"] == 0

    # a snapshot of another store (its epoch differs) is not trusted: rebuilt from the store
    side = node.home / "media" / "index.snap.json"
    meta = json.loads(side.read_text())
    side.write_text(json.dumps({**meta, "epoch": "0" * 32}))
    node.forget_read_model(read_model.MediaReadModel)
    status = read_model.index_status(node)
    assert status["loaded_from"] == "store" and status["hashes"] == 501


def test_tlp_and_standing_gate_distribution(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []

    def enqueue(uow: Any, **kw: Any) -> str:
        sent.append(kw)
        return f"env-{len(sent)}"

    monkeypatch.setattr(outbox, "enqueue", enqueue)
    members.add(node, "t", member_body(name="Platform", kind="platform", country="IE",
                                       assessment=GOOD_ASSESSMENT))
    members.add(node, "t", member_body(name="Other", kind="platform", country="NL"))  # unassessed
    amber = service.create_list(node, "t", {"name": "A", "category": "ncii"})
    service.submit(node, "t", amber["id"], [_hashes_of(ORIG)])

    with pytest.raises(Forbidden) as err:
        service.distribute(node, "t", amber["id"], "ie-platform")  # AMBER, not named
    assert err.value.status == 403 and err.value.rule == "TLP-AMBER"
    denied = _entries(node, "media.distribute.gate")[-1]
    assert denied["decision"] == "deny" and sent == []

    service.update_list(node, "t", amber["id"], {"recipients": ["ie-platform", "nl-other"]})
    res = service.distribute(node, "t", amber["id"], "ie-platform")
    assert res["sent"] == 3 and len(sent) == 1 and sent[0]["type"] == send.ITEM_HASHES
    assert {h["algorithm"] for h in sent[0]["payload"]["hashes"]} == {"pdq", "md5", "sha256"}
    assert "case_ref" not in json.dumps(sent[0]["payload"])  # the case stays with its source
    assert service.distribute(node, "t", amber["id"], "ie-platform")["sent"] == 0  # nothing new

    with pytest.raises(Forbidden) as err:  # named, but not yet assessed: a person reviews
        service.distribute(node, "t", amber["id"], "nl-other")
    assert err.value.status == 409 and err.value.rule == "GATE-CONCERNS"

    red = service.create_list(node, "t", {"name": "R", "category": "csam", "tlp": "TLP:RED",
                                        "recipients": ["ie-platform"]})
    with pytest.raises(Forbidden):
        service.distribute(node, "t", red["id"], "ie-platform")

    # later hashes follow the subscription; withdrawal tells the recipient
    more = service.submit(node, "t", amber["id"], [{"md5": "34" * 16, "case_ref": "C-9"}])
    assert more["distributed"] == {"ie-platform": {"outcome": "allow", "sent": 1}}
    out = service.withdraw(node, "t", hash_ids=more["hash_ids"])
    assert out["told"] == {"ie-platform": 1}
    assert sent[-1]["type"] == send.ITEM_WITHDRAW and sent[-1]["payload"]["refs"] == \
        [str(more["hash_ids"][0])]
    assert service.show_hash(node, more["hash_ids"][0])["deliveries"][0]["withdrawn_at"]


# --- two nodes: federation, the API and the demo scenario --------------------------------------


@pytest.fixture
def two(tmp_path: Path, two_urls: list[str]) -> Iterator[SimpleNamespace]:
    """A helpline and a platform, peered both ways in good standing, each with its API."""
    h, h_admin = init_node(tmp_path / "h", name="Revenge Porn Helpline", country="GB",
                           kind="hotline", database_url_=two_urls[0], public_url=H_URL)
    p, p_admin = init_node(tmp_path / "p", name="Example Platform", country="IE", kind="platform",
                           database_url_=two_urls[1], public_url=P_URL)
    wire_h, wire_p = TestClient(_app(h)), TestClient(_app(p))  # the network between them
    for me, other_url, wire in ((h, P_URL, wire_p), (p, H_URL, wire_h)):
        shown = peers.fetch(me, "test", other_url, client=wire)
        peers.trust(me, "test", shown["id"], shown["fingerprint"], assessment=GOOD_ASSESSMENT)
    analyst, _ = tokens.create(h, "test", name="helpline analyst", role="analyst")
    platform, _ = tokens.create(p, "test", name="platform matcher", role="platform")
    api_h = TestClient(_app(h), headers=auth(analyst))
    api_p = TestClient(_app(p), headers=auth(platform))

    def deliver() -> None:
        outbox.deliver_due(h, client=wire_p)
        outbox.deliver_due(p, client=wire_h)

    yield SimpleNamespace(h=h, p=p, api_h=api_h, api_p=api_p, deliver=deliver,
                          h_admin=h_admin, p_admin=p_admin, analyst=analyst, platform=platform)
    h.close()
    p.close()


def test_demo_scenario_over_two_nodes(two: SimpleNamespace) -> None:
    said: list[str] = []
    out = demo.play_media_scenario(two.api_h, two.api_p, platform_member_id=two.p.node_id,
                                    images=FIX, deliver=two.deliver, say=said.append, timeout=10)
    assert out["match"]["source"] == two.h.node_id and out["match"]["category"] == "ncii"
    assert out["match"]["distance"] <= 31 and out["unrelated"]["matches"] == []
    (fb,) = out["feedback"]
    assert fb["verdict"] == "confirmed" and fb["member_id"] == two.p.node_id
    assert fb["case_ref"] == "RPH-DEMO-0001"  # the helpline maps it back to its own case
    assert any("no match" in s for s in said)
    # the platform's copy never carried the case reference
    assert all(h["case_ref"] is None for lst in service.list_lists(two.p)
               for h in service.list_hashes(two.p, lst["id"]))


def test_withdrawal_propagates_and_a_withdrawn_hash_is_refused_from_another_source(
        two: SimpleNamespace) -> None:
    h, p = two.h, two.p
    lst = service.create_list(h, "t", {"name": "NCII", "category": "ncii", "recipients": [p.node_id]})
    sub = service.submit(h, "t", lst["id"], [_hashes_of(ORIG, "CASE-7")])
    service.distribute(h, "t", lst["id"], p.node_id)
    two.deliver()
    assert len(matching.match(p, "t", pdq=[_pdq(EDITED)])["matches"]) == 1

    r = two.api_h.post("/api/v1/media/hashes/withdraw",
                       json={"list_id": lst["id"], "case_ref": "CASE-7", "reason": "consent withdrawn"})
    assert r.status_code == 200 and r.json()["told"] == {p.node_id: 3}
    two.deliver()
    assert matching.match(p, "t", pdq=[_pdq(EDITED)])["matches"] == []  # dropped at the platform
    (mirror,) = service.list_lists(p)
    assert mirror["origin"] == h.node_id and mirror["counts"]["withdrawn"] == 3
    assert _entries(p, "media.withdraw.received")[0]["payload"]["changed"] == 3

    # another source sends the same hash to the platform: refused, named in the result
    members.add(p, "t", member_body(name="Other Helpline", kind="hotline", country="NL",
                                    assessment=GOOD_ASSESSMENT))
    env = SimpleNamespace(id="env-x", payload={
        "list": {"ref": "their-list", "name": "Theirs", "category": "ncii"},
        "hashes": [{"ref": "1", "algorithm": "pdq", "value": _pdq(ORIG), "quality": 100},
                   {"ref": "2", "algorithm": "md5", "value": "56" * 16}]})
    with p.write("peer:nl-other-helpline") as uow:
        sender = dict(uow.conn.execute(select(members_t).where(
            members_t.c.id == "nl-other-helpline")).mappings().one())
        got = receive.on_hashes(uow, env, sender)
    assert got["stored"] == 1 and [x["ref"] for x in got["refused"]] == ["1"]
    assert got["refused"][0]["rule"] == "MEDIA-WITHDRAWN"
    # ... and the platform itself cannot list it either
    own = service.create_list(p, "t", {"name": "Own", "category": "ncii"})
    with pytest.raises(Conflict):
        service.submit(p, "t", own["id"], [{"pdq": _pdq(ORIG), "quality": 100, "case_ref": "P-1"}])
    assert sub["stored"] == 3
    assert ledger.verify(h).ok and ledger.verify(p).ok  # every change was chained


def test_api_roles_batches_and_errors(two: SimpleNamespace) -> None:
    api_h, api_p = two.api_h, two.api_p
    r = api_p.post("/api/v1/media/lists", json={"name": "x", "category": "ncii"})
    assert r.status_code == 403  # a platform matches; it does not keep lists
    r = api_h.post("/api/v1/media/lists", json={"name": "x", "category": "spam"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "category"
    lst = api_h.post("/api/v1/media/lists", json={"name": "x", "category": "ncii"}).json()

    r = api_h.post(f"/api/v1/media/lists/{lst['id']}/hashes",
                   json={"case_ref": "C-1", "hashes": [{"pdq": "ab" * 32, "quality": 12}]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "hashes[0].quality"
    assert r.json()["errors"][0]["rule"] == "MEDIA-HASH-VALUE"
    r = api_h.post(f"/api/v1/media/lists/{lst['id']}/hashes",
                   json={"case_ref": "C-1", "hashes": [_hashes_of(ORIG)]})
    assert r.status_code == 201 and r.json()["stored"] == 3

    ten_k = [f"{i:064x}" for i in range(1, 10_001)]
    r = api_h.post("/api/v1/media/match", json={"pdq": [*ten_k, "ab" * 32]})
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "MEDIA-BATCH"
    r = api_h.post("/api/v1/media/match", json={"pdq": ["ab" * 31]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "pdq[0]"
    r = api_h.post("/api/v1/media/match", json={"pdq": [*ten_k[:-1], _pdq(EDITED)]})
    assert r.status_code == 200
    body = r.json()
    assert body["queries"]["pdq"] == 10_000 and [m["query"] for m in body["matches"]] == [9_999]

    auditor, _ = tokens.create(two.h, "t", name="auditor", role="auditor")
    assert api_h.post("/api/v1/media/match", json={"pdq": ["ab" * 32]},
                      headers=auth(auditor)).status_code == 403
    r = api_h.post("/api/v1/media/feedback",
                   json={"items": [{"match_id": body["matches"][0]["match_id"], "verdict": "meh"}]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items[0].verdict"
    ok = api_h.post("/api/v1/media/feedback",
                    json={"match_id": body["matches"][0]["match_id"], "verdict": "false-positive"})
    assert ok.status_code == 201 and ok.json()["sent_to"] == []  # our own hash: stays here
    again = api_h.post("/api/v1/media/feedback",
                       json={"match_id": body["matches"][0]["match_id"], "verdict": "confirmed"})
    assert again.status_code == 409
    fb = api_h.get(f"/api/v1/media/feedback?list_id={lst['id']}").json()
    assert [f["verdict"] for f in fb] == ["false-positive"]
    assert api_h.get("/api/v1/media/index").json()["hashes"] == 1


# --- the CLI ---------------------------------------------------------------------------------


def hanoi(node: Node, *args: str) -> int:
    return run(["--home", str(node.home), *args])


def test_hash_command_prints_json_lines_or_csv_and_refuses_bad_files(
        node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tsv = io.StringIO((FIX / "expected.tsv").read_text())
    expected = {r["file"]: r for r in csv.DictReader(tsv, delimiter="\t")}
    assert hanoi(node, "hash", str(FIX / "bridge-mods")) == 0
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(recs) == 6 and set(recs[0]) == {"path", "kind", "pdq", "quality", "md5", "sha256"}
    orig = next(r for r in recs if r["path"].endswith("aaa-orig.jpg"))
    assert orig["pdq"] == expected["bridge-mods/aaa-orig.jpg"]["pdq_hex"]
    assert orig["quality"] == 100 and len(orig["md5"]) == 32 and len(orig["sha256"]) == 64

    assert hanoi(node, "hash", "--csv", "--dihedral", str(ORIG)) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and len(rows[0]["dihedral"].split()) == 8
    # the rotate-90 variant is close to the hash of the rotated file (re-encoded as JPEG)
    assert pdq_distance(rows[0]["dihedral"].split()[1],
                        expected["dih/bridge-2-rotate-90.jpg"]["pdq_hex"]) <= 10

    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(ORIG.read_bytes()[:3000])
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    assert hanoi(node, "hash", str(notes), str(truncated), str(video), str(ORIG)) == 1
    out = capsys.readouterr()
    recs = [json.loads(x) for x in out.out.splitlines()]
    assert [(Path(r["path"]).name, r["kind"], r["pdq"] is None) for r in recs] == \
        [("clip.mp4", "video", True), ("aaa-orig.jpg", "image", False)]
    assert "notes.txt: not an image or a video" in out.err and "truncated" in out.err


def test_cli_lists_submit_match_feedback(node: Node, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert hanoi(node, "media", "create-list", "--name", "NCII", "--category", "ncii") == 0
    capsys.readouterr()
    assert hanoi(node, "media", "lists", "--json") == 0
    (lst,) = json.loads(capsys.readouterr().out)
    hashes = tmp_path / "out.jsonl"
    assert hanoi(node, "hash", str(ORIG), "-o", str(hashes)) == 0
    assert hanoi(node, "media", "submit", lst["id"], str(hashes)) == 1  # no case reference
    assert "case_ref" in capsys.readouterr().err
    assert hanoi(node, "media", "submit", lst["id"], str(hashes), "--case-ref", "RPH-9") == 0
    assert "3 hash(es) stored" in capsys.readouterr().out

    assert hanoi(node, "media", "match", str(EDITED), str(UNRELATED), "--json") == 0
    got = json.loads(capsys.readouterr().out)
    assert got["records"] == 2 and {Path(m["path"]).name for m in got["matches"]} == {EDITED.name}
    match_id = got["matches"][0]["match_id"]

    plain = tmp_path / "plain.txt"
    plain.write_text(f"# from a partner\npdq:{_pdq(EDITED)}\n{hash_path(ORIG).md5}\n")
    assert hanoi(node, "media", "match", "--hashes", str(plain)) == 0
    assert "2 of 2 record(s) matched" in capsys.readouterr().out

    assert hanoi(node, "media", "feedback", str(match_id), "confirmed") == 0
    capsys.readouterr()
    assert hanoi(node, "media", "feedback-log", "--json") == 0
    assert [f["verdict"] for f in json.loads(capsys.readouterr().out)] == ["confirmed"]
    assert hanoi(node, "media", "index", "--rebuild") == 0
    assert json.loads(capsys.readouterr().out)["hashes"] == 1


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_media_endpoint_admits_exactly_its_roles(node: Node, role_tokens: dict[Role, str],
                                                      role: Role) -> None:
    lst = service.create_list(node, "t", {"name": "x", "category": "ncii"})
    write, read, match = {Role.ADMIN, Role.ANALYST}, {Role.ADMIN, Role.ANALYST, Role.AUDITOR}, \
        {Role.ADMIN, Role.ANALYST, Role.PLATFORM}
    calls: list[tuple[str, str, Any, set[Role]]] = [
        ("POST", "/api/v1/media/lists", {"name": "y", "category": "csam"}, write),
        ("PATCH", f"/api/v1/media/lists/{lst['id']}", {"threshold": 30}, write),
        ("POST", f"/api/v1/media/lists/{lst['id']}/hashes",
         {"case_ref": "C-1", "hashes": [{"md5": "ab" * 16}]}, write),
        ("GET", "/api/v1/media/lists", None, read),
        ("GET", f"/api/v1/media/lists/{lst['id']}/hashes", None, read),
        ("GET", "/api/v1/media/feedback", None, read),
        ("GET", "/api/v1/media/index", None, read),
        ("POST", "/api/v1/media/match", {"md5": ["ab" * 16]}, match),
    ]
    with TestClient(_app(node)) as client:
        for method, path, body, allowed in calls:
            r = client.request(method, path, json=body, headers=auth(role_tokens[role]))
            if role in allowed:
                assert r.status_code in (200, 201), (method, path, r.text)
            else:
                assert r.status_code == 403 and r.json()["rule"] == "AUTH-ROLE", (method, path)
