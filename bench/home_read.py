"""Home timeline reads: Redis timelines against the database pull query, beside the
framework's ceiling, in one run.

    .venv/bin/python bench/home_read.py [--users 100000] [--viewers 2000]
        [--concurrency 8,16,32] [--keep] [--reuse NAME]

1. A seeded PostgreSQL database (bench/lessons.py's prepare_seeded: `roost seed
   --users N`, kept and reused with --keep). The `--viewers` most active accounts of
   the tokens file are the readers (the load generator draws them Zipf-like, as the
   seed's activity does).
2. `roost serve` pinned to CPU 0 without Redis: every home page is the pull query.
3. `roost serve` pinned to CPU 0 with Redis (a key prefix of the bench's own): the
   readers' timelines are built first from this process (timelines.fanout.
   build_timeline, what a first visit does), then every home page is a Redis range
   read plus hydration from the database (ROOST_OBJECT_CACHE=off: "redis-no-cache"),
   then the same with hydration through the object cache ("redis").
4. The framework's ceiling (bench/ceiling_app.py: the same app answering a captured
   home page from memory), as bench/lessons.py measures it.
5. Before it is measured, each server reads every reader's home page once (what
   their earlier visits would have left in its caches).
6. Each server is driven by `roost bench --scenario home` from CPU 1 at each
   concurrency; results in bench/results/home-read-<date>.json and a table for
   docs/performance.md.

The naive feed query is not driven over HTTP: at 100,000 users one request takes a
third of a second of database time (docs/performance.md has it per size).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.lessons import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    capture_home,
    drop_database,
    free_port,
    log,
    prepare_seeded,
    roost_env,
    run_bench,
    running,
    write_results,
)


def readers(tokens: Path, count: int, out: Path) -> tuple[Path, list[int]]:
    """The first `count` lines of the tokens file (the most active accounts)."""
    lines = tokens.read_text().splitlines()[:count]
    out.write_text("\n".join(lines) + "\n")
    return out, [int(line.split("\t")[2]) for line in lines]


async def build_timelines(env: dict[str, str], account_ids: list[int]) -> None:
    from roost.config import load_settings
    from roost.context import Roost
    from roost.db.engine import Database
    from roost.ids import IdGenerator
    from roost.redis_client import shared_client
    from roost.timelines.fanout import build_timeline

    settings = load_settings(env)
    roost = Roost(settings=settings, db=Database(settings.database_url), ids=IdGenerator(0),
                  redis=shared_client(settings))
    queue = list(account_ids)

    async def builder() -> None:
        while queue:
            account_id = queue.pop()
            async with roost.db.read() as conn:
                await build_timeline(roost, conn, account_id)

    try:
        await asyncio.gather(*(builder() for _ in range(4)))
    finally:
        await roost.db.dispose()
        if roost.redis is not None:
            await roost.redis.aclose()


def warm(base: str, tokens: Path, concurrency: int = 8) -> float:
    """Reads every reader's home page once (seconds taken): what the readers' earlier
    visits left in the caches, so that the measured minute is the steady state, not
    the first visits (drawn Zipf-like, most of 2,000 readers would be read once)."""
    import httpx

    queue = [line.split("\t")[1] for line in tokens.read_text().splitlines() if line]

    async def reader(http: httpx.AsyncClient) -> None:
        while queue:
            token = queue.pop()
            await http.get("/api/v1/timelines/home", headers={"Authorization": f"Bearer {token}"})

    async def main() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            await asyncio.gather(*(reader(http) for _ in range(concurrency)))

    started = time.monotonic()
    asyncio.run(main())
    return time.monotonic() - started


def drive(args: argparse.Namespace, label: str, base: str, tokens: Path, pid: int,
          work: Path) -> dict[str, Any]:
    results = {}
    for concurrency in args.concurrency_levels:
        args.concurrency = concurrency
        result = run_bench(args, base, tokens, "home", pid, work / f"bench-{label}-{concurrency}")
        total = result["total"]
        log(f"  {label} at {concurrency}: {total['throughput_rps']} req/s, "
            f"p50 {total['p50_ms']} ms, p99 {total['p99_ms']} ms, {total['errors']} errors")
        results[str(concurrency)] = result
    return results


def table(result: dict[str, Any]) -> str:
    ceiling = result["ceiling"]["total"]["throughput_rps"] or 1
    rows = ["| home read from | concurrency | req/s | p50 ms | p99 ms | errors | "
            "% of ceiling |", "|---|---|---|---|---|---|---|"]
    for label in ("pull", "redis-no-cache", "redis"):
        for concurrency, entry in result.get(label, {}).items():
            total = entry["total"]
            rows.append(
                f"| {label} | {concurrency} | {total['throughput_rps']} | {total['p50_ms']} | "
                f"{total['p99_ms']} | {total['errors']} | "
                f"{100 * (total['throughput_rps'] or 0) / ceiling:.0f}% |")
    total = result["ceiling"]["total"]
    rows.append(f"| ceiling (from memory) | {result['ceiling_concurrency']} | "
                f"{total['throughput_rps']} | {total['p50_ms']} | {total['p99_ms']} | "
                f"{total['errors']} | 100% |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--concurrency", default="8,16,32")
    parser.add_argument("--duration", type=float, default=25.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--wait-quiet", type=float, default=30.0)
    parser.add_argument("--seed-timeout", type=float, default=1800.0)
    parser.add_argument("--database-url",
                        default=os.environ.get("ROOST_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--redis-url",
                        default=os.environ.get("ROOST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "roost-home-read")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--reuse", metavar="NAME", help="measure this seeded database")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--bench-cpu", type=int, default=1)
    args = parser.parse_args(argv)
    args.concurrency_levels = [int(c) for c in args.concurrency.split(",")]
    os.sched_setaffinity(0, {args.bench_cpu})
    result: dict[str, Any] = {"users": args.users, "viewers": args.viewers}
    name, url, tokens = prepare_seeded(args, args.users, result)
    work = args.work_dir / name
    work.mkdir(parents=True, exist_ok=True)
    subset, viewer_ids = readers(tokens, args.viewers, work / "readers.tsv")
    prefix = f"roost:bench-home-{os.getpid()}:"
    client = redis.Redis.from_url(args.redis_url)
    pin = ["taskset", "-c", str(args.server_cpu)]
    try:
        with_redis = {"ROOST_REDIS_URL": args.redis_url, "ROOST_REDIS_KEY_PREFIX": prefix,
                      "ROOST_EVENT_LOG": "outbox"}
        for label, extra in (("pull", {}),
                             ("redis-no-cache", {**with_redis, "ROOST_OBJECT_CACHE": "off"}),
                             ("redis", with_redis)):
            env = roost_env(url, work / label, **extra)
            if label == "redis-no-cache":
                log(f"building {len(viewer_ids):,} Redis home timelines")
                asyncio.run(build_timelines(env, viewer_ids))
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            serve = [*pin, sys.executable, "-m", "roost", "serve", "--host", "127.0.0.1",
                     "--port", str(port), "--workers", "1"]
            log(f"{label}: roost serve on CPU {args.server_cpu}")
            with running(serve, env, work / f"serve-{label}.log", base) as pid:
                if label == "redis-no-cache":
                    body = capture_home(base, subset.read_text().split("\t")[1])
                    (work / "ceiling-body.json").write_bytes(body)
                log(f"  {label}: every reader's home read once in {warm(base, subset):.0f} s")
                result[label] = drive(args, label, base, subset, pid, work)
        metrics_dir = work / "ceiling-metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        ceiling = [*pin, sys.executable, "-m", "uvicorn", "bench.ceiling_app:app", "--factory",
                   "--app-dir", str(REPO), "--host", "127.0.0.1", "--port", str(port),
                   "--workers", "1", "--loop", "uvloop", "--http", "httptools",
                   "--no-access-log", "--log-level", "warning", "--proxy-headers",
                   "--timeout-keep-alive", "65", "--timeout-graceful-shutdown", "10"]
        env = roost_env(url, work / "ceiling", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
                        ROOST_BENCH_CEILING_BODY=str(work / "ceiling-body.json"))
        args.concurrency = max(args.concurrency_levels)
        result["ceiling_concurrency"] = args.concurrency
        log(f"ceiling app on CPU {args.server_cpu}")
        with running(ceiling, env, work / "ceiling.log", base) as pid:
            result["ceiling"] = run_bench(args, base, subset, "ceiling", pid,
                                          work / "bench-ceiling")
    finally:
        for key in client.scan_iter(match=f"{prefix}*", count=10_000):
            client.unlink(key)
        if not (args.keep or args.reuse):
            drop_database(args.database_url, name)
    result.update({"date": datetime.now(UTC).isoformat(timespec="seconds"),
                   "command": "python bench/home_read.py " + " ".join(argv or sys.argv[1:])})
    out = write_results("home-read", result)
    print(table(result))
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
