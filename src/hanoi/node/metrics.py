"""What a node tells Prometheus (``GET /metrics``, text format 0.0.4).

Two kinds of figures:

- **Counted in this process** (``prometheus_client`` counters and histograms, in ``REGISTRY``):
  deliveries settled and delivery attempts that failed, decisions recorded on the ledger by
  outcome and by rule, lookups and matches (calls, values, values that matched, latency),
  answers refused by a rate limit, HTTP requests by route and status. They start at zero when
  the process starts, as Prometheus expects of counters. With ``hanoi serve --workers N`` each
  worker counts its own (a scrape sees the worker that answered); the delivery worker counts in
  the main process.
- **Read from the store at scrape time** (gauges): each wing declares its readers in its
  manifest (``Wing.gauges``), one or two grouped queries each, so every process of every
  worker answers the same figures: outbox depth and oldest open item per peer, requests by
  state and overdue deadlines, the ledger's head.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hanoi.node.wings import Reading

if TYPE_CHECKING:  # the runtime imports this module; only an annotation
    from hanoi.node.runtime import Node

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

DELIVERIES = Counter("hanoi_outbox_deliveries", "Outbox rows settled, by peer and outcome "
                     "(delivered, rejected by the peer, failed for good)", ["peer", "outcome"],
                     registry=REGISTRY)
DELIVERY_FAILURES = Counter("hanoi_outbox_delivery_failures", "Delivery attempts that failed "
                            "and will be retried (peer unreachable, error answer, bad receipt)",
                            ["peer"], registry=REGISTRY)
DECISIONS = Counter("hanoi_gate_decisions", "Decisions recorded on the ledger, by outcome "
                    "(allow, deny, review; failed and rejected for deliveries)", ["outcome"],
                    registry=REGISTRY)
DECISION_RULES = Counter("hanoi_gate_rule_decisions", "Reasons given in recorded decisions, by "
                         "rule code and effect", ["rule", "effect"], registry=REGISTRY)
LOOKUPS = Counter("hanoi_lookups", "Lookup calls answered (kind: signals lookup, media match)",
                  ["kind"], registry=REGISTRY)
LOOKUP_VALUES = Counter("hanoi_lookup_values", "Values (or hashes) looked up", ["kind"],
                        registry=REGISTRY)
LOOKUP_MATCHES = Counter("hanoi_lookup_matches", "Values (or hashes) that matched at least once",
                         ["kind"], registry=REGISTRY)
LOOKUP_SECONDS = Histogram("hanoi_lookup_seconds", "Time to answer a lookup call, gate included",
                           ["kind"], registry=REGISTRY,
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                                    2.5, 5.0, 10.0))
RATE_LIMITED = Counter("hanoi_rate_limited", "Calls refused by a per-token rate limit (429)",
                       ["kind"], registry=REGISTRY)
FEED_RUNS = Counter("hanoi_feed_runs", "Feed runs, by feed and outcome (ok, failed)", ["feed", "outcome"],
                    registry=REGISTRY)
HTTP_REQUESTS = Counter("hanoi_http_requests", "HTTP requests answered, by method, route "
                        "template and status", ["method", "route", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram("hanoi_http_request_seconds", "Time to answer an HTTP request, by "
                         "method and route template", ["method", "route"], registry=REGISTRY)


GATE_OUTCOMES = frozenset({"allow", "deny", "review", "failed", "rejected"})


def decided(outcome: str, reasons: Sequence[dict[str, Any]]) -> None:
    """Count one decision recorded on the ledger (called once its unit of work committed);
    entries whose ``decision`` is something else (an assessment's standing) are not the
    gate's."""
    if outcome not in GATE_OUTCOMES:
        return
    DECISIONS.labels(outcome).inc()
    for reason in reasons:
        rule = reason.get("code")
        if isinstance(rule, str):
            DECISION_RULES.labels(rule, str(reason.get("effect", outcome))).inc()


def looked_up(kind: str, values: int, matched: int, seconds: float) -> None:
    LOOKUPS.labels(kind).inc()
    LOOKUP_VALUES.labels(kind).inc(values)
    LOOKUP_MATCHES.labels(kind).inc(matched)
    LOOKUP_SECONDS.labels(kind).observe(seconds)


class _Families(Collector):
    def __init__(self, families: Iterable[GaugeMetricFamily]):
        self.families = list(families)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return iter(self.families)


def families(readings: Iterable[Reading]) -> list[GaugeMetricFamily]:
    """Readings grouped into one gauge family per name (its labels those of the first)."""
    out: dict[str, tuple[GaugeMetricFamily, list[str]]] = {}
    for r in readings:
        if r.name not in out:
            keys = sorted(r.labels)
            out[r.name] = (GaugeMetricFamily(r.name, r.help, labels=keys), keys)
        family, keys = out[r.name]
        family.add_metric([str(r.labels.get(k, "")) for k in keys], float(r.value))
    return [f for f, _ in out.values()]


def scrape(node: Node) -> bytes:
    """The exposition: this process's counters, then the gauges every wing reads from the
    store (in one read transaction)."""
    readings: list[Reading] = []
    with node.read() as conn:
        now = node.now()
        for gauges in node.registry.gauges:
            readings.extend(gauges(conn, now))
    store = CollectorRegistry(auto_describe=False)
    store.register(_Families(families(readings)))
    return generate_latest(REGISTRY) + generate_latest(store)
