"""The load generator's arithmetic: percentiles, skewed draws, compare, tokens files."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from roost.loadtest.report import compare, render_compare
from roost.loadtest.stats import (
    Histogram,
    Recorder,
    bucket_bounds,
    bucket_index,
    exact_percentile,
)
from roost.loadtest.tokens import TokensError, WeightedPicker, load_tokens, parse_tokens


def test_exact_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert exact_percentile(values, 50) == 50
    assert exact_percentile(values, 99) == 99
    assert exact_percentile(values, 99.9) == 100
    assert exact_percentile(values, 100) == 100
    assert exact_percentile(values, 0) == 1
    assert exact_percentile([7], 99.9) == 7
    assert exact_percentile(list(reversed(values)), 90) == 90


def test_bucket_bounds_cover_every_value_once() -> None:
    for value in [*range(0, 5000), 65_535, 65_536, 10**6, 10**9]:
        low, high = bucket_bounds(bucket_index(value))
        assert low <= value <= high
        assert high - low <= max(value, 1) / 128
    for index in range(1, 2000):  # contiguous buckets, no gaps
        assert bucket_bounds(index)[0] == bucket_bounds(index - 1)[1] + 1


def test_histogram_percentiles_within_one_percent_of_exact() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(9, 1.2)) for _ in range(20_000)]  # µs, ~8 ms median
    hist = Histogram()
    for v in values:
        hist.record(v)
    for q in (50, 90, 99, 99.9):
        exact = exact_percentile(values, q)
        assert abs(hist.percentile(q) - exact) <= 0.01 * exact, q
    assert hist.maximum == max(values)
    assert hist.minimum == min(values)
    assert hist.mean == pytest.approx(sum(values) / len(values))
    assert len(hist.counts) < 2000  # bounded, whatever the count


def test_histogram_small_values_are_exact_and_merge_adds_up() -> None:
    a, b = Histogram(), Histogram()
    for v in (1, 2, 3):
        a.record(v)
    for v in (100, 4):
        b.record(v)
    a.merge(b)
    assert a.count == 5
    assert a.percentile(50) == 3
    assert a.percentile(100) == 100
    assert a.minimum == 1
    assert Histogram().summary_ms()["p99"] is None


def test_recorder_counts_errors_and_seconds() -> None:
    rec = Recorder()
    rec.add("GET /a", 0.1, 1000, 200, None)
    rec.add("GET /a", 0.5, 3000, 503, None)
    rec.add("GET /b", 2.2, None, None, "connection")
    rows = rec.finish(until_second=4)
    a = rec.endpoints["GET /a"]
    assert (a.requests, a.ok, a.errors) == (2, 1, {"503": 1})
    assert rec.endpoints["GET /b"].errors == {"connection": 1}
    assert [r.second for r in rows] == [0, 1, 2, 3]
    assert [r.requests for r in rows] == [2, 0, 1, 0]
    assert [r.errors for r in rows] == [1, 0, 1, 0]
    assert rows[0].latency_ms["max"] == 3.0


def test_weighted_draws_follow_the_weights_and_repeat_with_the_seed() -> None:
    picker = WeightedPicker([8.0, 4.0, 2.0, 1.0, 1.0, 0.0])
    rng = random.Random(42)
    draws = [picker.pick(rng) for _ in range(32_000)]
    counts = Counter(draws)
    assert counts[5] == 0
    for index, weight in enumerate([8, 4, 2, 1, 1]):
        assert counts[index] / len(draws) == pytest.approx(weight / 16, abs=0.01)
    again = random.Random(42)
    assert [picker.pick(again) for _ in range(32_000)] == draws
    other = random.Random(43)
    assert [picker.pick(other) for _ in range(100)] != draws[:100]


def test_tokens_with_four_columns_use_the_given_weights() -> None:
    users = parse_tokens("alice\ttok1\t101\t5\n# comment\n\nbob\ttok2\t102\t0.5\n")
    assert [(u.username, u.token, u.account_id, u.weight) for u in users] == [
        ("alice", "tok1", "101", 5.0), ("bob", "tok2", "102", 0.5)]


def test_tokens_with_two_columns_get_a_zipf_skew_by_line_order(tmp_path: Path) -> None:
    path = tmp_path / "tokens.tsv"
    path.write_text("a\tt1\nb\tt2\nc\tt3\nd\tt4\n")
    users = load_tokens(path)
    assert [u.account_id for u in users] == [None] * 4
    assert [u.weight for u in users] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4])
    rng = random.Random(1)
    picker = WeightedPicker([u.weight for u in users])
    counts = Counter(picker.pick(rng) for _ in range(10_000))
    assert counts[0] > counts[1] > counts[2] > counts[3]


@pytest.mark.parametrize(("text", "message"), [
    ("", "no users"),
    ("# only a comment\n", "no users"),
    ("alice\n", "line 1: expected 2 to 4 tab-separated fields"),
    ("alice tok1\n", "line 1: expected 2 to 4"),
    ("a\tt\nb\tt\t1\t2\t3\n", "line 2: expected 2 to 4"),
    ("a\t\n", "line 1: username and access_token must not be empty"),
    ("a\tt\t1\tmany\n", "line 1: activity_weight 'many' is not a number"),
    ("a\tt\t1\t-1\n", "must be a finite number >= 0"),
    ("a\tt\t1\t2\nb\tt2\n", "1 of 2 lines have an activity_weight"),
    ("a\tt\t1\t0\n", "every activity_weight is 0"),
])
def test_bad_tokens_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(TokensError, match=message):
        parse_tokens(text, "tokens.tsv")


def test_missing_tokens_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TokensError, match="cannot read tokens file"):
        load_tokens(tmp_path / "nope.tsv")


def _report(rps: float, p99: float, errors: int) -> dict[str, object]:
    entry = {"throughput_rps": rps, "errors": errors,
             "latency_ms": {"p50": p99 / 4, "p99": p99, "p99_9": p99 * 2}}
    return {"started_at": "2026-01-01T00:00:00+00:00", "parameters": {},
            "endpoints": {"GET /api/v1/timelines/home": entry}, "total": entry}


def test_compare_reports_old_new_and_change() -> None:
    old = _report(100.0, 40.0, 0)
    new = _report(150.0, 30.0, 2)
    new["endpoints"]["POST /api/v1/statuses"] = {  # type: ignore[index]
        "throughput_rps": 5.0, "errors": 0, "latency_ms": {"p50": 1, "p99": 2, "p99_9": 3}}
    block = compare(old, new, "old-run")
    home = block["endpoints"]["GET /api/v1/timelines/home"]
    assert home["throughput_rps"] == {"old": 100.0, "new": 150.0, "change_percent": 50.0}
    assert home["p99"]["change_percent"] == -25.0
    assert home["errors"] == {"old": 0.0, "new": 2.0, "change_percent": None}
    posted = block["endpoints"]["POST /api/v1/statuses"]
    assert posted["throughput_rps"]["old"] is None
    assert "total" in block["endpoints"]
    table = "\n".join(render_compare(block))
    assert "old-run" in table
    assert "100.0 → 150.0 | +50.0%" in table
    assert "`POST /api/v1/statuses` | - → 5.0" in table
