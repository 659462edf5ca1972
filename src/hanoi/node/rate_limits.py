"""Per-token rate limits on lookups and matches, set in the node policy.

``policy.yaml`` holds ``rate_limits: {lookup: {per_minute, burst}, match: {per_minute, burst}}``
(``RateLimits``, the platform's policy section): each API token may make ``burst`` calls at
once, then ``per_minute`` a minute (a token bucket); ``per_minute: 0`` lifts the limit. A call
over it is refused with 429 and ``Retry-After`` (``Throttled``) before any work is done, and
counted (``hanoi_rate_limited_total``); it is not ledgered, since nothing was looked at and a
flood of refusals must not grow the ledger.

The buckets live in the process (``Limiter``, a read model of the platform): with ``hanoi
serve --workers N`` each worker keeps its own, so a token may make up to N times the limit
through a round-robin balancer. A node that needs one limit across workers runs one worker, or
sets the limit divided by N.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from hanoi.core.errors import Problem, Throttled
from hanoi.node import metrics

if TYPE_CHECKING:  # the runtime imports this module's importers; only an annotation
    from hanoi.node.runtime import Node

KINDS = ("lookup", "match")
WHAT = {"lookup": "signal lookups", "match": "media matches"}


@dataclass(frozen=True)
class Limit:
    per_minute: int = 600
    burst: int = 60

    def to_dict(self) -> dict[str, int]:
        return {"per_minute": self.per_minute, "burst": self.burst}


@dataclass(frozen=True)
class RateLimits:
    """The ``rate_limits`` key of the node policy."""

    limits: Mapping[str, Limit] = field(default_factory=lambda: {k: Limit() for k in KINDS})

    KEYS: ClassVar[tuple[str, ...]] = ("rate_limits",)
    DEFAULT_YAML: ClassVar[str] = """\
# Calls each API token may make: `burst` at once, then `per_minute` a minute; over it the
# answer is 429 with Retry-After. per_minute 0 lifts a limit. Per API worker process.
rate_limits:
  lookup: {per_minute: 600, burst: 60}   # POST /api/v1/signals/lookup
  match: {per_minute: 600, burst: 60}    # POST /api/v1/media/match
"""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], problems: list[Problem]) -> RateLimits:
        raw = data.get("rate_limits", {})
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            problems.append(Problem("policy.rate_limits", "must be a mapping of lookup and match"))
            return cls()
        limits: dict[str, Limit] = {}
        for key in sorted(set(raw) - set(KINDS), key=str):
            problems.append(Problem(f"policy.rate_limits.{key}", "is not a rate limit: "
                                    f"one of {', '.join(KINDS)}"))
        for kind in KINDS:
            entry = raw.get(kind, {})
            if entry is None:
                entry = {}
            if not isinstance(entry, Mapping):
                problems.append(Problem(f"policy.rate_limits.{kind}", "must be {per_minute, burst}"))
                limits[kind] = Limit()
                continue
            values: dict[str, int] = {}
            for name in sorted(set(entry) - {"per_minute", "burst"}, key=str):
                problems.append(Problem(f"policy.rate_limits.{kind}.{name}",
                                        "is not a setting: per_minute or burst"))
            for name, lowest in (("per_minute", 0), ("burst", 1)):
                v = entry.get(name, getattr(Limit(), name))
                if isinstance(v, bool) or not isinstance(v, int) or not lowest <= v <= 10_000_000:
                    problems.append(Problem(f"policy.rate_limits.{kind}.{name}",
                                            f"must be a whole number from {lowest} to 10000000"))
                    v = getattr(Limit(), name)
                values[name] = v
            limits[kind] = Limit(**values)
        return cls(limits)

    def to_dict(self) -> dict[str, Any]:
        return {"rate_limits": {k: self.limits[k].to_dict() for k in KINDS}}


class Limiter:
    """Token buckets per (API token, kind), in this process."""

    def __init__(self, node: Node, clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # (tokens, at)

    def take(self, token_id: str, kind: str) -> None:
        """Spend one call of ``token_id``'s ``kind`` budget, or raise ``Throttled``."""
        limit = self.node.policy().section(RateLimits).limits[kind]
        if limit.per_minute == 0:
            return
        rate = limit.per_minute / 60.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get((token_id, kind), (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[(token_id, kind)] = (tokens - 1.0, now)
                if len(self._buckets) > 100_000:  # tokens come and go: forget the full ones
                    self._forget_full(now, limit)
                return
            self._buckets[(token_id, kind)] = (tokens, now)
        wait = max(1, math.ceil((1.0 - tokens) / rate))
        metrics.RATE_LIMITED.labels(kind).inc()
        raise Throttled(f"this token may make {limit.per_minute} {WHAT[kind]} a minute "
                        f"(bursts of {limit.burst}; policy rate_limits.{kind}): try again in "
                        f"{wait} seconds", wait)

    def _forget_full(self, now: float, limit: Limit) -> None:
        rate = limit.per_minute / 60.0
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * rate >= limit.burst:
                del self._buckets[key]

    def close(self) -> None:
        with self._lock:
            self._buckets.clear()
