"""Benchmark: reading a large STIX 2.1 bundle with our parser against ``stix2.parse``.

One bundle of N indicators (a realistic mix: URLs, domains, IPv4 addresses, e-mail addresses,
SHA-256 hashes; TLP 2.0 markings, confidence, labels, an identity) is generated in memory and
read twice, in the same process, from the same bytes:

* **ours**: ``hanoi.signals.formats.stix.parse_bundle``: JSON, the checks, the pattern
  parser, TLP resolution and the normalisation of every value (the reports are ready to gate
  and store);
* **stix2**: ``stix2.parse(bundle, allow_custom=True)``: building the library's objects only,
  nothing normalised.

The target is ours at least 20x faster than stix2 at 100k indicators. Both sides run under
the same rules: the garbage collector off during the call (our parser turns it off while it
builds its reports, so stix2 gets the same), one warm-up call each, then ``repeats`` rounds
interleaved (ours, stix2, ours, stix2, ...); the table reports the median and the range, and the
speed-up is the ratio of the medians. ``ingest(bundle)``
is the function to extend (or wrap) to time gating and storing too; the store's own benchmark
does that end to end.

    .venv/bin/python bench/stix_ingest.py                 # 100k indicators, 3 rounds (stix2: minutes a round)
    .venv/bin/python bench/stix_ingest.py --n 10000       # quick
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from hanoi.core.tlp import TLP
from hanoi.signals.formats import Report
from hanoi.signals.formats.stix import parse_bundle

_TLDS = ("com", "net", "org", "co.uk", "de", "fr", "info", "xyz", "top", "online")
_WORDS = ("login", "secure", "verify", "account", "bank", "pay", "update", "wallet", "support", "billing")


def _value(rng: random.Random, i: int) -> tuple[str, str]:
    word = rng.choice(_WORDS)
    host = f"{word}-{rng.choice(_WORDS)}{i}.{rng.choice(_TLDS)}"
    roll = rng.random()
    if roll < 0.40:
        return "url:value", f"https://{host}/{word}/index.php?id={rng.getrandbits(32)}"
    if roll < 0.60:
        return "domain-name:value", host
    if roll < 0.75:
        octets = (rng.randint(1, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
        return "ipv4-addr:value", ".".join(map(str, octets))
    if roll < 0.85:
        return "email-addr:value", f"{word}.{i}@{host}"
    return "file:hashes.'SHA-256'", f"{rng.getrandbits(256):064x}"


def make_bundle(n: int, seed: int = 20251025) -> bytes:
    """A STIX 2.1 bundle of ``n`` indicators (and the identity and markings they refer to)."""
    rng = random.Random(seed)
    identity = f"identity--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
    levels = [TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED]
    objects: list[dict[str, Any]] = [
        {"type": "identity", "spec_version": "2.1", "id": identity, "created": "2025-01-01T00:00:00.000Z",
         "modified": "2025-01-01T00:00:00.000Z", "name": "CERT-Bench", "identity_class": "organization"},
        *(level.stix_marking_definition() for level in levels),
    ]
    for i in range(n):
        path, value = _value(rng, i)
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        objects.append({
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "created_by_ref": identity,
            "created": "2025-05-01T10:00:00.000Z",
            "modified": "2025-05-01T10:00:00.000Z",
            "name": f"Fraud indicator {i}",
            "description": "Seen in a payment-fraud campaign.",
            "indicator_types": ["malicious-activity"],
            "pattern": f"[{path} = '{escaped}']",
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": "2025-05-01T10:00:00Z",
            "confidence": rng.choice((30, 60, 85)),
            "labels": ["fraud", rng.choice(("phishing", "investment-scam", "malware"))],
            "object_marking_refs": [levels[i % 5].stix_id],
        })
    bundle = {"type": "bundle", "id": f"bundle--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
              "objects": objects}
    return json.dumps(bundle).encode("utf-8")


def ingest(bundle: bytes) -> list[Report]:
    """Our side: bytes -> normalised, TLP-resolved reports (a bad object would be a reject)."""
    reports, rejects = parse_bundle(bundle, best_effort=True)
    if rejects:
        raise SystemExit(f"unexpected rejects in a generated bundle: {rejects[:3]}")
    return reports


def stix2_parse(bundle: bytes) -> int:
    """The baseline: the stix2 library building its objects from the same bytes."""
    import stix2

    parsed = stix2.parse(bundle.decode("utf-8"), allow_custom=True)
    return len(parsed.objects)


def _time(fn: Callable[[bytes], Any], bundle: bytes) -> tuple[float, float, Any]:
    """One call with the collector off, as our parser runs (the same rule for both sides)."""
    gc.collect()
    collecting = gc.isenabled()
    gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(bundle)
        return time.perf_counter() - wall, time.process_time() - cpu, out
    finally:
        if collecting:
            gc.enable()


def _spread(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def run(n: int = 100_000, *, repeats: int = 3, with_stix2: bool = True, warmup_n: int = 1000) -> dict[str, Any]:
    """Time both readers on one ``n``-indicator bundle: a warm-up call each on a small bundle,
    then ``repeats`` interleaved rounds; medians and ranges of wall and CPU seconds."""
    bundle = make_bundle(n)
    small = make_bundle(min(n, warmup_n), seed=1)
    sides: dict[str, Callable[[bytes], Any]] = {"ours": ingest}
    if with_stix2:
        sides["stix2"] = stix2_parse
    for fn in sides.values():
        _time(fn, small)
    walls: dict[str, list[float]] = {side: [] for side in sides}
    cpus: dict[str, list[float]] = {side: [] for side in sides}
    reports = 0
    for _ in range(repeats):
        for side, fn in sides.items():
            wall, cpu, out = _time(fn, bundle)
            walls[side].append(wall)
            cpus[side].append(cpu)
            if side == "ours":
                reports = len(out)
    result: dict[str, Any] = {"indicators": n, "bundle_mb": round(len(bundle) / 1e6, 1), "repeats": repeats,
                              "reports": reports}
    for side in sides:
        result[side] = {"wall": _spread(walls[side]), "cpu": _spread(cpus[side]),
                        "per_s": round(n / statistics.median(walls[side]))}
    if with_stix2:
        result["speedup"] = round(result["stix2"]["wall"]["median"] / result["ours"]["wall"]["median"], 1)
        result["speedup_cpu"] = round(result["stix2"]["cpu"]["median"] / result["ours"]["cpu"]["median"], 1)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="indicators in the bundle (default 100000)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds of both sides (default 3)")
    ap.add_argument("--no-stix2", action="store_true", help="time our parser only")
    a = ap.parse_args(argv)
    print(f"STIX ingest benchmark: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}")
    r = run(a.n, repeats=a.repeats, with_stix2=not a.no_stix2)
    print(f"bundle: {r['indicators']:,} indicators, {r['bundle_mb']} MB; {r['repeats']} interleaved rounds, "
          "GC off during each call on both sides, one warm-up each")
    labels = {"ours": "parse, check, normalise, TLP", "stix2": "stix2.parse, allow_custom=True"}
    for side in ("ours", "stix2"):
        if side in r:
            w, c = r[side]["wall"], r[side]["cpu"]
            print(f"{side:6}: wall median {w['median']:7.2f} s (range {w['min']:.2f}-{w['max']:.2f}), "
                  f"CPU median {c['median']:7.2f} s, {r[side]['per_s']:>9,} indicators/s ({labels[side]})")
    if "speedup" in r:
        verdict = "meets" if r["speedup"] >= 20 else "MISSES"
        print(f"speedup: {r['speedup']}x wall, {r['speedup_cpu']}x CPU, medians ({verdict} the 20x target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
