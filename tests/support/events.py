"""Waiting for the event log to catch up, from a test process.

Counters, notifications and the rest follow a write through the event log
(docs/events.md), a moment after the write answers. A test that writes and then reads
what the write caused first waits here until the server has handed every committed
event to its consumers. The test clients do it by themselves after every write
(`settle_after_writes`), so most tests never think about it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
POLL_SECONDS = 0.005

_BACKLOG_SQL = {
    "sqlite": (
        "SELECT count(*) FROM outbox_events WHERE position > "
        "coalesce((SELECT position FROM event_cursors WHERE name = 'dispatcher'), 0)"
    ),
    "postgresql": (
        "SELECT count(*) FROM outbox_events WHERE (txid, position) > "
        "coalesce((SELECT (txid, position) FROM event_cursors WHERE name = 'dispatcher'),"
        " (0::bigint, 0::bigint))"
    ),
}


def _backlog(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with sqlite3.connect(path, timeout=10) as conn:
            return int(conn.execute(_BACKLOG_SQL["sqlite"]).fetchone()[0])
    plain = "postgresql://" + database_url.split("://", 1)[1]
    with psycopg.connect(plain, autocommit=True) as conn:
        row = conn.execute(_BACKLOG_SQL["postgresql"]).fetchone()
        assert row is not None
        return int(row[0])


def settle(database_url: str, timeout: float = 15.0) -> None:
    """Returns once the server on `database_url` has dispatched every committed event."""
    deadline = time.monotonic() + timeout
    while True:
        backlog = _backlog(database_url)
        if backlog == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{backlog} events not dispatched after {timeout} s")
        time.sleep(POLL_SECONDS)


def requests_hook(database_url: str) -> Any:
    """A `requests` response hook that settles after every write (for Mastodon.py)."""

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.request.method in WRITE_METHODS:
            settle(database_url)
        return response

    return hook


def httpx_hook(database_url: str) -> Any:
    """An httpx (sync) response hook that settles after every write."""

    def hook(response: Any) -> None:
        if response.request.method in WRITE_METHODS:
            settle(database_url)

    return hook


# --- the Redis Streams log (ROOST_EVENT_LOG=redis, src/roost/events/redis_log.py) -----


def consumer_groups() -> tuple[str, ...]:
    """Every consumer's group (a group is named after its consumer)."""
    from roost.events.consumer import all_consumers

    return tuple(c.name for c in all_consumers())

_RELAY_BACKLOG_SQL = _BACKLOG_SQL["postgresql"].replace("'dispatcher'", "'relay'")


def _group_backlog(client: Any, key: str, group: str) -> int:
    """Entries of `key` that `group` has not acknowledged (read or not)."""
    import redis

    try:
        groups = client.xinfo_groups(key)
    except redis.ResponseError:  # no such stream
        return 0
    info = next((g for g in groups if g["name"] == group), None)
    if info is None:  # nobody joined yet: all of it waits
        return int(client.xlen(key))
    lag = info.get("lag")
    if lag is None:  # Redis cannot tell: count what follows the last delivered entry
        lag = len(client.xrange(key, min=f"({info['last-delivered-id']}", count=10_000))
    return int(info["pending"]) + int(lag)


def redis_backlog(database_url: str, redis_url: str, prefix: str, *, partitions: int = 8,
                  groups: tuple[str, ...] | None = None) -> int:
    """What the relay has not published, the groups have not acknowledged, and the
    consumers have parked for a retry (read in that order: the way an event travels)."""
    import redis

    plain = "postgresql://" + database_url.split("://", 1)[1]
    with psycopg.connect(plain, autocommit=True) as conn:
        row = conn.execute(_RELAY_BACKLOG_SQL).fetchone()
        assert row is not None
        total = int(row[0])
        with redis.Redis.from_url(redis_url, decode_responses=True) as client:
            for partition in range(partitions):
                for group in groups or consumer_groups():
                    total += _group_backlog(client, f"{prefix}events:{partition}", group)
        row = conn.execute("SELECT count(*) FROM event_retries").fetchone()
        assert row is not None
        return total + int(row[0])


def settle_redis(database_url: str, redis_url: str, prefix: str, *, partitions: int = 8,
                 timeout: float = 30.0) -> None:
    """Returns once every committed event has gone through the relay and every consumer
    group (ROOST_EVENT_LOG=redis, streams under `prefix`), on PostgreSQL."""
    deadline = time.monotonic() + timeout
    while True:
        backlog = redis_backlog(database_url, redis_url, prefix, partitions=partitions)
        if backlog == 0:
            return
        if time.monotonic() > deadline:
            import redis

            with redis.Redis.from_url(redis_url, decode_responses=True) as client:
                by_group = {
                    group: sum(_group_backlog(client, f"{prefix}events:{p}", group)
                               for p in range(partitions))
                    for group in consumer_groups()
                }
            raise AssertionError(f"{backlog} events not through the Redis log after {timeout} s"
                                 f" (by group: {by_group})")
        time.sleep(POLL_SECONDS * 4)


# --- the NATS JetStream log (ROOST_EVENT_LOG=nats://..., src/roost/events/nats_log.py) ---

_NATS_RELAY_BACKLOG_SQL = (
    "SELECT count(*) FROM outbox_events WHERE (txid, position) > "
    "coalesce((SELECT (txid, position) FROM event_cursors WHERE name = 'relay'),"
    " (0::bigint, 0::bigint))"
)


async def connect_nats(nats_url: str) -> Any:
    """A nats-py client that fails at once when the server cannot be reached (nats-py
    retries forever unless max_reconnect_attempts is positive)."""
    import nats

    async def quiet(error: Exception) -> None:
        pass

    return await nats.connect(nats_url, connect_timeout=2, allow_reconnect=False,
                              max_reconnect_attempts=1, reconnect_time_wait=0,
                              error_cb=quiet)


async def nats_backlog(database_url: str, nats_url: str, stream: str, *,
                       consumers: tuple[str, ...] | None = None) -> int:
    """What the relay has not published, the durable consumers (all of Roost's, or
    `consumers`) have not acknowledged (num_pending + num_ack_pending; the whole stream
    for one not made yet), and parked retries, read in the order an event travels."""
    import contextlib

    from nats.js.errors import NotFoundError

    from roost.events.consumer import all_consumers

    names = consumers or tuple(c.name for c in all_consumers())
    plain = "postgresql://" + database_url.split("://", 1)[1]
    with psycopg.connect(plain, autocommit=True) as conn:
        row = conn.execute(_NATS_RELAY_BACKLOG_SQL).fetchone()
        assert row is not None
        total = int(row[0])
        client = await connect_nats(nats_url)
        try:
            js = client.jetstream()
            for name in names:
                try:
                    info = await js.consumer_info(stream, name)
                except NotFoundError:  # not made yet (or no stream): all of it waits
                    with contextlib.suppress(NotFoundError):
                        total += (await js.stream_info(stream)).state.messages
                    continue
                total += int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        finally:
            await client.close()
        row = conn.execute("SELECT count(*) FROM event_retries").fetchone()
        assert row is not None
        return total + int(row[0])


async def settle_nats(database_url: str, nats_url: str, stream: str, *,
                      consumers: tuple[str, ...] | None = None, within: float = 30.0) -> None:
    """Returns once every committed event has gone through the relay and every durable
    consumer of `stream` (ROOST_EVENT_LOG=nats://...), on PostgreSQL. Async: nats-py
    has no blocking client."""
    import asyncio

    deadline = time.monotonic() + within
    while True:
        backlog = await nats_backlog(database_url, nats_url, stream, consumers=consumers)
        if backlog == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{backlog} events not through the NATS log after {within} s")
        await asyncio.sleep(POLL_SECONDS * 4)


@asynccontextmanager
async def in_process_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app in this process (started with its lifespan) that
    waits, after each write, until the app's dispatcher has handled its events."""
    roost = app.state.roost

    async def settle_after_writes(response: httpx.Response) -> None:
        if response.request.method in WRITE_METHODS and roost.dispatcher is not None:
            async with asyncio.timeout(15):
                await roost.dispatcher.settle()

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://roost.test",
                                 event_hooks={"response": [settle_after_writes]}) as http:
        yield http
