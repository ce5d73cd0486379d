"""PNG plots of a run's time series (matplotlib, Agg backend, imported only here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

THROUGHPUT_PNG = "throughput.png"
LATENCY_PNG = "latency.png"


def write_plots(out: Path, report: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = report["timeseries"]
    keep = max(full.get("full_seconds", len(full["second"])), 1)  # not the grace period
    series = _head(full, keep)
    seconds = series["second"]
    title = f"roost bench {report['parameters']['scenario']} — {report['started_at']}"
    written: list[Path] = []

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    ax.plot(seconds, series["requests"], label="all", color="black", linewidth=2)
    for name, counts in series["requests_by_endpoint"].items():
        if any(counts):
            ax.plot(seconds, counts, label=name, linewidth=1)
    if any(series["errors"]):
        ax.plot(seconds, series["errors"], label="errors", color="red", linestyle="--")
    ax.set_xlabel("second of the measured window")
    ax.set_ylabel("requests completed per second")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = out / THROUGHPUT_PNG
    fig.savefig(path)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    labels = {"p50": "p50", "p90": "p90", "p99": "p99", "p99_9": "p99.9", "max": "max"}
    plotted = False
    for key, label in labels.items():
        values = series["latency_ms"].get(key, [])
        points = [(s, v) for s, v in zip(seconds, values, strict=False) if v is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, label=label, linewidth=1 if key == "max" else 1.5,
                    linestyle=":" if key == "max" else "-")
            plotted = True
    if plotted:
        ax.set_yscale("log")
    ax.set_xlabel("second of the measured window")
    ax.set_ylabel("latency, ms (all endpoints, log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if plotted:
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = out / LATENCY_PNG
    fig.savefig(path)
    plt.close(fig)
    written.append(path)
    return written


def _head(series: Any, count: int) -> Any:
    """The time series cut to its first `count` seconds, at every depth."""
    if isinstance(series, dict):
        return {k: _head(v, count) if k != "full_seconds" else v for k, v in series.items()}
    if isinstance(series, list):
        return series[:count]
    return series
