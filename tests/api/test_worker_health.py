"""`roost worker --port`: its /healthz, /readyz and /metrics, from a real process."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.server import free_port, roost_command, server_env


@contextmanager
def worker_with_port(data_dir: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log_path = data_dir / f"worker-{port}.log"
    process = subprocess.Popen(
        roost_command("worker", "--port", str(port)),
        env=server_env(data_dir, None, ROOST_LOG_LEVEL="warning", **env),
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)


def test_a_worker_reports_ready_and_its_metrics(tmp_path: Path) -> None:
    with worker_with_port(tmp_path) as (base, process):
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "event_log": "outbox",
                                "checks": {"database": "ok", "event_log": "ok"}}
        deadline = time.monotonic() + 10
        while "roost_event_lag_events" not in (body := httpx.get(f"{base}/metrics").text):
            assert time.monotonic() < deadline, body[:2000]
            time.sleep(0.2)
        assert 'roost_event_lag_events{reader="dispatcher"} 0.0' in body
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_a_worker_whose_log_is_unreachable_is_not_ready(tmp_path: Path) -> None:
    with worker_with_port(tmp_path, ROOST_EVENT_LOG="redis",
                          ROOST_REDIS_URL="redis://127.0.0.1:1/0") as (base, process):
        ready = httpx.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 503, ready.text
        body = ready.json()
        assert body["status"] == "not ready" and body["event_log"] == "redis"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["event_log"].startswith("failed: ")
        # It keeps trying, and still stops cleanly.
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
