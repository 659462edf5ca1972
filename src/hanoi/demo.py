"""`hanoi demo`: five nodes as separate processes on loopback, and a cross-border case between them.

The nodes: a UK central authority (GB), a French 24/7 point of contact (FR), a UK helpline, a
platform, and the central authority of a fictional State (QZ, a user-assigned code) whose
standing the others suspended after a safeguards assessment. Each has its own SQLite database
and runs `hanoi serve` (API, federation inbox and delivery worker). They fetch each other's
signed descriptors, trust them by fingerprint and record safeguards assessments. Then:

1. GB asks FR to preserve an account's data in a fraud case; FR preserves it and the 60-day
   clock starts on both sides.
2. GB follows with a stored-data request; FR assesses dual criminality, executes, and returns
   the evidence (files in chunks, a manifest signed by FR); GB verifies the package offline
   against FR's key.
3. QZ sends FR a request; FR's gate refuses it with its reasons (QZ is suspended).
4. GB shares a fraud campaign (scam page, phone number, IBAN) with FR and the platform, and a
   TLP:RED lead that never leaves it; FR and the platform look values up.
5. The helpline hashes images on its own machine and shares only the hashes; the platform
   matches an edited copy (found) and an unrelated photo (not found) and confirms; the
   helpline sees the feedback.
6. Every node's ledger verifies.

Everything goes through each node's public API, as a user's tools would.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hanoi.bootstrap import init_node
from hanoi.config import save_config
from hanoi.core import keys
from hanoi.media.pdq import hash_path
from hanoi.node import users
from hanoi.requests.packages import verify_package
from hanoi.requests.samples import PRESERVATION_FIELDS, STORED_DATA_FIELDS

GOOD = {"standing": "good", "assessor": "Safeguards desk",
        "findings": "Independent judicial authorisation of coercive measures; effective remedies.",
        "articles": ["6", "24"], "sources": ["Bilateral review 2026"]}
SUSPENDED = {"standing": "suspended", "assessor": "Safeguards board",
             "findings": "Cooperation requests used to locate and prosecute journalists for their reporting.",
             "articles": ["6", "40(22)"], "sources": ["UN Special Rapporteur report 2026", "NGO dossier 17"]}

NODES = (
    ("gb", "UK Central Authority", "GB", "central-authority"),
    ("fr", "PHAROS 24/7 point of contact", "FR", "contact-point"),
    ("helpline", "UK Revenge Porn Helpline", "GB", "hotline"),
    ("platform", "Example Platform Trust & Safety", "IE", "platform"),
    ("qz", "Ministry of Public Order of Qazaria", "QZ", "central-authority"),
)


CONSOLE_USERS = ("caseworker", "auditor")
"""The console users each demo node gets: the desk's and the ledger's (usernames = roles)."""


def sample_partners() -> list[dict[str, Any]]:
    """Partners with keys and assessments, for a node explored on its own (and for tests)."""
    def key() -> str:
        return keys.public_key_b64(keys.generate_private_key())

    return [
        {"id": "fr-pharos", "name": "PHAROS / OFAC 24/7 point of contact", "kind": "contact-point",
         "country": "FR", "state_status": "party", "languages": ["fr", "en"], "available_24_7": True,
         "keys": [key()], "contacts": [{"name": "Duty officer", "role": "24/7", "email": "247@example.fr"}],
         "assessment": GOOD},
        {"id": "gb-helpline", "name": "Revenge Porn Helpline", "kind": "hotline", "country": "GB",
         "state_status": "party", "languages": ["en"], "keys": [key()], "assessment": GOOD},
        {"id": "platform", "name": "Example Platform Trust & Safety", "kind": "platform", "country": "IE",
         "state_status": "signatory", "languages": ["en"], "available_24_7": True, "keys": [key()],
         "assessment": {**GOOD, "findings": "Signed data-protection terms; transparency reports."}},
        {"id": "qz-ministry", "name": "Ministry of Public Order of Qazaria", "kind": "central-authority",
         "country": "QZ", "state_status": "non-party", "languages": ["en"], "keys": [key()],
         "assessment": SUSPENDED},
    ]


class DemoFailed(Exception):
    pass


@dataclass
class DemoNode:
    key: str
    home: Path
    port: int
    token: str
    node_id: str
    name: str
    password: str = ""
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        r = httpx.request(method, f"{self.url}/api/v1{path}", headers={"Authorization": f"Bearer {self.token}"},
                          timeout=60, **kw)
        if r.status_code not in expect:
            raise DemoFailed(f"{self.key}: {method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json() if r.headers.get("content-type", "").endswith("json") else r.content


@dataclass
class Timeline:
    console: Console
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    start: float = field(default_factory=time.monotonic)

    def say(self, who: str, what: str) -> None:
        stamp = f"{time.monotonic() - self.start:6.1f}s"
        self.rows.append((stamp, who, what))
        self.console.print(Text.assemble((stamp, "dim"), " ", (f"{who:>9}", "bold"), f" {what}"))

    def table(self) -> Table:
        t = Table("t", "node", "what happened", title="Timeline of the exchange")
        for row in self.rows:
            t.add_row(*(Text(cell) for cell in row))  # what nodes said is data, never markup
        return t


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out waiting for {what}")
        time.sleep(0.1)


def _setup(directory: Path) -> dict[str, DemoNode]:
    if directory.exists():
        shutil.rmtree(directory)
    nodes: dict[str, DemoNode] = {}
    for key, name, country, kind in NODES:
        port = _free_port()
        home = directory / key
        node, token = init_node(home, name=name, country=country, kind=kind,
                                public_url=f"http://127.0.0.1:{port}")
        # Quick retries: a demo should not wait minutes for a peer that was briefly down.
        node.config = node.config.model_copy(update={"outbox_backoff_base": 0.2, "outbox_backoff_cap": 2.0})
        save_config(home, node.config)
        # Console sign-ins: a caseworker for the desk, an auditor for the ledger (one password each node).
        password = secrets.token_urlsafe(12)
        for username in CONSOLE_USERS:
            users.add_user(node, "demo:setup", username=username, role=username, password=password)
        nodes[key] = DemoNode(key, home, port, token, node.node_id, name, password)
        node.close()
    return nodes


def _start(nodes: dict[str, DemoNode]) -> None:
    for n in nodes.values():
        n.log = n.home / "serve.log"
        with n.log.open("ab") as err:
            n.proc = subprocess.Popen(  # noqa: S603  # our own interpreter and arguments
                [sys.executable, "-m", "hanoi", "--home", str(n.home), "serve", "--port", str(n.port)],
                stdout=subprocess.DEVNULL, stderr=err, env=os.environ.copy())
    for n in nodes.values():
        def up(n: DemoNode = n) -> bool:
            if n.proc is not None and n.proc.poll() is not None:
                raise DemoFailed(f"{n.key} did not start: {n.log.read_text()[-1500:] if n.log else ''}")
            try:
                return httpx.get(f"{n.url}/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        _wait(f"{n.key} to start", up, 60)


def _stop(nodes: dict[str, DemoNode]) -> None:
    for n in nodes.values():
        if n.proc is not None and n.proc.poll() is None:
            n.proc.send_signal(signal.SIGTERM)
    for n in nodes.values():
        if n.proc is not None:
            try:
                n.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                n.proc.kill()


def _peer(me: DemoNode, other: DemoNode, assessment: dict[str, Any]) -> None:
    shown = me.call("POST", "/peers", json={"url": other.url})
    # In real life the fingerprint is read out over the phone; here both ends are ours.
    me.call("POST", f"/peers/{shown['id']}/trust", json={"fingerprint": shown["fingerprint"],
                                                         "assessment": assessment})


def _peering(nodes: dict[str, DemoNode], tl: Timeline) -> None:
    keys = list(nodes)
    for a in keys:
        for b in keys:
            if a == b:
                continue
            assessment = SUSPENDED if b == "qz" else GOOD
            _peer(nodes[a], nodes[b], assessment)
    tl.say("all", "peered: signed descriptors fetched, fingerprints confirmed, safeguards assessed "
                  "(QZ suspended by every other node)")


def _incoming(node: DemoNode, ref: str) -> dict[str, Any] | None:
    rows = node.call("GET", "/requests", params={"direction": "incoming"})
    return next((r for r in rows if r["remote_id"] == ref), None)


def _scenario(nodes: dict[str, DemoNode], tl: Timeline, workdir: Path) -> None:
    gb, fr, qz = nodes["gb"], nodes["fr"], nodes["qz"]

    # 1. preservation
    pres = gb.call("POST", "/requests", json={"type": "preservation", "partner": fr.node_id,
                                              "fields": PRESERVATION_FIELDS})
    gb.call("POST", f"/requests/{pres['id']}/submit")
    tl.say("GB", f"submitted preservation request {pres['id']} to FR (gate: allow)")
    fr_pres = _wait("FR to receive the preservation request", lambda: _incoming(fr, pres["id"]))
    tl.say("FR", f"received it as {fr_pres['id']}; gate on receipt: {fr_pres['decision']['outcome']}")
    for ev in ("acknowledge", "start", "preserve"):
        fr.call("POST", f"/requests/{fr_pres['id']}/events", json={"event": ev})
    preserved = _wait("GB to learn the data are preserved",
                      lambda: (r := gb.call("GET", f"/requests/{pres['id']}"))["state"] == "preserved" and r)
    tl.say("FR", f"preserved the data; 60-day term until {preserved['preservation']['until']} "
                 "(held on while the follow-up is pending)")

    # 2. stored data, evidence
    follow = gb.call("POST", "/requests", json={"type": "stored-data", "partner": fr.node_id, "fields": {
        **STORED_DATA_FIELDS, "preservation_reference": pres["id"]}})
    gb.call("POST", f"/requests/{follow['id']}/submit")
    tl.say("GB", f"submitted the follow-up stored-data request {follow['id']}")
    fr_follow = _wait("FR to receive the follow-up", lambda: _incoming(fr, follow["id"]))
    tl.say("FR", f"gate on receipt: {fr_follow['decision']['outcome']} "
                 f"({', '.join(r['code'] for r in fr_follow['decision']['reasons'] if r['effect'] != 'allow')})")
    fr.call("POST", f"/requests/{fr_follow['id']}/assessment", json={"dual_criminality": "met"})
    tl.say("FR", "assessed dual criminality: met (fraud is an offence in both States); gate: allow")
    for ev in ("acknowledge", "start"):
        fr.call("POST", f"/requests/{fr_follow['id']}/events", json={"event": ev})
    evidence = []
    for name, data in (("subscriber.csv", b"account,created,last_ip\ncontact@invest-fortune.example,"
                                          b"2026-02-11,192.0.2.77\n"),
                       ("mailbox-export.mbox", b"From scam@invest-fortune.example\n" * 8000)):
        rec = fr.call("POST", f"/requests/{fr_follow['id']}/evidence",
                      files={"file": (name, data, "application/octet-stream")}, data={"description": "provider export"})
        evidence.append({k: rec[k] for k in ("name", "sha256", "size", "media_type")})
    fr.call("POST", f"/requests/{fr_follow['id']}/response", json={
        "kind": "executed", "reason": "Data disclosed by the provider under a judge's order.", "evidence": evidence,
        "conditions": {"proceedings": STORED_DATA_FIELDS["case_reference"], "specialty": True,
                       "data_protection": ["Erase when the proceedings end"]}})
    tl.say("FR", f"executed; {len(evidence)} files sent in chunks with a signed manifest")
    _wait("GB to receive the response and every file", lambda: (
        (r := gb.call("GET", f"/requests/{follow['id']}"))["state"] == "executed" and len(r["evidence"]) == 2), 120)
    pkg = workdir / "evidence-from-fr.zip"
    pkg.write_bytes(gb.call("GET", f"/requests/{follow['id']}/evidence/package", params={"received": "true"}))
    fr_key = gb.call("GET", f"/members/{fr.node_id}")["keys"][0]["public_key"]
    report = verify_package(pkg, expected_key_b64=fr_key)
    if not report.ok:
        raise DemoFailed(f"the evidence package does not verify: {report.summary()}")
    tl.say("GB", f"verified FR's evidence package offline: {report.summary()}")

    # 3. the suspended State
    qz_req = qz.call("POST", "/requests", json={"type": "stored-data", "partner": fr.node_id, "fields": {
        **STORED_DATA_FIELDS, "requesting_authority": "Ministry of Public Order of Qazaria",
        "conducting_authority": "State Security Directorate",
        "facts_summary": "The account holder published articles insulting the government.",
        "purpose": "Identify the author."}})
    qz.call("POST", f"/requests/{qz_req['id']}/submit")
    tl.say("QZ", f"submitted stored-data request {qz_req['id']} to FR")
    refused = _wait("FR's answer to QZ", lambda: next(
        (r for r in qz.call("GET", "/outbox", params={"state": "rejected"})["items"]
         if r["type"] == "request.submit"), None))
    tl.say("FR", f"refused by the gate: {refused.get('rule')} — {refused.get('last_error') or refused.get('detail')}")
    if refused.get("rule") != "GATE-SUSPENDED":
        raise DemoFailed(f"expected FR's gate to refuse QZ with GATE-SUSPENDED, got {refused}")
    if _incoming(fr, qz_req["id"]) is not None:
        raise DemoFailed("FR applied QZ's request")

    _signals(nodes, tl)
    _media(nodes, tl)

    # ledgers
    for n in nodes.values():
        v = n.call("GET", "/ledger/verify")
        if not v["ok"]:
            raise DemoFailed(f"{n.key}: {v['message']}")
        tl.say(n.key.upper() if len(n.key) == 2 else n.key, v["message"])


SCAM_URL = "hxxps://invest-fortune[.]example/login?ref=ad7"
SCAM_PHONE = "+44 20 7946 0958"
SCAM_IBAN = "GB33 BUKB 2020 1555 5555 55"


def _signals(nodes: dict[str, DemoNode], tl: Timeline) -> None:
    """GB shares a scam campaign (TLP:GREEN) and keeps a lead to itself (TLP:RED); FR and the
    platform look values up; RED never leaves GB."""
    gb, fr, platform = nodes["gb"], nodes["fr"], nodes["platform"]
    stored = gb.call("POST", "/signals", json={"publish": True, "items": [
        {"type": "url", "value": SCAM_URL, "abuse_type": "UNCC-13", "confidence": 85, "tlp": "GREEN",
         "tags": ["investment-fraud"], "related": [{"type": "phone", "value": SCAM_PHONE},
                                                    {"type": "iban", "value": SCAM_IBAN}]},
        {"type": "email", "value": "contact@invest-fortune.example", "abuse_type": "UNCC-13",
         "confidence": 90, "tlp": "RED", "tags": ["suspect-account"]},
    ]})
    tl.say("GB", f"reported {stored.get('stored', 2)} fraud signals: a scam page linked to a phone number and an "
                 "IBAN (TLP:GREEN, published), and a suspect's account (TLP:RED, kept)")

    def seen(node: DemoNode) -> Any:
        got = node.call("POST", "/signals/lookup", json={"values": [SCAM_PHONE, SCAM_IBAN,
                                                                    "contact@invest-fortune.example"]})
        return got if got["results"][0]["match"] else None

    fr_view = _wait("FR to receive GB's signals", lambda: seen(fr))
    r0 = fr_view["results"][0]
    tl.say("FR", f"lookup: {SCAM_PHONE} matches (campaign {r0['campaign']}, confidence {r0['confidence']}, "
                 f"{r0['sources']} source(s)); the RED account: "
                 f"{'MATCH (leak!)' if fr_view['results'][2]['match'] else 'no match'}")
    if fr_view["results"][2]["match"]:
        raise DemoFailed("a TLP:RED signal reached FR")
    pf_view = _wait("the platform to receive GB's signals", lambda: seen(platform))
    tl.say("platform", f"checked 3 values: {pf_view['matches']} matched "
                       f"(IBAN: {pf_view['results'][1]['match']}, RED account: {pf_view['results'][2]['match']})")
    if pf_view["results"][2]["match"]:
        raise DemoFailed("a TLP:RED signal reached the platform")


def _media(nodes: dict[str, DemoNode], tl: Timeline) -> None:
    """The helpline hashes images on its own machine and shares only the hashes; the platform
    matches an edited copy (found) and an unrelated image (not found) and confirms the match."""
    from importlib.resources import files


    helpline, platform = nodes["helpline"], nodes["platform"]
    images = Path(str(files("hanoi") / "demo_data" / "pdq"))
    with httpx.Client(base_url=helpline.url, headers={"Authorization": f"Bearer {helpline.token}"},
                      timeout=60) as hc, \
            httpx.Client(base_url=platform.url, headers={"Authorization": f"Bearer {platform.token}"},
                         timeout=60) as pc:
        try:
            play_media_scenario(hc, pc, platform_member_id=platform.node_id, images=images, timeout=60,
                                say=lambda line: tl.say(line.split(":", 1)[0], line.split(":", 1)[1].strip()
                                                        if ":" in line else line))
        except AssertionError as exc:
            raise DemoFailed(f"media scenario: {exc}") from None


def run(directory: Path, *, once: bool, port: int | None, console: Console) -> int:
    """Play the demo; with ``once`` shut down and return, else keep serving until Ctrl-C."""
    del port  # each node takes a free port
    tl = Timeline(console)
    nodes = _setup(directory)
    try:
        _start(nodes)
        tl.say("all", f"{len(nodes)} nodes running: " + ", ".join(f"{n.key} :{n.port}" for n in nodes.values()))
        _peering(nodes, tl)
        _scenario(nodes, tl, Path(tempfile.mkdtemp(prefix="hanoi-demo-")))
    except (DemoFailed, httpx.HTTPError) as exc:
        console.print(Text.assemble(("demo failed:", "bold red"), f" {exc}"))
        _stop(nodes)
        return 1
    console.print(tl.table())
    console.print(Text.assemble("\n", ("Open the console", "bold"),
                                f" of each node in a browser; sign in as {' or '.join(CONSOLE_USERS)}:"))
    for n in nodes.values():
        console.print(f"  {n.key:<9} {n.name:<38} {n.url}/console/   password {n.password}", highlight=False,
                      soft_wrap=True)
    console.print(Text.assemble("\n", ("Explore each node", "bold"),
                                " (API under /api/v1, interactive docs at /docs):"))
    for n in nodes.values():
        console.print(f"  {n.key:<9} {n.name:<38} {n.url}/api/v1   admin token {n.token}", highlight=False,
                      soft_wrap=True)
    console.print(f"homes under {directory}; e.g. hanoi --home {nodes['gb'].home} requests list", soft_wrap=True)
    if not once:
        console.print("running; Ctrl-C to stop", style="bold")
        try:
            while all(n.proc is not None and n.proc.poll() is None for n in nodes.values()):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    _stop(nodes)
    return 0


# --- the media story ----------------------------------------------------------------------------


def play_media_scenario(helpline: Any, platform: Any, *, platform_member_id: str,
                        images: Path, deliver: Callable[[], None] | None = None,
                        say: Callable[[str], None] = print, timeout: float = 30.0
                        ) -> dict[str, Any]:
    """The media story over two nodes' APIs, for the demo.

    ``helpline`` and ``platform`` are HTTP clients (``httpx.Client`` or FastAPI's
    ``TestClient``) with ``base_url`` and an ``Authorization`` header already set: an analyst
    (or admin) token of the helpline's node, a platform (or admin) token of the platform's.
    ``platform_member_id`` is the platform's member id at the helpline (a peer in good
    standing); the helpline must be a peer of the platform too. ``images`` is the PDQ fixture
    folder (``bridge-mods/`` and ``labelme-subset/``). ``deliver`` is called while waiting for
    federation (e.g. to run both outbox workers once); items are awaited up to ``timeout``.

    1. The helpline hashes ``bridge-mods/aaa-orig.jpg`` on its own machine (only hashes leave).
    2. It makes an NCII list (TLP:AMBER, the platform named), submits the hashes, distributes.
    3. The platform matches an edited copy (``sharpen-a-lot.jpg``): found, with its distance;
       and an unrelated photo (``labelme-subset/q0122.jpg``): not found.
    4. The platform confirms the match; the helpline sees the verdict.

    Returns what happened; raises ``AssertionError`` naming the step that failed.
    """
    def call(client: Any, method: str, url: str, body: Any = None) -> Any:
        r = client.request(method, url, json=body)
        assert r.status_code < 300, f"{method} {url}: {r.status_code} {r.text}"
        return r.json()

    def wait(what: str, check: Callable[[], Any]) -> Any:
        end = time.monotonic() + timeout
        while True:
            if deliver is not None:
                deliver()
            got = check()
            if got:
                return got
            assert time.monotonic() < end, f"timed out waiting for {what}"
            time.sleep(0.2)

    original = hash_path(images / "bridge-mods" / "aaa-orig.jpg")
    assert original.pdq is not None
    say(f"helpline: hashed aaa-orig.jpg on the device: PDQ {original.pdq.hash[:16]}... "
        f"quality {original.pdq.quality}")
    lst = call(helpline, "POST", "/api/v1/media/lists", {
        "name": "Revenge Porn Helpline: reported images", "category": "ncii",
        "recipients": [platform_member_id]})
    sub = call(helpline, "POST", f"/api/v1/media/lists/{lst['id']}/hashes", {
        "case_ref": "RPH-DEMO-0001", "hashes": [{"pdq": original.pdq.hash,
                                                 "quality": original.pdq.quality,
                                                 "md5": original.md5,
                                                 "sha256": original.sha256}]})
    say(f"helpline: list {lst['id']} (TLP:{lst['tlp']}): {sub['stored']} hashes stored")
    dist = call(helpline, "POST", f"/api/v1/media/lists/{lst['id']}/distribute",
                {"recipient": platform_member_id})
    say(f"helpline: distributed {dist['sent']} hashes to {platform_member_id} "
        f"(gate: {dist['decision']['outcome']})")

    edited = hash_path(images / "bridge-mods" / "sharpen-a-lot.jpg")
    unrelated = hash_path(images / "labelme-subset" / "q0122.jpg")
    assert edited.pdq is not None and unrelated.pdq is not None
    edited_pdq = edited.pdq.hash

    def edited_found() -> Any:
        res = call(platform, "POST", "/api/v1/media/match", {"pdq": [edited_pdq]})
        return res if res["matches"] else None

    res = wait("the hashes to reach the platform", edited_found)
    m = res["matches"][0]
    say(f"platform: edited copy found: list {m['list']!r} ({m['category']}), source "
        f"{m['source']}, distance {m['distance']}")
    miss = call(platform, "POST", "/api/v1/media/match", {"pdq": [unrelated.pdq.hash]})
    assert not miss["matches"], f"an unrelated image matched: {miss['matches']}"
    say("platform: unrelated image: no match")
    call(platform, "POST", "/api/v1/media/feedback",
         {"items": [{"match_id": m["match_id"], "verdict": "confirmed"}]})
    say("platform: match confirmed")

    def seen() -> Any:
        fb = call(helpline, "GET", f"/api/v1/media/feedback?list_id={lst['id']}")
        return fb or None

    fb = wait("the feedback to reach the helpline", seen)
    say(f"helpline: feedback from {fb[0]['member_id']}: {fb[0]['verdict']} "
        f"(case {fb[0]['case_ref']}, distance {fb[0]['distance']})")
    return {"list": lst, "submitted": sub, "distributed": dist, "match": m,
            "unrelated": miss, "feedback": fb}
