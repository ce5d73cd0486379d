"""What an operator sees of a real `roost serve`: health and readiness, request ids, one
JSON log line per request, and Prometheus metrics that stay right with several workers.

Two servers: one with two worker processes on the embedded SQLite database, and one on
PostgreSQL whose configured Redis is unreachable (so it is alive but not ready)."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from roost.app import create_app
from roost.config import load_settings
from roost.db.migrate import prepare_database
from tests.support.server import (
    CHEAP_PASSWORD_HASHING,
    RunningServer,
    free_port,
    roost_command,
    server_env,
    start_server,
)
from tests.support.services import fresh_postgres_database

WAIT_S = 20.0


def eventually(check: Callable[[], Any], what: str) -> Any:
    """Polls until `check` returns something truthy; a server writes its log line and
    counts a request just after the response has left, so readers must wait for it."""
    deadline = time.monotonic() + WAIT_S
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def request_lines(server: RunningServer) -> list[dict[str, Any]]:
    lines = []
    for raw in server.log().splitlines():
        if not raw.startswith("{"):
            continue
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if entry.get("event") == "request":
            lines.append(entry)
    return lines


def lines_for(server: RunningServer, request_id: str) -> list[dict[str, Any]]:
    return [line for line in request_lines(server) if line.get("request_id") == request_id]


def metric_samples(server: RunningServer, name: str) -> list[tuple[dict[str, str], float]]:
    reply = httpx.get(f"{server.url}/metrics", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    samples = []
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            if sample.name == name:
                samples.append((sample.labels, sample.value))
    return samples


def request_count(server: RunningServer, method: str, route: str) -> int:
    return int(sum(value for labels, value in metric_samples(server, "roost_http_requests_total")
                   if labels.get("method") == method and labels.get("route") == route))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Two workers on the embedded SQLite database, logging at info."""
    running = start_server(tmp_path_factory.mktemp("observed"), None, workers=2,
                           ROOST_LOG_LEVEL="info")
    yield running
    running.stop()


def test_healthz(server: RunningServer) -> None:
    reply = httpx.get(f"{server.url}/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


def test_readyz_checks_the_database(server: RunningServer) -> None:
    reply = httpx.get(f"{server.url}/readyz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_request_id_is_generated(server: RunningServer) -> None:
    first = httpx.get(f"{server.url}/healthz").headers.get_list("x-request-id")
    second = httpx.get(f"{server.url}/healthz").headers.get_list("x-request-id")
    assert len(first) == 1 and len(second) == 1
    assert first[0] != second[0]
    assert len(first[0]) == 16 and int(first[0], 16) >= 0


@pytest.mark.parametrize("sent", ["client-abc.123:x_y", "A" * 128, "7"])
def test_valid_request_id_is_echoed(server: RunningServer, sent: str) -> None:
    reply = httpx.get(f"{server.url}/healthz", headers={"X-Request-Id": sent})
    assert reply.headers.get_list("x-request-id") == [sent]


@pytest.mark.parametrize("sent", ["has space", "A" * 129, "semi;colon", "<script>", "ünï"])
def test_invalid_request_id_is_replaced(server: RunningServer, sent: str) -> None:
    reply = httpx.get(f"{server.url}/healthz",
                      headers={b"X-Request-Id": sent.encode("utf-8")})
    returned = reply.headers.get_list("x-request-id")
    assert len(returned) == 1
    assert returned[0] != sent
    assert len(returned[0]) == 16


def test_one_json_log_line_per_request(server: RunningServer) -> None:
    status_id = "123456789"
    # (method, path, expected route template, expected status)
    wanted = [
        ("GET", f"/api/v1/statuses/{status_id}", "/api/v1/statuses/{status_id}", 404),
        ("GET", "/api/v1/instance", "/api/v1/instance", 200),
        ("GET", "/api/v1/accounts/not-a-number", "/api/v1/accounts/{account_id}", 404),
        ("POST", "/api/v1/statuses", "/api/v1/statuses", 401),
        ("GET", "/no/such/path", "<unmatched>", 404),
    ]
    calls = {f"log-{secrets.token_hex(6)}": call for call in wanted}
    for request_id, (method, path, _route, status) in calls.items():
        reply = httpx.request(method, f"{server.url}{path}", headers={"X-Request-Id": request_id})
        assert reply.status_code == status, (path, reply.text)
        assert reply.headers["x-request-id"] == request_id

    for request_id, (method, path, route, status) in calls.items():

        def logged(rid: str = request_id) -> list[dict[str, Any]]:
            return lines_for(server, rid)

        lines = eventually(logged, f"log of {path}")
        assert len(lines) == 1, lines
        line = lines[0]
        assert line["method"] == method
        assert line["route"] == route
        assert line["path"] == path
        assert line["status"] == status
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
        assert isinstance(line["db_queries"], int) and line["db_queries"] >= 0
        assert line["level"] == "info"
        assert "timestamp" in line
    # The raw path never becomes a route label: the template stands for every id.
    assert all(line["route"] != f"/api/v1/statuses/{status_id}"
               for line in request_lines(server))


def test_metrics_use_route_templates(server: RunningServer) -> None:
    for status_id in ("111", "222", "333"):
        assert httpx.get(f"{server.url}/api/v1/statuses/{status_id}").status_code == 404

    def statuses_counted() -> int:
        return request_count(server, "GET", "/api/v1/statuses/{status_id}") >= 3

    eventually(statuses_counted, "the status requests to be counted")
    requests = metric_samples(server, "roost_http_requests_total")
    routes = {labels["route"] for labels, _ in requests}
    assert "/api/v1/statuses/{status_id}" in routes
    assert not any(route.startswith("/api/v1/statuses/") and "{" not in route for route in routes)
    assert {labels["status"] for labels, _ in requests
            if labels["route"] == "/api/v1/statuses/{status_id}"} == {"404"}
    durations = metric_samples(server, "roost_http_request_duration_seconds_count")
    assert any(labels["route"] == "/api/v1/statuses/{status_id}" for labels, _ in durations)

    queries = metric_samples(server, "roost_db_queries_total")
    assert queries, "no roost_db_queries_total samples"
    assert {labels["role"] for labels, _ in queries} >= {"primary"}
    assert any(labels["kind"] == "select" and value > 0 for labels, value in queries)
    assert metric_samples(server, "roost_db_query_duration_seconds_count")


def test_counts_are_exact_across_workers(server: RunningServer) -> None:
    """Two worker processes answer; /metrics (answered by either) sums both."""
    route = "/api/v1/instance"
    before = request_count(server, "GET", route)
    made = 40
    for _ in range(made):
        # A new connection each time, so that both workers take a share.
        assert httpx.get(f"{server.url}{route}").status_code == 200
    eventually(lambda: request_count(server, "GET", route) >= before + made,
               "every request to be counted")
    assert request_count(server, "GET", route) == before + made
    # Samples live in per-process files, one set for each worker.
    files = list((server.data_dir / "metrics").glob("counter_*.db"))
    assert len(files) >= 2, files


async def test_a_500_still_carries_the_request_id(tmp_path: Path) -> None:
    """Starlette answers unhandled errors outside our middleware; the id must survive."""
    settings = load_settings({"ROOST_DATA_DIR": str(tmp_path), **CHEAP_PASSWORD_HASHING})
    prepare_database(settings)
    app = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/test-only/boom", boom)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
            reply = await http.get("/test-only/boom", headers={"X-Request-Id": "trace-500"})
            assert reply.status_code == 500
            assert reply.json() == {"error": "Internal server error"}
            assert reply.headers.get_list("x-request-id") == ["trace-500"]
            generated = await http.get("/test-only/boom")
            assert len(generated.headers["x-request-id"]) == 16


# --- degraded: the database is fine, Redis is not ---------------------------------------


def test_readyz_reports_an_unreachable_redis_as_degraded(tmp_path: Path) -> None:
    with fresh_postgres_database() as database_url:
        env = server_env(tmp_path, database_url, ROOST_REDIS_URL="redis://127.0.0.1:1/0",
                         ROOST_LOG_LEVEL="warning")
        subprocess.run(roost_command("migrate"), env=env, check=True, capture_output=True)
        port = free_port()
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(roost_command("serve", "--port", str(port)), env=env,
                                       stdout=log_file, stderr=subprocess.STDOUT)
        server = RunningServer(f"http://127.0.0.1:{port}", database_url, tmp_path, process,
                               log_path)
        try:

            def alive() -> bool:
                assert process.poll() is None, server.log()
                try:
                    return httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            eventually(alive, "the server to answer /healthz")
            reply = httpx.get(f"{server.url}/readyz", timeout=10)
            # It can serve without Redis (more slowly): ready, and says it is degraded.
            assert reply.status_code == 200
            body = reply.json()
            assert body["status"] == "degraded"
            assert body["checks"]["database"] == "ok"
            assert body["checks"]["redis"].startswith("failed: ")
            assert "ConnectionError" in body["checks"]["redis"]
            # Alive all the same: liveness does not depend on other services.
            assert httpx.get(f"{server.url}/healthz").status_code == 200
            queries = metric_samples(server, "roost_db_queries_total")
            assert any(labels["kind"] == "select" and value > 0 for labels, value in queries)
        finally:
            server.stop()
