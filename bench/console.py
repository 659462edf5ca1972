"""The caseworker's desk at scale: every page of the console's desk fetched over HTTP from a
real `hanoi serve`, with 100,000 requests and 1,000,000 ledger entries in the store.

The store is seeded in bulk straight into the tables (the requests through SQLAlchemy Core in
batches, the ledger as raw rows continuing the chain's head: only reads are measured, so the
synthetic entries' hashes are not recomputed). Requests spread over nine types, the partners
of the demo and two years; most are final (executed, refused, withdrawn, released), about one
in two hundred is open (what a desk works on: the deadline board reads only those); each
request's timeline has the entries a real one would, the rest of the million are other
subjects. Then `hanoi serve` starts on the node, a caseworker signs in, and each page is
fetched ``--rounds`` times with httpx (one warm-up first); the script prints the median and
95th percentile per page, against the 150 ms target.

    python bench/console.py                                  # 100,000 requests, 1,000,000 entries, SQLite
    python bench/console.py --database-url postgresql://postgres@127.0.0.1:5432/bench_console
    python bench/console.py --quick                          # 2,000 requests, 20,000 entries: a smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from hanoi.bootstrap import init_node
from hanoi.demo import sample_partners
from hanoi.node import members, users
from hanoi.node.runtime import Node
from hanoi.requests import samples
from hanoi.requests.gate import DEFAULT_ASSESSMENT
from hanoi.requests.types import REQUEST_TYPES
from hanoi.store import ledger_store
from hanoi.store.tables import requests as requests_t

PASSWORD = "correct horse battery staple"
TARGET_MS = 150.0
FINAL = {"executed": 0.45, "refused": 0.1, "withdrawn": 0.1, "partially-executed": 0.1, "released": 0.245}
OPEN = ("received", "acknowledged", "in-progress", "consultation", "preserved")
OPEN_SHARE = 0.005
STEPS = ("request.create", "request.submit", "request.receive", "request.gate.receipt", "request.acknowledge",
         "request.start", "evidence.add", "request.response.executed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _requests(n: int, now: datetime, partners: list[str], rng: random.Random) -> list[dict[str, Any]]:
    types = list(REQUEST_TYPES)
    fields = {t: samples.sample_fields(t, now)[0] for t in types}
    out = []
    for i in range(n):
        type_ = types[i % len(types)]
        created = now - timedelta(seconds=rng.randrange(2 * 365 * 86400))
        is_open = rng.random() < OPEN_SHARE
        state = rng.choice(OPEN) if is_open else rng.choices(list(FINAL), list(FINAL.values()))[0]
        if type_ == "preservation" and state in ("executed", "partially-executed"):
            state = "released"
        if type_ != "preservation" and state in ("preserved", "released"):
            state = "executed" if state == "released" else "in-progress"
        if is_open:
            created = now - timedelta(hours=rng.randrange(1, 24 * 50))
        preservation = None
        if state == "preserved":
            preservation = {"preserved_at": created.isoformat().replace("+00:00", "Z"), "extensions": []}
        out.append({
            "id": f"GB-{created.year}-{i:08x}", "type": type_, "state": state,
            "direction": "incoming" if i % 3 else "outgoing", "partner_id": partners[i % len(partners)],
            "fields": fields[type_], "deadline_profiles": None, "assessment": dict(DEFAULT_ASSESSMENT),
            "review": None, "decision": {"outcome": "allow", "reviewer_required": False, "reasons": [],
                                         "conditions": [], "moment": "receipt",
                                         "at": created.isoformat().replace("+00:00", "Z")},
            "preservation": preservation, "response": None, "remote_id": None,
            "started_at": created if state != "draft" else None, "created_by": "bench:seed",
            "created_at": created, "updated_at": created,
        })
    return out


def seed(node: Node, n_requests: int, n_entries: int) -> list[str]:
    """Bulk rows: the requests, then the ledger (each request's own steps first). Returns the
    ids of a few requests to open."""
    rng = random.Random(15)
    now = node.now()
    partners = [m["id"] for m in members.list_members(node)]
    made = _requests(n_requests, now, partners, rng)
    t0 = time.perf_counter()
    with node.engine.begin() as conn:
        for start in range(0, len(made), 5_000):
            conn.execute(requests_t.insert(), made[start:start + 5_000])
    print(f"seeded {len(made):,} requests in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    with node.engine.begin() as conn:
        head_seq, _ = ledger_store.head(conn)
        columns = "seq, ts, actor, action, subject, decision, reasons, payload, payload_digest, prev_hash, hash"
        raw: Any = conn.connection.driver_connection

        def rows() -> Any:
            seq = head_seq
            per_request = max(1, min(len(STEPS), n_entries // max(1, len(made)) // 2))
            for r in made:  # each request's timeline
                for action in STEPS[:per_request]:
                    seq += 1
                    yield _entry(seq, r["created_at"], "bench:seed", action, f"request:{r['id']}", "{}")
            while seq < head_seq + n_entries:  # and everything else that happens on a node
                seq += 1
                yield _entry(seq, now, f"user:person{seq % 200}", f"demo.action{seq % 30}",
                             f"note:{seq % 100_000}", '{"n": 1}')

        if node.engine.dialect.name == "sqlite":
            it = rows()
            while batch := [row for _, row in zip(range(50_000), it, strict=False)]:
                raw.executemany(f"INSERT INTO ledger_entries ({columns}) VALUES ({', '.join('?' * 11)})", batch)
        else:
            with raw.cursor().copy(f"COPY ledger_entries ({columns}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
    with node.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
        total = conn.execute(select(func.count()).select_from(requests_t)).scalar_one()
        print(f"seeded {n_entries:,} ledger entries in {time.perf_counter() - t0:.1f} s "
              f"({total:,} requests in the store)", flush=True)
    return [r["id"] for r in made[:: max(1, len(made) // 20)]]


def _entry(seq: int, ts: datetime, actor: str, action: str, subject: str, payload: str) -> tuple[Any, ...]:
    digest = hashlib.sha256(str(seq).encode()).hexdigest()
    return (seq, ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), actor, action, subject, None, "[]",
            payload, "sha256:" + digest, digest, digest)


def _serve(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    hanoi = str(Path(sys.executable).parent / "hanoi")
    log = (home.parent / "serve.log").open("ab")
    proc = subprocess.Popen([hanoi, "--home", str(home), "serve", "--port", str(port), "--no-worker"],
                            stdout=subprocess.DEVNULL, stderr=log, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"hanoi serve did not start: {(home.parent / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("hanoi serve did not answer within 120 s")


def _signed_in(url: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, timeout=60)
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', client.get("/console/sign-in").text)
    assert token
    r = client.post("/console/sign-in", data={"username": "bob", "password": PASSWORD, "csrf_token": token.group(1)})
    assert r.status_code == 303, r.text
    page = client.get("/console/desk")
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert token
    return client, token.group(1)


def pages(client: httpx.Client, ids: list[str]) -> dict[str, tuple[str, str, dict[str, str] | None]]:
    """name: (method, path, form): every desk page, a deep keyset page found by following
    'Older requests' ten pages down."""
    url = "/console/desk?box=inbox"
    for _ in range(10):
        found = re.search(r'href="(/console/desk\?[^"]*after=[^"]*)" rel="next"', client.get(url).text)
        if not found:
            break
        url = found.group(1).replace("&amp;", "&")
    return {
        "desk (inbox and board)": ("GET", "/console/desk", None),
        "desk outbox": ("GET", "/console/desk?box=outbox", None),
        "desk filtered (type, partner, state)": (
            "GET", "/console/desk?box=inbox&type=stored-data&partner=fr-pharos&state=executed", None),
        "desk filtered by due (overdue)": ("GET", "/console/desk?box=inbox&due=overdue", None),
        "desk, 11th page": ("GET", url, None),
        "a request's page": ("GET", f"/console/requests/{ids[len(ids) // 2]}", None),
        "compose (template)": ("GET", "/console/compose?type=stored-data&template=1", None),
        "compose check (live validation)": ("POST", "/console/compose/check",
                                            {"type": "preservation", "f.offence_code": "UNCC-13"}),
        "partners": ("GET", "/console/partners", None),
        "a partner": ("GET", "/console/partners/fr-pharos", None),
    }


def measure(client: httpx.Client, token: str, plan: dict[str, tuple[str, str, dict[str, str] | None]],
            rounds: int) -> list[tuple[str, float, float]]:
    out = []
    for name, (method, path, form) in plan.items():
        times = []
        for i in range(rounds + 1):
            t0 = time.perf_counter()
            r = client.request(method, path, data=form, headers={"X-CSRF-Token": token} if form else None)
            elapsed = (time.perf_counter() - t0) * 1000
            if r.status_code != 200:
                raise SystemExit(f"{name}: {r.status_code} {r.text[:300]}")
            if i:  # the first fetch warms caches
                times.append(elapsed)
        times.sort()
        p95 = times[-(-95 * len(times) // 100) - 1]  # nearest rank
        out.append((name, statistics.median(times), p95))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--database-url", default=None, help="default: SQLite in the node's home")
    parser.add_argument("--quick", action="store_true", help="2,000 requests, 20,000 entries, 5 rounds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.entries, args.rounds = 2_000, 20_000, 5
    with tempfile.TemporaryDirectory(prefix="hanoi-bench-console-") as tmp:
        home = Path(tmp) / "gb-node"
        node, _ = init_node(home, name="UK Central Authority", country="GB", kind="central-authority",
                            database_url_=args.database_url)
        users.add_user(node, "bench:setup", username="bob", role="caseworker", password=PASSWORD)
        for spec in sample_partners():
            members.add(node, "bench:setup", spec)
        ids = seed(node, args.requests, args.entries)
        backend = node.engine.dialect.name
        node.close()
        proc, url = _serve(home)
        try:
            client, token = _signed_in(url)
            try:
                results = measure(client, token, pages(client, ids), args.rounds)
            finally:
                client.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    print(f"\n{args.requests:,} requests, {args.entries:,} ledger entries, {backend}, "
          f"{args.rounds} fetches per page (after one warm-up)\n")
    print(f"{'page':40} {'median ms':>10} {'p95 ms':>10}  target < {TARGET_MS:.0f} ms")
    for name, median, p95 in results:
        print(f"{name:40} {median:10.1f} {p95:10.1f}  {'ok' if p95 < TARGET_MS else 'OVER'}")
    if args.json:
        print(json.dumps([{"page": n, "median_ms": round(m, 1), "p95_ms": round(p, 1)} for n, m, p in results]))


if __name__ == "__main__":
    main()
