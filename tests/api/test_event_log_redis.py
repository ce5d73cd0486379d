"""The Redis Streams event log (ROOST_EVENT_LOG=redis, src/roost/events/redis_log.py),
end to end: a real server writing the outbox, real `roost worker` processes relaying
it to Redis and consuming it through consumer groups, and the failures it must
survive (a worker or the relay killed mid-burst, copies of entries, the streams
deleted and refilled by a replay). Every test ends by recomputing the counters and
notifications from the rows with COUNT(*) and comparing: nothing lost, nothing twice.

Each test has its own stream prefix; they share one PostgreSQL database and server.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import psycopg
import pytest
import redis

from roost.events import redis_log
from tests.support.api import App, User, post_status, register_app, sign_up
from tests.support.event_load import (
    Burst,
    Workers,
    backlog_in_process,
    build_timelines,
    counters_snapshot,
    mismatches,
    timeline_mismatches,
)
from tests.support.events import consumer_groups, redis_backlog, settle_redis
from tests.support.server import RunningServer, roost_command, server_env, start_server
from tests.support.services import fresh_postgres_database

USERS = 6
STATUSES_EACH = 2
CLAIM_IDLE_MS = "500"  # a killed worker's entries are claimed half a second later


@dataclass
class Stack:
    server: RunningServer
    database_url: str  # plain postgresql://
    redis_url: str
    data_dir: Path
    users: list[User]
    statuses: list[str]


@pytest.fixture(scope="module")
async def stack(reachable_redis: str, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    """A server on PostgreSQL that leaves the consumers to workers, with some accounts
    and statuses (their events wait for the first test's workers)."""
    data_dir = tmp_path_factory.mktemp("redis-log")
    with fresh_postgres_database() as database_url:
        server = start_server(
            data_dir, database_url, ROOST_REDIS_URL=reachable_redis, ROOST_EVENT_LOG="redis",
            ROOST_SERVE_CONSUMERS="false", ROOST_LOG_LEVEL="warning",
        )
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                app: App = await register_app(http)
                users = [await sign_up(http, app) for _ in range(USERS)]
                statuses = [
                    (await post_status(http, user, f"status {n} of {user.username}"))["id"]
                    for user in users for n in range(STATUSES_EACH)
                ]
            yield Stack(server, database_url, reachable_redis, data_dir, users, statuses)
        finally:
            server.stop()


@pytest.fixture
def prefix(reachable_redis: str) -> Iterator[str]:
    """This test's stream prefix; its keys are deleted afterwards."""
    value = f"roost:test-{secrets.token_hex(4)}:"
    yield value
    with redis.Redis.from_url(reachable_redis) as client:
        for key in client.scan_iter(match=f"{value}*"):
            client.delete(key)


@pytest.fixture
async def workers(stack: Stack, prefix: str) -> AsyncIterator[Workers]:
    """Workers for this test's streams; every account's home timeline is built first
    (under the same prefix), so that the fan-out has timelines to keep."""
    env = server_env(
        stack.data_dir, stack.database_url, ROOST_REDIS_URL=stack.redis_url,
        ROOST_EVENT_LOG="redis", ROOST_EVENT_STREAM_PREFIX=prefix,
        ROOST_REDIS_KEY_PREFIX=prefix, ROOST_EVENT_CLAIM_IDLE_MS=CLAIM_IDLE_MS,
        ROOST_LOG_LEVEL="info",
    )
    await build_timelines(env, [int(u.id) for u in stack.users])
    running = Workers(stack.data_dir, stack.database_url, env, tag=prefix.split(":")[1])
    yield running
    running.stop_all()


# --- the workload and the check ---------------------------------------------------------


class Logs(Protocol):
    def logs(self) -> str: ...


def settle(stack: Stack, prefix: str, processes: Logs, timeout: float = 30.0) -> None:
    try:
        settle_redis(stack.database_url, stack.redis_url, prefix, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{processes.logs()}") from None


async def assert_consistent(stack: Stack, processes: Logs, env: dict[str, str]) -> None:
    """Counters and notifications equal a recount, and every home timeline equals the
    pull query's answer."""
    problems = mismatches(stack.database_url)
    problems += await timeline_mismatches(env, [int(u.id) for u in stack.users])
    assert problems == [], "\n".join(problems) + "\n" + processes.logs()


def members(client: redis.Redis, prefix: str, pid: int) -> dict[str, int]:
    """The pending entries of the process `pid`'s group members, by group and stream."""
    found: dict[str, int] = {}
    for partition in range(8):
        key = f"{prefix}events:{partition}"
        for group in consumer_groups():
            try:
                consumers = client.xinfo_consumers(key, group)
            except redis.ResponseError:
                continue
            for consumer in consumers:
                if f":{pid}:" in consumer["name"]:
                    found[f"{group}@{key}"] = int(consumer["pending"])
    return found


def _undelivered(client: redis.Redis, keys: list[str], group: str) -> int:
    total = 0
    for key in keys:
        try:
            groups = client.xinfo_groups(key)
        except redis.ResponseError:
            continue
        total += sum(int(g["lag"] or 0) for g in groups if g["name"] == group)
    return total


async def _until(condition: Any, what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


# --- the scenarios -------------------------------------------------------------------------


async def test_two_workers_count_every_event_once_and_skip_a_copy(
    stack: Stack, prefix: str, workers: Workers
) -> None:
    workers.start()
    workers.start()
    await Burst(stack.server.url, stack.users, stack.statuses, seed=1).run(100)
    settle(stack, prefix, workers)
    await assert_consistent(stack, workers, workers.env)
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    key0 = f"{prefix}events:0"
    # Both processes joined both groups, as members named after their pid.
    for group in consumer_groups():
        joined = {c["name"].split(":")[1] for c in client.xinfo_consumers(key0, group)}
        assert joined == {str(p.pid) for p in workers.processes}, joined
    workers.stop_all()
    assert client.xinfo_consumers(key0, "counters") == []  # idle members leave on stop

    # A copy of a like whose favourite still exists: applied again, it would count twice.
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT o.event_id, o.account_id FROM outbox_events o WHERE o.type = "
            "'status.favourited' AND EXISTS (SELECT 1 FROM favourites f WHERE f.id = "
            "(o.payload::json->>'favourite_id')::bigint) LIMIT 1").fetchone()
    assert row is not None
    key = f"{prefix}events:{row[1] % 8}"
    entry = next(fields for _id, fields in client.xrange(key) if fields["event_id"] == str(row[0]))
    before = counters_snapshot(stack.database_url)
    read_before = {g["name"]: g["entries-read"] for g in client.xinfo_groups(key)}
    client.xadd(key, entry)
    # Waiting for every group: what the settle helper and redis_log.backlog both see.
    groups = len(consumer_groups())
    assert redis_backlog(stack.database_url, stack.redis_url, prefix) == groups
    assert await backlog_in_process(workers.env, redis_log.backlog) == groups
    workers.start()
    settle(stack, prefix, workers)
    read_after = {g["name"]: g["entries-read"] for g in client.xinfo_groups(key)}
    client.close()
    assert read_after == {name: n + 1 for name, n in read_before.items()}  # both read it
    assert counters_snapshot(stack.database_url) == before
    await assert_consistent(stack, workers, workers.env)
    assert await backlog_in_process(workers.env, redis_log.backlog) == 0


async def test_a_killed_worker_s_pending_entries_are_claimed(
    stack: Stack, prefix: str, workers: Workers
) -> None:
    victim = workers.start()
    workers.start()
    burst = Burst(stack.server.url, stack.users, stack.statuses, seed=2)
    writing = asyncio.create_task(burst.run(200))
    with redis.Redis.from_url(stack.redis_url, decode_responses=True) as client:
        held: dict[str, int] = {}
        while not held:  # catch it holding entries it has read and not acknowledged
            assert not writing.done(), "the burst ended before the victim held any entry"
            if sum(members(client, prefix, victim.pid).values()):
                victim.send_signal(signal.SIGSTOP)
                held = {k: n for k, n in members(client, prefix, victim.pid).items() if n}
                if not held:
                    victim.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.005)
        workers.kill(victim)
        await writing
        settle(stack, prefix, workers)
        assert sum(members(client, prefix, victim.pid).values()) == 0  # all claimed away
    await assert_consistent(stack, workers, workers.env)


async def test_streams_deleted_under_load_are_refilled_by_a_replay(
    stack: Stack, prefix: str, workers: Workers
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    workers.start()
    workers.start()
    burst = Burst(stack.server.url, stack.users, stack.statuses, seed=3)
    writing = asyncio.create_task(burst.run(180))
    keys = [f"{prefix}events:{p}" for p in range(8)]
    deletions = 0
    with redis.Redis.from_url(stack.redis_url, decode_responses=True) as client:
        while not writing.done():  # delete the streams while entries wait in them
            if burst.done >= 40 and _undelivered(client, keys, "counters") > 0:
                deletions += client.delete(*keys) > 0
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.002)
        await writing
        assert deletions > 0, "the streams never had entries waiting"
        settle(stack, prefix, workers)  # what survived is through; the rest is lost
        for key in keys:  # the groups were made again on the new streams
            assert {g["name"] for g in client.xinfo_groups(key)} == set(consumer_groups())
    lost = mismatches(stack.database_url)
    assert any("never applied" in problem for problem in lost), lost
    command = roost_command("events", "replay", "--since", since.isoformat(), "--cursor", "relay")
    replay = await asyncio.to_thread(
        subprocess.run, command, env=workers.env, capture_output=True, text=True, timeout=30,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "Moved relay back" in replay.stdout, replay.stdout
    settle(stack, prefix, workers)
    await assert_consistent(stack, workers, workers.env)


async def test_a_killed_relay_is_replaced_without_loss_or_doubling(
    stack: Stack, prefix: str, workers: Workers
) -> None:
    first, second = workers.start(), workers.start()
    burst = Burst(stack.server.url, stack.users, stack.statuses, seed=4)
    writing = asyncio.create_task(burst.run(160))
    keys = [f"{prefix}events:{p}" for p in range(8)]
    with redis.Redis.from_url(stack.redis_url, decode_responses=True) as client:
        await _until(lambda: burst.done >= 60 and sum(client.xlen(k) for k in keys) > 0,
                     "the relay to publish")
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT holder FROM event_leases WHERE name = 'relay'").fetchone()
    assert row is not None
    relay_pid = int(row[0].rsplit(":", 2)[1])
    relay = next(p for p in (first, second) if p.pid == relay_pid)
    workers.kill(relay)
    workers.start()  # the survivor or the newcomer takes the lease over
    await writing
    settle(stack, prefix, workers)
    await assert_consistent(stack, workers, workers.env)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT holder FROM event_leases WHERE name = 'relay'").fetchone()
    assert row is not None and f":{relay_pid}:" not in row[0]


async def test_serve_runs_the_relay_and_the_groups_itself(
    stack: Stack, prefix: str, tmp_path: Path
) -> None:
    """The default deployment: one `roost serve` (ROOST_SERVE_CONSUMERS on) runs the
    relay, woken by its own commits, and every consumer group in-process."""
    settings = {"ROOST_REDIS_URL": stack.redis_url, "ROOST_EVENT_LOG": "redis",
                "ROOST_EVENT_STREAM_PREFIX": prefix, "ROOST_REDIS_KEY_PREFIX": prefix,
                "ROOST_LOG_LEVEL": "info"}
    env = server_env(tmp_path, stack.database_url, **settings)
    await build_timelines(env, [int(u.id) for u in stack.users])
    server = start_server(tmp_path, stack.database_url, migrate=False, **settings)
    try:
        await Burst(server.url, stack.users, stack.statuses, seed=5).run(40)
        settle(stack, prefix, server)
        await assert_consistent(stack, server, env)
        with redis.Redis.from_url(stack.redis_url, decode_responses=True) as client:
            members = {c["name"].split(":")[1]
                       for c in client.xinfo_consumers(f"{prefix}events:0", "counters")}
        assert members == {str(server.process.pid)}, members  # the server itself consumed
        async with httpx.AsyncClient(base_url=server.url) as http:
            metrics = (await http.get("/metrics")).text
        assert 'roost_events_published_total{type="status.favourited"}' in metrics
        for reader in ("relay", *consumer_groups()):
            assert f'roost_event_lag_events{{reader="{reader}"}}' in metrics, reader
    finally:
        server.stop()
