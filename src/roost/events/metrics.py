"""The event log on /metrics: published, consumed, handler time, retries, dead letters,
and each reader's lag (entries behind, and the age of the oldest of them)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from roost.observability.metrics import LATENCY_BUCKETS

published = Counter(
    "roost_events_published_total",
    "Committed events read from the outbox and handed on (by the in-process "
    "dispatcher or the relay), by type.",
    ["type"],
)
consumed = Counter(
    "roost_events_consumed_total",
    "Events handled, by consumer, type and outcome (applied, duplicate, error).",
    ["consumer", "type", "outcome"],
)
handler_duration = Histogram(
    "roost_event_handler_duration_seconds",
    "Time to handle one event (its transaction included), by consumer and type.",
    ["consumer", "type"],
    buckets=LATENCY_BUCKETS,
)
retries = Counter(
    "roost_event_retries_total",
    "Handler failures parked for another attempt, by consumer and type.",
    ["consumer", "type"],
)
dead_letters = Counter(
    "roost_event_dead_letters_total",
    "Events given up on after their last attempt, by consumer and type.",
    ["consumer", "type"],
)
lag_events = Gauge(
    "roost_event_lag_events",
    "Events written but not yet handed on, by reader (dispatcher, relay) or consumer.",
    ["reader"],
    multiprocess_mode="livemax",
)
lag_seconds = Gauge(
    "roost_event_lag_seconds",
    "Age of the oldest event not yet handed on, by reader or consumer (0: none).",
    ["reader"],
    multiprocess_mode="livemax",
)


def observe_handler(consumer: str, event_type: str, outcome: str, started: float) -> None:
    consumed.labels(consumer, event_type, outcome).inc()
    handler_duration.labels(consumer, event_type).observe(time.perf_counter() - started)
