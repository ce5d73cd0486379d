"""Latency statistics with bounded memory: a log-bucket (HDR-style) histogram.

Latencies are recorded in whole microseconds. Values below 128 µs get a bucket each;
above, every power of two is split into 128 equal buckets, so a bucket's width is under
1/128 of its values: a reported percentile is within 0.8% of the exact one (it reports
the bucket's midpoint, clamped to the exact min and max). A histogram holds at most a few
thousand buckets however many requests it counts, so a long run's memory stays flat.

Percentiles use the nearest-rank definition: p(q) is the smallest value with at least
ceil(q/100 * n) values at or below it (`exact_percentile` is the reference).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

SUB_BUCKET_BITS = 7
SUB_BUCKETS = 1 << SUB_BUCKET_BITS  # 128
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def percentile_key(q: float) -> str:
    return "p" + (f"{q:g}".replace(".", "_") if q != int(q) else str(int(q)))


def exact_percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of values (any order); the histogram's reference."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError("percentile must be in [0, 100]")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def bucket_index(value: int) -> int:
    if value < SUB_BUCKETS:
        return max(value, 0)
    shift = value.bit_length() - (SUB_BUCKET_BITS + 1)
    mantissa = value >> shift  # in [128, 255]
    return SUB_BUCKETS + shift * SUB_BUCKETS + (mantissa - SUB_BUCKETS)


def bucket_bounds(index: int) -> tuple[int, int]:
    """The smallest and largest value that land in a bucket."""
    if index < SUB_BUCKETS:
        return index, index
    shift, offset = divmod(index - SUB_BUCKETS, SUB_BUCKETS)
    mantissa = offset + SUB_BUCKETS
    return mantissa << shift, ((mantissa + 1) << shift) - 1


@dataclass
class Histogram:
    """Counts of latencies (µs) in log buckets, with exact count, sum, min and max."""

    counts: dict[int, int] = field(default_factory=dict)
    count: int = 0
    total: int = 0
    minimum: int = 0
    maximum: int = 0

    def record(self, micros: int) -> None:
        micros = max(int(micros), 0)
        index = bucket_index(micros)
        self.counts[index] = self.counts.get(index, 0) + 1
        if self.count == 0 or micros < self.minimum:
            self.minimum = micros
        if micros > self.maximum:
            self.maximum = micros
        self.count += 1
        self.total += micros

    def merge(self, other: Histogram) -> None:
        if other.count == 0:
            return
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        self.minimum = other.minimum if self.count == 0 else min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.count += other.count
        self.total += other.total

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def percentile(self, q: float) -> float:
        if self.count == 0:
            return math.nan
        if not 0 <= q <= 100:
            raise ValueError("percentile must be in [0, 100]")
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                low, high = bucket_bounds(index)
                middle = (low + high) / 2.0
                return float(min(max(middle, self.minimum), self.maximum))
        return float(self.maximum)

    def summary_ms(self, percentiles: Iterable[float] = PERCENTILES) -> dict[str, float | None]:
        """mean, percentiles and max in milliseconds (None when nothing was recorded)."""
        out: dict[str, float | None] = {}
        for q in percentiles:
            out[percentile_key(q)] = _ms(self.percentile(q)) if self.count else None
        out["max"] = _ms(self.maximum) if self.count else None
        out["mean"] = _ms(self.mean) if self.count else None
        return out


def _ms(micros: float) -> float:
    return round(micros / 1000.0, 3)


@dataclass
class EndpointStats:
    """Everything recorded for one endpoint name over the measured window."""

    histogram: Histogram = field(default_factory=Histogram)
    requests: int = 0
    ok: int = 0
    # status code (as text) or "connection"/"timeout" -> count
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, micros: int | None, status: int | None, error_kind: str | None) -> None:
        self.requests += 1
        if micros is not None:
            self.histogram.record(micros)
        if error_kind is not None:
            self.errors[error_kind] = self.errors.get(error_kind, 0) + 1
        elif status is not None and status >= 400:
            key = str(status)
            self.errors[key] = self.errors.get(key, 0) + 1
        else:
            self.ok += 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass
class SecondRow:
    """One second of the time series, already reduced to numbers (bounded memory)."""

    second: int
    requests: int
    errors: int
    latency_ms: dict[str, float | None]
    by_endpoint: dict[str, int]


class Recorder:
    """Collects results by endpoint, plus a per-second series keyed by completion time.

    A request belongs to the second it completes in (since the measured window opened);
    seconds close in order, so only the current second keeps a histogram, and closed
    seconds are reduced to a `SecondRow`.
    """

    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointStats] = {}
        self.total = EndpointStats()
        self.rows: list[SecondRow] = []
        self._second = -1
        self._second_hist = Histogram()
        self._second_errors = 0
        self._second_by_endpoint: dict[str, int] = {}

    def add(self, name: str, elapsed_s: float, micros: int | None, status: int | None,
            error_kind: str | None) -> None:
        stats = self.endpoints.get(name)
        if stats is None:
            stats = self.endpoints[name] = EndpointStats()
        stats.add(micros, status, error_kind)
        self.total.add(micros, status, error_kind)
        second = max(int(elapsed_s), 0)
        if second != self._second:
            self._close_until(second)
        if micros is not None:
            self._second_hist.record(micros)
        if error_kind is not None or (status is not None and status >= 400):
            self._second_errors += 1
        self._second_by_endpoint[name] = self._second_by_endpoint.get(name, 0) + 1

    def _close_until(self, second: int) -> None:
        if second < self._second:  # a straggler: count it in the open second
            return
        if self._second >= 0:
            self.rows.append(self._reduce())
        # empty seconds between are real (nothing completed), so they are rows too
        for empty in range(self._second + 1, second):
            self.rows.append(SecondRow(empty, 0, 0, Histogram().summary_ms(), {}))
        self._second = second
        self._second_hist = Histogram()
        self._second_errors = 0
        self._second_by_endpoint = {}

    def _reduce(self) -> SecondRow:
        requests = sum(self._second_by_endpoint.values())
        return SecondRow(self._second, requests, self._second_errors,
                         self._second_hist.summary_ms(), dict(self._second_by_endpoint))

    def finish(self, until_second: int | None = None) -> list[SecondRow]:
        """Close the open second (and pad with empty seconds up to `until_second`)."""
        if self._second >= 0:
            self.rows.append(self._reduce())
        last = self._second
        if until_second is not None:
            for empty in range(last + 1, until_second):
                self.rows.append(SecondRow(empty, 0, 0, Histogram().summary_ms(), {}))
        self._second = -1
        self._second_by_endpoint = {}
        return self.rows


def endpoint_report(stats: EndpointStats, seconds: float) -> dict[str, Any]:
    return {
        "requests": stats.requests,
        "ok": stats.ok,
        "errors": stats.error_count,
        "errors_by_kind": dict(sorted(stats.errors.items())),
        "throughput_rps": round(stats.requests / seconds, 3) if seconds > 0 else None,
        "latency_ms": stats.histogram.summary_ms(),
    }
