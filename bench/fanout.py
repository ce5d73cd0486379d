"""Fan-out into Redis home timelines: how fast, and how long until the last follower.

    .venv/bin/python bench/fanout.py [--users 101000] [--posts 5] [--keep] [--reuse]

1. A scratch PostgreSQL database `fanout_bench`, seeded with `roost seed --users N`
   (a small network: the followers' pool), then two authors given exactly 1,000 and
   100,000 followers (bench/posting_latency.py's give_followers).
2. Every follower of both gets a Redis home timeline, built and complete (the marker
   only, plus `--prefill` older statuses each, so additions trim as they do in use).
   Keys under a prefix of the bench's own, deleted afterwards.
3. `roost serve` (consumers off) and a `roost worker --only home_timelines` (the
   embedded outbox log, its dispatcher in the worker) on PostgreSQL + Redis; the worker
   is pinned to CPU 0, the server and this script to CPU 1.
4. Each author posts `--posts` statuses, one at a time (authors in turn). After each
   post the script polls (every 2 ms) the timeline of the author's last follower in
   follow order, which the fan-out reaches last, and records the time from the post's
   answer until it holds the status. Fan-out rate = followers / that time.
5. bench/results/fanout-<date>.json (or --out); the table for docs/timelines.md is
   printed.

`ROOST_FANOUT_MAX_FOLLOWERS` is set above the biggest author's followers: the bench
measures fan-out itself (by default an author above 10,000 followers is merged in at
read time instead). `--keep` keeps the scratch database and `--reuse` runs on it again
without seeding (the authors are remembered in the work directory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.lessons import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    database_exists,
    database_url,
    drop_database,
    free_port,
    loadavg,
    log,
    percentile,
    recreate_database,
    roost_env,
    running,
    write_results,
)
from bench.posting_latency import give_followers, seed  # noqa: E402

FOLLOWER_COUNTS = (1_000, 100_000)
ID_DIGITS = 19  # timelines/redis_home.py


def followers_of(url: str, author_id: int) -> list[int]:
    """The author's followers in follow order (the fan-out's order)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT account_id FROM follows WHERE target_account_id = %s"
                            " ORDER BY id", (author_id,)).fetchall()
    return [int(row[0]) for row in rows]


def build_timelines(client: redis.Redis, prefix: str, accounts: list[int],
                    prefill: int) -> None:
    """Complete timelines: the marker, and `prefill` made-up older statuses each."""
    old = {str(n).zfill(ID_DIGITS): 0 for n in range(1, prefill + 1)}
    for start in range(0, len(accounts), 1000):
        with client.pipeline(transaction=False) as pipe:
            for account_id in accounts[start:start + 1000]:
                key = f"{prefix}home:{account_id}"
                pipe.zadd(key, {"~built": 0, **old})
                pipe.expire(key, 7 * 86_400)
            pipe.execute()


def post(base: str, token: str, text: str) -> int:
    body = urllib.parse.urlencode({"status": text}).encode()
    request = urllib.request.Request(  # noqa: S310 - a local server
        base + "/api/v1/statuses", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
        assert reply.status == 200
        return int(json.loads(reply.read())["id"])


def wait_delivered(client: redis.Redis, key: str, status_id: int, timeout: float) -> float:
    member = str(status_id).zfill(ID_DIGITS)
    started = time.perf_counter()
    while client.zscore(key, member) is None:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{key} did not get {status_id} within {timeout} s")
        time.sleep(0.002)
    return time.perf_counter() - started


def measure(base: str, client: redis.Redis, prefix: str, authors: list[dict[str, Any]],
            posts: int) -> dict[str, Any]:
    samples: dict[int, list[float]] = {a["followers"]: [] for a in authors}
    for round_ in range(posts + 1):  # the first round warms up
        for author in authors:
            status_id = post(base, author["token"], f"fan-out {round_}")
            seconds = wait_delivered(client, f"{prefix}home:{author['last_follower']}",
                                     status_id, timeout=120)
            if round_:
                samples[author["followers"]].append(seconds)
    result: dict[str, Any] = {"authors": []}
    for author in authors:
        values = samples[author["followers"]]
        p50 = percentile(values, 0.5) or 0
        result["authors"].append({
            "followers": author["followers"], "posts": len(values),
            "p50_s": round(p50, 3), "p99_s": round(percentile(values, 0.99) or 0, 3),
            "max_s": round(max(values), 3),
            "inserts_per_s_at_p50": round(author["followers"] / p50) if p50 else None,
            "samples_s": [round(v, 3) for v in values],
        })
    return result


def table(result: dict[str, Any]) -> str:
    rows = ["| followers | posts | until the last follower has it: p50 | p99 | max "
            "| timeline inserts/s (p50) |", "|---|---|---|---|---|---|"]
    for entry in result["authors"]:
        rows.append(f"| {entry['followers']:,} | {entry['posts']} | {entry['p50_s']} s | "
                    f"{entry['p99_s']} s | {entry['max_s']} s | "
                    f"{entry['inserts_per_s_at_p50']:,} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=101_000)
    parser.add_argument("--posts", type=int, default=5, help="posts per author (measured)")
    parser.add_argument("--prefill", type=int, default=100,
                        help="older statuses already in each timeline")
    parser.add_argument("--followers", default=",".join(map(str, FOLLOWER_COUNTS)))
    parser.add_argument("--database-url",
                        default=os.environ.get("ROOST_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--redis-url",
                        default=os.environ.get("ROOST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "roost-fanout")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the database a --keep run left (implies --keep)")
    parser.add_argument("--out", type=Path, help="results file (default: bench/results/)")
    parser.add_argument("--worker-cpu", type=int, default=0)
    parser.add_argument("--bench-cpu", type=int, default=1)
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.followers.split(",")]
    if args.users <= max(counts) + len(counts):
        parser.error(f"--users must exceed {max(counts) + len(counts)}")
    os.sched_setaffinity(0, {args.bench_cpu})
    name = "fanout_bench"
    url = database_url(args.database_url, name)
    prefix = f"roost:bench-fanout-{os.getpid()}:"
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    remembered = args.work_dir / "authors.json"
    reuse = (args.reuse and remembered.exists() and database_exists(args.database_url, name)
             and json.loads(remembered.read_text())["followers"] == counts)
    if args.reuse:
        args.keep = True
    if not reuse:
        recreate_database(args.database_url, name)
    try:
        if reuse:
            authors = json.loads(remembered.read_text())["authors"]
            log(f"reusing {name}")
        else:
            subprocess.run([sys.executable, "-m", "roost", "migrate"],
                           env=roost_env(url, args.work_dir), check=True, cwd=REPO)
            tokens = seed(url, args.work_dir, args.users)
            authors = give_followers(url, tokens, counts)
            remembered.write_text(json.dumps({"followers": counts, "authors": authors}))
        for author in authors:
            followers = followers_of(url, author["account_id"])
            author["last_follower"] = followers[-1]
            log(f"building {len(followers):,} timelines ({args.prefill} statuses each)")
            build_timelines(client, prefix, followers, args.prefill)
        settings = {"ROOST_REDIS_URL": args.redis_url, "ROOST_EVENT_LOG": "outbox",
                    "ROOST_REDIS_KEY_PREFIX": prefix,
                    "ROOST_FANOUT_MAX_FOLLOWERS": str(max(counts) + 1)}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = [sys.executable, "-m", "roost", "serve", "--port", str(port), "--workers", "1"]
        worker_port = free_port()
        worker = ["taskset", "-c", str(args.worker_cpu), sys.executable, "-m", "roost",
                  "worker", "--only", "home_timelines", "--port", str(worker_port)]
        load_before = loadavg()
        with running(serve, roost_env(url, args.work_dir / "serve", ROOST_SERVE_CONSUMERS="false",
                                      **settings), args.work_dir / "serve.log", base), \
             running(worker, roost_env(url, args.work_dir / "worker", **settings),
                     args.work_dir / "worker.log", f"http://127.0.0.1:{worker_port}"):
            log(f"posting {args.posts} statuses per author and timing the fan-out")
            result = measure(base, client, prefix, authors, args.posts)
        result.update({
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python bench/fanout.py " + " ".join(argv or sys.argv[1:]),
            "users": args.users, "prefill": args.prefill, "reused_database": reuse,
            "load_before": load_before, "load_after": loadavg(),
        })
    finally:
        for key in client.scan_iter(match=f"{prefix}*", count=10_000):
            client.unlink(key)
        if not args.keep:
            drop_database(args.database_url, name)
    if args.out:
        out = args.out
        out.write_text(json.dumps(result, indent=1) + "\n")
    else:
        out = write_results("fanout", result)
    print(table(result))
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
