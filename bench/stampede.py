"""Issue 6: stampede protection of computed values, measured (docs/caching.md).

    .venv/bin/python bench/stampede.py [--workers 3] [--readers 200] [--candidates 30000]
        [--rounds 3] [--think 0] [--out KIND] [--keep]

1. A scratch PostgreSQL database `stampede_bench`: `roost seed --users 2000` for
   accounts, then --candidates synthetic public statuses of the last 24 hours with
   heavy-tailed like and boost counts, all of them trend candidates
   (trend_status_candidates), so that ranking the trending statuses is a real
   statement (tens of milliseconds), as on a busy server.
2. For each strategy of cache.computed (the bench-only switch ROOST_CACHE_STAMPEDE:
   `off` = a plain cache without protection, `xfetch` = probabilistic early
   recomputation, `lock` = the lock with stale-while-recompute, Roost's default):
   `roost serve --workers N` pinned to CPU 0 with Redis (a key prefix of its own);
   the load comes from this process pinned to CPU 1.
3. After a warm-up of every worker, rounds: --readers concurrent readers read
   GET /api/v1/trends/statuses for WINDOW_S seconds, back to back (all of them always
   waiting on the server: the worst case, whose latency is mostly queueing) or
   pausing --think seconds on average between reads, across the cached list's
   expiry, which the bench moves to LEAD_S seconds after the round starts (it
   rewrites the soft expiry inside the cached payload in Redis, keeping the value:
   what the passing of 5 minutes does).
   A last round starts with the key absent (a cold cache). Recomputations are read
   from /metrics (roost_cache_recompute_total{cache="trends_statuses"}, summed over
   the workers) before and after each round; latency p50/p99 of the requests made
   before the expiry and in the 2 s after it.
4. bench/results/stampede-<date>.json (--out KIND: <KIND>-<date>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import redis

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.lessons import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    database_url,
    drop_database,
    free_port,
    loadavg,
    percentile,
    recreate_database,
    roost_env,
    running,
    write_results,
)

from roost.ids import compose_id  # noqa: E402

NAME = "stampede_bench"
STRATEGIES = ("off", "xfetch", "lock")
CACHE = "trends_statuses"
WINDOW_S = 6.0
LEAD_S = 3.0
WARMUP_S = 4.0
REDIS_URL = "redis://127.0.0.1:6379/0"
_SAMPLE = re.compile(r'^roost_cache_recompute_total\{cache="' + CACHE + r'"\} ([0-9.e+]+)$',
                     re.MULTILINE)


def log(message: str) -> None:
    print(f"[stampede {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr,
          flush=True)


# ------------------------------------------------------------------------------ data


def prepare(args: argparse.Namespace, work: Path) -> str:
    url = database_url(args.database_url, NAME)
    recreate_database(args.database_url, NAME)
    log(f"{NAME}: roost migrate; roost seed --users {args.users}")
    env = roost_env(url, work)
    for command in (["migrate"], ["seed", "--users", str(args.users)]):
        subprocess.run([sys.executable, "-m", "roost", *command], env=env, check=True,  # noqa: S603
                       cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=600)
    rng = random.Random(6)  # noqa: S311 - reproducible data, not secrets
    now_ms = int(time.time() * 1000)
    with psycopg.connect(url, autocommit=False) as conn:
        authors = [row[0] for row in conn.execute("SELECT id FROM accounts LIMIT 1000")]
        ids: set[int] = set()
        while len(ids) < args.candidates:
            ms = now_ms - rng.randrange(24 * 3600 * 1000)
            ids.add(compose_id(ms, rng.randrange(1024), 250, rng.randrange(16)))
        rows = []
        for status_id in sorted(ids):
            likes = min(int(rng.paretovariate(1.2)) - 1, 5000)
            boosts = min(int(rng.paretovariate(1.5)) - 1, 2000)
            rows.append((status_id, rng.choice(authors), likes, boosts))
        with conn.cursor() as cur:
            with cur.copy("COPY statuses (id, account_id, visibility, text, content_html) "
                          "FROM STDIN") as copy:
                for status_id, author, _, _ in rows:
                    copy.write_row((status_id, author, 0, "bench", "<p>bench</p>"))
            with cur.copy("COPY status_stats (status_id, replies_count, reblogs_count, "
                          "favourites_count) FROM STDIN") as copy:
                for status_id, _, likes, boosts in rows:
                    copy.write_row((status_id, 0, boosts, likes))
            moment = datetime.now(UTC) - timedelta(minutes=1)
            with cur.copy("COPY trend_status_candidates (status_id, last_interaction_at) "
                          "FROM STDIN") as copy:
                for status_id, _, _, _ in rows:
                    copy.write_row((status_id, moment))
        conn.commit()
        conn.execute("ANALYZE")
    log(f"{NAME}: {args.candidates:,} trend candidates added")
    return url


# ------------------------------------------------------------------------------ load


def recomputed(base: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as reply:  # noqa: S310
        text = reply.read().decode()
    return sum(float(value) for value in _SAMPLE.findall(text))


def move_expiry(client: redis.Redis, key: str, at: float | None) -> None:
    """Soft expiry of the cached payload to `at` (wall clock), or the key deleted."""
    if at is None:
        client.delete(key, f"{key}:lock")
        return
    raw = client.get(key)
    if raw is None:
        raise SystemExit(f"{key} is not cached")
    payload = orjson.loads(raw)
    payload["x"] = at
    client.set(key, orjson.dumps(payload), px=max(int(client.pttl(key)), 60_000))


async def readers(base: str, count: int, seconds: float, think_s: float
                  ) -> list[tuple[float, float, int]]:
    """(start, latency s, status) of every request `count` readers made: each reads,
    pauses `think_s` on average (exponentially distributed; 0: not at all, so that all
    `count` are always waiting on the server), reads again, until the window ends."""
    import httpx

    samples: list[tuple[float, float, int]] = []
    deadline = time.time() + seconds
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    rng = random.Random(7)  # noqa: S311 - reproducible arrivals
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:

        async def loop() -> None:
            await asyncio.sleep(min(rng.uniform(0, think_s), seconds))
            while time.time() < deadline:
                started = time.time()
                reply = await http.get("/api/v1/trends/statuses")
                samples.append((started, time.time() - started, reply.status_code))
                if think_s:
                    pause = rng.expovariate(1 / think_s)
                    await asyncio.sleep(max(0.0, min(pause, deadline - time.time())))

        await asyncio.gather(*(loop() for _ in range(count)))
    return samples


def run_round(base: str, client: redis.Redis, key: str, args: argparse.Namespace,
              cold: bool) -> dict[str, Any]:
    before = recomputed(base)
    expiry = None if cold else time.time() + LEAD_S
    move_expiry(client, key, expiry)
    samples = asyncio.run(readers(base, args.readers, WINDOW_S, args.think))
    time.sleep(0.5)
    latencies = [s[1] * 1000 for s in samples]
    errors = sum(1 for s in samples if s[2] != 200)
    before_expiry = [s[1] * 1000 for s in samples if expiry is not None and s[0] < expiry - 0.5]
    after_expiry = [s[1] * 1000 for s in samples
                    if expiry is None or expiry <= s[0] <= expiry + 2.0]
    return {
        "cold": cold,
        "recomputes": round(recomputed(base) - before),
        "requests": len(samples),
        "errors": errors,
        "p50_ms": _ms(percentile(latencies, 0.5)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
        "before_expiry_p50_ms": _ms(percentile(before_expiry, 0.5)),
        "before_expiry_p99_ms": _ms(percentile(before_expiry, 0.99)),
        "after_expiry_p50_ms": _ms(percentile(after_expiry, 0.5)),
        "after_expiry_p99_ms": _ms(percentile(after_expiry, 0.99)),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def measure(strategy: str, url: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prefix = f"roost:bench-stampede-{secrets.token_hex(3)}:"
    env = roost_env(url, work, ROOST_REDIS_URL=REDIS_URL, ROOST_REDIS_KEY_PREFIX=prefix,
                    ROOST_EVENT_LOG="outbox", ROOST_SERVE_CONSUMERS="off",
                    ROOST_CACHE_STAMPEDE=strategy)
    command = ["taskset", "-c", str(args.server_cpu), sys.executable, "-m", "roost", "serve",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)]
    key = f"{prefix}cv:{CACHE}"
    result: dict[str, Any] = {"strategy": strategy, "rounds": []}
    with redis.Redis.from_url(REDIS_URL) as client, \
            running(command, env, work / f"serve-{strategy}.log", base):
        try:
            started = time.perf_counter()
            with urllib.request.urlopen(base + "/api/v1/trends/statuses",  # noqa: S310
                                        timeout=30) as reply:
                result["first_read_ms"] = round((time.perf_counter() - started) * 1000, 1)
                result["listed"] = len(orjson.loads(reply.read()))
            # Every worker warmed (connections, first queries) before anything is timed.
            asyncio.run(readers(base, args.readers, WARMUP_S, think_s=WARMUP_S / 2))
            for n in range(args.rounds + 1):
                cold = n == args.rounds
                if not cold:  # a warm cache whatever the previous round left
                    urllib.request.urlopen(base + "/api/v1/trends/statuses",  # noqa: S310
                                           timeout=30).read()
                entry = run_round(base, client, key, args, cold)
                entry["load"] = loadavg()
                result["rounds"].append(entry)
                log(f"{strategy} round {n + 1}{' (cold)' if cold else ''}: "
                    f"{entry['recomputes']} recomputations, {entry['requests']} requests, "
                    f"p50/p99 before expiry {entry['before_expiry_p50_ms']}/"
                    f"{entry['before_expiry_p99_ms']} ms, in the 2 s after "
                    f"{entry['after_expiry_p50_ms']}/{entry['after_expiry_p99_ms']} ms")
            payload = client.get(key)
            if payload is not None:
                result["compute_ms"] = round(orjson.loads(payload)["d"] * 1000, 1)
        finally:
            for stale in client.scan_iter(match=f"{prefix}*"):
                client.delete(stale)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--candidates", type=int, default=30_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="warm rounds per strategy")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean pause of a reader between reads, s (0: none)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--out", default="stampede",
                        help="results in bench/results/<out>-<date>.json")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.client_cpu})
    out: dict[str, Any] = {
        "bench": "stampede",
        "command": "python bench/stampede.py " + " ".join(sys.argv[1:]),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "workers": args.workers, "readers": args.readers, "candidates": args.candidates,
        "think_s": args.think,
        "window_s": WINDOW_S, "lead_s": LEAD_S, "load_before": loadavg(), "strategies": [],
    }
    with tempfile.TemporaryDirectory(prefix="roost-stampede-") as scratch:
        work = Path(scratch)
        try:
            url = prepare(args, work)
            for strategy in args.strategies.split(","):
                out["strategies"].append(measure(strategy, url, work, args))
        finally:
            if not args.keep:
                drop_database(args.database_url, NAME)
    out["load_after"] = loadavg()
    log(f"results: {write_results(args.out, out)}")


if __name__ == "__main__":
    main()
