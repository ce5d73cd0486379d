"""Where a home page's time goes: its SQL statements timed one by one, in-process.

    .venv/bin/python bench/profile_home.py --database-url postgresql://.../lessons_100000 \\
        --tokens /tmp/roost-home-read/lessons_100000/readers.tsv [--redis-url URL]
        [--viewers 40] [--requests 200] [--cprofile]

The app runs in this process (no HTTP server, no other load); with --redis-url the
viewers' Redis timelines are built first and home is read from them. Requests go one
at a time, cycling over the first --viewers lines of the tokens file. Prints the time
per request, each statement's database time per request (by its first words), and
with --cprofile the Python functions that took the most time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


async def profile(args: argparse.Namespace) -> None:
    import httpx
    from sqlalchemy import event

    from roost.app import create_app
    from roost.config import load_settings
    from roost.timelines.fanout import build_timeline

    lines = args.tokens.read_text().splitlines()[: args.viewers]
    viewers = [(line.split("\t")[1], int(line.split("\t")[2])) for line in lines]
    env = {"ROOST_DATA_DIR": tempfile.mkdtemp(prefix="roost-profile-"),
           "ROOST_DATABASE_URL": args.database_url, "ROOST_EVENT_LOG": "outbox",
           "ROOST_SERVE_CONSUMERS": "false", "ROOST_RATE_LIMITS": "off",
           "ROOST_LOG_LEVEL": "warning"}
    if args.redis_url:
        # A prefix of this run's own (the Redis may be shared), its keys deleted at the end.
        env |= {"ROOST_REDIS_URL": args.redis_url,
                "ROOST_REDIS_KEY_PREFIX": f"roost:profile-{os.getpid()}:"}
    app = create_app(load_settings(env))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://roost.profile"
    ) as http:
        roost = app.state.roost
        if args.redis_url:
            for _token, account_id in viewers:
                async with roost.db.read() as conn:
                    await build_timeline(roost, conn, account_id)
        timings: dict[str, list[float]] = {}

        def before(conn: Any, _cursor: Any, _statement: str, *_args: Any) -> None:
            conn.info["started"] = time.perf_counter()

        def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            key = " ".join(statement.split())[:70]
            timings.setdefault(key, []).append(time.perf_counter() - conn.info["started"])

        engine = roost.db.replica.sync_engine
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        profiler = cProfile.Profile() if args.cprofile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for n in range(args.requests):
            token, _account_id = viewers[n % len(viewers)]
            reply = await http.get("/api/v1/timelines/home",
                                   headers={"Authorization": f"Bearer {token}"})
            assert reply.status_code == 200, reply.text
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"{1000 * elapsed / args.requests:.1f} ms per request "
              f"({'Redis timelines' if args.redis_url else 'pull query'})")
        for key, values in sorted(timings.items(), key=lambda item: -sum(item[1])):
            print(f"{1000 * sum(values) / args.requests:7.2f} ms/request  "
                  f"{len(values):5d} times  {key}")
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    if args.redis_url:  # after the app has stopped, and with it whatever it still wrote
        from redis.asyncio import Redis

        async with Redis.from_url(args.redis_url) as client:
            keys = [key async for key in client.scan_iter(
                match=f"{env['ROOST_REDIS_KEY_PREFIX']}*", count=10_000)]
            for start in range(0, len(keys), 1000):
                await client.unlink(*keys[start:start + 1000])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--redis-url")
    parser.add_argument("--viewers", type=int, default=40)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--cprofile", action="store_true")
    asyncio.run(profile(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
