"""Feeds (issue 17 item 1): a URLhaus CSV over HTTP from a server the test starts (ETag and
Last-Modified: pulled again, nothing duplicated), a MISP feed folder (manifest timestamps), a
peer's TAXII collection (another Hanoi node, added_after and next), failures retried with
backoff and shown, one runner across processes (the database lease), the CLI."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hanoi.api.app import create_app
from hanoi.bootstrap import init_node
from hanoi.cli.main import run
from hanoi.core.roles import Role
from hanoi.node import leases, members, tokens
from hanoi.node.runtime import Node
from hanoi.signals import feeds
from hanoi.signals import service as signals_service
from hanoi.store.tables import ledger_entries, signal_reports
from tests.node.helpers import GOOD_ASSESSMENT, ServerProcess, member_body, start_all, wait_for
from tests.paths import FIXTURES

URLHAUS = (FIXTURES / "signals" / "urlhaus-recent.csv").read_bytes()


class Site:
    """A local HTTP server: paths -> bodies, with ETag / Last-Modified and 304s, counting what
    it answered; ``fail`` makes it answer 500."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.answers: list[int] = []
        self.fail = False
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.files.get(self.path)
                if site.fail or body is None:
                    code = 500 if site.fail else 404
                    site.answers.append(code)
                    self.send_response(code)
                    self.end_headers()
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    site.answers.append(304)
                    self.send_response(304)
                    self.end_headers()
                    return
                site.answers.append(200)
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", "Sun, 02 Mar 2025 10:05:08 GMT")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


def _reports(node: Node) -> int:
    with node.read() as conn:
        return int(conn.execute(select(func.count()).select_from(signal_reports)).scalar() or 0)


def _actions(node: Node, prefix: str) -> list[dict[str, Any]]:
    with node.read() as conn:
        rows = conn.execute(select(ledger_entries.c.action, ledger_entries.c.payload)
                            .where(ledger_entries.c.action.like(prefix + "%")).order_by(ledger_entries.c.seq))
        return [{"action": a, **json.loads(p)} for a, p in rows]


@pytest.fixture
def source(node: Node) -> Node:
    members.add(node, "setup", member_body(id="abuse-ch", name="abuse.ch", country="CH",
                                           assessment=GOOD_ASSESSMENT))
    return node


def test_urlhaus_csv_over_http_etag_no_duplicates_and_backoff(source: Node, site: Site) -> None:
    node = source
    site.files["/csv.txt"] = URLHAUS
    feeds.add(node, "test", {"name": "urlhaus", "url": f"{site.base}/csv.txt", "format": "urlhaus",
                             "every": "1h", "tlp": "GREEN", "offence": "UNCC-11", "source": "abuse-ch"})
    assert feeds.due(node, node.now()) == ["urlhaus"]
    first = feeds.run_due(node, holder="test-a")
    assert [r["ok"] for r in first] == [True], first
    stored = _reports(node)
    assert stored >= 3
    shown = feeds.show(node, "urlhaus")
    assert shown["checkpoint"]["etag"] and shown["failures"] == 0 and shown["runs"] == 1
    assert feeds.due(node, node.now()) == []  # next in an hour
    assert feeds.due(node, node.now() + timedelta(hours=1, seconds=1)) == ["urlhaus"]

    # Again: the server answers 304, nothing is imported twice.
    again = feeds.run_named(node, "urlhaus")
    assert again["ok"] and again["counts"] == {} and site.answers[-1] == 304
    assert _reports(node) == stored

    # A changed document: only the new line is new, the rest found again (no copies).
    header, _, rest = URLHAUS.partition(b'"3401000"')
    site.files["/csv.txt"] = (header + b'"3401001","2025-03-02 10:01:00","http://198.51.100.7/new.sh",'
                              b'"online","","malware_download","sh","https://urlhaus.abuse.ch/url/3401001/",'
                              b'"abuse_ch"\n"3401000"' + rest)
    assert feeds.run_named(node, "urlhaus")["ok"] and site.answers[-1] == 200
    assert _reports(node) == stored + 1
    lookup = signals_service.lookup(node, signals_service.Caller("test"), ["http://198.51.100.7/new.sh"])
    assert lookup["matches"] == 1

    # Failing: recorded, shown, retried with backoff (not at once, never later than the period).
    site.fail = True
    failed = feeds.run_named(node, "urlhaus")
    assert not failed["ok"] and "HTTP 500" in failed["error"] and failed["failures"] == 1
    shown = feeds.show(node, "urlhaus")
    assert shown["last_error"] and shown["failures"] == 1
    assert feeds.due(node, node.now()) == []
    assert feeds.due(node, node.now() + timedelta(hours=1, seconds=1)) == ["urlhaus"]
    site.fail = False
    assert feeds.run_named(node, "urlhaus")["ok"]
    assert feeds.show(node, "urlhaus")["failures"] == 0
    runs = _actions(node, "feed.")
    assert [r["action"] for r in runs] == ["feed.added", "feed.run", "feed.run", "feed.run", "feed.failed",
                                           "feed.run"]
    assert runs[1]["pages"] == 1 and runs[1]["counts"]["received"] >= 3  # each run's counts ledgered
    assert runs[2]["pages"] == 0 and runs[2]["counts"] == {}


def _misp_feed(folder: Path, timestamp: str, extra_value: str | None = None) -> None:
    event = json.loads((FIXTURES / "signals" / "misp-event.json").read_text())
    event["Event"]["timestamp"] = timestamp
    if extra_value:
        event["Event"]["Attribute"].append({"type": "domain", "category": "Network activity", "to_ids": True,
                                            "value": extra_value, "uuid": "5f0c1c1e-0000-4000-8000-00000000abcd",
                                            "timestamp": timestamp})
    uid = event["Event"]["uuid"]
    folder.mkdir(exist_ok=True)
    (folder / f"{uid}.json").write_text(json.dumps(event))
    (folder / "manifest.json").write_text(json.dumps({uid: {"timestamp": timestamp, "info": "x"}}))


def test_misp_feed_folder_by_manifest_timestamps(source: Node, tmp_path: Path) -> None:
    node = source
    folder = tmp_path / "misp"
    _misp_feed(folder, "1700000000")
    feeds.add(node, "test", {"name": "misp", "path": str(folder), "format": "misp", "every": "15m"})
    assert feeds.run_named(node, "misp")["ok"]
    stored = _reports(node)
    assert stored > 0
    assert feeds.run_named(node, "misp")["pages"] == 0  # same timestamp: nothing fetched
    _misp_feed(folder, "1700000500", extra_value="feed-new.example")
    assert feeds.run_named(node, "misp")["ok"]
    assert _reports(node) == stored + 1
    assert feeds.show(node, "misp")["checkpoint"]["events"]


def test_taxii_collection_of_another_hanoi_node(source: Node, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    node = source
    peer, _ = init_node(tmp_path / "peer", name="Peer CERT", country="DE", kind="cert",
                                 database_url_=f"sqlite:///{tmp_path / 'peer.db'}")
    try:
        signals_service.report(peer, "test", None, [
            {"type": "domain", "value": f"taxii-{i}.example", "tlp": "GREEN", "abuse_type": "UNCC-13",
             "confidence": 70} for i in range(25)], best_effort=False, max_items=10_000)
        reader, _ = tokens.create(peer, "test", name="reader", role=Role.ANALYST.value)
        monkeypatch.setenv("PEER_TAXII_TOKEN", reader)
        monkeypatch.setattr(feeds, "PAGE", 10)  # three pages, and a `next` between them
        with TestClient(create_app(peer)) as http:
            listed = http.get("/taxii2/api/collections/", headers={"Authorization": f"Bearer {reader}",
                                                                   "Accept": feeds.TAXII_MEDIA}).json()
            cid = next(c["id"] for c in listed["collections"] if c.get("alias") == "community")
            url = f"http://testserver/taxii2/api/collections/{cid}/"
            feeds.add(node, "test", {"name": "peer", "url": url, "format": "taxii", "token_env": "PEER_TAXII_TOKEN",
                                     "source": "abuse-ch"})
            first = feeds.run_one(node, "peer", client=http)
            assert first["ok"], first
            assert first["pages"] == 3 and _reports(node) == 25
            after = feeds.show(node, "peer")["checkpoint"]
            assert after["added_after"] and after["next"] is None
            # Nothing new: one page, nothing stored twice.
            assert feeds.run_one(node, "peer", client=http)["ok"]
            assert _reports(node) == 25
            signals_service.report(peer, "test", None, [{"type": "domain", "value": "taxii-new.example",
                                                         "tlp": "GREEN", "abuse_type": "UNCC-13",
                                                         "confidence": 70}], best_effort=False, max_items=10)
            assert feeds.run_one(node, "peer", client=http)["ok"]
            assert _reports(node) == 26
    finally:
        peer.close()


def test_one_runner_across_processes(source: Node, site: Site) -> None:
    node = source
    site.files["/csv.txt"] = URLHAUS
    feeds.add(node, "test", {"name": "urlhaus", "url": f"{site.base}/csv.txt", "format": "urlhaus"})
    assert leases.take(node, feeds.LEASE, "other-machine:1", 60)
    assert not leases.take(node, feeds.LEASE, "me:2", 60)
    assert feeds.run_due(node, holder="me:2") == []  # the other runner has it
    with pytest.raises(Exception, match="another process is running feeds"):
        feeds.run_named(node, "urlhaus")
    # Its lease runs out (a crashed runner): the next one takes over.
    assert leases.take(node, feeds.LEASE, "me:2", 60, now=node.now() + timedelta(seconds=61))
    leases.give_back(node, feeds.LEASE, "me:2")
    leases.give_back(node, feeds.LEASE, "other-machine:1")
    assert [r["name"] for r in feeds.run_due(node, holder="me:2")] == ["urlhaus"]
    # Paused feeds are not run.
    feeds.set_paused(node, "test", "urlhaus", True)
    assert feeds.due(node, node.now() + timedelta(days=2)) == []


def test_cli_feeds(source: Node, site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    node = source
    site.files["/csv.txt"] = URLHAUS
    home = ["--home", str(node.home)]
    assert run([*home, "feeds", "add", "urlhaus", "--url", f"{site.base}/csv.txt", "--format", "urlhaus",
                "--every", "1h", "--tlp", "GREEN", "--offence", "UNCC-11", "--source", "abuse-ch", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["every_seconds"] == 3600
    assert run([*home, "feeds", "add", "bad", "--url", "ftp://x", "--format", "nope"]) == 1
    err = capsys.readouterr().err
    assert "format" in err or "url" in err
    assert run([*home, "feeds", "run", "urlhaus", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"]
    assert run([*home, "feeds", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["runs"] == 1 and listed["last_ok_at"]
    assert run([*home, "feeds", "pause", "urlhaus"]) == 0
    assert "paused" in capsys.readouterr().out
    site.fail = True
    assert run([*home, "feeds", "run", "urlhaus"]) == 1
    assert "HTTP 500" in capsys.readouterr().out
    assert run([*home, "feeds", "remove", "urlhaus"]) == 0
    capsys.readouterr()
    assert run([*home, "feeds", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_api_feeds(client: TestClient, source: Node, site: Site, role_tokens: dict[Role, str],
                   tmp_path: Path) -> None:
    site.files["/csv.txt"] = URLHAUS
    admin = {"Authorization": f"Bearer {role_tokens[Role.ADMIN]}"}
    analyst = {"Authorization": f"Bearer {role_tokens[Role.ANALYST]}"}
    body = {"name": "urlhaus", "url": f"{site.base}/csv.txt", "format": "urlhaus", "every": "1h",
            "offence": "UNCC-11", "source": "abuse-ch"}
    assert client.post("/api/v1/feeds", json=body, headers=analyst).status_code == 403
    r = client.post("/api/v1/feeds", json={**body, "name": "local", "path": str(tmp_path)}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path"
    r = client.post("/api/v1/feeds", json={**body, "every": "5s"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "every"
    r = client.post("/api/v1/feeds", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["every_seconds"] == 3600
    assert client.post("/api/v1/feeds", json=body, headers=admin).status_code == 409
    r = client.post("/api/v1/feeds/urlhaus/run", headers=admin)
    assert r.status_code == 200 and r.json()["ok"] and r.json()["pages"] == 1
    listed = client.get("/api/v1/feeds", headers=analyst).json()
    assert [f["name"] for f in listed] == ["urlhaus"] and listed[0]["checkpoint"]["etag"]
    assert client.post("/api/v1/feeds/urlhaus/pause", headers=admin).json()["paused"] is True
    assert client.post("/api/v1/feeds/urlhaus/resume", headers=admin).json()["paused"] is False
    assert client.get("/api/v1/feeds/nope", headers=analyst).status_code == 404
    metrics = client.get("/metrics", headers=admin).text
    assert 'hanoi_feed_runs_total{feed="urlhaus",outcome="ok"}' in metrics
    assert 'hanoi_feed_failures{feed="urlhaus"} 0.0' in metrics
    assert client.delete("/api/v1/feeds/urlhaus", headers=admin).json() == {"name": "urlhaus", "removed": True}
    assert client.get("/api/v1/feeds", headers=analyst).json() == []


def test_hanoi_serve_pulls_feeds_unattended_one_runner_for_two_servers(source: Node, site: Site) -> None:
    node = source
    site.files["/csv.txt"] = URLHAUS
    feeds.add(node, "test", {"name": "urlhaus", "url": f"{site.base}/csv.txt", "format": "urlhaus",
                             "every": "1h", "source": "abuse-ch"})
    first, second = ServerProcess(home=node.home), ServerProcess(home=node.home, args=("--workers", "2"))
    try:
        start_all(first, second)  # two `hanoi serve`, each with its feed runner, one database
        wait_for("the feed's first run", lambda: feeds.show(node, "urlhaus")["runs"] >= 1)
        time.sleep(2)  # both runners have looked by now (each looks when it starts)
    finally:
        first.stop()
        second.stop()
    shown = feeds.show(node, "urlhaus")
    assert shown["runs"] == 1 and shown["last_ok_at"] and site.answers == [200]
    assert [r["action"] for r in _actions(node, "feed.run")] == ["feed.run"]
    assert _reports(node) >= 3
