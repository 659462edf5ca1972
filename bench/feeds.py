"""Benchmark: a TAXII 2.1 feed pulled and stored, against ``taxii2-client`` merely fetching the
same pages.

A local TAXII server (a thread in this process, loopback only) serves N indicators (domains)
in pages of 1,000 (``added_after``, ``next``, ``X-TAXII-Date-Added-Last``). Timed:

* **feed**: ``hanoi.signals.feeds.run_one`` on a fresh node (SQLite in a temporary folder, or
  PostgreSQL with ``--database-url``): every page fetched, parsed, classified, gated and stored,
  its checkpoint saved; the statements each page costs are counted (SQLAlchemy's
  ``before_cursor_execute``), to hold "one database round trip per page, not per object" to
  account;
* **taxii2-client**: ``Collection.get_objects`` following ``next`` over the same pages, nothing
  parsed beyond JSON, nothing stored.

The goal (issue 17): 1,000,000 objects pulled and stored in under 10 minutes on this machine.

    .venv/bin/python bench/feeds.py --objects 1000000
    .venv/bin/python bench/feeds.py --objects 20000      # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy import event

from hanoi.bootstrap import init_node
from hanoi.signals import feeds

MEDIA = "application/taxii+json;version=2.1"
PAGE = 1000
START = datetime(2026, 1, 1, tzinfo=UTC)


def _stamp(i: int) -> str:
    return (START + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _indicator(i: int) -> dict[str, Any]:
    t = _stamp(i)
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.UUID(int=i + 1)}",
            "created": t, "modified": t, "valid_from": t, "pattern_type": "stix",
            "pattern": f"[domain-name:value = 'bench-{i}.example']", "indicator_types": ["malicious-activity"],
            "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}


class Server:
    def __init__(self, total: int):
        self.total = total
        bench = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                url = urlparse(self.path)
                q = parse_qs(url.query)
                if url.path.endswith("/collections/bench/"):
                    self._send({"id": "bench", "title": "bench", "can_read": True, "can_write": False})
                    return
                start = int(q.get("next", ["0"])[0])
                limit = min(int(q.get("limit", [str(PAGE)])[0]), PAGE)
                if "added_after" in q and "next" not in q:
                    start = self.total  # the bench pulls once: nothing after the last
                end = min(start + limit, bench.total)
                objects = [_indicator(i) for i in range(start, end)]
                body: dict[str, Any] = {"more": end < bench.total}
                if objects:
                    body["objects"] = objects
                if end < bench.total:
                    body["next"] = str(end)
                headers = {"X-TAXII-Date-Added-Last": _stamp(end - 1)} if objects else {}
                self._send(body, headers)

            def _send(self, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", MEDIA)
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/taxii2/api/collections/bench/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_feed(url: str, workdir: Path, database_url: str | None) -> dict[str, Any]:
    node, _ = init_node(workdir / "node", name="Bench", country="GB", kind="cert",
                        database_url_=database_url or f"sqlite:///{workdir / 'node.db'}")
    statements = [0]

    @event.listens_for(node.engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        statements[0] += 1

    try:
        feeds.add(node, "bench", {"name": "bench", "url": url, "format": "taxii", "tlp": "GREEN",
                                  "offence": "UNCC-13"})
        statements[0] = 0
        t0 = time.perf_counter()
        out = feeds.run_one(node, "bench")
        seconds = time.perf_counter() - t0
        assert out["ok"], out
        return {"seconds": seconds, "pages": out["pages"], "counts": out["counts"], "statements": statements[0]}
    finally:
        node.close()


def run_client(url: str) -> dict[str, Any]:
    from taxii2client.v21 import Collection, as_pages

    coll = Collection(url, verify=False)
    t0 = time.perf_counter()
    n = 0
    for page in as_pages(coll.get_objects, per_request=PAGE):
        n += len(page.get("objects", []))
    return {"seconds": time.perf_counter() - t0, "objects": n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument("--skip-client", action="store_true")
    args = parser.parse_args()
    server = Server(args.objects)
    try:
        with tempfile.TemporaryDirectory(prefix="hanoi-bench-feeds-") as tmp:
            feed = run_feed(server.url, Path(tmp), args.database_url)
        client = None if args.skip_client else run_client(server.url)
    finally:
        server.close()
    per_page = feed["statements"] / max(feed["pages"], 1)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; "
          f"{args.objects:,} indicators in pages of {PAGE:,}; database: "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}")
    print(f"feed (fetch, parse, gate, store, checkpoint): {feed['seconds']:.1f} s, "
          f"{args.objects / feed['seconds']:,.0f} objects/s, {feed['pages']} pages, "
          f"{feed['statements']:,} statements ({per_page:.1f} per page); counts {feed['counts']}")
    if client:
        print(f"taxii2-client fetching the same pages: {client['seconds']:.1f} s, "
              f"{client['objects'] / client['seconds']:,.0f} objects/s")
    projected = feed["seconds"] * 1_000_000 / args.objects / 60
    print(f"projected for 1,000,000 objects: {projected:.1f} minutes (goal: under 10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
