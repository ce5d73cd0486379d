"""The Redis streaming bus (streaming/bus.py) and the push consumer's cost, against a
real Redis and PostgreSQL, in this process: one pub/sub connection per process however
many streams, markers set by open streams, and a fan-out to a followed account's
listeners that costs the same few Redis round trips for every page of followers."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio.connection as redis_connection
from sqlalchemy import event, insert

from roost.config import load_settings
from roost.context import Roost
from roost.db.engine import Database
from roost.db.tables import VISIBILITY_PUBLIC, accounts, follows, statuses
from roost.ids import IdGenerator
from roost.redis_client import shared_client
from roost.streaming import channels as ch
from roost.streaming import consumer as push
from roost.streaming.bus import RedisBus, bus_of
from roost.streaming.subscribe import MARKER_TTL_S, open_stream
from roost.timelines import fanout
from tests.support.services import migrated_database


@pytest.fixture
def prefix(reachable_redis: str) -> Iterator[str]:
    value = f"roost:test-bus-{secrets.token_hex(4)}:"
    yield value
    with redis.Redis.from_url(reachable_redis) as client:
        for key in client.scan_iter(match=f"{value}*"):
            client.delete(key)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database("postgresql", tmp_path_factory.mktemp("bus")) as url:
        yield url


@pytest.fixture
async def roost(database_url: str, reachable_redis: str, prefix: str, tmp_path: Path
                ) -> AsyncIterator[Roost]:
    settings = load_settings({"ROOST_DATA_DIR": str(tmp_path), "ROOST_DATABASE_URL": database_url,
                              "ROOST_REDIS_URL": reachable_redis,
                              "ROOST_REDIS_KEY_PREFIX": prefix})
    context = Roost(settings=settings, db=Database(settings.database_url), ids=IdGenerator(1),
                    redis=shared_client(settings))
    yield context
    assert context.redis is not None
    await context.redis.aclose()
    await context.db.dispose()


def _numsub(url: str, channel: str) -> int:
    with redis.Redis.from_url(url) as client:
        return int(dict(client.pubsub_numsub(channel))[channel.encode()])


async def test_streams_in_one_process_share_one_pubsub_connection(
    roost: Roost, reachable_redis: str, prefix: str
) -> None:
    bus = bus_of(roost)
    assert isinstance(bus, RedisBus) and bus_of(roost) is bus
    public = prefix + ch.PUBLIC
    async with bus.subscribe([ch.PUBLIC, ch.user(1)]) as one, bus.subscribe([ch.PUBLIC]) as two:
        assert _numsub(reachable_redis, public) == 1  # one connection, two streams
        with redis.Redis.from_url(reachable_redis) as other_process:
            other_process.publish(public, "hello")
            other_process.publish(prefix + ch.user(1), "you")
        async with asyncio.timeout(5):
            assert await one.next() == (ch.PUBLIC, "hello")
            assert await one.next() == (ch.user(1), "you")
            assert await two.next() == (ch.PUBLIC, "hello")
    # The last stream gone, the connection is closed (Redis notices a moment later).
    for _ in range(500):
        if not _numsub(reachable_redis, public):
            break
        await asyncio.sleep(0.01)
    assert _numsub(reachable_redis, public) == 0


async def test_an_open_stream_marks_its_channels_until_they_expire(
    roost: Roost, reachable_redis: str, prefix: str
) -> None:
    bus = bus_of(roost)
    assert await bus.listening([ch.user(5)]) == [False]
    async with open_stream(bus, ch.user_stream(5)):
        assert await bus.listening([ch.user(5), ch.notifications(5), ch.user(6)]) == [
            True, True, False]
        with redis.Redis.from_url(reachable_redis) as client:
            ttl = client.ttl(prefix + "subscribed:timeline:5")
        assert MARKER_TTL_S - 5 < ttl <= MARKER_TTL_S


async def _network(roost: Roost, followers: int) -> tuple[int, list[int], int]:
    """An author with `followers` followers and a public status: raw rows, fast."""
    ids = roost.ids
    now = datetime.now(UTC)
    people = [ids.next_id(1) for _ in range(followers + 1)]
    author, fans = people[0], people[1:]
    status_id = ids.next_id(1)
    async with roost.db.write() as conn:
        await conn.execute(insert(accounts), [
            {"id": a, "username": f"u{a}", "username_lower": f"u{a}", "fields": [],
             "updated_at": now} for a in people])
        await conn.execute(insert(follows), [
            {"id": ids.next_id(1), "account_id": fan, "target_account_id": author}
            for fan in fans])
        await conn.execute(insert(statuses).values(
            id=status_id, account_id=author, visibility=VISIBILITY_PUBLIC, text="hi"))
    return author, fans, status_id


@pytest.mark.parametrize("listening_share", [0, 2, 1])
async def test_fan_out_costs_two_round_trips_per_page_of_followers(
    roost: Roost, reachable_redis: str, prefix: str, monkeypatch: pytest.MonkeyPatch,
    listening_share: int,
) -> None:
    """listening_share: none of the followers has a stream open (0), every second (2),
    all (1)."""
    monkeypatch.setattr(fanout, "FOLLOWERS_PER_ROUND", 50)
    _author, fans, status_id = await _network(roost, 120)  # pages of 50, 50, 20
    listening = [f for n, f in enumerate(fans) if listening_share and n % listening_share == 0]
    bus = bus_of(roost)
    await bus.mark_listening([ch.user(f) for f in listening], 60)
    assert roost.redis is not None
    await roost.redis.ping()  # connected: what a connection says on connecting is not counted

    round_trips = 0
    original = redis_connection.AbstractConnection.send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        nonlocal round_trips
        round_trips += 1
        await original(self, command, check_health)

    statements: list[str] = []

    def count_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    heard = redis.Redis.from_url(reachable_redis, decode_responses=True).pubsub()
    heard.psubscribe(prefix + "timeline:*")
    assert heard.get_message(timeout=5) is not None  # psubscribe confirmed
    engine = roost.db.primary.sync_engine
    event.listen(engine, "before_cursor_execute", count_statement)
    monkeypatch.setattr(redis_connection.AbstractConnection, "send_packed_command", counted)
    try:
        async with roost.db.write() as conn:
            statements.clear()
            await push.push_status(conn, bus, status_id, "update")
            pushed_statements = len(statements)
    finally:
        monkeypatch.undo()
        event.remove(engine, "before_cursor_execute", count_statement)

    pages = 3
    # Before the pages: the author's marker, then the public channels (always published).
    # Each page: one MGET of its markers, and one pipeline of PUBLISHes if anyone listens.
    assert round_trips == 2 + pages * (2 if listening else 1)
    # The status's facts (3); each page: its follows, and who of the listeners may see it
    # if anyone listens.
    assert pushed_statements == 3 + pages * (2 if listening else 1)
    received: Counter[str] = Counter()
    while (message := heard.get_message(timeout=0.3)) is not None:
        received[message["channel"][len(prefix):]] += 1
    heard.close()
    assert received == Counter({ch.PUBLIC: 1, ch.PUBLIC_LOCAL: 1,
                                **{ch.user(f): 1 for f in listening}})
