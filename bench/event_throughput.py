"""Issue 5: how fast one `roost worker` drains the event log, per backend, in one run.

    .venv/bin/python bench/event_throughput.py [--events 5000] [--users 10000]

1. A scratch PostgreSQL database `event_throughput`, seeded by `roost seed --users N`.
2. For each backend (outbox, Redis Streams, NATS JetStream), the same backlog: the
   event log's tables are emptied, then `--events` status.favourited events (one per
   seeded like, the newest first) are appended to the outbox in one transaction, as a
   burst of writes would leave them. Four consumers want each (counters,
   notifications, trend inputs, analytics).
3. One `roost worker` pinned to CPU 0 starts; the time until every consumer has
   applied every event (processed_events holds events x 4 rows) is the drain time,
   relay and broker included; the rate is taken from the first handled event on
   (the worker's start-up, about a second of imports, left out). The bench itself polls from CPU 1.
4. bench/results/event-throughput-<date>.json; the table for docs/events.md is printed.

The counters it moves are off by the replayed likes afterwards: the database is
scratch, dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
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
    loadavg,
    log,
    recreate_database,
    roost_env,
)

RESULTS_DIR = REPO / "bench" / "results"
CONSUMERS_PER_EVENT = 4  # counters, notifications, trend_inputs, analytics
REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"
EVENT_TABLES = ("outbox_events", "event_cursors", "processed_events", "event_retries",
                "event_dead_letters", "event_leases")


def backends(tag: str) -> dict[str, dict[str, str]]:
    return {
        "outbox": {"ROOST_EVENT_LOG": "outbox"},
        "redis": {"ROOST_EVENT_LOG": "redis", "ROOST_REDIS_URL": REDIS_URL,
                  "ROOST_EVENT_STREAM_PREFIX": f"bench-{tag}:"},
        "nats": {"ROOST_EVENT_LOG": NATS_URL, "ROOST_EVENT_NATS_STREAM": f"BENCH_{tag}"},
    }


def fill_outbox(url: str, events: int) -> None:
    """`events` favourited events for seeded likes, appended in one transaction."""
    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute("TRUNCATE " + ", ".join(EVENT_TABLES))
        rows = conn.execute(
            "SELECT f.id, f.account_id, f.status_id, s.account_id FROM favourites f"
            " JOIN statuses s ON s.id = f.status_id ORDER BY f.id DESC LIMIT %s", (events,)
        ).fetchall()
        if len(rows) < events:
            raise SystemExit(f"only {len(rows)} seeded likes: seed more users")
        base = 2**62  # event ids of their own, above every seeded id
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO outbox_events (event_id, type, version, account_id, payload,"
                " created_at) VALUES (%s, 'status.favourited', 1, %s, %s, now())",
                [(base + i, account, json.dumps({"favourite_id": fav, "status_id": status,
                                                 "status_account_id": author}))
                 for i, (fav, account, status, author) in enumerate(rows)],
            )
        conn.commit()


def applied(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM processed_events").fetchone()
        return int(row[0]) if row else 0


def drain(url: str, work: Path, name: str, env: dict[str, str], events: int,
          timeout: float) -> dict[str, Any]:
    fill_outbox(url, events)
    want = events * CONSUMERS_PER_EVENT
    log_path = work / f"worker-{name}.log"
    command = ["taskset", "-c", "0", sys.executable, "-m", "roost", "worker"]
    started = time.perf_counter()
    with log_path.open("w") as log_file:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            command, env={**roost_env(url, work), **env}, stdout=log_file,
            stderr=subprocess.STDOUT, cwd=REPO)
        try:
            done, first_at, first_done = 0, 0.0, 0
            while done < want:
                if process.poll() is not None:
                    raise SystemExit(f"{name}: the worker exited ({log_path})")
                if time.perf_counter() - started > timeout:
                    raise SystemExit(f"{name}: {done}/{want} applied after {timeout:g} s")
                time.sleep(0.05)
                done = applied(url)
                if done and not first_at:
                    first_at, first_done = time.perf_counter(), done
            ended = time.perf_counter()
        finally:
            process.terminate()
            process.wait(30)
    draining = max(ended - first_at, 1e-6)
    return {"backend": name, "events": events, "handler_runs": want,
            "seconds_from_start": round(ended - started, 2),
            "seconds_from_first": round(draining, 2),
            "events_per_second": round((want - first_done) / CONSUMERS_PER_EVENT / draining, 1)}


def cleanup(tag: str) -> None:
    import asyncio

    import nats
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"bench-{tag}:*"):
        client.delete(key)

    async def drop_stream() -> None:
        connection = await nats.connect(NATS_URL)
        try:
            await connection.jetstream().delete_stream(f"BENCH_{tag}")
        finally:
            await connection.close()

    try:
        asyncio.run(drop_stream())
    except Exception as exc:  # best effort: report, go on
        log(f"could not delete the NATS stream: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per backend")
    parser.add_argument("--database-url",
                        default=os.environ.get("ROOST_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    parser.add_argument("--work-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "roost-event-throughput")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {1})
    name = "event_throughput"
    url = database_url(args.database_url, name)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    tag = secrets.token_hex(3)
    recreate_database(args.database_url, name)
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "command": "python bench/event_throughput.py "
                               + " ".join(argv or sys.argv[1:]),
                               "load_before": loadavg(), "runs": []}
    try:
        env = roost_env(url, args.work_dir)
        subprocess.run([sys.executable, "-m", "roost", "migrate"], env=env,
                       check=True, cwd=REPO)
        log(f"roost seed --users {args.users}")
        subprocess.run([sys.executable, "-m", "roost", "seed", "--users",  # noqa: S603
                        str(args.users)], env=env, check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for backend, extra in backends(tag).items():
            log(f"{backend}: {args.events} events, one worker")
            run = drain(url, args.work_dir, backend, extra, args.events, args.timeout)
            log(f"{backend}: {run['seconds_from_start']} s, {run['events_per_second']} events/s")
            results["runs"].append(run)
    finally:
        cleanup(tag)
        if not args.keep:
            drop_database(args.database_url, name)
    results["load_after"] = loadavg()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"event-throughput-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print("| backend | events | handler runs | s from start | s from first | events/s |")
    print("|---|---|---|---|---|---|")
    for run in results["runs"]:
        print(f"| {run['backend']} | {run['events']:,} | {run['handler_runs']:,} | "
              f"{run['seconds_from_start']} | {run['seconds_from_first']} | "
              f"{run['events_per_second']} |")
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
