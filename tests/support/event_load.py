"""A workload for event-log backends, the workers that consume it, and the check that
nothing was lost or applied twice.

`Burst` sends likes, boosts, follows and their undoing from every account at once;
`Workers` runs real `roost worker` processes; `mismatches` recomputes the counters and
notifications from the rows with COUNT(*) and reports where they differ. The same
shape as tests/api/test_event_log_redis.py's, for tests/api/test_event_log_nats.py.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from roost.config import load_settings
from roost.context import Roost
from roost.db.engine import Database
from roost.ids import IdGenerator
from tests.support.api import User
from tests.support.server import roost_command

COUNTED = ("status.created", "status.deleted", "status.reblogged", "status.unreblogged",
           "status.favourited", "status.unfavourited", "account.followed", "account.unfollowed")


@dataclass
class Burst:
    """Likes, boosts, follows and their undoing, from every account at once."""

    url: str
    users: list[User]
    statuses: list[str]
    seed: int
    done: int = 0

    async def run(self, operations: int, concurrency: int = 6) -> None:
        rng = random.Random(self.seed)
        queue: asyncio.Queue[tuple[User, str]] = asyncio.Queue()
        for _ in range(operations):
            queue.put_nowait(self._pick(rng))
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            await asyncio.gather(*(self._drain(http, queue) for _ in range(concurrency)))

    def _pick(self, rng: random.Random) -> tuple[User, str]:
        user = rng.choice(self.users)
        target = rng.choice([u for u in self.users if u is not user]).id
        status = rng.choice(self.statuses)
        action = rng.choice([
            f"/api/v1/statuses/{status}/favourite", f"/api/v1/statuses/{status}/favourite",
            f"/api/v1/statuses/{status}/unfavourite", f"/api/v1/statuses/{status}/reblog",
            f"/api/v1/statuses/{status}/unreblog", f"/api/v1/accounts/{target}/follow",
            f"/api/v1/accounts/{target}/unfollow",
        ])
        return user, action

    async def _drain(self, http: httpx.AsyncClient, queue: asyncio.Queue[tuple[User, str]]
                     ) -> None:
        while not queue.empty():
            user, path = queue.get_nowait()
            reply = await http.post(path, headers=user.headers)
            assert reply.status_code == 200, (path, reply.status_code, reply.text)
            self.done += 1


@dataclass
class Workers:
    """`roost worker` processes with `env`, logging to `data_dir/worker-{tag}-N.log`."""

    data_dir: Path
    database_url: str  # plain postgresql://, for the lease shortcut in kill()
    env: dict[str, str]
    tag: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Starts `roost worker ARGS...` (say `--only counters`)."""
        log_path = self.data_dir / f"worker-{self.tag}-{len(self.processes)}.log"
        process = subprocess.Popen(
            roost_command("worker", *args), env=self.env, stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL, then what its leases' TTL would do a few seconds later: expire them
        (the relay lease of a dead holder; the TTL itself is tested with the dispatcher)."""
        process.send_signal(signal.SIGKILL)
        process.wait()
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE event_leases SET expires_at = '2000-01-01' WHERE holder LIKE %s",
                (f"%:{process.pid}:%",),
            )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def logs(self) -> str:
        paths = sorted(self.data_dir.glob(f"worker-{self.tag}-*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in paths)


def _rows(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    return sorted(conn.execute(query).fetchall())


def mismatches(database_url: str) -> list[str]:
    """Where the counters and notifications differ from the rows they count, and the
    events the counters consumer never applied; empty when all is well."""
    found = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for row in conn.execute("""
            SELECT a.account_id, a.statuses_count, a.followers_count, a.following_count,
                   (SELECT count(*) FROM statuses s WHERE s.account_id = a.account_id),
                   (SELECT count(*) FROM follows f WHERE f.target_account_id = a.account_id),
                   (SELECT count(*) FROM follows f WHERE f.account_id = a.account_id)
            FROM account_stats a"""):
            if row[1:4] != row[4:7]:
                found.append(f"account {row[0]}: counted {row[1:4]}, really {row[4:7]}")
        for row in conn.execute("""
            SELECT st.status_id, st.favourites_count, st.reblogs_count, st.replies_count,
                   (SELECT count(*) FROM favourites f WHERE f.status_id = st.status_id),
                   (SELECT count(*) FROM statuses s WHERE s.reblog_of_id = st.status_id),
                   (SELECT count(*) FROM statuses s WHERE s.in_reply_to_id = st.status_id)
            FROM status_stats st"""):
            if row[1:4] != row[4:7]:
                found.append(f"status {row[0]}: counted {row[1:4]}, really {row[4:7]}")
        expected = _rows(conn, """
            SELECT 'favourite', s.account_id, f.account_id, f.id
              FROM favourites f JOIN statuses s ON s.id = f.status_id
             WHERE s.account_id <> f.account_id
            UNION ALL SELECT 'reblog', o.account_id, b.account_id, b.id
              FROM statuses b JOIN statuses o ON o.id = b.reblog_of_id
             WHERE o.account_id <> b.account_id
            UNION ALL SELECT 'follow', target_account_id, account_id, id FROM follows""")
        actual = _rows(conn, """
            SELECT type, account_id, from_account_id, activity_id FROM notifications
             WHERE type IN ('favourite', 'reblog', 'follow')""")
        if expected != actual:
            found.append(f"notifications: {len(actual)} made, {len(expected)} expected; "
                         f"missing {sorted(set(expected) - set(actual))[:5]}, "
                         f"extra {sorted(set(actual) - set(expected))[:5]}")
        unapplied = conn.execute(
            "SELECT count(*) FROM outbox_events o WHERE o.type = ANY(%s) AND NOT EXISTS "
            "(SELECT 1 FROM processed_events p WHERE p.consumer = 'counters' "
            " AND p.event_id = o.event_id)", (list(COUNTED),)).fetchone()
        if unapplied and unapplied[0]:
            found.append(f"{unapplied[0]} counted events never applied by counters")
        dead = conn.execute("SELECT count(*) FROM event_dead_letters").fetchone()
        if dead and dead[0]:
            found.append(f"{dead[0]} dead letters")
    return found


def counters_snapshot(database_url: str) -> list[list[tuple[Any, ...]]]:
    """Every counter and notification, to compare before and after."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [_rows(conn, "SELECT * FROM account_stats"),
                _rows(conn, "SELECT * FROM status_stats"),
                _rows(conn, "SELECT account_id, type, activity_id FROM notifications")]


async def backlog_in_process(
    env: dict[str, str], backlog: Callable[[Roost], Awaitable[int]]
) -> int:
    """`backlog(roost)` (redis_log.backlog, nats_log.backlog) from this test process,
    with the settings of `env`."""
    async with roost_for(env) as roost:
        return await backlog(roost)


@asynccontextmanager
async def roost_for(env: dict[str, str]) -> AsyncIterator[Roost]:
    """A Roost context in this test process with the settings of `env` (its database,
    and its Redis when it has one), closed afterwards."""
    from roost.redis_client import shared_client

    settings = load_settings(env)
    roost = Roost(settings=settings, db=Database(settings.database_url), ids=IdGenerator(0),
                  redis=shared_client(settings))
    try:
        yield roost
    finally:
        await roost.db.dispose()
        if roost.redis is not None:
            await roost.redis.aclose()


async def build_timelines(env: dict[str, str], account_ids: list[int]) -> None:
    """Builds the accounts' Redis home timelines from the database (what a first visit
    does), from this test process with the settings of `env`."""
    from roost.timelines.fanout import build_timeline

    async with roost_for(env) as roost:
        for account_id in account_ids:
            async with roost.db.read() as conn:
                await build_timeline(roost, conn, account_id)


async def timeline_mismatches(env: dict[str, str], account_ids: list[int]) -> list[str]:
    """Where the accounts' Redis home timelines differ from the pull query's answer
    over the authors that are fanned out (the specification); empty when they agree."""
    from roost.paging import Page
    from roost.timelines.fanout import fanned_out, timelines_of
    from roost.timelines.home import home_query

    found = []
    async with roost_for(env) as roost:
        store = timelines_of(roost)
        async with roost.db.read() as conn:
            for account_id in account_ids:
                held = await store.members(account_id)
                query = home_query(account_id, Page(limit=store.size), conn.dialect.name,
                                   fanned_out(roost.settings))
                expected = sorted((int(r.id) for r in (await conn.execute(query)).all()),
                                  reverse=True)
                if held is None:
                    found.append(f"account {account_id}: no timeline")
                elif held != expected:
                    extra = sorted(set(held) - set(expected))[:5]
                    found.append(f"account {account_id}: missing "
                                 f"{sorted(set(expected) - set(held))[:5]}, extra "
                                 f"{[await _explain(conn, account_id, s) for s in extra]}")
    return found


async def held_timeline(env: dict[str, str], account_id: int) -> list[int] | None:
    """The account's Redis home timeline, newest first (None when not built)."""
    from roost.timelines.fanout import timelines_of

    async with roost_for(env) as roost:
        return await timelines_of(roost).members(account_id)


async def _explain(conn: Any, viewer_id: int, status_id: int) -> str:
    """What the database says about a status a timeline should not hold."""
    from sqlalchemy import text

    row = (await conn.execute(text(
        "SELECT account_id, reblog_of_id, visibility FROM statuses WHERE id = :id"),
        {"id": status_id})).first()
    if row is None:
        return f"{status_id} (deleted)"
    follows = (await conn.execute(text(
        "SELECT count(*) FROM follows WHERE account_id = :v AND target_account_id = :a"),
        {"v": viewer_id, "a": row.account_id})).scalar()
    return (f"{status_id} (by {row.account_id}, boost of {row.reblog_of_id}, "
            f"visibility {row.visibility}, followed {follows})")


async def pulled_home(env: dict[str, str], account_id: int, page: Any) -> list[int]:
    """What home shows the account for `page` (a roost.paging.Page) from the pull
    query, collapsed and hydrated as the API does (a boost of a status the viewer may
    not see is dropped): what a Redis-backed answer must equal."""
    from roost.statuses.queries import hydrate
    from roost.timelines.home import home_page

    async with roost_for(env) as roost, roost.db.read() as conn:
        ids, _first, _last = await home_page(conn, account_id, page)
        views = await hydrate(conn, ids, account_id)
    return [int(view.status.id) for view in views]
