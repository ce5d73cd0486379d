"""Issue 7 (streaming endpoints): what 10,000 idle streaming connections cost one
`roost serve` process, and how fast one public post reaches all of them.

    .venv/bin/python bench/streaming_idle.py [--connections 10000] [--backend postgresql]
                                             [--rounds 5] [--keep]

1. A scratch database (PostgreSQL `streaming_idle`, or a SQLite file with
   `--backend sqlite`), `roost seed --users N` with a token per user.
2. `roost serve` (one worker, consumers in-process; with PostgreSQL also Redis: the
   Redis event log and Redis pub/sub) pinned to CPU 0 with taskset, its open-file
   limit raised; rate limits off (every connection comes from 127.0.0.1).
3. This process, pinned to CPU 1, opens N server-sent-event connections to
   /api/v1/streaming/public, each with the token of a different user (so the per-viewer
   facts are loaded for N viewers, as in life), written by hand on raw asyncio
   connections (a Protocol each: the lightest client), and waits for every greeting.
   The server's VmRSS is read from /proc before and after.
4. `--rounds` times: one user posts a public status; the time from sending the POST
   until each connection has received the `update` is recorded (p50, p99, max), with
   the server's CPU time over the round.
5. bench/results/streaming-idle-<N>-<date>[-sqlite].json; a summary is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.lessons import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    database_url,
    drop_database,
    loadavg,
    log,
    machine,
    recreate_database,
)
from tests.support.server import CHEAP_PASSWORD_HASHING, free_port  # noqa: E402

RESULTS_DIR = REPO / "bench" / "results"
NAME = "streaming_idle"
REDIS_URL = "redis://127.0.0.1:6379/0"
SERVER_CPU, CLIENT_CPU = 0, 1
OPEN_BATCH = 200  # connections opened at once (the listen backlog is uvicorn's 2048)
ARRIVAL_TIMEOUT_S = 120.0


def raise_open_files() -> None:
    """As many open files as the hard limit allows (the server runs this too)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the server -------------------------------------------------------------------------


def seed(env: dict[str, str], users: int, tokens: Path) -> None:
    roost = [sys.executable, "-m", "roost"]
    if env["ROOST_DATABASE_URL"].startswith("postgresql"):
        subprocess.run([*roost, "migrate"], env=env, check=True,  # noqa: S603 - ours
                       capture_output=True)
    subprocess.run([*roost, "seed",  # noqa: S603 - our own command line "--users", str(users), "--follows-mean", "5",
                    "--posts-mean", "2", "--weeks", "1", "--tokens", str(tokens)],
                   env=env, check=True, capture_output=True)


def read_tokens(path: Path) -> list[str]:
    return [line.split("\t")[1] for line in path.read_text().splitlines()
            if line and not line.startswith("username")]


@contextlib.contextmanager
def serving(env: dict[str, str], log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    with log_path.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            ["taskset", "-c", str(SERVER_CPU),  # noqa: S607 - taskset from PATH
             sys.executable, "-m", "roost", "serve", "--port", str(port), "--workers", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=raise_open_files,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"roost serve exited:\n{log_path.read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("roost serve did not become ready")
                time.sleep(0.2)
            yield process, url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- the client: raw connections --------------------------------------------------------


class StreamConnection(asyncio.Protocol):
    """One SSE connection: notes when it was greeted and when an update came."""

    def __init__(self, greeted: asyncio.Future[None]) -> None:
        self.greeted = greeted
        self.update_at: float | None = None
        self.update_head = b""
        self.transport: asyncio.Transport | None = None
        self.heartbeats = 0
        self.lost = False
        self.head = b""  # the response until the greeting

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.greeted.done():
            self.head += data
            if b"\r\n" in self.head and b" 200 " not in self.head.split(b"\r\n", 1)[0]:
                self.greeted.set_exception(RuntimeError(self.head[:300].decode(errors="replace")))
            elif b"\n:)\n" in self.head:
                self.greeted.set_result(None)
                self.head = b""
            return
        if b"event: update" in data and self.update_at is None:
            self.update_at = time.perf_counter()
            self.update_head = data[:400]
        elif b":thump" in data:
            self.heartbeats += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.greeted.done():
            self.greeted.set_exception(ConnectionError("closed before the greeting"))


async def open_one(port: int, token: str) -> StreamConnection:
    loop = asyncio.get_running_loop()
    greeted: asyncio.Future[None] = loop.create_future()
    _transport, connection = await loop.create_connection(
        lambda: StreamConnection(greeted), "127.0.0.1", port)
    assert connection.transport is not None
    connection.transport.write(
        b"GET /api/v1/streaming/public HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nAccept: text/event-stream\r\n\r\n")
    await greeted
    return connection


async def open_all(port: int, tokens: list[str], count: int) -> list[StreamConnection]:
    opened: list[StreamConnection] = []
    for start in range(0, count, OPEN_BATCH):
        batch = [tokens[n % len(tokens)] for n in range(start, min(count, start + OPEN_BATCH))]
        opened += await asyncio.gather(*(open_one(port, token) for token in batch))
        if len(opened) % 2000 == 0:
            log(f"{len(opened)} connections open")
    return opened


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def one_round(url: str, poster: str, connections: list[StreamConnection], pid: int
                    ) -> dict[str, Any]:
    for connection in connections:
        connection.update_at, connection.update_head = None, b""
    cpu_before = cpu_seconds(pid)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        sent = time.perf_counter()
        reply = await http.post("/api/v1/statuses",
                                data={"status": f"round {secrets.token_hex(3)}"},
                                headers={"Authorization": f"Bearer {poster}"})
        answered = time.perf_counter()
    reply.raise_for_status()
    status_id = reply.json()["id"].encode()
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(c.update_at is not None or c.lost for c in connections):
            break
        await asyncio.sleep(0.01)
    arrived = [c for c in connections if c.update_at is not None]
    wrong = sum(1 for c in arrived if status_id not in c.update_head)
    delays_ms = [((c.update_at or 0) - sent) * 1000 for c in arrived]
    return {
        "post_ms": round((answered - sent) * 1000, 1),
        "arrived": len(arrived), "missing": len(connections) - len(arrived),
        "other_status": wrong, "closed": sum(1 for c in connections if c.lost),
        "p50_ms": round(percentile(delays_ms, 0.5), 1) if delays_ms else None,
        "p99_ms": round(percentile(delays_ms, 0.99), 1) if delays_ms else None,
        "max_ms": round(max(delays_ms), 1) if delays_ms else None,
        "first_ms": round(min(delays_ms), 1) if delays_ms else None,
        "server_cpu_s": round(cpu_seconds(pid) - cpu_before, 2),
        "loadavg": loadavg(),
    }


async def measure(url: str, pid: int, tokens: list[str], count: int, rounds: int
                  ) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1])
    await asyncio.sleep(2)
    rss_before = vm_rss_kib(pid)
    started = time.perf_counter()
    try:
        connections = await open_all(port, tokens, count)
    except Exception as error:
        return {"rss_before_kib": rss_before, "failed_opening": f"{type(error).__name__}: {error}",
                "rss_at_failure_kib": vm_rss_kib(pid)}
    opened_s = time.perf_counter() - started
    await asyncio.sleep(3)
    rss_after = vm_rss_kib(pid)
    log(f"{count} open in {opened_s:.1f} s; RSS {rss_before / 1024:.0f} -> "
        f"{rss_after / 1024:.0f} MiB")
    results = []
    for n in range(rounds):
        results.append(await one_round(url, tokens[0], connections, pid))
        log(f"round {n + 1}: {results[-1]}")
        await asyncio.sleep(1)
    rss_end = vm_rss_kib(pid)
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()
    return {
        "open_s": round(opened_s, 1),
        "rss_before_kib": rss_before, "rss_open_kib": rss_after, "rss_after_rounds_kib": rss_end,
        "per_connection_kib": round((rss_after - rss_before) / count, 1),
        "rounds": results,
        "summary": {key: statistics.median(r[key] for r in results)
                    for key in ("p50_ms", "p99_ms", "max_ms", "server_cpu_s")
                    if all(r[key] is not None for r in results)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=None, help="default: --connections")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    raise_open_files()
    os.sched_setaffinity(0, {CLIENT_CPU})
    scratch = Path(tempfile.mkdtemp(prefix="streaming-idle-"))
    users = args.users or args.connections
    env = {**os.environ, "ROOST_RATE_LIMITS": "off", "ROOST_LOG_LEVEL": "warning",
           "ROOST_DATA_DIR": str(scratch), **CHEAP_PASSWORD_HASHING}
    prefix = f"roost:bench-idle-{secrets.token_hex(3)}:"
    if args.backend == "postgresql":
        recreate_database(args.admin_url, NAME)
        env.update(ROOST_DATABASE_URL=database_url(args.admin_url, NAME),
                   ROOST_REDIS_URL=REDIS_URL, ROOST_REDIS_KEY_PREFIX=prefix,
                   ROOST_EVENT_STREAM_PREFIX=prefix + "log:")
    else:
        env["ROOST_DATABASE_URL"] = f"sqlite:///{scratch / 'roost.sqlite3'}"
        env.pop("ROOST_REDIS_URL", None)
    tokens_path = scratch / "tokens.tsv"
    try:
        log(f"seeding {users} users ({args.backend})")
        seed(env, users, tokens_path)
        tokens = read_tokens(tokens_path)
        with serving(env, scratch / "server.log") as (process, url):
            measured = asyncio.run(measure(url, process.pid, tokens, args.connections,
                                           args.rounds))
        result = {
            "bench": NAME, "date": date.today().isoformat(), "backend": args.backend,
            "connections": args.connections, "users": users, "stream": "public",
            "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU,
            "machine": machine(args.admin_url),
            "command": " ".join([".venv/bin/python", *sys.argv]),
            **measured,
        }
        suffix = "" if args.backend == "postgresql" else "-sqlite"
        out = RESULTS_DIR / f"streaming-idle-{args.connections}-{date.today()}{suffix}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "rounds")},
                         indent=2))
        log(f"written {out}")
    finally:
        if args.backend == "postgresql" and not args.keep:
            drop_database(args.admin_url, NAME)
        if REDIS_URL and args.backend == "postgresql":
            import redis

            with redis.Redis.from_url(REDIS_URL) as client:
                for key in client.scan_iter(match=f"{prefix}*"):
                    client.delete(key)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
