"""report.json (everything), report.md (read at a glance), and the before/after compare."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from roost.loadtest.cpu import cpu_model, usage
from roost.loadtest.driver import RunConfig, RunResult
from roost.loadtest.stats import PERCENTILES, EndpointStats, endpoint_report, percentile_key

REPORT_VERSION = 1
HISTOGRAM_NOTE = ("latencies: log-bucket (HDR-style) histogram, 128 buckets per power of "
                  "two, percentiles within 0.8% of exact (nearest rank); max and mean exact")


class CompareError(ValueError):
    """The --compare directory has no usable report.json."""


def machine_info(url: str, loop_name: str, pinned_cpu: int | None) -> dict[str, Any]:
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        affinity = []
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "generator_cpus": affinity,
        "generator_pinned_cpu": pinned_cpu,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "event_loop": loop_name,
        "server_url": url,
    }


def build_report(config: RunConfig, result: RunResult, machine: dict[str, Any],
                 parameters: dict[str, Any], scenario_endpoints: tuple[str, ...]
                 ) -> dict[str, Any]:
    seconds = result.measured_seconds
    recorder = result.recorder
    names = list(scenario_endpoints) + sorted(set(recorder.endpoints) - set(scenario_endpoints))
    endpoints: dict[str, Any] = {}
    for name in names:
        stats = recorder.endpoints.get(name)
        if stats is None:
            stats = EndpointStats()
        endpoints[name] = endpoint_report(stats, seconds)
    rows = recorder.rows
    series: dict[str, Any] = {
        # seconds from here on hold only requests that finished in the grace period
        "full_seconds": int(seconds),
        "second": [r.second for r in rows],
        "requests": [r.requests for r in rows],
        "errors": [r.errors for r in rows],
        "latency_ms": {key: [r.latency_ms.get(key) for r in rows]
                       for key in [percentile_key(q) for q in PERCENTILES] + ["max"]},
        "requests_by_endpoint": {name: [r.by_endpoint.get(name, 0) for r in rows]
                                 for name in names},
    }
    cpu = usage(result.cpu_start, result.cpu_end)
    cpu["generator_process_percent_of_one_core"] = round(
        100.0 * result.client_cpu_seconds / seconds, 1)
    return {
        "version": REPORT_VERSION,
        "started_at": datetime.fromtimestamp(result.started_at_unix, UTC).isoformat(
            timespec="seconds"),
        "parameters": parameters,
        "machine": machine,
        "measured_seconds": round(seconds, 3),
        "warmup_requests": result.warmup_requests,
        "account_lookups": result.lookups,
        "cancelled_at_stop": result.cancelled,
        "connection_error_samples": result.notes,
        "latency_method": HISTOGRAM_NOTE,
        "total": endpoint_report(recorder.total, seconds),
        "endpoints": endpoints,
        "cpu": cpu,
        "timeseries": series,
    }


def load_report(directory: Path) -> dict[str, Any]:
    path = directory / "report.json"
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise CompareError(f"--compare: cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CompareError(f"--compare: {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("endpoints"), dict):
        raise CompareError(f"--compare: {path} is not a roost bench report")
    return data


def _change(old: float | None, new: float | None) -> float | None:
    if old is None or new is None or not math.isfinite(old) or old == 0:
        return None
    return round(100.0 * (new - old) / old, 1)


def compare(old: dict[str, Any], new: dict[str, Any], old_dir: str) -> dict[str, Any]:
    """Per endpoint (and in total): req/s, p50, p99, p99.9 and errors, before and after."""
    rows: dict[str, Any] = {}
    names = list(new["endpoints"]) + [n for n in old["endpoints"] if n not in new["endpoints"]]
    pairs = [(n, old["endpoints"].get(n), new["endpoints"].get(n)) for n in names]
    pairs.append(("total", old.get("total"), new.get("total")))
    for name, before, after in pairs:
        row: dict[str, Any] = {}
        for key in ("throughput_rps", "p50", "p99", "p99_9", "errors"):
            b = _metric(before, key)
            a = _metric(after, key)
            row[key] = {"old": b, "new": a, "change_percent": _change(b, a)}
        rows[name] = row
    return {
        "old_dir": old_dir,
        "old_started_at": old.get("started_at"),
        "old_parameters": old.get("parameters"),
        "endpoints": rows,
    }


def _metric(entry: dict[str, Any] | None, key: str) -> float | None:
    if not entry:
        return None
    if key in ("throughput_rps", "errors"):
        value = entry.get(key)
    else:
        value = (entry.get("latency_ms") or {}).get(key)
    return None if value is None else float(value)


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _errors_text(entry: dict[str, Any]) -> str:
    kinds = entry.get("errors_by_kind") or {}
    if not kinds:
        return "0"
    detail = ", ".join(f"{k}: {v}" for k, v in kinds.items())
    return f"{entry['errors']} ({detail})"


def render_markdown(report: dict[str, Any]) -> str:
    p = report["parameters"]
    m = report["machine"]
    lines = [
        f"# roost bench: {p['scenario']} — {report['started_at']}",
        "",
        f"{_fmt(report['total']['throughput_rps'])} req/s over {report['measured_seconds']:g} s "
        f"measured, {p['concurrency']} virtual users, "
        f"{report['total']['errors']} errors, server {m['server_url']}.",
        "",
        "| endpoint | requests | req/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    entries = [*report["endpoints"].items(), ("**total**", report["total"])]
    for name, e in entries:
        lat = e["latency_ms"]
        lines.append(
            f"| {'`' + name + '`' if not name.startswith('**') else name} | {e['requests']:,} "
            f"| {_fmt(e['throughput_rps'])} | {_fmt(lat['p50'])} | {_fmt(lat['p99'])} "
            f"| {_fmt(lat['p99_9'])} | {_fmt(lat['max'])} | {_errors_text(e)} |"
        )
    cpu = report.get("cpu") or {}
    lines += ["", "## CPU over the measured window", ""]
    busy = cpu.get("per_cpu_busy_percent") or {}
    if busy:
        lines.append("per CPU busy: " + ", ".join(f"{k} {v:g}%" for k, v in busy.items()))
    if "server_process_percent_of_one_core" in cpu:
        share = cpu["server_process_percent_of_one_core"]
        lines.append(f"server process: {share:g}% of one core")
    share = cpu["generator_process_percent_of_one_core"]
    lines.append(f"generator process: {share:g}% of one core")
    if "compare" in report:
        lines += ["", *render_compare(report["compare"])]
    lines += [
        "",
        "## Run",
        "",
        *(f"- {k}: `{v}`" for k, v in p.items()),
        f"- warmup requests (not counted): {report['warmup_requests']}",
        f"- account id lookups (not counted): {report['account_lookups']}",
        f"- in flight at stop, cancelled: {report['cancelled_at_stop']}",
        *(f"- connection error: {sample}" for sample in report["connection_error_samples"]),
        f"- {report['latency_method']}",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['cores']} cores; generator on CPUs "
        f"{m['generator_cpus']}",
        f"- Python {m['python']} ({m['implementation']}), {m['event_loop']} event loop; "
        f"{m['platform']}",
        f"- server: {m['server_url']}",
        "",
        "Plots: `throughput.png`, `latency.png`.",
        "",
    ]
    return "\n".join(lines)


def render_compare(block: dict[str, Any]) -> list[str]:
    lines = [
        f"## Compared with `{block['old_dir']}` ({block.get('old_started_at') or '?'})",
        "",
        "| endpoint | req/s old → new | Δ | p50 ms old → new | p99 ms old → new | Δ p99 "
        "| p99.9 ms old → new | errors old → new |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in block["endpoints"].items():
        def pair(key: str, digits: int = 1, row: dict[str, Any] = row) -> str:
            return f"{_fmt(row[key]['old'], digits)} → {_fmt(row[key]['new'], digits)}"

        def delta(key: str, row: dict[str, Any] = row) -> str:
            change = row[key]["change_percent"]
            return "-" if change is None else f"{change:+.1f}%"

        label = "**total**" if name == "total" else f"`{name}`"
        lines.append(
            f"| {label} | {pair('throughput_rps')} | {delta('throughput_rps')} "
            f"| {pair('p50')} | {pair('p99')} | {delta('p99')} | {pair('p99_9')} "
            f"| {pair('errors', 0)} |"
        )
    return lines


def write_reports(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    (out / "report.md").write_text(render_markdown(report))
