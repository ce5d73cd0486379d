"""Issue 5 (streaming push): what publishing one status costs, by follower count and by
how many of the followers have a stream open.

    .venv/bin/python bench/streaming_fanout.py [--followers 100000] [--repeat 5] [--keep]

1. A scratch PostgreSQL database `streaming_fanout` at the newest schema: an author
   with `--followers` followers (COPY) and one public status.
2. Real Redis, a key prefix of its own: for each share of followers with a stream open
   (0, 1 %, 10 %, 100 %), their `subscribed:timeline:{id}` markers are set, and
   `streaming.consumer.push_status` runs `--repeat` times in one transaction each,
   in this process, as the consumer's handler would: wall time, Redis round trips
   (commands sent to the socket, a pipeline counting once), SQL statements and
   channels published to.
3. bench/results/streaming-fanout-<date>.json; the table for docs/streaming.md is
   printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
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
    database_url,
    drop_database,
    log,
    machine,
    recreate_database,
)

RESULTS_DIR = REPO / "bench" / "results"
NAME = "streaming_fanout"
SHARES = (0.0, 0.01, 0.1, 1.0)


def build_network(url: str, followers: int) -> tuple[int, list[int], int]:
    from roost.db.migrate import upgrade

    upgrade(url.replace("postgresql://", "postgresql+psycopg://", 1))
    base = 10**15
    author, status_id = base, base + 1
    fans = [base + 10 + n for n in range(followers)]
    now = datetime.now(UTC).isoformat()
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(
            "COPY accounts (id, username, username_lower, fields, updated_at) FROM STDIN"
        ) as copy:
            for account in [author, *fans]:
                copy.write_row((account, f"u{account}", f"u{account}", "[]", now))
        with conn.cursor().copy(
            "COPY follows (id, account_id, target_account_id) FROM STDIN"
        ) as copy:
            for n, fan in enumerate(fans):
                copy.write_row((2 * base + n, fan, author))
        conn.execute("INSERT INTO statuses (id, account_id, visibility, text) "
                     "VALUES (%s, %s, 0, 'hello')", (status_id, author))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # as autovacuum would: index-only scans, statistics
    return author, fans, status_id


async def measure(url: str, redis_url: str, fans: list[int], status_id: int, repeat: int
                  ) -> list[dict[str, Any]]:
    import redis.asyncio.connection as redis_connection
    from sqlalchemy import event

    from roost.config import load_settings
    from roost.context import Roost
    from roost.db.engine import Database
    from roost.ids import IdGenerator
    from roost.redis_client import shared_client
    from roost.streaming import channels as ch
    from roost.streaming.bus import bus_of
    from roost.streaming.consumer import push_status

    prefix = f"roost:bench-{secrets.token_hex(4)}:"
    settings = load_settings({"ROOST_DATABASE_URL": url, "ROOST_REDIS_URL": redis_url,
                              "ROOST_REDIS_KEY_PREFIX": prefix,
                              "ROOST_DATA_DIR": tempfile.gettempdir()})
    roost = Roost(settings=settings, db=Database(settings.database_url), ids=IdGenerator(1),
                  redis=shared_client(settings))
    bus = bus_of(roost)
    counts = {"round_trips": 0, "statements": 0, "publishes": 0}
    original = redis_connection.AbstractConnection.send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        counts["round_trips"] += 1
        if isinstance(command, list | tuple):
            counts["publishes"] += sum(bytes(part).count(b"\r\nPUBLISH\r\n") for part in command)
        await original(self, command, check_health)

    def statement(*_args: Any) -> None:
        counts["statements"] += 1

    rows = []
    try:
        for share in SHARES:
            listening = fans[: int(len(fans) * share)]
            assert roost.redis is not None
            for start in range(0, len(listening), 10_000):
                await bus.mark_listening([ch.user(f) for f in listening[start:start + 10_000]],
                                         3600)
            await roost.redis.ping()
            async with roost.db.write() as conn:  # warm-up: connections, plans, caches
                await push_status(conn, bus, status_id, "update")
            times = []
            for _ in range(repeat):
                for key in counts:
                    counts[key] = 0
                redis_connection.AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
                event.listen(roost.db.primary.sync_engine, "before_cursor_execute", statement)
                started = time.perf_counter()
                try:
                    async with roost.db.write() as conn:
                        await push_status(conn, bus, status_id, "update")
                finally:
                    elapsed = time.perf_counter() - started
                    redis_connection.AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
                    event.remove(roost.db.primary.sync_engine, "before_cursor_execute",
                                 statement)
                times.append(elapsed * 1000)
            row = {"followers": len(fans), "listening": len(listening),
                   "ms_median": round(sorted(times)[len(times) // 2], 1),
                   "ms_max": round(max(times), 1), **counts}
            log(json.dumps(row))
            rows.append(row)
            async for key in roost.redis.scan_iter(match=f"{prefix}*", count=10_000):
                await roost.redis.delete(key)
    finally:
        assert roost.redis is not None
        await roost.redis.aclose()
        await roost.db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    redis.Redis.from_url(args.redis_url).ping()
    recreate_database(args.database_url, NAME)
    url = database_url(args.database_url, NAME)
    try:
        log(f"{args.followers} followers (COPY)")
        _, fans, status_id = build_network(url, args.followers)
        rows = asyncio.run(measure(url, args.redis_url, fans, status_id, args.repeat))
    finally:
        if not args.keep:
            drop_database(args.database_url, NAME)
    out = {"bench": "streaming_fanout", "date": datetime.now(UTC).isoformat(timespec="seconds"),
           "machine": machine(args.database_url), "repeat": args.repeat, "rows": rows}
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"streaming-fanout-{datetime.now(UTC).date()}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print("| followers | with a stream open | ms (median) | ms (max) | Redis round trips "
          "| SQL statements | channels published |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['followers']:,} | {row['listening']:,} | {row['ms_median']} | "
              f"{row['ms_max']} | {row['round_trips']} | {row['statements']} | "
              f"{row['publishes']} |")
    print(f"results: {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
