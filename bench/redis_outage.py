"""Issue 6: Redis stopped for 10 s in the middle of the `mixed` scenario.

    .venv/bin/python bench/redis_outage.py [--users 10000] [--concurrency 8]
        [--duration 60] [--stop-at 20] [--start-at 30] [--stop shutdown|kill]
        [--keep] [--reuse NAME] [--no-results] [--rebuild-cap N]

1. A seeded PostgreSQL database of its own (`roost seed --users N` into
   `redis_outage_N`, tokens in <work-dir>/redis_outage_N/tokens.tsv; kept and reused
   with --keep, or --reuse NAME).
2. A private redis-server (a free port, nothing saved on its own, pinned with the load
   generator) holding a Redis home timeline for each of the --prebuild most active
   accounts (all of them by default), as a server that has run for a while has: built
   from the database (timelines.fanout.build_timeline) on the first run, which takes
   minutes, then saved to <work-dir>/NAME/timelines.rdb and loaded from it by the
   next runs with --keep/--reuse. (Those snapshots miss the statuses posted by earlier
   runs; a read costs the same.)
3. `roost serve` on it, pinned to --server-cpu, one worker, key prefixes of its own,
   the event log on Redis Streams (the default with ROOST_REDIS_URL), the consumers in
   the serve process (ROOST_SERVE_CONSUMERS defaults to on, so no `roost worker`), and
   rate limits on, counted in Redis, with a limit nothing reaches (their fallback to
   in-process counting is exercised without refusing anything).
4. The `mixed` scenario (60% home timeline, 30% an account's statuses, 10% posting) of
   the load driver (roost.loadtest: its Client and scenario, with a recorder that keeps
   every request's completion time, latency and status), from --bench-cpu, at a fixed
   concurrency for --duration seconds after --warmup. At --stop-at seconds the private
   Redis gets SHUTDOWN NOSAVE (--stop kill: SIGKILL); at --start-at it is started again
   on the same port, empty (as this machine's Redis, which keeps nothing on disk).
5. Meanwhile /readyz is polled every 0.5 s, and every second /metrics (the breakers'
   states, where home pages were read from, rebuilds, the event lag) and the CPU time
   of the server process and of the database's PostgreSQL backends. After the load,
   the watch goes on (at most --tail s) until the event log has caught up: every
   reader's lag 0, no parked retries.
6. Throughput, failures (any non-2xx answer or transport error), latency p50/p99/max
   and CPU per request over windows: before the stop, during the outage, after the
   restart (its first 10 s, the rest), per second too; the breakers' transitions from
   the server log; bench/results/redis-outage-<date>.json (--no-results: the run's
   work directory), and a table.

--rebuild-cap N is an experiment: the server runs with at most N home timeline
rebuilds at a time (patched in at start by this script; Roost has no such cap).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import redis

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.home_read import build_timelines  # noqa: E402
from bench.lessons import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    OUR_DATABASES,
    TICKS_PER_SECOND,
    _processes,
    database_exists,
    database_url,
    drop_database,
    free_port,
    loadavg,
    log,
    machine,
    measured_load,
    percentile,
    recreate_database,
    roost_env,
    running,
    seeded_accounts,
    wait_quiet,
    write_results,
)

from roost.loadtest.driver import Client, RunConfig, preflight  # noqa: E402
from roost.loadtest.scenarios import mixed  # noqa: E402
from roost.loadtest.stats import Recorder  # noqa: E402
from roost.loadtest.tokens import load_tokens  # noqa: E402

# --------------------------------------------------------------------------- seeding


def seeded(args: argparse.Namespace, out: dict[str, Any]) -> tuple[str, str, Path]:
    """(database name, URL, tokens file) of a seeded database of --users users."""
    name = args.reuse or f"redis_outage_{args.users}"
    OUR_DATABASES.add(name)
    url = database_url(args.database_url, name)
    work = args.work_dir / name
    tokens = work / "tokens.tsv"
    out["database"] = name
    if ((args.keep or args.reuse) and database_exists(args.database_url, name)
            and tokens.exists() and seeded_accounts(url) > 0):
        out["seed"] = {"reused": True, "accounts": seeded_accounts(url)}
        log(f"{name}: reusing the seeded database ({out['seed']['accounts']:,} accounts)")
        return name, url, tokens
    if args.reuse:
        raise SystemExit(f"--reuse {name}: no seeded database with {tokens}")
    work.mkdir(parents=True, exist_ok=True)
    recreate_database(args.database_url, name)
    log(f"{name}: roost seed --users {args.users}")
    started = time.perf_counter()
    seed_log = work / "seed.log"
    with seed_log.open("w") as log_file:
        subprocess.run(  # noqa: S603 - our own command line
            [sys.executable, "-m", "roost", "seed", "--users", str(args.users),
             "--tokens", str(tokens)],
            env=roost_env(url, work), stdout=log_file, stderr=subprocess.STDOUT,
            check=True, timeout=args.seed_timeout, cwd=REPO)
    summary = [line for line in seed_log.read_text().splitlines() if line.startswith("Seeded")]
    out["seed"] = {"reused": False, "seconds": round(time.perf_counter() - started, 1),
                   "accounts": seeded_accounts(url), "summary": summary[-1] if summary else None}
    log(f"{name}: seeded in {out['seed']['seconds']} s")
    return name, url, tokens


# ---------------------------------------------------------------------- private Redis


class PrivateRedis:
    """A redis-server of this bench's own, in the foreground, stopped and started again
    on the same port."""

    def __init__(self, port: int, work: Path, cpu: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.work = work
        self.command = ["taskset", "-c", str(cpu), "redis-server", "--port", str(port),
                        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                        "--dir", str(work)]
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 60.0, load: str = "none.rdb") -> float:
        """Start it, loading the snapshot `load` of its directory if there is one (the
        restart names none: it comes back empty); seconds until it answered PING."""
        started = time.perf_counter()
        self.starts += 1
        log_path = self.work / f"redis-{self.starts}.log"
        with log_path.open("w") as log_file:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                [*self.command, "--dbfilename", load], stdout=log_file,
                stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.5)
        try:
            while time.perf_counter() - started < timeout:
                try:
                    if client.ping():
                        return time.perf_counter() - started
                except redis.RedisError:  # refused, or still loading the snapshot
                    time.sleep(0.02)
        finally:
            client.close()
        raise SystemExit(f"the private redis-server on port {self.port} did not start")

    def stop(self, how: str) -> float:
        """SHUTDOWN NOSAVE (or SIGKILL); seconds until the process was gone."""
        assert self.process is not None
        started = time.perf_counter()
        if how == "kill":
            self.process.kill()
        else:
            client = redis.Redis.from_url(self.url, socket_timeout=2)
            try:
                client.shutdown(nosave=True)
            except redis.ConnectionError:
                pass  # the server closes the connection as it goes: expected
            finally:
                client.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        return time.perf_counter() - started

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


# --------------------------------------------------------------------------- driving


class KeepingRecorder(Recorder):
    """The driver's recorder, plus every request: (completed at s, name, µs, status,
    error kind), times from the measured window's start."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[float, str, int | None, int | None, str | None]] = []

    def add(self, name: str, elapsed_s: float, micros: int | None, status: int | None,
            error_kind: str | None) -> None:
        super().add(name, elapsed_s, micros, status, error_kind)
        self.requests.append((elapsed_s, name, micros, status, error_kind))


METRIC_LINE = re.compile(r'^(roost_[a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN)$')


def parse_metrics(text: str, wanted: tuple[str, ...]) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = METRIC_LINE.match(line)
        if match and match.group(1).startswith(wanted):
            found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return found


WANTED_METRICS = ("roost_circuit_breaker", "roost_home_timeline_reads_total",
                  "roost_home_timeline_rebuilds_total", "roost_event_lag_events",
                  "roost_event_retries", "roost_event_dead_letters")


class CpuMeter:
    """CPU seconds (user + system) since the first reading, of the server process and of
    the PostgreSQL backends connected to the measured database. Backends come and go
    with the connection pool: each one's ticks are added as they grow (a backend that
    exits loses what it spent since the last reading)."""

    def __init__(self, server_pid: int, database: str) -> None:
        self.server_pid = server_pid
        self.database = database
        self.seen: dict[int, int] = {}
        self.postgres = 0
        self.server0: int | None = None
        self.read()

    def read(self) -> dict[str, float]:
        server = 0
        seen: dict[int, int] = {}
        for pid, (_, ticks, command) in _processes().items():
            if pid == self.server_pid:
                server = ticks
            elif command.startswith("postgres:") and f" {self.database} " in command:
                seen[pid] = ticks
                self.postgres += ticks - self.seen.get(pid, 0)
        if self.server0 is None:
            self.server0 = server
            self.postgres = 0
        self.seen = seen
        return {"server_cpu_s": (server - self.server0) / TICKS_PER_SECOND,
                "postgres_cpu_s": self.postgres / TICKS_PER_SECOND}


async def monitor(base: str, t0: list[float], stop: asyncio.Event,
                  samples: dict[str, list[Any]], server_pid: int, database: str) -> None:
    """Poll /readyz (every 0.5 s) and /metrics (every second) until `stop`."""
    meter = await asyncio.to_thread(CpuMeter, server_pid, database)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        tick = 0
        while not stop.is_set():
            at = time.perf_counter() - t0[0]
            try:
                async with session.get(base + "/readyz") as response:
                    body = await response.json(content_type=None)
                    samples["readyz"].append({"t": round(at, 2), "http": response.status,
                                              "status": body.get("status"),
                                              "redis_breaker": body.get("redis_breaker"),
                                              "redis": body.get("checks", {}).get("redis")})
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                samples["readyz"].append({"t": round(at, 2), "error": repr(exc)[:200]})
            if tick % 2 == 0:
                try:
                    async with session.get(base + "/metrics") as response:
                        text = await response.text()
                    cpu = await asyncio.to_thread(meter.read)
                    samples["metrics"].append({"t": round(time.perf_counter() - t0[0], 2),
                                               **parse_metrics(text, WANTED_METRICS), **cpu})
                except (aiohttp.ClientError, TimeoutError) as exc:
                    samples["metrics"].append({"t": round(at, 2), "error": repr(exc)[:200]})
            tick += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


async def outage(private: PrivateRedis, args: argparse.Namespace, t0: list[float],
                 events: dict[str, Any]) -> None:
    await asyncio.sleep(max(t0[0] + args.stop_at - time.perf_counter(), 0))
    events["stop_sent_at"] = round(time.perf_counter() - t0[0], 3)
    events["stop_took_s"] = round(await asyncio.to_thread(private.stop, args.stop), 3)
    events["stopped_at"] = round(time.perf_counter() - t0[0], 3)
    log(f"  redis stopped at t={events['stopped_at']} s ({args.stop})")
    await asyncio.sleep(max(t0[0] + args.start_at - time.perf_counter(), 0))
    events["start_sent_at"] = round(time.perf_counter() - t0[0], 3)
    events["start_took_s"] = round(await asyncio.to_thread(private.start), 3)
    events["started_at"] = round(time.perf_counter() - t0[0], 3)
    log(f"  redis answering again at t={events['started_at']} s")


def event_backlog(url: str) -> dict[str, int]:
    """Parked retries and dead letters, from the database."""
    with psycopg.connect(url, autocommit=True) as conn:
        retries = conn.execute("SELECT count(*) FROM event_retries").fetchone()
        dead = conn.execute("SELECT count(*) FROM event_dead_letters").fetchone()
    return {"parked_retries": int(retries[0]) if retries else -1,
            "dead_letters": int(dead[0]) if dead else -1}


async def run_load(args: argparse.Namespace, base: str, tokens: Path, private: PrivateRedis,
                   server_pid: int, db_url: str, database: str) -> dict[str, Any]:
    config = RunConfig(url=base, users=load_tokens(tokens), scenario="mixed",
                       duration=args.warmup + args.duration, warmup=args.warmup,
                       concurrency=args.concurrency, seed=args.seed, timeout=args.timeout,
                       server_pid=server_pid)
    connector = aiohttp.TCPConnector(limit=config.concurrency, keepalive_timeout=2.0,
                                     ttl_dns_cache=None)
    samples: dict[str, list[Any]] = {"readyz": [], "metrics": []}
    events: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=config.timeout),
                                     raise_for_status=False) as session:
        first_id = await preflight(session, config)
        client = Client(session, config)
        recorder = KeepingRecorder()
        client.recorder = recorder
        first = max(range(len(config.users)), key=lambda i: config.users[i].weight)
        client._known(first, first_id)
        start = time.perf_counter()
        client.measure_start = start + config.warmup
        client.stop_at = start + config.duration
        t0 = [client.measure_start]
        events["t0_unix"] = time.time() - (time.perf_counter() - t0[0])
        stop_monitor = asyncio.Event()

        async def virtual_user(index: int) -> None:
            rng = random.Random(config.seed * 1_000_003 + index)  # noqa: S311 (load)
            while client.running():
                await mixed(client, rng, index, 0.0)

        users = [asyncio.create_task(virtual_user(i)) for i in range(config.concurrency)]
        watcher = asyncio.create_task(monitor(base, t0, stop_monitor, samples, server_pid,
                                               database))
        breaker = asyncio.create_task(outage(private, args, t0, events))
        await asyncio.sleep(max(client.stop_at - time.perf_counter(), 0))
        _done, pending = await asyncio.wait(users, timeout=config.grace)
        for task in pending:
            task.cancel()
        await breaker
        # Watch the recovery without load until the event log has caught up (every
        # reader's lag 0 on /metrics, no parked retries), at most --tail seconds.
        load_end = time.perf_counter() - t0[0]
        while time.perf_counter() - t0[0] < load_end + args.tail:
            await asyncio.sleep(1.0)
            backlog = await asyncio.to_thread(event_backlog, db_url)
            lags = {k: v for k, v in (samples["metrics"][-1] if samples["metrics"] else {}
                                      ).items() if k.startswith("roost_event_lag_events")}
            events["tail"] = {"t": round(time.perf_counter() - t0[0], 2), **backlog,
                              "lag_events": lags}
            if lags and not any(lags.values()) and not backlog["parked_retries"]:
                events["caught_up_at"] = events["tail"]["t"]
                break
        stop_monitor.set()
        await watcher
        for task in users:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    return {"requests": recorder.requests, "samples": samples, "events": events,
            "warmup_requests": client.warmup_requests, "cancelled": len(pending),
            "notes": sorted(client.error_samples)}


# -------------------------------------------------------------------------- analysis


def failed(status: int | None, error_kind: str | None) -> bool:
    return error_kind is not None or status is None or not 200 <= status < 300


def window(requests: list[tuple[float, str, int | None, int | None, str | None]],
           start: float, end: float) -> dict[str, Any]:
    chosen = [r for r in requests if start <= r[0] < end]
    seconds = max(end - start, 1e-9)
    latencies = [r[2] / 1000 for r in chosen if r[2] is not None]
    failures = Counter(str(r[3]) if r[4] is None else r[4]
                       for r in chosen if failed(r[3], r[4]))
    by_endpoint: dict[str, Any] = {}
    for name in sorted({r[1] for r in chosen}):
        mine = [r for r in chosen if r[1] == name]
        ms = [r[2] / 1000 for r in mine if r[2] is not None]
        by_endpoint[name] = {"requests": len(mine),
                             "failed": sum(failed(r[3], r[4]) for r in mine),
                             "p50_ms": _r(percentile(ms, 0.5)), "p99_ms": _r(percentile(ms, 0.99)),
                             "max_ms": _r(max(ms) if ms else None)}
    return {"from_s": round(start, 2), "to_s": round(end, 2), "seconds": round(seconds, 2),
            "requests": len(chosen), "throughput_rps": round(len(chosen) / seconds, 1),
            "failed": sum(failures.values()), "failed_by_kind": dict(failures),
            "p50_ms": _r(percentile(latencies, 0.5)), "p99_ms": _r(percentile(latencies, 0.99)),
            "max_ms": _r(max(latencies) if latencies else None), "endpoints": by_endpoint}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def per_second(requests: list[tuple[float, str, int | None, int | None, str | None]],
               samples: dict[str, list[Any]], duration: float) -> list[dict[str, Any]]:
    rows = []
    for second in range(int(duration + 0.999)):
        row = window(requests, second, second + 1)
        readyz = [s for s in samples["readyz"] if second <= s["t"] < second + 1]
        metrics = [s for s in samples["metrics"] if second <= s["t"] < second + 1]
        state = None
        if metrics:
            state = metrics[-1].get('roost_circuit_breaker_state{breaker="redis"}')
        rows.append({"second": second, "requests": row["requests"], "failed": row["failed"],
                     "p50_ms": row["p50_ms"], "p99_ms": row["p99_ms"],
                     "max_ms": row["max_ms"],
                     "readyz": sorted({str(s.get("status") or s.get("error")) for s in readyz}),
                     "redis_breaker_state": state})
    return rows


def metric_delta(samples: list[dict[str, Any]], start: float, end: float,
                 prefix: str) -> dict[str, float]:
    """How much each counter starting with `prefix` grew between two times."""
    def at(t: float) -> dict[str, Any]:
        before = [s for s in samples if s["t"] <= t and "error" not in s]
        return before[-1] if before else {}

    first, last = at(start), at(end)
    return {key: round(value - first.get(key, 0.0), 1) for key, value in last.items()
            if key.startswith(prefix) and value - first.get(key, 0.0)}


def server_log_summary(path: Path) -> dict[str, Any]:
    """Counts of the server log's JSON lines by level and event, and its other lines."""
    counts: Counter[str] = Counter()
    other: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if line.strip() and len(other) < 40:
                other.append(line[:300])
            continue
        if isinstance(entry, dict):
            counts[f"{entry.get('level')}: {entry.get('event')}"] += 1
    return {"events": dict(counts.most_common(40)), "other_lines": other}


def window_cpu(samples: list[dict[str, Any]], start: float, end: float,
               requests: int) -> dict[str, float | None]:
    """Server and PostgreSQL CPU over a window (between the samples nearest its ends):
    % of one core, and milliseconds per request completed in the window."""
    usable = [m for m in samples if "server_cpu_s" in m]
    if len(usable) < 2:
        return {}
    first = min(usable, key=lambda m: abs(m["t"] - start))
    last = min(usable, key=lambda m: abs(m["t"] - end))
    seconds = last["t"] - first["t"]
    if seconds <= 0:
        return {}
    out: dict[str, float | None] = {"sampled_s": round(seconds, 2)}
    rate = requests / max(end - start, 1e-9)
    for key in ("server", "postgres"):
        spent = last[f"{key}_cpu_s"] - first[f"{key}_cpu_s"]
        out[f"{key}_percent_of_one_core"] = round(100 * spent / seconds, 1)
        out[f"{key}_cpu_ms_per_request"] = (round(1000 * spent / seconds / rate, 1)
                                            if rate else None)
    return out


def breaker_log(path: Path, t0_unix: float) -> list[dict[str, Any]]:
    """The breakers' transitions as the server logged them, at run time (s)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        if '"circuit breaker"' not in line:
            continue
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
        except (ValueError, KeyError):
            continue
        found.append({"t": round(at.timestamp() - t0_unix, 2), "breaker": entry.get("breaker"),
                      "state": entry.get("state"), "was": entry.get("was")})
    return found


def analyse(run: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    requests, samples, events = run["requests"], run["samples"], run["events"]
    stopped = events["stop_sent_at"]
    back = events["started_at"]
    end = float(args.duration)
    spans = {"before": (0, stopped), "during": (stopped, back), "after": (back, end),
             "after_first_10s": (back, min(back + 10, end)),
             "after_rest": (min(back + 10, end), end), "whole": (0, end)}
    windows = {}
    for key, (start, stop) in spans.items():
        windows[key] = window(requests, start, stop)
        windows[key]["cpu"] = window_cpu(samples["metrics"], start, stop,
                                         windows[key]["requests"])
    readyz_during = [s for s in samples["readyz"] if stopped <= s["t"] < back]
    states: dict[str, list[dict[str, Any]]] = {}
    for breaker in ("redis", "ratelimit-redis"):
        last = None
        for sample in samples["metrics"]:
            state = sample.get(f'roost_circuit_breaker_state{{breaker="{breaker}"}}')
            if state is not None and state != last:
                states.setdefault(breaker, []).append({"t": sample["t"], "state": state})
                last = state
    readyz_changes = []
    last_status = None
    for sample in samples["readyz"]:
        status = (sample.get("status"), sample.get("redis_breaker"))
        if status != last_status:
            readyz_changes.append(sample)
            last_status = status
    return {
        "windows": windows,
        "per_second": per_second(requests, samples, end),
        "readyz_during": Counter(f"{s.get('http')} {s.get('status')}" for s in readyz_during),
        "readyz_changes": readyz_changes,
        "breaker_state_changes": states,
        "home_reads_by_source": {
            name: metric_delta(samples["metrics"], a, b, "roost_home_timeline_re")
            for name, (a, b) in (("before", (0, stopped)), ("during", (stopped, back)),
                                 ("after", (back, end)))},
        "event_lag": [{"t": m["t"], **{k.split('"')[1]: v for k, v in m.items()
                                       if k.startswith("roost_event_lag_events") and v}}
                      for m in samples["metrics"] if "error" not in m],
        "breaker_transitions": metric_delta(samples["metrics"], 0, end + args.tail,
                                            "roost_circuit_breaker_transitions"),
    }


def table(result: dict[str, Any]) -> str:
    rows = ["| window | seconds | requests | req/s | failed | p50 ms | p99 ms | max ms "
            "| server CPU ms/req | PostgreSQL CPU ms/req |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    labels = {"before": "before (Redis up)", "during": "during (Redis stopped)",
              "after": "after (Redis back, empty)", "after_first_10s": "  first 10 s after",
              "after_rest": "  the rest after", "whole": "whole run"}
    for key, label in labels.items():
        w = result["analysis"]["windows"][key]
        rows.append(f"| {label} | {w['from_s']:g} to {w['to_s']:g} | {w['requests']:,} | "
                    f"{w['throughput_rps']} | {w['failed']} | {w['p50_ms']} | {w['p99_ms']} | "
                    f"{w['max_ms']} | {w['cpu'].get('server_cpu_ms_per_request')} | "
                    f"{w['cpu'].get('postgres_cpu_ms_per_request')} |")
    return "\n".join(rows)


# ------------------------------------------------------------------------------ main

SERVE_CAPPED = "--serve-with-rebuild-cap"


def serve_with_rebuild_cap(cap: int, argv: list[str]) -> int:
    """`roost serve` (argv) with at most `cap` home timeline rebuilds running at a time in
    the process (the others are skipped: the next visit asks again). An experiment for
    --rebuild-cap, patched in at start; Roost itself has no such cap. Applied once
    uvicorn starts, after `roost serve` has set up the metrics directory."""
    import uvicorn

    real_run = uvicorn.run

    def run(*args: Any, **kwargs: Any) -> None:
        from roost.timelines import home_read

        original = home_read.HomeRebuilds.request

        def request(self: home_read.HomeRebuilds, viewer_id: int) -> None:
            if viewer_id not in self._running and len(self._running) >= cap:
                return
            original(self, viewer_id)

        home_read.HomeRebuilds.request = request  # type: ignore[method-assign]
        real_run(*args, **kwargs)

    uvicorn.run = run
    from roost.cli import main as roost_main

    return roost_main(argv)



def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == [SERVE_CAPPED]:
        return serve_with_rebuild_cap(int(given[1]), given[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0,
                        help="measured seconds (after --warmup)")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--stop-at", type=float, default=20.0,
                        help="seconds into the measured window when Redis is stopped")
    parser.add_argument("--start-at", type=float, default=30.0,
                        help="seconds into the measured window when Redis is started")
    parser.add_argument("--stop", choices=("shutdown", "kill"), default="shutdown",
                        help="SHUTDOWN NOSAVE (default) or SIGKILL")
    parser.add_argument("--tail", type=float, default=60.0,
                        help="at most this many seconds after the load, /readyz and /metrics "
                             "are watched until the event log has caught up")
    parser.add_argument("--prebuild", type=int, default=10_000,
                        help="build the Redis home timelines of the first N accounts of the "
                             "tokens file (the most active) before the run (0: none)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seed-timeout", type=float, default=900.0)
    parser.add_argument("--database-url",
                        default=os.environ.get("ROOST_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "roost-redis-outage")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--reuse", metavar="NAME", help="measure this seeded database")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--bench-cpu", type=int, default=1)
    parser.add_argument("--rebuild-cap", type=int, metavar="N",
                        help="experiment: the server runs at most N home timeline rebuilds "
                             "at a time (patched in by this bench; Roost has no such cap)")
    parser.add_argument("--wait-quiet", type=float, default=60.0,
                        help="seconds to wait for other work on the machine to stop")
    parser.add_argument("--no-results", action="store_true",
                        help="print, do not write bench/results")
    args = parser.parse_args(argv)
    if not 0 < args.stop_at < args.start_at < args.duration:
        parser.error("need 0 < --stop-at < --start-at < --duration")
    os.sched_setaffinity(0, {args.bench_cpu})
    command = "python bench/redis_outage.py " + " ".join(sys.argv[1:] if argv is None else argv)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
        "machine": machine(args.database_url),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    name, url, tokens = seeded(args, result)
    work = args.work_dir / name / f"run-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    private = PrivateRedis(free_port(), work, args.bench_cpu)
    # Fixed: the timelines' snapshot is reused by later runs (the Redis is private).
    prefix = "roost:outage:"
    env = roost_env(url, work / "serve", ROOST_REDIS_URL=private.url,
                    ROOST_REDIS_KEY_PREFIX=prefix, ROOST_EVENT_STREAM_PREFIX=prefix,
                    ROOST_RATE_LIMITS="on", ROOST_RATE_LIMIT_REQUESTS="1000000",
                    ROOST_RATE_LIMIT_KEY_PREFIX=prefix + "rl:", ROOST_SERVE_CONSUMERS="on",
                    ROOST_LOG_LEVEL="warning")
    result["server_env"] = {k: v for k, v in env.items()
                            if k.startswith("ROOST_") and k != "ROOST_SECRET_KEY"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    roost = ([str(Path(__file__).resolve()), SERVE_CAPPED, str(args.rebuild_cap)]
             if args.rebuild_cap is not None else ["-m", "roost"])
    serve = ["taskset", "-c", str(args.server_cpu), sys.executable, *roost, "serve",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    result["serve_command"] = " ".join(serve)
    serve_log = work / "serve.log"
    try:
        snapshot = args.work_dir / name / "timelines.rdb"
        if args.prebuild and snapshot.exists() and (args.keep or args.reuse):
            shutil.copyfile(snapshot, work / "timelines.rdb")
            took = private.start(load="timelines.rdb")
            keys = redis.Redis.from_url(private.url).dbsize()
            result["prebuilt_timelines"] = {"from_snapshot": str(snapshot), "keys": keys,
                                            "load_seconds": round(took, 1)}
            log(f"Redis home timelines loaded from {snapshot} ({keys:,} keys)")
        else:
            private.start(load="timelines.rdb")  # none yet: empty
            if args.prebuild:
                readers = [int(line.split("\t")[2])
                           for line in tokens.read_text().splitlines()[:args.prebuild]]
                started = time.perf_counter()
                asyncio.run(build_timelines(env, readers))
                result["prebuilt_timelines"] = {
                    "accounts": len(readers), "seconds": round(time.perf_counter() - started, 1)}
                log(f"built {len(readers):,} Redis home timelines in "
                    f"{result['prebuilt_timelines']['seconds']} s")
                client = redis.Redis.from_url(private.url)
                client.save()  # into work/timelines.rdb
                shutil.copyfile(work / "timelines.rdb", snapshot)
        log(f"private redis-server on port {private.port}; roost serve on CPU "
            f"{args.server_cpu}, mixed at concurrency {args.concurrency} from CPU "
            f"{args.bench_cpu}; Redis stopped at t={args.stop_at:g} s, started at "
            f"t={args.start_at:g} s")
        wait_quiet(args.wait_quiet, result)
        result["loadavg_before"] = loadavg()
        with running(serve, env, serve_log, base) as pid:
            load: dict[str, Any] = {}
            with measured_load(load):
                run = asyncio.run(run_load(args, base, tokens, private, pid, url, name))
            result["load"] = load
    finally:
        private.close()
        if not (args.keep or args.reuse):
            drop_database(args.database_url, name)
    result["outage"] = run["events"]
    result["warmup_requests"] = run["warmup_requests"]
    result["cancelled_at_end"] = run["cancelled"]
    result["client_error_samples"] = run["notes"]
    result["analysis"] = analyse(run, args)
    result["readyz_samples"] = run["samples"]["readyz"]
    result["metrics_samples"] = run["samples"]["metrics"]
    result["server_log"] = server_log_summary(serve_log)
    result["analysis"]["breaker_transitions_logged"] = breaker_log(
        serve_log, run["events"]["t0_unix"])
    result["server_log_path"] = str(serve_log)
    failures = [{"t": round(r[0], 3), "endpoint": r[1], "status": r[3], "error": r[4]}
                for r in run["requests"] if failed(r[3], r[4])]
    result["failed_requests"] = failures[:200]
    (work / "requests.json").write_text(json.dumps(run["requests"]))
    print(table(result))
    print(json.dumps({"readyz_during": result["analysis"]["readyz_during"],
                      "breaker": result["analysis"]["breaker_transitions_logged"],
                      "failed": len(failures)}, indent=1))
    if args.no_results:
        (work / "result.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(f"results in {work / 'result.json'}")
    else:
        out = write_results("redis-outage", result)
        print(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
