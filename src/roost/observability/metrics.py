"""Prometheus metrics. Correct with several worker processes: `roost serve` sets
PROMETHEUS_MULTIPROC_DIR before anything imports prometheus_client, every process
writes its samples there, and /metrics merges them (prometheus-client's multiprocess
mode). Without that variable (tests, one-off commands) the default registry is used.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUERY_BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)

http_requests = Counter(
    "roost_http_requests_total",
    "HTTP requests answered, by route template and status.",
    ["method", "route", "status"],
)
http_duration = Histogram(
    "roost_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
db_queries = Counter(
    "roost_db_queries_total",
    "SQL statements executed, by database role and statement kind.",
    ["role", "kind"],
)
home_reads = Counter(
    "roost_home_timeline_reads_total",
    "Home timeline pages, by where they were read: redis, or the database because the "
    "timeline was being rebuilt, the page was older than Redis keeps, Redis failed "
    "(redis_error) or its circuit breaker was open (redis_down).",
    ["source"],
)
stream_pushes_dropped = Counter(
    "roost_stream_pushes_dropped_total",
    "Streaming pushes not published because Redis failed (dropped, not retried).",
)
breaker_state = Gauge(
    "roost_circuit_breaker_state",
    "A circuit breaker's state: 0 closed (calling), 1 half-open (probing), 2 open "
    "(falling back without calling); the worst of the live processes.",
    ["breaker"],
    multiprocess_mode="livemax",
)
breaker_transitions = Counter(
    "roost_circuit_breaker_transitions_total",
    "Times a circuit breaker moved to a state.",
    ["breaker", "state"],
)
home_rebuilds = Counter(
    "roost_home_timeline_rebuilds_total",
    "Redis home timelines rebuilt from the database (first visits, expired timelines).",
)
cache_hits = Counter(
    "roost_cache_hits_total",
    "Reads answered from a cache, by cache name (docs/caching.md).",
    ["cache"],
)
cache_misses = Counter(
    "roost_cache_misses_total",
    "Reads a cache could not answer (absent or expired), by cache name.",
    ["cache"],
)
cache_recomputes = Counter(
    "roost_cache_recompute_total",
    "Times a cached value was computed from the database, by cache name: for a computed "
    "value (trends, instance statistics) at most one per expiry across all processes.",
    ["cache"],
)
db_query_duration = Histogram(
    "roost_db_query_duration_seconds",
    "Time to execute one SQL statement, by database role and statement kind.",
    ["role", "kind"],
    buckets=QUERY_BUCKETS,
)

_STATEMENT_KIND = re.compile(r"^\s*(\w+)")
_KNOWN_KINDS = frozenset(
    {"select", "insert", "update", "delete", "with", "begin", "commit", "rollback", "pragma"}
)


class QueryTally:
    """Statements run on behalf of one request; shown in its log line."""

    __slots__ = ("count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0


current_query_tally: ContextVar[QueryTally | None] = ContextVar("query_tally", default=None)


def statement_kind(statement: str) -> str:
    match = _STATEMENT_KIND.match(statement)
    kind = match.group(1).lower() if match else "other"
    return kind if kind in _KNOWN_KINDS else "other"


def observe_query(role: str, statement: str, seconds: float) -> None:
    kind = statement_kind(statement)
    db_queries.labels(role, kind).inc()
    db_query_duration.labels(role, kind).observe(seconds)
    tally = current_query_tally.get()
    if tally is not None:
        tally.count += 1
        tally.seconds += seconds


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    code = str(status)
    http_requests.labels(method, route, code).inc()
    http_duration.labels(method, route, code).observe(seconds)


def render_latest() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
