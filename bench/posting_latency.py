"""Issue 5: posting latency does not depend on the author's follower count.

    .venv/bin/python bench/posting_latency.py [--users 101000] [--posts 300] [--keep]

1. A scratch PostgreSQL database `posting_latency`, filled by `roost seed --users N`
   (few follows and posts of its own: the network is only the followers' pool), then
   three authors are given exactly 0, 1,000 and 100,000 followers (their follows
   rewritten in SQL, with account_stats set to match).
2. `roost serve` on it, pinned to CPU 0 (one worker, rate limits off), consumers
   in-process as by default: the dispatcher applies every event in the same process.
3. From CPU 1, the three authors post in turn (A, B, C, A, B, C, ...), one request at
   a time, `--posts` each after a warm-up: client-side latency of
   POST /api/v1/statuses, p50/p90/p99/max per author, side by side in one run. Then the
   time until the event log has handed every post's event to the consumers.
4. bench/results/posting-latency-<date>.json; the table for docs/events.md is printed.
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

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.lessons import (  # noqa: E402
    DEFAULT_ADMIN_URL,
    database_url,
    drop_database,
    free_port,
    loadavg,
    log,
    percentile,
    recreate_database,
    roost_env,
    running,
)

RESULTS_DIR = REPO / "bench" / "results"
FOLLOWER_COUNTS = (0, 1_000, 100_000)


def seed(url: str, work: Path, users: int) -> Path:
    tokens = work / "tokens.tsv"
    log(f"roost seed --users {users} (small network: the followers' pool)")
    subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "roost", "seed", "--users", str(users), "--follows-mean", "2",
         "--posts-mean", "1", "--tokens", str(tokens)],
        env=roost_env(url, work), check=True, cwd=REPO, stdout=subprocess.DEVNULL,
    )
    return tokens


def give_followers(url: str, tokens: Path, counts: list[int]) -> list[dict[str, Any]]:
    """Unlocked authors with exactly `counts` followers (0, 1,000 and 100,000)."""
    lines = [line.split("\t") for line in tokens.read_text().splitlines()]
    by_id = {int(parts[2]): parts[1] for parts in lines}
    authors = []
    with psycopg.connect(url, autocommit=False) as conn:
        picked = conn.execute(
            "SELECT id FROM accounts WHERE NOT locked ORDER BY id DESC LIMIT %s", (len(counts),)
        ).fetchall()
        next_id = int(conn.execute("SELECT max(id) FROM follows").fetchone()[0]) + 1  # type: ignore[index]
        for (account_id,), wanted in zip(picked, counts, strict=True):
            conn.execute("DELETE FROM follows WHERE target_account_id = %s", (account_id,))
            conn.execute(
                "INSERT INTO follows (id, account_id, target_account_id, show_reblogs, notify)"
                " SELECT %s + row_number() OVER (ORDER BY id), id, %s, true, false"
                " FROM accounts WHERE id <> %s AND NOT EXISTS (SELECT 1 FROM follows f"
                "   WHERE f.account_id = accounts.id AND f.target_account_id = %s)"
                " ORDER BY id LIMIT %s",
                (next_id, account_id, account_id, account_id, wanted),
            )
            next_id += wanted + 1
            authors.append({"account_id": account_id, "followers": wanted,
                            "token": by_id[account_id]})
        conn.execute(
            "UPDATE account_stats s SET followers_count ="
            " (SELECT count(*) FROM follows f WHERE f.target_account_id = s.account_id),"
            " following_count ="
            " (SELECT count(*) FROM follows f WHERE f.account_id = s.account_id)"
        )
        conn.commit()
        conn.execute("ANALYZE follows")
    return authors


def post(base: str, token: str, text: str) -> float:
    body = urllib.parse.urlencode({"status": text}).encode()
    request = urllib.request.Request(  # noqa: S310 - a local server
        base + "/api/v1/statuses", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
        reply.read()
        assert reply.status == 200
    return (time.perf_counter() - started) * 1000


def backlog(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM outbox_events WHERE (txid, position) > coalesce("
            "(SELECT (txid, position) FROM event_cursors WHERE name = 'dispatcher'),"
            " (0::bigint, 0::bigint))").fetchone()
        return int(row[0]) if row else 0


def measure(base: str, url: str, authors: list[dict[str, Any]], posts: int,
            warmup: int) -> dict[str, Any]:
    for round_ in range(warmup):
        for author in authors:
            post(base, author["token"], f"warm-up {round_}")
    samples: dict[int, list[float]] = {a["followers"]: [] for a in authors}
    started = time.perf_counter()
    for round_ in range(posts):
        for author in authors:
            samples[author["followers"]].append(
                post(base, author["token"], f"Post number {round_} #bench"))
    posted_s = time.perf_counter() - started
    while backlog(url) > 0:
        time.sleep(0.01)
    drained_s = time.perf_counter() - started
    result: dict[str, Any] = {"posted_seconds": round(posted_s, 2),
                              "all_events_handled_seconds": round(drained_s, 2),
                              "authors": []}
    for author in authors:
        values = samples[author["followers"]]
        result["authors"].append({
            "followers": author["followers"],
            "posts": len(values),
            **{f"p{int(q * 100)}_ms": round(percentile(values, q) or 0, 2)
               for q in (0.5, 0.9, 0.99)},
            "max_ms": round(max(values), 2),
            "samples_ms": [round(v, 2) for v in values],
        })
    return result


def table(result: dict[str, Any]) -> str:
    rows = ["| followers | posts | p50 ms | p90 ms | p99 ms | max ms |",
            "|---|---|---|---|---|---|"]
    for entry in result["authors"]:
        rows.append(f"| {entry['followers']:,} | {entry['posts']} | {entry['p50_ms']} | "
                    f"{entry['p90_ms']} | {entry['p99_ms']} | {entry['max_ms']} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=101_000)
    parser.add_argument("--posts", type=int, default=300, help="posts per author (measured)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--followers", default=",".join(map(str, FOLLOWER_COUNTS)),
                        help="follower counts of the authors (default 0,1000,100000)")
    parser.add_argument("--database-url",
                        default=os.environ.get("ROOST_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "roost-posting-latency")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--bench-cpu", type=int, default=1)
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.followers.split(",")]
    if args.users <= max(counts) + len(counts):
        parser.error(f"--users must exceed {max(counts) + len(counts)}")
    os.sched_setaffinity(0, {args.bench_cpu})
    name = "posting_latency"
    url = database_url(args.database_url, name)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    recreate_database(args.database_url, name)
    try:
        subprocess.run([sys.executable, "-m", "roost", "migrate"],
                       env=roost_env(url, args.work_dir), check=True, cwd=REPO)
        tokens = seed(url, args.work_dir, args.users)
        authors = give_followers(url, tokens, counts)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = ["taskset", "-c", str(args.server_cpu), sys.executable, "-m", "roost",
                   "serve", "--port", str(port), "--workers", "1"]
        load_before = loadavg()
        with running(command, roost_env(url, args.work_dir / "serve"),
                     args.work_dir / "serve.log", base):
            log(f"posting {args.posts} statuses per author, authors in turn")
            result = measure(base, url, authors, args.posts, args.warmup)
        result.update({
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python bench/posting_latency.py " + " ".join(argv or sys.argv[1:]),
            "users": args.users, "load_before": load_before, "load_after": loadavg(),
        })
    finally:
        if not args.keep:
            drop_database(args.database_url, name)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"posting-latency-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"posted in {result['posted_seconds']} s; every event handled "
          f"{result['all_events_handled_seconds']} s after the first post; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
