"""Benchmark: signal lookups in process and over HTTP, and the index's memory at 10M values.

1. In process: ``SignalIndex.lookup`` (one ``Match`` object per hit, what the API uses) and
   ``SignalIndex.lookup_columns`` (numpy columns, for bulk matchers) on already normalised
   values (a mix of URLs, domains, IPv4 addresses and SHA-256 hashes), as node staff and as a
   partner in good standing (every hit goes through the gate), at 1%, 10% and 50% hits.
2. Over HTTP: a node on SQLite with ``--http-values`` reports, served by uvicorn on loopback;
   ``POST /api/v1/signals/lookup`` in batches of 10,000 values (half stored, half not; a
   partner's answers with matches are ledgered), from one client, as staff and as a partner.
3. Memory: a child process builds an index of ``--memory-values`` values (one report each) and
   reports its RSS growth and build time.

    .venv/bin/python bench/signals.py                       # ~6 min on 2 shared cores
    .venv/bin/python bench/signals.py --memory-values 1000000 --http-values 20000   # quick
    .venv/bin/python bench/signals.py --markdown /tmp/bench-signals.md
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from hanoi.core.tlp import TLP
from hanoi.signals.gate import Viewer
from hanoi.signals.index import IndexedReport, SignalIndex

MIX = (("url", 40), ("domain", 25), ("ipv4", 20), ("sha256", 15))
BATCH = 10_000


def value(type_name: str, i: int) -> str:
    """The i-th synthetic, already normalised value of a type (distinct for distinct i)."""
    if type_name == "url":
        return f"http://host{i % 50_000}.example-{i % 997}.com/path/{i:x}/index.php?id={i}"
    if type_name == "domain":
        return f"login-{i:x}.bank-{i % 991}.example.com"
    if type_name == "ipv4":
        return f"{10 + (i >> 24) % 200}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    return f"{(i * 2654435761) % 2**64:016x}{i:048x}"


def stored(n: int) -> Iterator[tuple[str, str]]:
    """``n`` stored values in the MIX proportions, interleaved."""
    cycle = [t for t, share in MIX for _ in range(share)]
    for i in range(n):
        yield cycle[i % 100], value(cycle[i % 100], i)


def queries(n_stored: int, n: int, hit_ratio: float) -> dict[str, list[str]]:
    """Queries grouped by type: a share of stored values, the rest never stored."""
    cycle = [t for t, share in MIX for _ in range(share)]
    out: dict[str, list[str]] = {t: [] for t, _ in MIX}
    step = max(1, int(1 / hit_ratio)) if hit_ratio > 0 else 0
    for k in range(n):
        if step and k % step == 0:
            i = (k * 7919) % n_stored
            t = cycle[i % 100]
            out[t].append(value(t, i))
        else:
            t = cycle[k % 100]
            out[t].append(value(t, n_stored * 4 + k))
    return out


def build(n: int) -> SignalIndex:
    idx = SignalIndex()
    add = idx.add
    for i, (t, v) in enumerate(stored(n), start=1):
        # A realistic spread: mostly GREEN from partners, some AMBER named, some RED.
        tlp = TLP.GREEN if i % 10 < 7 else TLP.AMBER if i % 10 < 9 else TLP.RED
        add(IndexedReport(i, i, t, v, f"member-{i % 40}", tlp, 50 + i % 50, False, True,
                          frozenset({"de-bka"}) if tlp is TLP.AMBER and i % 2 else frozenset()))
    for i in range(1, n - 3, max(1, n // 10_000)):  # some campaigns
        idx.link(i, i + 1, i)
    return idx


def rss_mb() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss) / 2**20


# --- 1. in process -------------------------------------------------------------------------------


def bench_in_process(n: int, n_queries: int, repeat: int) -> list[dict[str, Any]]:
    t0 = time.perf_counter()
    idx = build(n)
    build_s = time.perf_counter() - t0
    rows = []
    now = time.time()
    askers = {"staff": idx.asker(None), "partner": idx.asker(Viewer("de-bka", False, True))}
    for ratio in (0.01, 0.10, 0.50):
        qs = queries(n, n_queries, ratio)
        total = sum(len(v) for v in qs.values())
        for name, asker in askers.items():
            for api in ("lookup", "lookup_columns"):
                best = float("inf")
                hits = 0
                for _ in range(repeat):
                    t = time.perf_counter()
                    hits = 0
                    for type_name, vs in qs.items():
                        if api == "lookup":
                            hits += sum(1 for a in idx.lookup(type_name, vs, asker, now) if a is not None)
                        else:
                            hits += int(idx.lookup_columns(type_name, vs, asker, now).match.sum())
                    best = min(best, time.perf_counter() - t)
                rows.append({"stored": n, "asker": name, "api": api, "hit_ratio": ratio,
                             "queries": total, "answered_matches": hits,
                             "lookups_per_s": total / best, "build_s": build_s})
    return rows


# --- 2. memory at 10M (child process) --------------------------------------------------------------


def memory_child(n: int) -> None:
    before = rss_mb()
    t0 = time.perf_counter()
    idx = build(n)
    build_s = time.perf_counter() - t0
    after = rss_mb()
    now = time.time()
    qs = queries(n, 200_000, 0.01)
    asker = idx.asker(None)
    t = time.perf_counter()
    for type_name, vs in qs.items():
        idx.lookup(type_name, vs, asker, now)
    lookups = 200_000 / (time.perf_counter() - t)
    del qs
    print(json.dumps({"values": len(idx), "rss_mb": after - before, "peak_rss_mb": after,
                      "build_s": build_s, "lookups_per_s_1pct": lookups}))


def bench_memory(n: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--memory-child", str(n)], capture_output=True,
                         text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --- 3. over HTTP --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_http(n: int, rounds: int) -> list[dict[str, Any]]:
    from hanoi.bootstrap import init_node
    from hanoi.node import members, tokens
    from hanoi.signals import service

    home = Path(tempfile.mkdtemp(prefix="hanoi-bench-signals-")) / "node"
    node, admin = init_node(home, name="Bench", country="GB", kind="cert")
    members.add(node, "bench", {"id": "de-bka", "name": "BKA", "kind": "law-enforcement",
                                "country": "DE", "assessment": {
                                    "standing": "good", "assessor": "B", "findings": "ok",
                                    "articles": ["6"], "sources": ["bench"]}})
    partner, _ = tokens.create(node, "bench", name="partner", role="analyst", member_id="de-bka")
    t0 = time.perf_counter()
    items = [{"type": t, "value": v, "tlp": "GREEN", "abuse_type": "UNCC-13", "ref": f"line {i}"}
             for i, (t, v) in enumerate(stored(n), start=1)]
    drafts, rejects = service.validate(node, items)
    assert not rejects, rejects[:3]
    service.store(node, "bench", None, drafts)
    import_s = time.perf_counter() - t0
    node.close()
    # The server runs in its own process (as `hanoi serve` does), so the client's JSON work does
    # not share its interpreter lock.
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hanoi.api.app:app_from_env", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "HANOI_HOME": str(home)})
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.2)
    rows = []
    qs = queries(n, BATCH * rounds, 0.5)
    flat = [v for vs in qs.values() for v in vs]
    batches = [flat[i:i + BATCH] for i in range(0, len(flat), BATCH)]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=120) as client:
            for name, token in (("staff", admin), ("partner", partner)):
                headers = {"Authorization": f"Bearer {token}"}
                # The first lookup builds the server's index from the store (as on start-up).
                client.post("/signals/lookup", json={"values": batches[0][:100]}, headers=headers)
                t = time.perf_counter()
                matched = 0
                for b in batches:
                    # The client encodes and decodes with orjson too: it shares the two cores
                    # with the server, and what is measured is the server.
                    r = client.post("/signals/lookup", content=orjson.dumps({"values": b}),
                                    headers={**headers, "content-type": "application/json"})
                    r.raise_for_status()
                    matched += orjson.loads(r.content)["matches"]
                dt = time.perf_counter() - t
                rows.append({"stored": n, "asker": name, "batches": len(batches), "batch": BATCH,
                             "values": len(flat), "matched": matched, "values_per_s": len(flat) / dt,
                             "import_s": import_s})
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rows


# --- report ---------------------------------------------------------------------------------------


def markdown(inproc: list[dict[str, Any]], http: list[dict[str, Any]], mem: dict[str, Any] | None,
             args: argparse.Namespace) -> str:
    load = os.getloadavg()
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average at the end {load[0]:.1f} / {load[1]:.1f}.",
        "",
        "| stored | asker | call | hits | matches answered | lookups/s (in process) |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for r in inproc:
        lines.append(f"| {r['stored']:,} | {r['asker']} | `{r['api']}` | {r['hit_ratio']:.0%} | "
                     f"{r['answered_matches']:,} | {r['lookups_per_s']:,.0f} |")
    if http:
        lines += ["", "| stored | asker | batches x values | matched | values/s over HTTP |",
                  "|---:|---|---:|---:|---:|"]
        for r in http:
            lines.append(f"| {r['stored']:,} | {r['asker']} | {r['batches']} x {r['batch']:,} | "
                         f"{r['matched']:,} | {r['values_per_s']:,.0f} |")
        lines.append(f"\nImport of {http[0]['stored']:,} reports through validate + store: "
                     f"{http[0]['import_s']:.1f} s.")
    if mem:
        lines += ["", f"Memory: {mem['values']:,} values (one report each) add "
                      f"{mem['rss_mb']:,.0f} MB RSS; built in {mem['build_s']:.0f} s; "
                      f"{mem['lookups_per_s_1pct']:,.0f} lookups/s at 1% hits on it."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", type=int, default=1_000_000,
                    help="index size for in-process lookups (0 skips them)")
    ap.add_argument("--queries", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-values", type=int, default=10_000_000, help="0 skips the memory run")
    ap.add_argument("--http-values", type=int, default=100_000, help="0 skips the HTTP run")
    ap.add_argument("--http-rounds", type=int, default=10, help="batches of 10,000 per asker")
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    inproc = bench_in_process(args.values, args.queries, args.repeat) if args.values else []
    for r in inproc:
        print(f"in process  {r['stored']:>11,} stored  {r['asker']:<8} {r['api']:<15} {r['hit_ratio']:>4.0%} hits  "
              f"{r['lookups_per_s']:>12,.0f} lookups/s", flush=True)
    http = bench_http(args.http_values, args.http_rounds) if args.http_values else []
    for r in http:
        print(f"over HTTP   {r['stored']:>11,} stored  {r['asker']:<8} {r['batches']} x {r['batch']:,}  "
              f"{r['values_per_s']:>12,.0f} values/s ({r['matched']:,} matched)", flush=True)
    mem = bench_memory(args.memory_values) if args.memory_values else None
    if mem:
        print(f"memory      {mem['values']:>11,} values  +{mem['rss_mb']:,.0f} MB RSS  "
              f"build {mem['build_s']:.0f} s  {mem['lookups_per_s_1pct']:,.0f} lookups/s (1% hits)")
    if args.markdown:
        args.markdown.write_text(markdown(inproc, http, mem, args))


if __name__ == "__main__":
    main()
