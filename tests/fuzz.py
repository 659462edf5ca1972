"""Schemathesis against a live node: the adversary kept in the suite (issue 11 item 8).

A fresh node is created in a temporary home, stocked (two partners, a request, a hash list,
signals, a token) and served by a real `hanoi serve` on a free loopback port; each path
parameter takes one of the stocked ids half of the time, so requests reach past "not found".
Schemathesis then runs every phase (examples, coverage, fuzzing, stateful) with every check
against its OpenAPI document, with a fixed seed and a fixed number of examples per operation,
twice:

- the whole API with an admin token (every operation reachable);
- the federation endpoints (`/federation/v1/...`) with no token at all, as a stranger on the
  network sees them.

Any failure fails the run: a 5xx, a response that does not match its documented status, media
type, headers or schema, a schema-invalid request accepted, a schema-valid one refused with a
status the API never uses for it. ``tests/fuzz.toml`` holds the one tuning, and says why.

    .venv/bin/python -m tests.fuzz                  # what `make fuzz` runs: 100 examples, seed 1
    .venv/bin/python -m tests.fuzz --examples 5     # quick; tests/node/test_fuzz.py runs this
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).with_name("fuzz.toml")
SCHEMATHESIS = str(Path(sys.executable).parent / "st")


@dataclass
class Pass:
    """One schemathesis run: what it tested and what it found."""

    name: str
    operations: int = 0
    cases: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    exit_code: int = 0
    seconds: float = 0.0
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.failures and not self.errors

    def summary(self) -> str:
        found = ", ".join(f"{f['code']} {f['title']}: {f['count']} ({', '.join(f['operations'][:6])}"
                          f"{'...' if len(f['operations']) > 6 else ''})" for f in self.failures)
        errors = f"; {len(self.errors)} error(s)" if self.errors else ""
        return (f"{self.name}: {self.operations} operations, {self.cases} cases in {self.seconds:.0f} s: "
                f"{found or 'no failures'}{errors}")


def _node(home: Path) -> tuple[str, dict[str, list[Any]]]:
    """Create a node in ``home`` and stock it (partners, a request, a hash list, signals, a
    token), so that generated requests reach past "not found"; return its first admin token
    and the ids of what it holds, by path parameter name."""
    from hanoi.bootstrap import init_node
    from hanoi.media import service as media_service
    from hanoi.node import members, tokens
    from hanoi.requests import service as requests_service
    from hanoi.requests.samples import PRESERVATION_FIELDS
    from hanoi.signals import service as signals_service
    from hanoi.signals import taxii
    from tests.node.helpers import GOOD_ASSESSMENT, member_body

    node, admin = init_node(home, name="Fuzz target", country="GB", kind="central-authority")
    try:
        partner = members.add(node, "fuzz", member_body(id="fr-pharos", assessment=GOOD_ASSESSMENT))
        members.add(node, "fuzz", member_body(id="qz-ministry", name="Ministry", country="QZ",
                                              state_status="non-party",
                                              assessment={**GOOD_ASSESSMENT, "standing": "suspended"}))
        request = requests_service.create(node, "fuzz", {"type": "preservation", "partner": "fr-pharos",
                                                 "fields": PRESERVATION_FIELDS})
        hash_list = media_service.create_list(node, "fuzz", {"name": "NCII", "category": "ncii"})
        media_service.submit(node, "fuzz", hash_list["id"],
                             [{"md5": f"{i:032x}", "case_ref": "C-1"} for i in range(1, 4)], case_ref="C-1")
        hash_ids = [h["id"] for h in media_service.list_hashes(node, hash_list["id"])]
        reported = signals_service.report(node, "fuzz", None, [
            {"type": "url", "value": "http://login-bank.example/verify", "tlp": "AMBER", "abuse_type": "UNCC-13"},
            {"type": "domain", "value": "login-bank.example", "tlp": "GREEN", "abuse_type": "UNCC-13"}])
        _, token = tokens.create(node, "fuzz", name="analyst", role="analyst")
        collections = [c.id for c in taxii.collections_for(node, tokens.authenticate(node, admin))]
    finally:
        node.close()
    return admin, {
        "member_id": [partner["id"], "qz-ministry"], "peer_id": [partner["id"]],
        "kid": [k["kid"] for k in partner["keys"]], "request_id": [request["id"]],
        "list_id": [hash_list["id"]], "hash_id": hash_ids,
        "report_id": [r["report_id"] for r in reported.get("reports", [])] or [1],
        "value": ["http://login-bank.example/verify", "login-bank.example"],
        "token_id": [token["id"]], "cid": collections,
    }


def _config(workdir: Path, known: dict[str, list[Any]]) -> Path:
    """``fuzz.toml`` plus the stocked ids as dictionaries: each path parameter takes a known
    value half of the time, a generated one otherwise."""
    lines = [CONFIG.read_text(), "", "# The node's stock (written by tests/fuzz.py)."]
    for name, values in known.items():
        if values:
            lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name, v in known.items() if v]
    path = workdir / "fuzz.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _schemathesis(name: str, url: str, report_dir: Path, *, config: Path, examples: int, seed: int,
                  args: list[str]) -> Pass:
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [SCHEMATHESIS, "--config-file", str(config), "run", f"{url}/openapi.json",
               "--checks", "all", "--max-examples", str(examples), "--seed", str(seed),
               "--workers", "1", "--generation-database", "none", "--no-color",
               "--report", "json", "--report-dir", str(report_dir), *args]
    started = time.monotonic()
    # Run in the report folder: schemathesis keeps a cache of failing cases in its working
    # directory, which would make one run depend on the last.
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=report_dir)
    result = Pass(name, exit_code=done.returncode, seconds=time.monotonic() - started,
                  output=done.stdout + done.stderr)
    reports = sorted(report_dir.glob("*.json"))
    if not reports:
        result.errors.append(f"no report; schemathesis said:\n{result.output[-3000:]}")
        return result
    report = json.loads(reports[-1].read_text())
    result.operations = int(report["operations"]["tested"])
    result.cases = int(report["test_cases"]["generated"])
    result.failures = list(report["failures"])
    result.errors = list(report["errors"])
    return result


def fuzz(workdir: Path, *, examples: int, seed: int) -> list[Pass]:
    """Create and serve a node under ``workdir``, run both passes, stop the node."""
    from tests.node.helpers import ServerProcess

    home = workdir / "node"
    token, known = _node(home)
    config = _config(workdir, known)
    # No feed runner, and the run operation left out: a feed names a URL the node then fetches,
    # and the fuzzer's URLs must never be fetched from this machine.
    server = ServerProcess(home=home, args=("--no-feeds",))
    server.start()
    try:
        return [
            _schemathesis("API, admin token", server.url, workdir / "api", config=config, examples=examples,
                          seed=seed, args=["--header", f"Authorization: Bearer {token}",
                                             "--exclude-path-regex", r"^/api/v1/feeds/[^/]+/run$"]),
            _schemathesis("federation, no token", server.url, workdir / "federation", config=config,
                          examples=examples, seed=seed, args=["--include-path-regex", "^/federation/"]),
        ]
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100, help="examples per operation (default 100)")
    parser.add_argument("--seed", type=int, default=1, help="the seed (default 1)")
    parser.add_argument("--keep", type=Path, help="keep the node and the reports in this folder")
    opts = parser.parse_args(argv)
    if opts.keep:
        opts.keep.mkdir(parents=True, exist_ok=True)
        passes = fuzz(opts.keep, examples=opts.examples, seed=opts.seed)
    else:
        with tempfile.TemporaryDirectory(prefix="hanoi-fuzz-") as tmp:
            passes = fuzz(Path(tmp), examples=opts.examples, seed=opts.seed)
    for p in passes:
        print(p.summary())
        if not p.ok:
            print(p.output[-20_000:])
    total = sum(p.cases for p in passes)
    failed = [p for p in passes if not p.ok]
    print(f"fuzz: {total:,} cases, seed {opts.seed}, {opts.examples} examples per operation: "
          + ("FAILED" if failed else "no 5xx, no schema violation"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
