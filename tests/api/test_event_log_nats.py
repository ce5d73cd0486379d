"""The NATS JetStream event log (ROOST_EVENT_LOG=nats://..., src/roost/events/nats_log.py),
end to end: a real server writing the outbox, real `roost worker` processes relaying it
to a JetStream stream and pulling from its durable consumers, and the failures it must
survive (a worker killed mid-handler holding unacknowledged messages, a copy of a
message, the stream deleted and refilled by a replay, the relay killed mid-burst, NATS
unreachable). Every test ends by recomputing the counters and notifications from the
rows with COUNT(*) and comparing: nothing lost, nothing twice.

Each test has its own stream (deleted afterwards); they share one PostgreSQL database
and server, so each test's relay starts where the previous one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from nats.aio.client import Client
from nats.js.api import StorageType
from nats.js.errors import NotFoundError

from roost.config import load_settings
from roost.events import nats_log
from roost.events.consumer import all_consumers
from roost.events.types import Envelope
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
from tests.support.events import connect_nats, nats_backlog, settle_nats
from tests.support.server import (
    RunningServer,
    free_port,
    roost_command,
    server_env,
    start_server,
)
from tests.support.services import fresh_postgres_database, redis_url, unavailable

USERS = 6
STATUSES_EACH = 2
ACK_WAIT_MS = "1000"  # a killed worker's messages go to another process a second later


def consumer_names() -> list[str]:
    return [c.name for c in all_consumers()]


def nats_url() -> str:
    return os.environ.get("ROOST_TEST_NATS_URL") or "nats://127.0.0.1:4222"


@dataclass
class Stack:
    server: RunningServer
    database_url: str  # plain postgresql://
    data_dir: Path
    users: list[User]
    statuses: list[str]

    def burst(self, seed: int, url: str | None = None) -> Burst:
        return Burst(url or self.server.url, self.users, self.statuses, seed)


@pytest.fixture(scope="module")
async def nats_reachable() -> str:
    url = nats_url()
    try:
        client = await connect_nats(url)
        await client.jetstream().account_info()  # JetStream is on, too
        await client.close()
    except Exception as exc:  # any failure to reach it
        unavailable("NATS JetStream", f"{type(exc).__name__}: {exc}")
    return url


@pytest.fixture(scope="module")
async def stack(nats_reachable: str, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    """A server on PostgreSQL that leaves the consumers (and the relay) to workers, with
    some accounts and statuses (their events wait for the first test's relay)."""
    data_dir = tmp_path_factory.mktemp("nats-log")
    with fresh_postgres_database() as database_url:
        server = start_server(
            data_dir, database_url, ROOST_EVENT_LOG=nats_reachable,
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
            yield Stack(server, database_url, data_dir, users, statuses)
        finally:
            server.stop()


@pytest.fixture
async def stream(nats_reachable: str) -> AsyncIterator[str]:
    """This test's stream name; the stream is deleted afterwards."""
    name = f"ROOST_TEST_{secrets.token_hex(4).upper()}"
    yield name
    client = await connect_nats(nats_reachable)
    try:
        with contextlib.suppress(NotFoundError):
            await client.jetstream().delete_stream(name)
    finally:
        await client.close()


@pytest.fixture
async def js_client(nats_reachable: str) -> AsyncIterator[Client]:
    client = await connect_nats(nats_reachable)
    yield client
    await client.close()


def timeline_settings(stream: str) -> dict[str, str]:
    """Redis home timelines for this test, under keys of its own."""
    return {"ROOST_REDIS_URL": redis_url(), "ROOST_REDIS_KEY_PREFIX": f"roost:{stream.lower()}:"}


@pytest.fixture
async def workers(stack: Stack, stream: str, nats_reachable: str) -> AsyncIterator[Workers]:
    """Workers for this test's stream; every account's home timeline is built first, so
    that the fan-out has timelines to keep."""
    env = server_env(
        stack.data_dir, stack.database_url, ROOST_EVENT_LOG=nats_reachable,
        ROOST_EVENT_NATS_STREAM=stream, ROOST_EVENT_NATS_ACK_WAIT_MS=ACK_WAIT_MS,
        ROOST_LOG_LEVEL="info", **timeline_settings(stream),
    )
    await build_timelines(env, [int(u.id) for u in stack.users])
    running = Workers(stack.data_dir, stack.database_url, env, stream)
    yield running
    running.stop_all()
    with redis.Redis.from_url(redis_url()) as client:
        for key in client.scan_iter(match=f"roost:{stream.lower()}:*"):
            client.delete(key)


async def settle(stack: Stack, stream: str, workers: Workers, within: float = 30.0) -> None:
    try:
        await settle_nats(stack.database_url, nats_url(), stream, within=within)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{workers.logs()}") from None


async def assert_consistent(stack: Stack, workers: Workers) -> None:
    """Counters and notifications equal a recount, and every home timeline equals the
    pull query's answer."""
    problems = mismatches(stack.database_url)
    problems += await timeline_mismatches(workers.env, [int(u.id) for u in stack.users])
    assert problems == [], "\n".join(problems) + "\n" + workers.logs()


async def _until(condition: Any, what: str, within: float = 20.0) -> None:
    """Waits until `condition()` (a plain or an async function) is true."""
    deadline = time.monotonic() + within
    while True:
        met = condition()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def relay_position(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT txid, position FROM event_cursors WHERE name = 'relay'").fetchone()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


def events_after(database_url: str, position: tuple[int, int]) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM outbox_events WHERE (txid, position) > (%s, %s)", position
        ).fetchone()
    assert row is not None
    return int(row[0])


# --- the scenarios -------------------------------------------------------------------------


async def test_two_workers_count_every_event_once_and_skip_a_copy(
    stack: Stack, stream: str, workers: Workers, js_client: Client
) -> None:
    workers.start()
    workers.start()
    await stack.burst(seed=1).run(90)
    await settle(stack, stream, workers)
    await assert_consistent(stack, workers)
    js = js_client.jetstream()
    info = await js.stream_info(stream)
    assert info.config.subjects == [f"{stream.lower()}.events.*"]
    assert info.config.duplicate_window == nats_log.DUPLICATE_WINDOW_SECONDS
    assert info.config.max_age == 24 * 3600
    durables = {c.name: c for c in await js.consumers_info(stream)}
    assert set(durables) == set(consumer_names())
    assert durables["counters"].config.ack_wait == 1.0
    assert durables["counters"].config.max_deliver == -1
    workers.stop_all()  # gracefully: each finishes what it holds, and exits 0
    assert [p.returncode for p in workers.processes] == [0, 0], workers.logs()
    for durable in await js.consumers_info(stream):
        assert (durable.num_ack_pending, durable.num_pending) == (0, 0), durable

    # A copy of a like whose favourite still exists: applied again, it would count twice.
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT o.event_id, o.type, o.version, o.account_id, o.payload FROM outbox_events o"
            " WHERE o.type = 'status.favourited' AND EXISTS (SELECT 1 FROM favourites f WHERE"
            " f.id = (o.payload::json->>'favourite_id')::bigint) LIMIT 1").fetchone()
    assert row is not None
    envelope = Envelope(*row)
    settings = load_settings(workers.env)
    subject = nats_log.subject_of(settings, envelope.account_id)
    headers = nats_log.headers_of(envelope)
    before = counters_snapshot(stack.database_url)
    again = await js.publish(subject, envelope.payload.encode(), headers=headers)
    assert again.duplicate  # the same Nats-Msg-Id within the window: JetStream drops it
    copy = await js.publish(subject, envelope.payload.encode(),
                            headers={**headers, nats_log.MSG_ID: f"copy-{envelope.event_id}"})
    assert not copy.duplicate
    # Waiting, for every consumer: what the settle helper and nats_log.backlog both see.
    consumers = len(consumer_names())
    assert await nats_backlog(stack.database_url, nats_url(), stream) == consumers
    assert await backlog_in_process(workers.env, nats_log.backlog) == consumers
    workers.start()
    await settle(stack, stream, workers)
    for name in ("counters", "notifications"):  # both read the copy
        consumed = await js.consumer_info(stream, name)
        assert consumed.delivered is not None and consumed.delivered.stream_seq == copy.seq
    assert counters_snapshot(stack.database_url) == before
    await assert_consistent(stack, workers)
    assert await backlog_in_process(workers.env, nats_log.backlog) == 0


async def test_a_killed_worker_s_unacknowledged_messages_are_redelivered(
    stack: Stack, stream: str, workers: Workers, js_client: Client
) -> None:
    """A counters worker is killed mid-burst in the middle of a handler (held up by a
    row lock: its marker and changes uncommitted) with the rest of its batch
    unacknowledged: all of it must come back, the message in hand included."""
    workers.start("--only", "analytics")  # the relay, and no counters yet: a backlog grows
    burst = stack.burst(seed=2)
    writing = asyncio.create_task(burst.run(160))
    js = js_client.jetstream()

    async def relayed() -> bool:
        try:
            return (await js.stream_info(stream)).state.messages >= 50
        except NotFoundError:
            return False

    async def handler_waits() -> bool:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE status_stats%'"
            ).fetchone()
        return row is not None and row[0] > 0

    await _until(relayed, "the relay to publish part of the burst")
    # The lock's transaction also holds the relay back (events.outbox reads below the
    # oldest running transaction) until it ends; the burst goes on writing meanwhile.
    with psycopg.connect(stack.database_url) as blocker:
        blocker.execute("SELECT 1 FROM status_stats WHERE status_id = ANY(%s) FOR UPDATE",
                        ([int(s) for s in stack.statuses],))
        victim = workers.start("--only", "counters")
        await _until(handler_waits, "the victim's counters handler to wait on a locked row")
        held = (await js.consumer_info(stream, "counters")).num_ack_pending or 0
        assert held >= 1
        workers.kill(victim)
        workers.start()
        blocker.rollback()
    await writing
    await settle(stack, stream, workers)
    # Every delivery takes a consumer sequence number: those past the stream's are the
    # redeliveries (the stream starts at 1 and the consumer reads all of it).
    counted = await js.consumer_info(stream, "counters")
    assert counted.delivered is not None
    assert counted.delivered.consumer_seq - counted.delivered.stream_seq >= held
    await assert_consistent(stack, workers)


async def test_a_stream_deleted_under_load_is_made_again_and_refilled_by_a_replay(
    stack: Stack, stream: str, workers: Workers, js_client: Client
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    start = relay_position(stack.database_url)
    workers.start("--only", "analytics")  # the relay; the counters' messages wait
    burst = stack.burst(seed=3)
    writing = asyncio.create_task(burst.run(150))
    js = js_client.jetstream()

    async def relayed() -> bool:  # published, acknowledged, and the relay moved on
        reached = relay_position(stack.database_url)
        return events_after(stack.database_url, start) - events_after(
            stack.database_url, reached) >= 40

    await _until(relayed, "the relay to publish part of the burst")
    assert await js.delete_stream(stream)  # with messages no counters process has read
    workers.start()
    await writing
    await settle(stack, stream, workers)  # what survived is through; the rest is lost
    # The relay made the stream again, and the consumers their durables on it.
    assert {c.name for c in await js.consumers_info(stream)} == set(consumer_names())
    lost = mismatches(stack.database_url)
    assert any("never applied" in problem for problem in lost), lost
    command = roost_command("events", "replay", "--since", since.isoformat())
    replay = await asyncio.to_thread(
        subprocess.run, command, env=workers.env, capture_output=True, text=True, timeout=30,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "Moved relay back" in replay.stdout, replay.stdout
    await settle(stack, stream, workers)
    await assert_consistent(stack, workers)


async def test_a_killed_relay_is_replaced_without_loss_or_doubling(
    stack: Stack, stream: str, workers: Workers, js_client: Client
) -> None:
    start = relay_position(stack.database_url)  # this test's relay publishes from here
    first, second = workers.start(), workers.start()
    burst = stack.burst(seed=4)
    writing = asyncio.create_task(burst.run(150))
    js = js_client.jetstream()

    async def relaying() -> bool:
        try:
            stored = (await js.stream_info(stream)).state.messages
        except NotFoundError:
            return False
        return burst.done >= 50 and stored > 0

    await _until(relaying, "the relay to publish")
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT holder FROM event_leases WHERE name = 'relay'").fetchone()
    assert row is not None
    relay_pid = int(row[0].rsplit(":", 2)[1])
    relay = next(p for p in (first, second) if p.pid == relay_pid)
    workers.kill(relay)
    workers.start()  # the survivor or the newcomer takes the lease over
    await writing
    await settle(stack, stream, workers)
    await assert_consistent(stack, workers)
    # Every event since the start is in the stream once: a batch the killed relay had
    # published without moving its cursor was published again, and JetStream dropped
    # the copies (Nats-Msg-Id).
    stored = (await js.stream_info(stream)).state.messages
    assert stored == events_after(stack.database_url, start)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        row = conn.execute("SELECT holder FROM event_leases WHERE name = 'relay'").fetchone()
    assert row is not None and f":{relay_pid}:" not in row[0]



async def test_the_stream_and_consumers_are_made_then_kept_up_to_date(
    stream: str, js_client: Client, tmp_path: Path
) -> None:
    env = {"ROOST_DATA_DIR": str(tmp_path), "ROOST_EVENT_LOG": nats_url(),
           "ROOST_EVENT_NATS_STREAM": stream, "ROOST_EVENT_NATS_ACK_WAIT_MS": "1000",
           "ROOST_EVENT_RETENTION_HOURS": "2"}
    js = js_client.jetstream()
    settings = load_settings(env)
    await nats_log.ensure_stream(js, settings)
    await nats_log.ensure_consumer(js, settings, "counters")
    await nats_log.ensure_stream(js, settings)  # a second start changes nothing
    await nats_log.ensure_consumer(js, settings, "counters")
    info = await js.stream_info(stream)
    assert (info.config.max_age, info.config.storage) == (2 * 3600, StorageType.FILE)
    assert (await js.consumer_info(stream, "counters")).config.ack_wait == 1.0

    changed = load_settings({**env, "ROOST_EVENT_NATS_ACK_WAIT_MS": "30000",
                             "ROOST_EVENT_RETENTION_HOURS": "48"})
    await nats_log.ensure_stream(js, changed)
    await nats_log.ensure_consumer(js, changed, "counters")
    assert (await js.stream_info(stream)).config.max_age == 48 * 3600
    consumer = await js.consumer_info(stream, "counters")
    assert (consumer.config.ack_wait, consumer.config.max_deliver) == (30.0, -1)

    # An envelope survives the trip through a message's headers and body.
    envelope = Envelope(123456789, "status.favourited", 2, 987654321, '{"x": "é"}')
    ack = await js.publish(nats_log.subject_of(settings, envelope.account_id),
                           envelope.payload.encode(), headers=nats_log.headers_of(envelope))
    assert ack.stream == stream
    assert nats_log.subject_of(settings, envelope.account_id) == (
        f"{stream.lower()}.events.{987654321 % 8}")
    subscription = await js.pull_subscribe_bind(durable="counters", stream=stream)
    [message] = await subscription.fetch(1, timeout=5)
    assert nats_log.from_message(message) == envelope
    await message.ack()


async def test_serve_runs_the_relay_and_the_consumers_itself(
    stack: Stack, stream: str, workers: Workers, tmp_path: Path
) -> None:
    """The default deployment: one `roost serve` (ROOST_SERVE_CONSUMERS on) runs the
    relay, woken by its own commits, and pulls from every durable consumer in-process."""
    server = start_server(
        tmp_path, stack.database_url, migrate=False, ROOST_EVENT_LOG=nats_url(),
        ROOST_EVENT_NATS_STREAM=stream, ROOST_LOG_LEVEL="info", **timeline_settings(stream),
    )
    try:
        await stack.burst(seed=5, url=server.url).run(40)
        async with httpx.AsyncClient(base_url=server.url) as http:  # for the search index
            posted = await post_status(http, stack.users[0], "a post among the likes")
            # status.deleted, for the media consumer (it frees a deleted status's media)
            deleted = await http.delete(f"/api/v1/statuses/{posted['id']}",
                                        headers=stack.users[0].headers)
            assert deleted.status_code == 200, deleted.text
        await settle(stack, stream, workers)
        await assert_consistent(stack, workers)
        async with httpx.AsyncClient(base_url=server.url) as http:
            metrics = (await http.get("/metrics")).text
        assert 'roost_events_published_total{type="status.favourited"}' in metrics
        for name in consumer_names():  # consumed here, by the server itself
            assert f'roost_events_consumed_total{{consumer="{name}"' in metrics, name
        for reader in ("relay", *consumer_names()):
            assert f'roost_event_lag_events{{reader="{reader}"}}' in metrics, reader
    finally:
        server.stop()


async def test_a_worker_waits_for_nats_and_still_stops_when_told(
    stack: Stack, tmp_path: Path
) -> None:
    """NATS down: the services keep trying (and say so), and SIGTERM still ends the
    worker gracefully instead of waiting for a server that is not coming."""
    nowhere = f"nats://127.0.0.1:{free_port()}"
    env = server_env(tmp_path, stack.database_url, ROOST_EVENT_LOG=nowhere,
                     ROOST_LOG_LEVEL="info")
    worker = Workers(tmp_path, stack.database_url, env, "nowhere")
    process = worker.start()
    try:
        await _until(lambda: "NATS connection error" in worker.logs(), "the worker to try NATS")
        process.terminate()
        assert await asyncio.to_thread(process.wait, 15) == 0, worker.logs()
        assert "event worker stopped" in worker.logs()
    finally:
        worker.stop_all()

