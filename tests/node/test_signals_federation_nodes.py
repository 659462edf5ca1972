"""Signal federation between real nodes (`hanoi serve` subprocesses) over loopback HTTP.

GB reports signals and publishes them (`hanoi signals publish`); its outbox pushes to each
peer what GB's gate lets that peer receive, and refuses at send time everything for a peer
suspended after queueing. FR pulls since a cursor (`hanoi signals pull`), passes received
reports on only with their originator's consent (Art. 36), and its sightings and false
positives flow back to GB. Each node's ledger verifies afterwards and no server logged an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hanoi.bootstrap import init_node
from hanoi.cli.main import run
from hanoi.core import keys
from hanoi.node.runtime import Node
from hanoi.store.tables import inbox as inbox_t
from hanoi.store.tables import ledger_entries, signal_reports, signals
from tests.node.helpers import GOOD_ASSESSMENT, ServerProcess, auth, start_all, wait_for

FRAUD = "UNCC-13"


@dataclass(kw_only=True)
class Running(ServerProcess):
    """One node: its home (opened in this process to read results), admin token and server."""

    node: Node
    token: str

    @property
    def id(self) -> str:
        return self.node.node_id

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        r = httpx.request(method, f"{self.url}/api/v1{path}", headers=auth(self.token), timeout=30, **kw)
        assert r.status_code < 500, f"{self.id} {method} {path}: {r.status_code} {r.text}"
        return r

    def cli(self, *args: str) -> int:
        """`hanoi --home HOME ARGS` (the CLI in this process, on the node's own home and database)."""
        return run(["--home", str(self.node.home), *args])

    # --- reading results ---------------------------------------------------------------------

    def lookup(self, *values: str) -> list[dict[str, Any]]:
        """Lookups as this node's staff, who see every report the node holds (RED included)."""
        r = self.api("POST", "/signals/lookup", json={"values": list(values)})
        assert r.status_code == 200, r.text
        return list(r.json()["results"])

    def held(self) -> list[dict[str, Any]]:
        """Every report this node holds (id, value, source, via, remote id, tlp, consent), oldest first."""
        with self.node.read() as conn:
            rows = conn.execute(select(signal_reports.c.id, signals.c.value, signal_reports.c.source,
                                       signal_reports.c.via, signal_reports.c.remote_id,
                                       signal_reports.c.tlp, signal_reports.c.consent)
                                .join(signals, signals.c.id == signal_reports.c.signal_id)
                                .order_by(signal_reports.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def outbox(self, type_: str | None = None) -> list[dict[str, Any]]:
        items = self.api("GET", "/outbox", params={"limit": 5000}).json()["items"]
        return [i for i in items if type_ is None or i["type"] == type_]

    def open_rows(self) -> int:
        counts = self.api("GET", "/outbox").json()["counts"]
        return int(counts["pending"]) + int(counts["held"])

    def inbox(self, sender: str) -> list[tuple[str, str, str | None]]:
        """(type, status, rule) of every item this node's inbox took from ``sender``."""
        with self.node.read() as conn:
            rows = conn.execute(select(inbox_t.c.type, inbox_t.c.status, inbox_t.c.rule)
                                .where(inbox_t.c.sender == sender).order_by(inbox_t.c.ledger_seq)).all()
        return [(r.type, r.status, r.rule) for r in rows]



def _trust(a: Running, b: Running) -> None:
    """A fetches B's signed descriptor, trusts it with the fingerprint read out of band and
    records a safeguards assessment in good standing (A's admin API)."""
    r = a.api("POST", "/peers", json={"url": b.url})
    assert r.status_code == 201 and r.json()["id"] == b.id, r.text
    fingerprint = keys.fingerprint(b.node.private_key.public_key())
    r = a.api("POST", f"/peers/{b.id}/trust", json={"fingerprint": fingerprint, "assessment": GOOD_ASSESSMENT})
    assert r.status_code == 200 and r.json()["standing"] == "good", r.text


def _assess(a: Running, b: Running, standing: str) -> None:
    assert a.cli("members", "assess", b.id, "--standing", standing, "--assessor", "A. Analyst",
                 "--findings", f"Assessed {standing}.", "--article", "6", "--source", "UPR 2025") == 0


def _peer(a: Running, b: Running) -> None:
    _trust(a, b)
    _trust(b, a)


def _settled(*nodes: Running) -> Callable[[], bool]:
    """True once no outbox row is open on any of ``nodes``, asked in the order given: name the
    node that sends first first (a row it has delivered was applied, and anything the peer
    queued in answer committed, before its receipt came back)."""
    return lambda: all(n.open_rows() == 0 for n in nodes)


@pytest.fixture
def network(tmp_path: Path, two_urls: list[str]) -> Iterator[Callable[..., list[Running]]]:
    """``network("gb", "fr", ...)``: nodes on the backend of ``two_urls`` (the first two use its
    databases; more get fresh ones on the same backend), started, not yet peered. Those named in
    ``without_worker`` serve with ``--no-worker``: their outbox moves on `hanoi outbox deliver`."""
    made: list[Running] = []
    setup = {
        "gb": {"name": "UK CA", "country": "GB", "kind": "central-authority"},
        "fr": {"name": "Pharos", "country": "FR", "kind": "contact-point"},
        "nl": {"name": "Politie", "country": "NL", "kind": "law-enforcement"},
        "qz": {"name": "Ministry", "country": "QZ", "kind": "central-authority"},
    }

    def database(i: int) -> str:
        if i < len(two_urls):
            return two_urls[i]
        if two_urls[0].startswith("sqlite"):
            return f"sqlite:///{tmp_path / f'n{i}.db'}"
        from tests.conftest import _pg_database

        return _pg_database()

    def make(*names: str, without_worker: tuple[str, ...] = ()) -> list[Running]:
        out = []
        for name in names:
            node, token = init_node(tmp_path / name, database_url_=database(len(made)), **setup[name])
            out.append(Running(home=node.home, node=node, token=token,
                               args=("--no-worker",) if name in without_worker else ()))
            made.append(out[-1])
        start_all(*out)
        return out

    try:
        yield make
    finally:
        for n in made:
            n.stop()
        for n in made:
            n.node.close()


# --- what GB reports ------------------------------------------------------------------------------

URL = "https://parcel-fee.example.com/pay?ref=gb"
PHONE = "+442079460958"
IBAN = "GB82WEST12345698765432"


def _item(value: str, tlp: str, type_: str = "domain", **over: Any) -> dict[str, Any]:
    return {"type": type_, "value": value, "tlp": tlp, "abuse_type": FRAUD, "confidence": 70, **over}


def _report(node: Running, *items: dict[str, Any]) -> dict[str, int]:
    """Report through the node's API (as its staff); ``{value: report id}``."""
    r = node.api("POST", "/signals", json={"items": list(items)})
    assert r.status_code == 201, r.text
    return {x["value"]: x["report_id"] for x in r.json()["reports"]}


def _matches(node: Running, *values: str) -> list[bool]:
    return [r["match"] for r in node.lookup(*values)]


def _verified(*nodes: Running) -> None:
    """Each ledger verifies (`hanoi ledger verify`); no server logged a traceback (a handler or
    a delivery round that failed would have, even if a retry then went through)."""
    for n in nodes:
        assert n.cli("ledger", "verify") == 0, f"{n.id}'s ledger does not verify"
        assert "Traceback" not in n.log.read_text(), n.log.read_text()[-3000:]


def _remote_ids(node: Running, via: str) -> list[str]:
    """The peer's report ids of the reports ``node`` received from it."""
    return [h["remote_id"] for h in node.held() if h["via"] == via]


def _sent_report_ids(sender: Running, rows: list[dict[str, Any]]) -> list[str]:
    """The sender's report ids carried by these ``signal.report`` outbox rows (their payloads)."""
    out: list[str] = []
    for row in rows:
        out += [r["id"] for r in sender.api("GET", f"/outbox/{row['id']}").json()["payload"]["reports"]]
    return out


# --- 1. publish ----------------------------------------------------------------------------------


def test_publish_pushes_to_each_peer_only_what_gbs_gate_lets_it_receive(
        network: Callable[..., list[Running]]) -> None:
    # GB's outbox moves when its staff say so (`hanoi outbox deliver`, as from cron), so a
    # peer can be suspended between the publish and the delivery.
    gb, fr, nl, qz = network("gb", "fr", "nl", "qz", without_worker=("gb",))
    for peer in (fr, nl, qz):  # every peer trusts GB and would take whatever GB sent it
        _peer(gb, peer)
    green, red, strict, amber, clear = (f"{m}-parcel.example.com" for m in ("green", "red", "strict", "amber",
                                                                             "clear"))
    _report(gb, _item(URL, "GREEN", "url", related=[{"type": "phone", "value": "+44 20 7946 0958"},
                                                    {"type": "iban", "value": "GB82 WEST 1234 5698 7654 32"}]),
            _item(green, "GREEN"), _item(red, "RED"), _item(strict, "AMBER+STRICT", recipients=[fr.id]),
            _item(amber, "AMBER", recipients=[nl.id]), _item(clear, "CLEAR"))
    gb_ids = {h["value"]: str(h["id"]) for h in gb.held()}
    values = [URL, PHONE, IBAN, green, red, strict, amber, clear]
    assert sorted(gb_ids) == sorted(values)  # a report of each, the page's phone and IBAN included
    community = {URL, PHONE, IBAN, green, clear}
    for_fr, for_nl = community | {strict}, community | {amber}

    # QZ, in good standing when GB publishes, is suspended after a safeguards assessment
    # before the delivery: the send gate decides again and QZ gets nothing.
    assert gb.cli("signals", "publish") == 0
    queued = gb.outbox("signal.report")
    assert sorted(_sent_report_ids(gb, [r for r in queued if r["recipient"] == qz.id])) == sorted(
        gb_ids[v] for v in community)
    _assess(gb, qz, "suspended")
    assert gb.cli("outbox", "deliver", "--once") == 0
    assert gb.open_rows() == 0
    rows = gb.outbox("signal.report")
    assert {(r["recipient"], r["state"], r["rule"]) for r in rows} == {
        (fr.id, "delivered", None), (nl.id, "delivered", None), (qz.id, "refused", "GATE-SUSPENDED")}
    assert all(r["receipt"]["receiver"] == r["recipient"] and r["receipt"]["status"] == "accepted"
               for r in rows if r["state"] == "delivered")

    # FR (asked as its staff, who see everything FR holds): the community's reports and the
    # AMBER+STRICT one naming FR; never the RED one, nor the AMBER one that names NL only.
    got = dict(zip(values, fr.lookup(*values), strict=True))
    assert {v for v in values if got[v]["match"]} == for_fr
    assert {v: got[v]["tlp"] for v in for_fr} == {
        URL: "GREEN", PHONE: "GREEN", IBAN: "GREEN", green: "GREEN", strict: "AMBER+STRICT", clear: "CLEAR"}
    assert all(got[v]["sources"] == 1 and got[v]["confidence"] == 70 for v in for_fr)
    # The scam page, its phone number and IBAN came as one report: one campaign on FR too.
    assert got[URL]["campaign"] is not None
    assert got[PHONE]["campaign"] == got[IBAN]["campaign"] == got[URL]["campaign"] != got[green]["campaign"]
    camp = fr.api("GET", "/signals/campaigns", params={"value": "+44 20 7946 0958"}).json()
    # ...joined by FR's own policy to what else FR holds under example.com (registered domain).
    under = {v for v in for_fr if v.endswith(".example.com") or v.startswith("https://")}
    assert URL in under and {m["value"] for m in camp["members"]} == {PHONE, IBAN} | under
    assert [lk["source"] for lk in camp["links"] if lk["report_id"] is not None] == [gb.id, gb.id]
    assert {lk["reason"] for lk in camp["links"] if lk["report_id"] is None} == {
        "same registered domain example.com"}
    listed = fr.api("GET", "/signals").json()
    assert {(r["source"], r["origin"]) for r in listed} == {(gb.id, "received")}
    # Each of GB's reports FR may receive is held once, under GB's report id (which
    # feedback names); nothing else is.
    assert sorted(_remote_ids(fr, gb.id)) == sorted(gb_ids[v] for v in for_fr)
    assert len(fr.held()) == len(for_fr)

    got = dict(zip(values, nl.lookup(*values), strict=True))
    assert {v for v in values if got[v]["match"]} == for_nl and got[amber]["tlp"] == "AMBER"
    assert sorted(_remote_ids(nl, gb.id)) == sorted(gb_ids[v] for v in for_nl)
    # QZ holds nothing; its inbox took nothing from GB.
    assert qz.held() == [] and qz.inbox(gb.id) == []
    assert _matches(qz, *values) == [False] * len(values)

    # Publishing again, QZ suspended: nothing is queued for it; FR and NL get what they may
    # receive again and apply none of it twice.
    before = {n.id: n.held() for n in (fr, nl)}
    r = gb.api("POST", "/signals/publish", json={})
    assert r.status_code == 202, r.text
    assert r.json()["peers"] == {fr.id: len(for_fr), nl.id: len(for_nl), qz.id: 0}
    assert gb.cli("outbox", "deliver", "--once") == 0
    assert gb.open_rows() == 0
    again = [r for r in gb.outbox("signal.report") if r["id"] not in {x["id"] for x in rows}]
    assert {(r["recipient"], r["state"]) for r in again} == {(fr.id, "delivered"), (nl.id, "delivered")}
    assert {n.id: n.held() for n in (fr, nl)} == before
    assert qz.held() == [] and qz.inbox(gb.id) == []
    _verified(gb, fr, nl, qz)


# --- 2. pull since a cursor ----------------------------------------------------------------------


def _pull(fr: Running, gb: Running, since: int) -> None:
    assert fr.cli("signals", "pull", gb.id, "--since", str(since)) == 0
    wait_for("the pull and its answer", _settled(fr, gb))
    assert {(r["state"], r["rule"]) for r in fr.outbox("signal.pull")} == {("delivered", None)}


def _pulls_answered(gb: Running, sender: str) -> list[dict[str, Any]]:
    """What GB's inbox answered to each of ``sender``'s pulls (from GB's ledger)."""
    with gb.node.read() as conn:
        rows = conn.execute(select(ledger_entries.c.payload).where(ledger_entries.c.action == "inbox.accepted")
                            .order_by(ledger_entries.c.seq)).scalars().all()
    return [p["result"] for p in map(json.loads, rows) if p["type"] == "signal.pull" and p["sender"] == sender]


def test_pull_since_a_cursor_brings_once_what_gbs_gate_lets_fr_receive(
        network: Callable[..., list[Running]]) -> None:
    gb, fr = network("gb", "fr")
    _peer(gb, fr)
    p = [f"p{i}-refund.example.com" for i in range(1, 9)]
    ids = _report(gb, _item(p[0], "GREEN"), _item(p[1], "CLEAR"), _item(p[2], "RED"), _item(p[3], "GREEN"),
                  _item(p[4], "AMBER+STRICT", recipients=[fr.id]), _item(p[5], "AMBER"))

    def fr_holds() -> list[tuple[str, str]]:
        return [(h["remote_id"], h["value"]) for h in fr.held()]

    # After the cursor: p4 (GREEN) and p5 (AMBER+STRICT naming FR); not RED p3, not AMBER p6
    # that names nobody; not p1 and p2, before the cursor.
    _pull(fr, gb, ids[p[1]])
    assert sorted(fr_holds()) == sorted([(str(ids[p[3]]), p[3]), (str(ids[p[4]]), p[4])])
    assert all(h["source"] == gb.id and h["via"] == gb.id for h in fr.held())

    # The same cursor again: GB answers again, FR applies nothing twice.
    answered = gb.outbox("signal.report")
    _pull(fr, gb, ids[p[1]])
    resent = [r for r in gb.outbox("signal.report") if r["id"] not in {x["id"] for x in answered}]
    assert resent and {r["state"] for r in resent} == {"delivered"}
    assert sorted(_sent_report_ids(gb, resent)) == sorted([str(ids[p[3]]), str(ids[p[4]])])
    assert sorted(fr_holds()) == sorted([(str(ids[p[3]]), p[3]), (str(ids[p[4]]), p[4])])

    # Newer reports, and a pull from the cursor FR keeps (GB's newest report id it holds):
    # only the newer report GB may send.
    more = _report(gb, _item(p[6], "GREEN"), _item(p[7], "RED"))
    answered = gb.outbox("signal.report")
    _pull(fr, gb, max(int(r) for r in _remote_ids(fr, gb.id)))
    newest = [r for r in gb.outbox("signal.report") if r["id"] not in {x["id"] for x in answered}]
    assert _sent_report_ids(gb, newest) == [str(more[p[6]])]
    assert sorted(fr_holds()) == sorted([(str(ids[p[3]]), p[3]), (str(ids[p[4]]), p[4]),
                                         (str(more[p[6]]), p[6])])

    # From the start: everything GB's gate lets FR receive, each once.
    _pull(fr, gb, 0)
    expected = [(str(ids[v]), v) for v in (p[0], p[1], p[3], p[4])] + [(str(more[p[6]]), p[6])]
    assert sorted(fr_holds()) == sorted(expected)
    top = max(more.values())
    assert _pulls_answered(gb, fr.id) == [
        {"subject": "signals:federation", "queued": 2, "cursor": ids[p[5]], "more": False},
        {"subject": "signals:federation", "queued": 2, "cursor": ids[p[5]], "more": False},
        {"subject": "signals:federation", "queued": 1, "cursor": top, "more": False},  # since p5
        {"subject": "signals:federation", "queued": 5, "cursor": top, "more": False}]
    _verified(gb, fr)


# --- 3. onward transfer (Art. 36) ----------------------------------------------------------------


def test_fr_passes_on_a_report_from_gb_only_with_gbs_consent(
        network: Callable[..., list[Running]], capsys: pytest.CaptureFixture[str]) -> None:
    gb, fr, nl = network("gb", "fr", "nl")
    _peer(gb, fr)
    _peer(fr, nl)
    shared, private, strict = "shared-mule.example.org", "private-mule.example.org", "strict-mule.example.org"
    _report(gb, _item(shared, "GREEN"), _item(private, "GREEN", consent=False),
            _item(strict, "AMBER+STRICT", recipients=[fr.id]))
    assert gb.cli("signals", "publish", "--to", fr.id) == 0
    wait_for("GB's deliveries", _settled(gb))
    assert _matches(fr, shared, private, strict) == [True, True, True]
    assert {h["value"]: h["consent"] for h in fr.held()} == {shared: True, private: False, strict: True}

    capsys.readouterr()
    assert fr.cli("signals", "publish", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    # To NL only what GB consented to pass on (and, AMBER+STRICT naming FR only, not that);
    # nothing back to GB, where it came from.
    assert out["peers"] == {gb.id: 0, nl.id: 1}
    wait_for("FR's deliveries", _settled(fr))
    assert {(r["recipient"], r["state"]) for r in fr.outbox("signal.report")} == {(nl.id, "delivered")}
    assert _sent_report_ids(fr, fr.outbox("signal.report")) == [
        str(h["id"]) for h in fr.held() if h["value"] == shared]
    assert _matches(nl, shared, private, strict) == [True, False, False]
    assert [(h["value"], h["source"], h["via"]) for h in nl.held()] == [(shared, gb.id, fr.id)]
    assert [t for t, _s, _r in gb.inbox(fr.id) if t == "signal.report"] == []
    _verified(gb, fr, nl)


# --- 4. feedback flows back ----------------------------------------------------------------------


def test_sightings_and_false_positives_on_fr_flow_back_to_gb(
        network: Callable[..., list[Running]], capsys: pytest.CaptureFixture[str]) -> None:
    gb, fr = network("gb", "fr")
    _peer(gb, fr)
    _report(gb, _item(URL, "GREEN", "url", related=[{"type": "phone", "value": PHONE}]))
    assert gb.cli("signals", "publish") == 0
    wait_for("GB's deliveries", _settled(gb))
    assert _matches(fr, URL, PHONE) == [True, True]

    # A sighting of the phone number (named by GB's report of the scam page) through FR's CLI,
    # a false positive of the page through FR's API.
    assert fr.cli("signals", "sighting", "+44 20 7946 0958", "--count", "3", "--note", "call centre") == 0
    r = fr.api("POST", "/signals/false-positives", json={"value": URL, "note": "a real shop"})
    assert r.status_code == 201 and r.json()["sent_to_peers"] == [gb.id]
    wait_for("FR's feedback", _settled(fr))
    assert [(r["recipient"], r["state"], r["rule"]) for r in fr.outbox("signal.feedback")] == [
        (gb.id, "delivered", None)] * 2

    listed = gb.api("GET", "/signals/feedback").json()
    assert sorted((f["kind"], f["type"], f["value"], f["member"], f["count"], f["note"]) for f in listed) == [
        ("false-positive", "url", URL, fr.id, 1, "a real shop"),
        ("sighting", "phone", PHONE, fr.id, 3, "call centre")]
    capsys.readouterr()
    assert gb.cli("signals", "feedback", "--json") == 0
    assert sorted(f["feedback_id"] for f in json.loads(capsys.readouterr().out)) == sorted(
        f["feedback_id"] for f in listed)
    _verified(gb, fr)
