"""Feeds: signals pulled on a schedule from a URL or a folder, with no one at the keyboard.

A feed names where (``url`` or ``path``), what (``format``: taxii, misp, stix, csv, urlhaus),
how often (``every``), and what to stamp on entries that do not say (``tlp``, ``offence``,
``source``: the member the signals come from). ``hanoi serve`` runs the feeds that are due
(``run_due``) under the database lease ``feeds`` (``hanoi.node.leases``): one runner across
processes and machines; ``hanoi feeds run NAME`` (from cron, or by hand) takes the same lease.

Each run starts from the feed's **checkpoint** and moves it only when what it fetched is stored:

- **taxii** (a TAXII 2.1 collection URL, e.g. another Hanoi node's ``/taxii2/api/collections/
  ID/``): pages of ``objects/`` with ``added_after`` and ``next``; after each page the
  checkpoint takes the page's ``X-TAXII-Date-Added-Last``, so a run cut short resumes there;
- **misp** (a MISP feed: a folder, or a URL serving ``manifest.json`` and ``<uuid>.json``):
  only events whose manifest ``timestamp`` is newer than the one imported;
- **stix**, **csv**, **urlhaus** (one document): over HTTP, ``If-None-Match`` /
  ``If-Modified-Since`` from the last answer's ``ETag`` / ``Last-Modified`` (a 304 imports
  nothing); from a file, its SHA-256 (unchanged: nothing imported).

Re-imported entries are found by their identity (``signals.service``: source, author, external
id, type, value) and updated, never duplicated; revocations, withdrawals and expiry in the
documents are honoured by the import itself. Every run is ledgered (``feed.run`` with its
counts, or ``feed.failed`` with the error); a failure is retried with exponential backoff and
full jitter, capped at the feed's period, and shown by ``hanoi feeds list``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import tempfile
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from hanoi.core.clock import isoformat
from hanoi.core.errors import Conflict, InvalidInput, NotFound, Problem, invalid
from hanoi.core.offences import offence as parse_offence
from hanoi.core.tlp import parse_tlp
from hanoi.federation.backoff import next_attempt_delay
from hanoi.node import leases, logs, metrics
from hanoi.node.runtime import Node
from hanoi.node.wings import Reading
from hanoi.signals import io
from hanoi.store.tables import feeds, members

FORMATS = ("taxii", "misp", "stix", "csv", "urlhaus")
LEASE = "feeds"
LEASE_SECONDS = 120.0
BACKOFF_BASE = 60.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_EVERY = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TAXII_MEDIA = "application/taxii+json;version=2.1"
PAGE = 1000
USER_AGENT = "hanoi-exchange-feeds/0.1"
log = logging.getLogger(__name__)


def parse_every(text: str) -> int:
    m = _EVERY.match(str(text).strip().lower())
    seconds = int(m.group(1)) * _UNITS[m.group(2)] if m else 0
    if not 60 <= seconds <= 30 * 86400:
        raise invalid("every", "a period from 1m to 30d, like 15m, 1h or 1d")
    return seconds


def _subject(name: str) -> str:
    return f"feed:{name}"


def _row(node: Node, name: str) -> dict[str, Any]:
    with node.read() as conn:
        row = conn.execute(select(feeds).where(feeds.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no feed named {name!r} (hanoi feeds list)", "name")
    return dict(row)


def shown(row: dict[str, Any]) -> dict[str, Any]:
    return {"name": row["name"], "url": row["url"], "path": row["path"], "format": row["format"],
            "every_seconds": row["every_seconds"], "tlp": row["tlp"], "offence": row["offence"],
            "source": row["source"], "token_env": row["token_env"], "paused": bool(row["paused"]),
            "checkpoint": row["checkpoint"],
            "next_run_at": isoformat(row["next_run_at"]),
            "last_run_at": isoformat(row["last_run_at"]) if row["last_run_at"] else None,
            "last_ok_at": isoformat(row["last_ok_at"]) if row["last_ok_at"] else None,
            "last_error": row["last_error"], "failures": row["failures"], "runs": row["runs"]}


def add(node: Node, actor: str, data: dict[str, Any]) -> dict[str, Any]:
    """A new feed (ledgered ``feed.added``); its first run is due at once."""
    problems: list[Problem] = []
    unknown = sorted(set(data) - {"name", "url", "path", "format", "every", "tlp", "offence", "source",
                                  "token_env"})
    problems += [Problem(k, "is not a field of a feed") for k in unknown]
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(Problem("name", "1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"))
    url, path = data.get("url"), data.get("path")
    if (url is None) == (path is None):
        problems.append(Problem("url", "give a url or a path, not both"))
    if url is not None and (not isinstance(url, str) or not re.match(r"^https?://\S+$", url)):
        problems.append(Problem("url", "must be an http(s) URL"))
    if path is not None and (not isinstance(path, str) or not Path(path).is_absolute()):
        problems.append(Problem("path", "must be an absolute path on this node"))
    fmt = data.get("format")
    if fmt not in FORMATS:
        problems.append(Problem("format", f"one of {', '.join(FORMATS)}"))
    if fmt == "taxii" and path is not None:
        problems.append(Problem("path", "a TAXII feed is a collection URL"))
    every = 3600
    try:
        every = parse_every(data.get("every", "1h"))
    except InvalidInput as exc:
        problems += exc.problems
    tlp = str(data.get("tlp", "GREEN"))
    try:
        tlp = parse_tlp(tlp).level.value
    except InvalidInput:
        problems.append(Problem("tlp", "a TLP 2.0 marking: CLEAR, GREEN, AMBER, AMBER+STRICT or RED"))
    code = data.get("offence")
    if code is not None:
        try:
            code = parse_offence(code, "offence").code
        except InvalidInput as exc:
            problems += exc.problems
    token_env = data.get("token_env")
    if token_env is not None and (not isinstance(token_env, str)
                                  or not re.match(r"^[A-Z_][A-Z0-9_]{0,63}$", token_env)):
        problems.append(Problem("token_env", "the name of an environment variable (A-Z, 0-9, _)"))
    if problems:
        raise InvalidInput("the feed is not valid: " + "; ".join(str(p) for p in problems[:3]), problems)
    source = data.get("source")
    with node.write(actor) as work:
        if source is not None and work.conn.execute(select(members.c.id).where(members.c.id == source)).first() is None:
            raise NotFound(f"no member {source!r}: the source of a feed is a member", "source")
        if work.conn.execute(select(feeds.c.name).where(feeds.c.name == name)).first() is not None:
            raise Conflict(f"a feed named {name!r} exists already")
        now = work.now
        values: dict[str, Any] = {
                  "name": name, "url": url, "path": path, "format": fmt, "every_seconds": every, "tlp": tlp,
                  "offence": code, "source": source, "token_env": token_env, "paused": False,
                  "checkpoint": {}, "next_run_at": now, "failures": 0, "runs": 0, "created_at": now,
                  "updated_at": now}
        work.conn.execute(insert(feeds).values(**values))
        work.record("feed.added", _subject(str(name)), {k: v for k, v in values.items()
                                                         if k in ("url", "path", "format", "every_seconds",
                                                                  "tlp", "offence", "source", "token_env")})
    return shown(_row(node, str(name)))


def listing(node: Node) -> list[dict[str, Any]]:
    with node.read() as conn:
        rows = conn.execute(select(feeds).order_by(feeds.c.name)).mappings().all()
    return [shown(dict(r)) for r in rows]


def show(node: Node, name: str) -> dict[str, Any]:
    return shown(_row(node, name))


def set_paused(node: Node, actor: str, name: str, paused: bool) -> dict[str, Any]:
    _row(node, name)
    with node.write(actor) as work:
        values: dict[str, Any] = {"paused": paused, "updated_at": work.now}
        if not paused:
            values["next_run_at"] = work.now
        work.conn.execute(update(feeds).where(feeds.c.name == name).values(**values))
        work.record("feed.paused" if paused else "feed.resumed", _subject(name), {})
    return show(node, name)


def remove(node: Node, actor: str, name: str) -> dict[str, Any]:
    row = _row(node, name)
    with node.write(actor) as work:
        work.conn.execute(delete(feeds).where(feeds.c.name == name))
        work.record("feed.removed", _subject(name), {"runs": row["runs"], "checkpoint": row["checkpoint"]})
    return {"name": name, "removed": True}


# --- running ---------------------------------------------------------------------------------


class _Run:
    """What one run fetched and stored, page by page."""

    def __init__(self, node: Node, row: dict[str, Any], actor: str):
        self.node, self.row, self.actor = node, row, actor
        self.checkpoint: dict[str, Any] = dict(row["checkpoint"] or {})
        self.pages = 0
        self.counts: dict[str, int] = {}
        self.notes: list[str] = []

    def defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tlp": self.row["tlp"]}
        if self.row["offence"]:
            out["abuse_type"] = self.row["offence"]
        return out

    def stored(self, out: dict[str, Any]) -> None:
        self.pages += 1
        for key, value in out.items():
            if isinstance(value, int) and not isinstance(value, bool):
                self.counts[key] = self.counts.get(key, 0) + value

    def save_checkpoint(self) -> None:
        """Keep where this run has got to (bookkeeping: the run's ledger entry names it)."""
        with self.node.writes.engine.begin() as conn:
            conn.execute(update(feeds).where(feeds.c.name == self.row["name"])
                         .values(checkpoint=dict(self.checkpoint)))


def _import_document(run: _Run, data: bytes, fmt: str, filename: str | None = None) -> None:
    if not data.strip():
        return
    doc_format = {"urlhaus": "csv", "csv": "csv", "stix": "stix", "taxii": "stix", "misp": "misp"}[fmt]
    try:
        out = io.import_document(run.node, run.actor, run.row["source"], data, fmt=doc_format,
                                 filename=filename, best_effort=True, defaults=run.defaults(),
                                 )
    except InvalidInput as exc:
        if "holds no signal" in exc.detail:
            return
        raise
    run.stored(out)


def _client_headers(row: dict[str, Any]) -> dict[str, str]:
    headers = {"user-agent": USER_AGENT}
    if row["token_env"]:
        token = os.environ.get(row["token_env"], "")
        if not token:
            raise invalid("token_env", f"the environment variable {row['token_env']} is not set")
        headers["authorization"] = f"Bearer {token}"
    return headers


def _check(r: httpx.Response, what: str) -> None:
    if r.status_code >= 400:
        raise _Failed(f"{what}: HTTP {r.status_code}")


class _Failed(Exception):
    """A run that could not complete: retried with backoff, its error shown."""


def _pull_document(run: _Run, client: httpx.Client) -> None:
    row = run.row
    if row["path"]:
        data = Path(row["path"]).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if run.checkpoint.get("sha256") == digest:
            return
        _import_document(run, data, row["format"], Path(row["path"]).name)
        run.checkpoint["sha256"] = digest
        return
    headers = _client_headers(row)
    if run.checkpoint.get("etag"):
        headers["if-none-match"] = run.checkpoint["etag"]
    if run.checkpoint.get("last_modified"):
        headers["if-modified-since"] = run.checkpoint["last_modified"]
    r = client.get(row["url"], headers=headers)
    if r.status_code == 304:
        return
    _check(r, row["url"])
    _import_document(run, r.content, row["format"], row["url"].rsplit("/", 1)[-1] or None)
    run.checkpoint.update({"etag": r.headers.get("etag"), "last_modified": r.headers.get("last-modified")})


def _pull_misp(run: _Run, client: httpx.Client) -> None:
    row = run.row
    headers = _client_headers(row) if row["url"] else {}

    def fetch(name: str) -> bytes:
        if row["path"]:
            return (Path(row["path"]) / name).read_bytes()
        r = client.get(row["url"].rstrip("/") + "/" + name, headers=headers)
        _check(r, name)
        return r.content

    try:
        manifest = json.loads(fetch("manifest.json"))
    except ValueError:
        raise _Failed("manifest.json is not JSON") from None
    if not isinstance(manifest, dict):
        raise _Failed("manifest.json is not an object of event uuid -> summary")
    seen: dict[str, Any] = dict(run.checkpoint.get("events", {}))
    changed = {u: e for u, e in manifest.items() if isinstance(e, dict) and re.match(r"^[0-9a-f-]{36}$", u)
               and str(e.get("timestamp", "")) != str(seen.get(u, ""))}
    if not changed:
        return
    with tempfile.TemporaryDirectory(prefix="hanoi-feed-") as tmp:
        folder = Path(tmp)
        (folder / "manifest.json").write_text(json.dumps(changed))
        for u in changed:
            (folder / f"{u}.json").write_bytes(fetch(f"{u}.json"))
        try:
            out = io.import_misp_feed(run.node, run.actor, row["source"], folder, best_effort=True,
                                      defaults=run.defaults())
        except InvalidInput as exc:
            if "holds no signal" not in exc.detail:
                raise
        else:
            run.stored(out)
    seen.update({u: str(e.get("timestamp", "")) for u, e in changed.items()})
    run.checkpoint["events"] = seen


def _pull_taxii(run: _Run, client: httpx.Client) -> None:
    row = run.row
    headers = {**_client_headers(row), "accept": TAXII_MEDIA}
    base = row["url"].rstrip("/") + "/objects/"
    next_token = run.checkpoint.get("next")
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if run.checkpoint.get("added_after"):
            params["added_after"] = run.checkpoint["added_after"]
        if next_token:
            params["next"] = next_token
        r = client.get(base, params=params, headers=headers)
        _check(r, base)
        if r.status_code == 204 or not r.content.strip():
            break
        try:
            envelope = r.json()
        except ValueError:
            raise _Failed(f"{base}: the answer is not JSON") from None
        objects = envelope.get("objects") or []
        if objects:
            bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
            _import_document(run, json.dumps(bundle).encode(), "taxii", "page.json")
        more = bool(envelope.get("more"))
        next_token = envelope.get("next") if more else None
        last = r.headers.get("x-taxii-date-added-last")
        if not more and last:
            run.checkpoint["added_after"] = last
        run.checkpoint["next"] = next_token
        run.save_checkpoint()  # a run cut short resumes from this page
        if not more:
            break


PULLERS: dict[str, Callable[[_Run, httpx.Client], None]] = {
    "taxii": _pull_taxii, "misp": _pull_misp, "stix": _pull_document, "csv": _pull_document,
    "urlhaus": _pull_document}


def _backoff(row: dict[str, Any], failures: int, rng: random.Random) -> float:
    return next_attempt_delay(failures, BACKOFF_BASE, max(BACKOFF_BASE, float(row["every_seconds"])), rng)


def run_one(node: Node, name: str, *, actor: str = "feeds", client: httpx.Client | None = None,
            rng: random.Random | None = None) -> dict[str, Any]:
    """Run one feed now, whatever its schedule (the caller holds the lease). Ledgered as
    ``feed.run`` (its counts and checkpoint) or ``feed.failed`` (its error)."""
    row = _row(node, name)
    run = _Run(node, row, f"feed:{name}")
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True)
    error: str | None = None
    try:
        PULLERS[row["format"]](run, http)
    except (_Failed, OSError, httpx.HTTPError, InvalidInput) as exc:
        error = (exc.detail if isinstance(exc, InvalidInput) else f"{type(exc).__name__}: {exc}"
                 if not isinstance(exc, _Failed) else str(exc))[:500]
    finally:
        if own:
            http.close()
    now = node.now()
    with node.write(actor) as work:
        if error is None:
            failures = 0
            values: dict[str, Any] = {"checkpoint": run.checkpoint, "last_run_at": now, "last_ok_at": now,
                                      "last_error": None, "failures": 0, "runs": row["runs"] + 1,
                                      "next_run_at": now + timedelta(seconds=row["every_seconds"])}
            work.record("feed.run", _subject(name), {"pages": run.pages, "counts": run.counts,
                                                     "checkpoint": run.checkpoint})
        else:
            failures = row["failures"] + 1
            delay = _backoff(row, failures, rng or random.Random())
            values = {"checkpoint": run.checkpoint, "last_run_at": now, "last_error": error,
                      "failures": failures, "runs": row["runs"] + 1,
                      "next_run_at": now + timedelta(seconds=delay)}
            work.record("feed.failed", _subject(name), {"error": error, "failures": failures,
                                                        "retry_in_seconds": round(delay, 1),
                                                        "pages": run.pages, "counts": run.counts})
        work.conn.execute(update(feeds).where(feeds.c.name == name).values(updated_at=now, **values))
    metrics.FEED_RUNS.labels(name, "ok" if error is None else "failed").inc()
    return {"name": name, "ok": error is None, "error": error, "failures": failures, "pages": run.pages,
            "counts": run.counts, "checkpoint": run.checkpoint}


def gauges(conn: Connection, now: datetime) -> list[Reading]:
    """Each feed's failures in a row and the age of its last good run (``/metrics``)."""
    out: list[Reading] = []
    for name, failures, last_ok, paused in conn.execute(
            select(feeds.c.name, feeds.c.failures, feeds.c.last_ok_at, feeds.c.paused)):
        out.append(Reading("hanoi_feed_failures", "Failed runs in a row, by feed", {"feed": name}, failures))
        out.append(Reading("hanoi_feed_paused", "1 if the feed is paused", {"feed": name}, 1 if paused else 0))
        if last_ok is not None:
            out.append(Reading("hanoi_feed_last_ok_seconds", "Age of the feed's last good run", {"feed": name},
                               max(0.0, (now - last_ok).total_seconds())))
    return out


def holder_id() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"


def run_named(node: Node, name: str, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """``hanoi feeds run NAME``: under the lease, so it never runs beside the scheduler."""
    me = holder_id()
    if not leases.take(node, LEASE, me, LEASE_SECONDS):
        raise Conflict("another process is running feeds now (the 'feeds' lease): try again shortly")
    try:
        return run_one(node, name, client=client)
    finally:
        leases.give_back(node, LEASE, me)


def due(node: Node, now: datetime) -> list[str]:
    with node.read() as conn:
        return list(conn.execute(select(feeds.c.name).where(~feeds.c.paused & (feeds.c.next_run_at <= now))
                                 .order_by(feeds.c.next_run_at)).scalars())


def run_due(node: Node, *, holder: str | None = None, client: httpx.Client | None = None) -> list[dict[str, Any]]:
    """Every feed that is due, if this process holds (or takes) the ``feeds`` lease."""
    me = holder or holder_id()
    if not due(node, node.now()) or not leases.take(node, LEASE, me, LEASE_SECONDS):
        return []
    out = []
    try:
        # Asked again under the lease: another runner may have run them meanwhile.
        for name in due(node, node.now()):
            if not leases.take(node, LEASE, me, LEASE_SECONDS):  # renewed before each feed
                break
            out.append(run_one(node, name, client=client))
    finally:
        leases.give_back(node, LEASE, me)
    return out


def run_forever(node: Node, stop: threading.Event, *, every: float = 30.0) -> None:
    """``hanoi serve``'s feed runner: the due feeds every ``every`` seconds until ``stop``; an
    error is logged, never stops the loop."""
    while not stop.is_set():
        try:
            with logs.request_id(logs.new_id("feeds-")):
                run_due(node)
        except Exception:
            log.exception("feed round failed; next round in %s s", every)
        stop.wait(every)


def start_runner(node: Node, every: float = 30.0) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(node, stop), kwargs={"every": every},
                     name="hanoi-feeds", daemon=True).start()
    return stop
