"""Benchmark: private lookups (prefixes, filters) side by side with the plain lookup, one run.

1. Over HTTP, against one node holding ``--size`` reports (SQLite; 70% GREEN, 20% AMBER naming
   the partner, 10% RED; uvicorn in its own process on loopback), as a partner, in batches of
   10,000 typed values at ``--hits`` (default 1% and 50%):
   - **plain**: ``POST /api/v1/signals/lookup`` with the values (they leave in clear);
   - **prefix**: ``hanoi.private_lookup.PrivateLookup.check``: the client hashes each value,
     sends the distinct prefixes (``POST /api/v1/signals/prefixes``), compares the padded answer
     locally, then looks up only the values that matched (for their reports). The client's
     hashing is inside the time.
2. In process, the filter: built from the digests a partner may see (the node's own code), its
   size, bytes a value and false-positive rate measured on 1,000,000 digests not in it; the
   local check rate (``contains_words`` over numpy digests; and the SHA-256 of values first).
3. A filter of ``--filter-size`` (default 10,000,000) random digests: build time, size, measured
   false-positive rate, check rate.

    .venv/bin/python bench/private_lookup.py --size 1000000 --markdown /tmp/bench-private.md
    .venv/bin/python bench/private_lookup.py --size 10000000      # the goal's size (long import)
    .venv/bin/python bench/private_lookup.py --size 3000 --rounds 1 --filter-size 20000   # smoke
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from hanoi.core import prefixes as P
from hanoi.private_lookup import PrivateLookup, contains_words, digest

BATCH = 10_000
TYPES = ("url", "domain", "ipv4")


def value(type_name: str, i: int) -> str:
    """The i-th synthetic, already normalised value of a type (distinct for distinct i)."""
    if type_name == "url":
        return f"http://host{i % 50_000}.example-{i % 997}.com/path/{i:x}/index.php?id={i}"
    if type_name == "domain":
        return f"login-{i:x}.bank-{i % 991}.example.com"
    return f"{10 + (i >> 24) % 200}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


def stored(n: int) -> Iterator[tuple[str, str]]:
    for i in range(n):
        yield TYPES[i % 3], value(TYPES[i % 3], i)


def tlp_of(i: int) -> tuple[str, list[str] | None]:
    r = i % 10
    if r < 7:
        return "GREEN", None
    if r < 9:
        return "AMBER", ["de-bka"]
    return "RED", None


def queries(n_stored: int, n: int, hits: float, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` typed values, a share ``hits`` of them stored and visible to the partner (GREEN)."""
    rng = np.random.default_rng(seed)
    out = []
    for j in range(n):
        if rng.random() < hits:
            i = int(rng.integers(0, n_stored // 10)) * 10 + int(rng.integers(0, 7))  # a GREEN one
            i = min(i, n_stored - 1) if n_stored > 10 else 0
        else:
            i = n_stored + 1_000_000 + j * 3 + int(rng.integers(0, 3))
        out.append((TYPES[i % 3], value(TYPES[i % 3], i)))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_node(n: int) -> tuple[Path, str, float]:
    from hanoi.bootstrap import init_node
    from hanoi.node import members, tokens
    from hanoi.signals import service

    home = Path(tempfile.mkdtemp(prefix="hanoi-bench-private-")) / "node"
    node, _ = init_node(home, name="Bench", country="GB", kind="cert")
    members.add(node, "bench", {"id": "de-bka", "name": "BKA", "kind": "law-enforcement",
                                "country": "DE", "assessment": {
                                    "standing": "good", "assessor": "B", "findings": "ok",
                                    "articles": ["6"], "sources": ["bench"]}})
    partner, _ = tokens.create(node, "bench", name="partner", role="platform", member_id="de-bka")
    t0 = time.perf_counter()
    # The first 10,000 reports through the service (validated, ledgered); the rest straight into
    # the tables, as the service would have written them: this benchmark is about lookups, and
    # the service stores ~1,250 reports/s on this machine (10M would take over two hours).
    chunk: list[dict[str, Any]] = []
    for i, (t, v) in enumerate(stored(min(n, BATCH))):
        tlp, names = tlp_of(i)
        item: dict[str, Any] = {"type": t, "value": v, "tlp": tlp, "abuse_type": "UNCC-13"}
        if names:
            item["recipients"] = names
        chunk.append(item)
    drafts, rejects = service.validate(node, chunk)
    assert not rejects, rejects[:3]
    service.store(node, "bench", None, drafts)
    if n > BATCH:
        bulk_store(node, BATCH, n, t0)
    node.close()
    return home, partner, time.perf_counter() - t0


def bulk_store(node: Any, start: int, n: int, t0: float) -> None:
    from hanoi.store.tables import signal_reports, signals

    now = node.now()
    with node.engine.begin() as conn:
        base_sig = conn.execute(signals.select().with_only_columns(signals.c.id).order_by(
            signals.c.id.desc()).limit(1)).scalar() or 0
        base_rep = conn.execute(signal_reports.select().with_only_columns(signal_reports.c.id).order_by(
            signal_reports.c.id.desc()).limit(1)).scalar() or 0
    step = 50_000
    for lo in range(start, n, step):
        sig_rows, rep_rows = [], []
        for i in range(lo, min(n, lo + step)):
            t = TYPES[i % 3]
            v = value(t, i)
            tlp, names = tlp_of(i)
            sid = base_sig + 1 + i - start
            sig_rows.append({"id": sid, "type": t, "value": v, "first_seen": now, "last_seen": now,
                             "created_at": now,
                             "digest": hashlib.sha256(f"{t}\0{v}".encode()).hexdigest()})
            rep_rows.append({"id": base_rep + 1 + i - start, "signal_id": sid, "source": node.node_id,
                             "origin": "local", "abuse_type": "UNCC-13", "confidence": 50,
                             "first_seen": now, "last_seen": now, "tlp": tlp, "tags": [],
                             "conditions": "", "recipients": names or [], "named": [], "consent": False,
                             "reported_by": "bench", "reported_at": now})
        with node.engine.begin() as conn:
            conn.execute(signals.insert(), sig_rows)
            conn.execute(signal_reports.insert(), rep_rows)
        if (lo + step) % 1_000_000 == 0:
            print(f"  stored {lo + step:,} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def bench_http(home: Path, partner: str, n: int, rounds: int, hit_rates: Sequence[float]) -> list[dict[str, Any]]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hanoi.api.app:app_from_env", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "HANOI_HOME": str(home)})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{base}/api/v1/health", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.2)
    rows = []
    headers = {"Authorization": f"Bearer {partner}", "content-type": "application/json"}
    try:
        with httpx.Client(base_url=base, timeout=600) as http, PrivateLookup(client=http, token=partner) as pl:
            t = time.perf_counter()
            params = pl.params()  # builds the server's index and digests from the store (start-up)
            warm_s = time.perf_counter() - t
            for hits in hit_rates:
                qs = queries(n, BATCH * rounds, hits)
                batches = [qs[i:i + BATCH] for i in range(0, len(qs), BATCH)]
                t = time.perf_counter()
                plain = 0
                for b in batches:
                    r = http.post("/api/v1/signals/lookup", headers=headers, content=orjson.dumps(
                        {"values": [{"type": ty, "value": v} for ty, v in b]}))
                    r.raise_for_status()
                    plain += orjson.loads(r.content)["matches"]
                plain_s = time.perf_counter() - t
                t = time.perf_counter()
                private = 0
                asked_before = pl.asked
                for b in batches:
                    private += sum(x is not None for x in pl.check(b))
                private_s = time.perf_counter() - t
                assert private == plain, (private, plain)
                rows.append({"stored": n, "hits": hits, "values": len(qs), "matched": plain,
                             "plain_per_s": len(qs) / plain_s, "private_per_s": len(qs) / private_s,
                             "ratio": plain_s / private_s, "bits": params["bits"],
                             "prefixes": pl.asked - asked_before, "warm_s": warm_s})
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rows


def check_rate(bits: bytes, m: int, digests: np.ndarray, repeat: int = 3) -> tuple[float, float, float]:
    """Checks a second (wall, and per CPU second: the machine may be shared) over (n, 32)
    digests, and the share found (the FPR if none is in it)."""
    arr = np.frombuffer(bits, dtype=np.uint8)
    words = np.ascontiguousarray(digests).view("<u4").reshape(-1, 8)
    best = best_cpu = float("inf")
    found = 0
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        for start in range(0, len(words), 1 << 20):
            hit = contains_words(arr, m, P.BLOOM_HASHES, words[start:start + (1 << 20)])
            found += int(hit.sum())
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return len(words) / best, len(words) / max(best_cpu, 1e-9), found / repeat / max(len(words), 1)


def bench_filter(home: Path | None, n_random: int) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(11)
    outside = rng.integers(0, 256, size=(1_000_000, 32), dtype=np.uint8)
    if home is not None:
        from hanoi.bootstrap import open_node
        from hanoi.signals import private
        from hanoi.signals.service import Caller

        node = open_node(home)
        t = time.perf_counter()
        blob, header = private.filter_file(node, Caller("bench", "de-bka"))
        build_s = time.perf_counter() - t
        node.close()
        from hanoi.private_lookup import Filter

        f = Filter.parse(blob)
        rate, cpu_rate, fpr = check_rate(f.bits, f.m, outside)
        rows.append({"what": f"node, partner's view ({header['values']:,} of its values)",
                     "values": header["values"], "bytes": len(blob), "build_s": build_s,
                     "bytes_per_value": len(blob) / max(header["values"], 1), "fpr": fpr,
                     "checks_per_s": rate, "checks_per_cpu_s": cpu_rate})
    if n_random:
        digests = rng.integers(0, 256, size=(n_random, 32), dtype=np.uint8)
        m = P.bloom_size(n_random)
        t = time.perf_counter()
        bits = P.bloom_bits(digests, m)
        build_s = time.perf_counter() - t
        rate, cpu_rate, fpr = check_rate(bits, m, outside)
        in_rate, _, in_share = check_rate(bits, m, digests[:1_000_000])
        assert in_share == 1.0
        rows.append({"what": f"{n_random:,} random digests", "values": n_random, "bytes": len(bits),
                     "build_s": build_s, "bytes_per_value": len(bits) / n_random, "fpr": fpr,
                     "checks_per_s": rate, "checks_per_cpu_s": cpu_rate, "member_checks_per_s": in_rate})
    # Hashing values first (what a platform does per message value): SHA-256 in Python.
    vals = [value(TYPES[i % 3], i) for i in range(200_000)]
    t = time.perf_counter()
    ds = [digest(TYPES[i % 3], v) for i, v in enumerate(vals)]
    hash_rate = len(vals) / (time.perf_counter() - t)
    assert len(ds) == len(vals) and hashlib.sha256
    for r in rows:
        r["hash_per_s"] = hash_rate
    return rows


def markdown(http: list[dict[str, Any]], filters: list[dict[str, Any]], args: argparse.Namespace,
             import_s: float) -> str:
    out = [f"`{' '.join(sys.argv)}` on {platform.node()} ({os.cpu_count()} CPUs, load average "
           f"{os.getloadavg()[0]:.1f} at the end), "
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; import of {args.size:,} reports "
           f"{import_s:.0f} s.", "",
           "| stored | hits | values | matched | plain values/s | prefix values/s | prefix / plain | bits "
           "| prefixes sent |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in http:
        out.append(f"| {r['stored']:,} | {r['hits']:.0%} | {r['values']:,} | {r['matched']:,} | "
                   f"{r['plain_per_s']:,.0f} | {r['private_per_s']:,.0f} | {r['ratio']:.2f} | {r['bits']} | "
                   f"{r['prefixes']:,} |")
    out += ["", "| filter | values | bytes | bytes/value | FPR measured | build s | checks/s (not in it) "
            "| checks per CPU second | SHA-256 of values/s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in filters:
        out.append(f"| {r['what']} | {r['values']:,} | {r['bytes']:,} | {r['bytes_per_value']:.2f} | "
                   f"{r['fpr']:.3%} | {r['build_s']:.1f} | {r['checks_per_s']:,.0f} | {r['checks_per_cpu_s']:,.0f} | "
                   f"{r['hash_per_s']:,.0f} |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1_000_000, help="Reports stored on the node (0: no HTTP run)")
    ap.add_argument("--rounds", type=int, default=5, help="Batches of 10,000 values per hit rate")
    ap.add_argument("--hits", type=float, nargs="+", default=[0.01, 0.5], help="Hit rates to run")
    ap.add_argument("--filter-size", type=int, default=10_000_000, help="Random digests in the filter "
                                                                         "of part 3 (0 skips it)")
    ap.add_argument("--markdown", type=Path, help="Also write the tables here")
    ap.add_argument("--keep", action="store_true", help="Keep the node's home (printed) afterwards")
    args = ap.parse_args(argv)
    http: list[dict[str, Any]] = []
    home = None
    import_s = 0.0
    if args.size:
        home, partner, import_s = make_node(args.size)
        print(f"stored {args.size:,} reports in {import_s:.0f} s", file=sys.stderr)
        http = bench_http(home, partner, args.size, args.rounds, args.hits)
    try:
        filters = bench_filter(home, args.filter_size)
    finally:
        if home is not None:
            if args.keep:
                print(f"the node: {home}", file=sys.stderr)
            else:
                shutil.rmtree(home.parent, ignore_errors=True)
    text = markdown(http, filters, args, import_s)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return {"http": http, "filters": filters}


if __name__ == "__main__":
    main()
