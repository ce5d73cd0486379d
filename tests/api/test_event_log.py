"""The event log's core on SQLite and PostgreSQL: exactly-once delivery, retries with
backoff and dead letters, a failing event that holds up nothing behind it, reading
the outbox in commit order on PostgreSQL, counters that always equal a recount, and a
write's answer that shows its own effect before any consumer ran (docs/events.md).

Two databases are used. The session's app (`client`, `app_roost`) runs its own
dispatcher, so tests there only feed it events it ignores or consumers it does not
have. The tests that must see events wait unconsumed run on a fresh database of the
same kind whose app does not serve the consumers (`quiet_app`), and step dispatchers
by hand with `round()`."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.app import create_app
from roost.clock import utcnow
from roost.config import ConfigError, load_settings
from roost.context import Roost
from roost.counters.consumer import COUNTERS
from roost.db.tables import (
    account_stats,
    event_cursors,
    event_dead_letters,
    event_leases,
    event_retries,
    favourites,
    follows,
    outbox_events,
    processed_events,
    status_stats,
    statuses,
)
from roost.events import outbox, runner
from roost.events import types as ev
from roost.events.consumer import Consumer, ServiceUnavailable, all_consumers
from roost.events.dispatcher import Dispatcher
from roost.events.outbox import Cursor
from roost.events.types import Envelope, decode, encode
from tests.support.api import User, follow, post_status, register_app, sign_up
from tests.support.server import CHEAP_PASSWORD_HASHING
from tests.support.services import fresh_postgres_database, migrated_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

Handler = Callable[[Roost, AsyncConnection, ev.Event], Awaitable[None]]


@pytest.fixture(scope="module")
async def quiet_app(database_url: str, tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[tuple[Any, Roost]]:
    """The app on a fresh database of the same kind, without consumers: events wait in
    the outbox until a test dispatches them."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    scratch: Path = tmp_path_factory.mktemp("quiet")
    with migrated_database(kind, scratch) as url:
        settings = load_settings({"ROOST_DATA_DIR": str(scratch), "ROOST_DATABASE_URL": url,
                                  "ROOST_RATE_LIMITS": "off", "ROOST_SERVE_CONSUMERS": "false",
                                  **CHEAP_PASSWORD_HASHING})
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            roost: Roost = app.state.roost
            assert roost.dispatcher is None
            yield app, roost


@pytest.fixture
async def quiet_client(quiet_app: tuple[Any, Roost]) -> AsyncIterator[httpx.AsyncClient]:
    app, _ = quiet_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
        yield http


def _name(prefix: str) -> str:
    """A consumer or cursor name no other test (or run) uses."""
    return f"test-{prefix}-{secrets.token_hex(4)}"


async def _users(client: httpx.AsyncClient, n: int) -> list[User]:
    app = await register_app(client)
    return [await sign_up(client, app) for _ in range(n)]


async def _post(client: httpx.AsyncClient, user: User, path: str) -> dict[str, Any]:
    reply = await client.post(f"/api/v1/{path}", headers=user.headers)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def _status(client: httpx.AsyncClient, user: User, status_id: str) -> dict[str, Any]:
    reply = await client.get(f"/api/v1/statuses/{status_id}", headers=user.headers)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


# On PostgreSQL the outbox hands out an event only once every transaction of this
# database older than its own has ended: the app's own open transactions can hold
# events back for a moment. So tests that want every committed event wait for them,
# as settle() does.
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.005


async def _readable_after(roost: Roost, cursor: Cursor) -> list[outbox.StoredEvent]:
    """Every committed event after `cursor`, once the reader may take them all."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            async with roost.db.read() as conn:
                events = await outbox.read_after(conn, cursor, 10_000)
                if len(events) == await outbox.count_after(conn, cursor):
                    return events
            await asyncio.sleep(POLL_SECONDS)


async def _end_of_outbox(roost: Roost) -> Cursor:
    """The cursor after every event committed so far."""
    cursor = Cursor()
    while events := await _readable_after(roost, cursor):
        cursor = events[-1].cursor
    return cursor


async def _dispatch_all(dispatcher: Dispatcher) -> None:
    """Rounds until the dispatcher's cursor is past every committed event."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            await dispatcher.round()
            async with dispatcher.roost.db.read() as conn:
                cursor = await outbox.cursor_at(conn, dispatcher.cursor_name)
                if await outbox.count_after(conn, cursor) == 0:
                    return
            await asyncio.sleep(POLL_SECONDS)


async def _dispatcher_from_now(roost: Roost, consumers: list[Consumer]) -> Dispatcher:
    """A dispatcher of its own, whose cursor starts after every event so far."""
    dispatcher = Dispatcher(roost, consumers, cursor=_name("cursor"))
    end = await _end_of_outbox(roost)
    async with roost.db.write() as conn:
        await outbox.save_cursor(conn, dispatcher.cursor_name, end)
    return dispatcher


async def _append(roost: Roost, event: ev.Event) -> Envelope:
    async with roost.db.write() as conn:
        await outbox.append(conn, event)
    return encode(event)


def _ignored_event(roost: Roost, account_id: int = 424_242) -> ev.AccountUpdated:
    """An event that changes nothing the tests look at: of the real consumers only
    analytics wants it (it records the made-up account as active that day)."""
    assert [c.name for c in all_consumers() if c.wants(ev.AccountUpdated.TYPE)] == ["analytics"]
    return ev.AccountUpdated(event_id=outbox.new_event_id(roost.ids, account_id),
                             account_id=account_id)


async def _favourites_count(roost: Roost, status_id: int) -> int:
    async with roost.db.read() as conn:
        count = (await conn.execute(
            select(status_stats.c.favourites_count).where(status_stats.c.status_id == status_id)
        )).scalar_one()
    return int(count)


async def _retry_row(roost: Roost, consumer: str, event_id: int) -> Any:
    async with roost.db.read() as conn:
        return (await conn.execute(
            select(event_retries).where(event_retries.c.consumer == consumer,
                                        event_retries.c.event_id == event_id)
        )).first()


async def _make_due(roost: Roost, consumer: str) -> None:
    async with roost.db.write() as conn:
        await conn.execute(
            update(event_retries).where(event_retries.c.consumer == consumer)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


async def _processed(roost: Roost, consumer: str) -> set[int]:
    async with roost.db.read() as conn:
        rows = await conn.execute(
            select(processed_events.c.event_id).where(processed_events.c.consumer == consumer)
        )
        return {int(event_id) for event_id in rows.scalars()}


def _with_settings(roost: Roost, **changes: Any) -> Roost:
    """A copy of the Roost context (same database, ids) with other settings."""
    settings = dataclasses.replace(roost.settings, **changes)
    return dataclasses.replace(roost, settings=settings)


# --- exactly once ------------------------------------------------------------------


async def test_a_redelivered_event_moves_the_counter_once(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    alice, bob = await _users(client, 2)
    status_id = int((await post_status(client, alice, "count me once"))["id"])
    event = ev.Favourited(event_id=outbox.new_event_id(roost.ids, int(bob.id)),
                          account_id=int(bob.id), favourite_id=roost.ids.next_id(0),
                          status_id=status_id, status_account_id=int(alice.id))
    envelope = encode(event)

    assert await runner.deliver(roost, COUNTERS, envelope) == "applied"
    assert await _favourites_count(roost, status_id) == 1
    assert await runner.deliver(roost, COUNTERS, envelope) == "duplicate"
    assert await _favourites_count(roost, status_id) == 1
    assert event.event_id in await _processed(roost, COUNTERS.name)


async def test_replaying_the_log_changes_no_counter(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    """A real like, dispatched by the app; then delivered again by hand, and the log
    replayed from before it by a second dispatcher: all duplicates."""
    _, roost = app_roost
    alice, bob = await _users(client, 2)
    status_id = (await post_status(client, alice, "like me"))["id"]
    before = utcnow()
    assert (await _post(client, bob, f"statuses/{status_id}/favourite"))["favourites_count"] == 1
    assert await _favourites_count(roost, int(status_id)) == 1

    async with roost.db.read() as conn:
        rows = (await conn.execute(
            select(outbox_events).where(outbox_events.c.type == ev.Favourited.TYPE,
                                        outbox_events.c.account_id == int(bob.id))
        )).all()
    [row] = rows
    envelope = Envelope(row.event_id, row.type, row.version, row.account_id, row.payload)
    liked = decode(envelope)
    assert isinstance(liked, ev.Favourited)
    assert (liked.status_id, liked.status_account_id) == (int(status_id), int(alice.id))
    assert await runner.deliver(roost, COUNTERS, envelope) == "duplicate"

    replay = Dispatcher(roost, [COUNTERS], cursor=_name("replay"))
    async with roost.db.write() as conn:
        await outbox.save_cursor(conn, replay.cursor_name, await outbox.cursor_before(conn, before))
    try:
        await _dispatch_all(replay)
    finally:
        await replay.stop()
    assert await _processed(roost, COUNTERS.name) >= {envelope.event_id}
    assert await _favourites_count(roost, int(status_id)) == 1
    assert (await _status(client, bob, status_id))["favourites_count"] == 1


# --- retries and dead letters --------------------------------------------------------


async def test_a_failing_handler_is_retried_then_dead_lettered(
    app_roost: tuple[Any, Roost]
) -> None:
    _, shared = app_roost
    roost = _with_settings(shared, event_max_attempts=3)
    calls: list[int] = []

    async def broken(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
        calls.append(event.event_id)
        raise RuntimeError(f"cannot handle {event.event_id}")

    consumer = Consumer(_name("broken"), frozenset({ev.AccountUpdated.TYPE}), broken)
    envelope = await _append(roost, _ignored_event(roost))
    event_id = envelope.event_id

    before = utcnow()
    assert await runner.deliver(roost, consumer, envelope) == "retry"
    parked = await _retry_row(roost, consumer.name, event_id)
    assert parked is not None
    assert parked.attempts == 1
    ceiling = timedelta(milliseconds=roost.settings.event_retry_base_ms)
    assert before < parked.next_attempt_at <= utcnow() + ceiling
    assert f"RuntimeError: cannot handle {event_id}" in parked.last_error
    # The failed attempt's marker was rolled back with the rest of its transaction.
    assert event_id not in await _processed(roost, consumer.name)
    # Not due yet: nothing is tried.
    if parked.next_attempt_at > utcnow():
        assert await runner.retry_due(roost, [consumer]) == 0

    await _make_due(roost, consumer.name)
    assert await runner.retry_due(roost, [consumer]) == 1
    parked = await _retry_row(roost, consumer.name, event_id)
    assert parked is not None
    assert parked.attempts == 2
    assert parked.next_attempt_at > utcnow() - timedelta(seconds=1)

    await _make_due(roost, consumer.name)
    assert await runner.retry_due(roost, [consumer]) == 1
    assert await _retry_row(roost, consumer.name, event_id) is None
    async with roost.db.read() as conn:
        dead = (await conn.execute(
            select(event_dead_letters).where(event_dead_letters.c.consumer == consumer.name)
        )).all()
    assert len(dead) == 1
    letter = dead[0]
    assert (letter.event_id, letter.type, letter.version, letter.account_id, letter.payload) == (
        event_id, envelope.type, envelope.version, envelope.account_id, envelope.payload)
    assert letter.attempts == 3
    assert f"RuntimeError: cannot handle {event_id}" in letter.last_error
    assert calls == [event_id] * 3

    await _make_due(roost, consumer.name)  # nothing is left to make due
    assert await runner.retry_due(roost, [consumer]) == 0
    assert calls == [event_id] * 3


async def test_a_handler_waiting_for_a_service_is_never_dead_lettered(
    app_roost: tuple[Any, Roost]
) -> None:
    """ServiceUnavailable (Redis away, for the home-timeline fan-out): retried past
    ROOST_EVENT_MAX_ATTEMPTS, every few seconds at the most, then applied once."""
    _, shared = app_roost
    roost = _with_settings(shared, event_max_attempts=2)
    down = [True]
    applied: list[int] = []

    async def needs_redis(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
        if down[0]:
            raise ServiceUnavailable("Redis: ConnectionError")
        applied.append(event.event_id)

    consumer = Consumer(_name("waiting"), frozenset({ev.AccountUpdated.TYPE}), needs_redis)
    envelope = await _append(roost, _ignored_event(roost))
    assert await runner.deliver(roost, consumer, envelope) == "retry"
    for attempt in range(2, 6):
        await _make_due(roost, consumer.name)
        assert await runner.retry_due(roost, [consumer]) == 1
        parked = await _retry_row(roost, consumer.name, envelope.event_id)
        assert parked is not None and parked.attempts == attempt
        assert parked.next_attempt_at <= utcnow() + timedelta(
            seconds=runner.SERVICE_RETRY_MAX_SECONDS)
    down[0] = False
    await _make_due(roost, consumer.name)
    assert await runner.retry_due(roost, [consumer]) == 1
    assert applied == [envelope.event_id]
    async with roost.db.read() as conn:
        dead = (await conn.execute(
            select(func.count()).select_from(event_dead_letters)
            .where(event_dead_letters.c.consumer == consumer.name)
        )).scalar_one()
    assert dead == 0


async def test_a_handler_that_recovers_applies_once(app_roost: tuple[Any, Roost]) -> None:
    _, shared = app_roost
    roost = _with_settings(shared, event_max_attempts=3)
    attempts: list[int] = []
    applied: list[int] = []

    async def flaky(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
        attempts.append(event.event_id)
        if len(attempts) == 1:
            raise ConnectionError("the first time, a blip")
        applied.append(event.event_id)

    consumer = Consumer(_name("flaky"), frozenset({ev.AccountUpdated.TYPE}), flaky)
    envelope = await _append(roost, _ignored_event(roost))

    assert await runner.deliver(roost, consumer, envelope) == "retry"
    assert (await _retry_row(roost, consumer.name, envelope.event_id)).attempts == 1
    await _make_due(roost, consumer.name)
    assert await runner.retry_due(roost, [consumer]) == 1

    assert applied == [envelope.event_id]
    assert await _retry_row(roost, consumer.name, envelope.event_id) is None
    assert await _processed(roost, consumer.name) == {envelope.event_id}
    # The log delivering it again (the dispatcher had read it too) changes nothing.
    assert await runner.deliver(roost, consumer, envelope) == "duplicate"
    assert await runner.retry_due(roost, [consumer]) == 0
    assert applied == [envelope.event_id]
    async with roost.db.read() as conn:
        dead = (await conn.execute(
            select(func.count()).select_from(event_dead_letters)
            .where(event_dead_letters.c.consumer == consumer.name)
        )).scalar_one()
    assert dead == 0


async def test_an_unreadable_event_goes_straight_to_the_dead_letters(
    app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    consumer = Consumer(_name("reader"), frozenset({"test.future"}), COUNTERS.handle)
    envelope = Envelope(outbox.new_event_id(roost.ids, 1), "test.future", 1, 1, "{}")
    assert await runner.deliver(roost, consumer, envelope) == "dead"
    assert await _retry_row(roost, consumer.name, envelope.event_id) is None
    async with roost.db.read() as conn:
        letter = (await conn.execute(
            select(event_dead_letters).where(event_dead_letters.c.consumer == consumer.name)
        )).one()
    assert (letter.attempts, letter.type) == (1, "test.future")
    assert "UnknownEvent" in letter.last_error


# --- a poison event --------------------------------------------------------------------


async def test_a_poison_event_holds_up_no_other_event(
    quiet_client: httpx.AsyncClient, quiet_app: tuple[Any, Roost]
) -> None:
    _, quiet = quiet_app
    # A long first backoff: the round that parks the poison event does not also retry it.
    roost = _with_settings(quiet, event_retry_base_ms=300_000)
    alice, bob = await _users(quiet_client, 2)
    poisoned: set[int] = set()
    delivered: list[int] = []

    async def counters_unless_poisoned(roost: Roost, conn: AsyncConnection,
                                       event: ev.Event) -> None:
        if event.event_id in poisoned:
            raise ValueError("poison")
        await COUNTERS.handle(roost, conn, event)

    async def record(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
        delivered.append(event.event_id)

    counting = Consumer(_name("counters"), COUNTERS.types, counters_unless_poisoned)
    recorder = Consumer(_name("recorder"), COUNTERS.types, record)
    dispatcher = await _dispatcher_from_now(roost, [counting, recorder])

    ids = [(await post_status(quiet_client, alice, f"post {n}"))["id"] for n in range(3)]
    for status_id in ids:
        assert (await _post(quiet_client, bob, f"statuses/{status_id}/favourite")
                )["favourites_count"] == 1
    assert [await _favourites_count(roost, int(i)) for i in ids] == [0, 0, 0]  # no consumer yet

    async with roost.db.read() as conn:
        cursor = await outbox.cursor_at(conn, dispatcher.cursor_name)
    events = await _readable_after(roost, cursor)
    assert len(events) == 6  # three posts, three likes
    likes = {decode(e.envelope).status_id: e.envelope.event_id  # type: ignore[attr-defined]
             for e in events if e.envelope.type == ev.Favourited.TYPE}
    poison = likes[int(ids[1])]
    poisoned.add(poison)

    try:
        await _dispatch_all(dispatcher)
        assert [await _favourites_count(roost, int(i)) for i in ids] == [1, 0, 1]
        async with roost.db.read() as conn:
            assert await outbox.cursor_at(conn, dispatcher.cursor_name) == events[-1].cursor
            parked = (await conn.execute(
                select(event_retries.c.consumer, event_retries.c.event_id,
                       event_retries.c.attempts)
                .where(event_retries.c.consumer.in_([counting.name, recorder.name]))
            )).all()
        assert [tuple(row) for row in parked] == [(counting.name, poison, 1)]
        every = {e.envelope.event_id for e in events}
        assert await _processed(roost, counting.name) == every - {poison}
        # The other consumer had the poison event too, in log order.
        assert delivered == [e.envelope.event_id for e in events]

        # Nothing new, nothing due: an idle round.
        if (await _retry_row(roost, counting.name, poison)).next_attempt_at > utcnow():
            assert await dispatcher.round() is False
        # Mended, and due: the retry applies it, once.
        poisoned.clear()
        await _make_due(roost, counting.name)
        assert await dispatcher.round() is True
        assert [await _favourites_count(roost, int(i)) for i in ids] == [1, 1, 1]
        assert await _retry_row(roost, counting.name, poison) is None
        assert await _processed(roost, counting.name) == every
        assert await dispatcher.round() is False
        assert [await _favourites_count(roost, int(i)) for i in ids] == [1, 1, 1]
        assert len(delivered) == len(events)
    finally:
        await dispatcher.stop()


# --- commit order on PostgreSQL -------------------------------------------------------


def _postgresql_only(
    roost: Roost, why: str = "SQLite has one writer at a time: insertion order is commit order"
) -> None:
    if roost.db.is_sqlite:
        pytest.skip(why)


async def _our_events(roost: Roost, after: Cursor, ours: set[int]) -> list[outbox.StoredEvent]:
    async with roost.db.read() as conn:
        events = await outbox.read_after(conn, after, 1_000)
    return [e for e in events if e.envelope.event_id in ours]


async def _wait_for_ours(roost: Roost, after: Cursor, ours: set[int]
                         ) -> list[outbox.StoredEvent]:
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            found = await _our_events(roost, after, ours)
            if len(found) == len(ours):
                return found
            await asyncio.sleep(POLL_SECONDS)


async def test_an_event_committed_after_an_older_open_transaction_waits_for_it(
    quiet_app: tuple[Any, Roost]
) -> None:
    _, roost = quiet_app
    _postgresql_only(roost)
    start = await _end_of_outbox(roost)
    event_a, event_b = _ignored_event(roost, 1), _ignored_event(roost, 2)
    ours = {event_a.event_id, event_b.event_id}

    async with roost.db.write() as conn_a:
        await outbox.append(conn_a, event_a)
        async with roost.db.write() as conn_b:
            await outbox.append(conn_b, event_b)
        # B has committed: its row is there for anyone to see...
        async with roost.db.read() as conn:
            visible = (await conn.execute(
                select(outbox_events.c.event_id).where(outbox_events.c.event_id.in_(ours))
            )).scalars().all()
            assert visible == [event_b.event_id]
            assert await outbox.count_after(conn, start) == 1  # a backlog: settle() waits
        # ...but a reader must not take it while A, older, may still commit before it.
        assert await _our_events(roost, start, ours) == []
        async with roost.db.read() as conn:
            assert await outbox.read_after(conn, start, 1_000) == []

    after = await _wait_for_ours(roost, start, ours)
    assert [e.envelope.event_id for e in after] == [event_a.event_id, event_b.event_id]
    assert after[0].txid < after[1].txid


async def test_a_saved_cursor_never_skips_an_older_transaction_committing_later(
    quiet_app: tuple[Any, Roost]
) -> None:
    """A takes its transaction id first but appends last, after B committed: its event
    has the higher position and the lower txid, and is read first."""
    _, roost = quiet_app
    _postgresql_only(roost)
    name = _name("cursor")
    start = await _end_of_outbox(roost)
    async with roost.db.write() as conn:
        await outbox.save_cursor(conn, name, start)
    event_a, event_b = _ignored_event(roost, 1), _ignored_event(roost, 2)
    ours = {event_a.event_id, event_b.event_id}

    async with roost.db.write() as conn_a:
        await conn_a.execute(text("SELECT pg_current_xact_id()"))  # A's txid, now
        async with roost.db.write() as conn_b:
            await outbox.append(conn_b, event_b)
        await outbox.append(conn_a, event_a)
        # A reader catches up and saves its cursor while A is still open.
        async with roost.db.read() as conn:
            cursor = await outbox.cursor_at(conn, name)
            seen = await outbox.read_after(conn, cursor, 1_000)
        assert seen == []
        async with roost.db.write() as conn:
            await outbox.save_cursor(conn, name, seen[-1].cursor if seen else cursor)

    async with roost.db.read() as conn:
        saved = await outbox.cursor_at(conn, name)
    after = await _wait_for_ours(roost, saved, ours)
    assert [e.envelope.event_id for e in after] == [event_a.event_id, event_b.event_id]
    assert after[0].position > after[1].position
    assert after[0].txid < after[1].txid
    assert {e.envelope.event_id for e in after} == ours
    # Once past both, the cursor is past both.
    async with roost.db.read() as conn:
        assert await outbox.read_after(conn, after[-1].cursor, 1_000) == []
        assert await outbox.count_after(conn, after[-1].cursor) == 0
    async with roost.db.write() as conn:
        await conn.execute(event_cursors.delete().where(event_cursors.c.name == name))


# --- counters equal a recount ---------------------------------------------------------


async def _recount(roost: Roost, account_ids: list[int]) -> tuple[dict[int, tuple[int, ...]],
                                                                  dict[int, tuple[int, ...]],
                                                                  dict[int, tuple[int, ...]],
                                                                  dict[int, tuple[int, ...]]]:
    """(account_stats, recounted accounts, status_stats, recounted statuses)."""
    async with roost.db.read() as conn:
        stored_accounts = {
            int(row.account_id): (row.statuses_count, row.followers_count, row.following_count)
            for row in await conn.execute(
                select(account_stats).where(account_stats.c.account_id.in_(account_ids)))
        }
        counted_accounts = {}
        for account_id in account_ids:
            posts = await conn.scalar(select(func.count()).select_from(statuses)
                                      .where(statuses.c.account_id == account_id))
            followers = await conn.scalar(select(func.count()).select_from(follows)
                                          .where(follows.c.target_account_id == account_id))
            following = await conn.scalar(select(func.count()).select_from(follows)
                                          .where(follows.c.account_id == account_id))
            counted_accounts[account_id] = (posts, followers, following)
        status_ids = (await conn.execute(
            select(statuses.c.id).where(statuses.c.account_id.in_(account_ids))
        )).scalars().all()
        stored_statuses = {
            int(row.status_id): (row.replies_count, row.reblogs_count, row.favourites_count)
            for row in await conn.execute(
                select(status_stats).where(status_stats.c.status_id.in_(status_ids)))
        }
        counted_statuses = {}
        for status_id in status_ids:
            replies = await conn.scalar(select(func.count()).select_from(statuses)
                                        .where(statuses.c.in_reply_to_id == status_id))
            boosts = await conn.scalar(select(func.count()).select_from(statuses)
                                       .where(statuses.c.reblog_of_id == status_id))
            likes = await conn.scalar(select(func.count()).select_from(favourites)
                                      .where(favourites.c.status_id == status_id))
            counted_statuses[int(status_id)] = (replies, boosts, likes)
    return stored_accounts, counted_accounts, stored_statuses, counted_statuses


async def test_counters_equal_a_recount_after_a_burst_of_actions(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    a, b, c, d = await _users(client, 4)
    s1, s2, s3 = [(await post_status(client, a, f"a's post {n}"))["id"] for n in range(3)]
    t1 = (await post_status(client, b, "b's post"))["id"]
    r1 = (await post_status(client, b, "b replies", in_reply_to_id=s1))["id"]
    await post_status(client, c, "c replies", in_reply_to_id=s1)
    await post_status(client, c, "c replies to b", in_reply_to_id=r1)
    r4 = (await post_status(client, d, "d replies, then thinks better", in_reply_to_id=s2))["id"]
    assert (await client.delete(f"/api/v1/statuses/{r4}", headers=d.headers)).status_code == 200

    for user, status_id in ((b, s1), (c, s1), (d, s1), (a, t1), (a, r1), (d, s2), (b, s3),
                            (c, s3)):
        await _post(client, user, f"statuses/{status_id}/favourite")
    await _post(client, c, f"statuses/{s1}/unfavourite")
    await _post(client, d, f"statuses/{s2}/unfavourite")
    await _post(client, c, f"statuses/{s1}/favourite")  # liked again
    await _post(client, b, f"statuses/{s1}/favourite")  # twice: no change

    for user, status_id in ((b, s1), (c, s1), (d, s3), (c, s3), (a, t1)):
        await _post(client, user, f"statuses/{status_id}/reblog")
    await _post(client, b, f"statuses/{s1}/unreblog")
    d_boost = next(
        item for item in (await client.get(f"/api/v1/accounts/{d.id}/statuses",
                                           headers=d.headers)).json()
        if item["reblog"] is not None and item["reblog"]["id"] == s3
    )
    assert (await client.delete(f"/api/v1/statuses/{d_boost['id']}",
                                headers=d.headers)).status_code == 200

    for user, target in ((a, b), (b, a), (c, a), (d, a), (a, c), (c, b), (d, b)):
        await follow(client, user, target)
    await _post(client, b, f"accounts/{a.id}/unfollow")
    await _post(client, a, f"accounts/{c.id}/block")  # severs a->c and c->a
    # Deleting a status that was boosted (by c) and liked (by b and c).
    assert (await client.delete(f"/api/v1/statuses/{s3}", headers=a.headers)).status_code == 200

    account_ids = [int(user.id) for user in (a, b, c, d)]
    stored_accounts, counted_accounts, stored_statuses, counted_statuses = await _recount(
        roost, account_ids)
    assert stored_accounts == counted_accounts
    assert stored_statuses == counted_statuses
    # The burst did move them (a recount of nothing would agree too).
    assert counted_accounts[int(a.id)] == (3, 1, 1)  # s1, s2, t1's boost; d; b
    assert counted_accounts[int(c.id)] == (3, 0, 1)  # two replies, s1's boost; b
    assert counted_statuses[int(s1)] == (2, 1, 3)
    assert counted_statuses[int(r1)] == (1, 0, 1)
    assert counted_statuses[int(s2)] == (0, 0, 0)
    assert int(s3) not in stored_statuses
    # And the API says the same as the table.
    assert (await _status(client, a, s1))["favourites_count"] == 3
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=a.headers)).json()
    assert (me["statuses_count"], me["followers_count"], me["following_count"]) == (3, 1, 1)


# --- a write's answer shows its own effect ---------------------------------------------


async def test_a_write_answers_with_its_own_effect_before_any_consumer_ran(
    quiet_client: httpx.AsyncClient, quiet_app: tuple[Any, Roost]
) -> None:
    _, roost = quiet_app
    alice, bob = await _users(quiet_client, 2)
    status_id = (await post_status(quiet_client, alice, "like me"))["id"]
    dispatcher = await _dispatcher_from_now(roost, [COUNTERS])

    liked = await _post(quiet_client, bob, f"statuses/{status_id}/favourite")
    assert (liked["favourited"], liked["favourites_count"]) == (True, 1)
    boosted = await _post(quiet_client, bob, f"statuses/{status_id}/reblog")
    assert boosted["reblog"]["reblogs_count"] == 1
    # The like before is another transaction's: it shows once its event is applied.
    assert boosted["reblog"]["favourites_count"] == 0
    # No consumer ran: other reads show the counters as the table has them.
    again = await _status(quiet_client, bob, status_id)
    assert (again["favourited"], again["favourites_count"], again["reblogs_count"]) == (
        True, 0, 0)

    try:
        await _dispatch_all(dispatcher)
    finally:
        await dispatcher.stop()
    after = await _status(quiet_client, bob, status_id)
    assert (after["favourites_count"], after["reblogs_count"]) == (1, 1)


async def test_a_long_transaction_in_another_database_holds_nothing_back(
    quiet_app: tuple[Any, Roost]
) -> None:
    """Only this database's transactions can write its outbox: one left open in another
    database on the same server (a bulk load, a report) must not stall the readers."""
    _, roost = quiet_app
    _postgresql_only(roost, "a SQLite file is a database of its own")
    start = await _end_of_outbox(roost)
    event = _ignored_event(roost, 1)
    with fresh_postgres_database() as other_url, psycopg.connect(other_url) as other:
        other.execute("SELECT pg_current_xact_id()")  # holds an xid until it ends
        async with roost.db.write() as conn:
            await outbox.append(conn, event)
        found = await _our_events(roost, start, {event.event_id})
        other.rollback()
    assert [e.envelope.event_id for e in found] == [event.event_id]


async def test_a_commit_with_events_wakes_listeners_in_other_processes(
    quiet_app: tuple[Any, Roost]
) -> None:
    """PostgreSQL delivers the outbox's NOTIFY at commit: an OutboxListener (a reader in
    another process) is woken by it, not only by its poll; a rolled-back write says
    nothing."""
    from roost.events.wakeup import OutboxListener

    _, roost = quiet_app
    _postgresql_only(roost, "SQLite has no NOTIFY: readers in other processes poll")
    woken = asyncio.Event()
    listener = OutboxListener(roost.db.url, woken.set)
    listener.start()
    try:
        await asyncio.wait_for(woken.wait(), WAIT_SECONDS)  # woken once it listens
        woken.clear()
        with pytest.raises(RuntimeError):
            async with roost.db.write() as conn:
                await outbox.append(conn, _ignored_event(roost, 1))
                raise RuntimeError("rolled back")
        async with roost.db.write() as conn:
            await outbox.append(conn, _ignored_event(roost, 2))
        await asyncio.wait_for(woken.wait(), WAIT_SECONDS)
    finally:
        await listener.stop()


async def test_a_reader_standing_by_leaves_the_lease_to_another(
    quiet_app: tuple[Any, Roost],
) -> None:
    """stand_by() gives the lease up at once (another process's reader takes it at its
    next look) and the reader does not take it again, even once it is free."""
    _, roost = quiet_app
    cursor = _name("standby")
    first, second = (Dispatcher(roost, [], cursor=cursor) for _ in range(2))
    assert first.poll_seconds == roost.settings.event_poll_ms / 1000 == 1.0
    await first.round()  # takes the lease (and reads what earlier tests left: no consumers)
    assert await second.round() is False  # not the holder: does nothing
    assert await leases_holder(roost, cursor) == first.holder

    await first.stand_by()
    await second.round()
    assert await leases_holder(roost, cursor) == second.holder
    await second.stand_by()
    await first.round()  # the lease is free, and still not taken
    holder, free = await leases_holder(roost, cursor), await lease_expired(roost, cursor)
    assert (holder, free) == (second.holder, True)


async def leases_holder(roost: Roost, name: str) -> str:
    async with roost.db.read() as conn:
        return str((await conn.execute(
            select(event_leases.c.holder).where(event_leases.c.name == name))).scalar_one())


async def lease_expired(roost: Roost, name: str) -> bool:
    async with roost.db.read() as conn:
        expires_at = (await conn.execute(
            select(event_leases.c.expires_at).where(event_leases.c.name == name))).scalar_one()
    return bool(expires_at <= utcnow())


async def test_the_poll_interval_is_a_setting(tmp_path: Path) -> None:
    env = {"ROOST_DATA_DIR": str(tmp_path)}
    assert load_settings({**env, "ROOST_EVENT_POLL_MS": "250"}).event_poll_ms == 250
    for bad in ("5", "60001", "soon"):
        with pytest.raises(ConfigError, match="ROOST_EVENT_POLL_MS"):
            load_settings({**env, "ROOST_EVENT_POLL_MS": bad})
