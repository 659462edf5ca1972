"""Background jobs a person waits for in the console, such as verifying the ledger.

A job runs in a thread of the process that started it; its progress and result are kept in
``console_jobs``, so a poll answered by any API worker process sees them. A job is shown only
to whoever started it. A running job not heard from for ``STALE_AFTER`` (its process ended)
is reported as lost rather than running for ever.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from hanoi.core.errors import NotFound
from hanoi.node import ledger
from hanoi.node.runtime import Node
from hanoi.store.db import writer
from hanoi.store.tables import console_jobs

STALE_AFTER = timedelta(minutes=2)
REPORT_EVERY_SECONDS = 0.25

Progress = Callable[[int, int], None]
Work = Callable[[Progress], dict[str, Any]]


def start(node: Node, *, kind: str, owner: str, work: Work, total: int = 0) -> str:
    job_id = secrets.token_hex(8)
    now = node.now()
    with writer(node.engine).begin() as conn:
        conn.execute(console_jobs.insert().values(id=job_id, kind=kind, owner=owner, state="running",
                                                  done=0, total=total, result=None, created_at=now,
                                                  updated_at=now))
    threading.Thread(target=_run, args=(node, job_id, work), daemon=True, name=f"job-{kind}-{job_id}").start()
    return job_id


def _set(node: Node, job_id: str, **values: Any) -> None:
    with writer(node.engine).begin() as conn:
        conn.execute(update(console_jobs).where(console_jobs.c.id == job_id)
                     .values(updated_at=node.now(), **values))


def _run(node: Node, job_id: str, work: Work) -> None:
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if done < total and time.monotonic() - last[0] < REPORT_EVERY_SECONDS:
            return
        last[0] = time.monotonic()
        _set(node, job_id, done=done, total=total)

    try:
        result = work(progress)
    except Exception as exc:  # the job failed: say so to whoever waits, never crash the server
        _set(node, job_id, state="failed", result=json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return
    _set(node, job_id, state="done", result=json.dumps(result))


def get(node: Node, job_id: str, *, owner: str) -> dict[str, Any]:
    with node.read() as conn:
        row = conn.execute(select(console_jobs).where(console_jobs.c.id == job_id)).mappings().first()
    if row is None or row["owner"] != owner:
        raise NotFound(f"no job {job_id!r}", "job")
    state = row["state"]
    if state == "running" and node.now() - row["updated_at"] > STALE_AFTER:
        state = "lost"
    return {"id": row["id"], "kind": row["kind"], "state": state, "done": row["done"], "total": row["total"],
            "result": json.loads(row["result"]) if row["result"] else None}


def start_ledger_verification(node: Node, *, owner: str) -> str:
    """Verify the ledger in the background (one pass, reporting progress) for ``owner``."""

    def work(progress: Progress) -> dict[str, Any]:
        return ledger.verify(node, workers=1, progress=progress).as_dict()

    total = ledger.browse(node, limit=1)["head"]["seq"]
    return start(node, kind="ledger.verify", owner=owner, work=work, total=total)
