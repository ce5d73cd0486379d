"""The object cache (docs/caching.md): every kind of write shows on the very next
read, in Redis (PostgreSQL + Redis) and in the embedded mode's in-process LRU
(SQLite); a reader that read the database before a write cannot store the old row
after it; while Redis is unreachable reads come from the database and the
invalidations Redis missed are delivered before the cache is read again.

Each test first checks that the cache answers (hits grow), so none of them passes
merely because nothing was cached.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from roost.app import create_app
from roost.cache.objects import ObjectCache
from roost.cache.store import LocalStore, RedisStore, new_token
from roost.config import load_settings
from roost.context import Roost
from roost.db.migrate import prepare_database, upgrade
from roost.observability.metrics import cache_hits
from roost.resilience.breaker import CircuitBreaker
from tests.support.api import User, follow, post_status, register_app, sign_up
from tests.support.events import in_process_client
from tests.support.server import CHEAP_PASSWORD_HASHING, free_port
from tests.support.services import fresh_postgres_database

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(params=["redis", "local"])
def cache_mode(request: pytest.FixtureRequest, tmp_path: Path,
               reachable_redis: str) -> Iterator[dict[str, str]]:
    """Settings for PostgreSQL + a Redis object cache, or SQLite + the in-process one."""
    if request.param == "local":
        yield {"ROOST_DATABASE_URL": f"sqlite:///{tmp_path / 'cache.sqlite3'}",
               "ROOST_OBJECT_CACHE": "local"}
        return
    prefix = f"roost:test-{secrets.token_hex(4)}:"
    with fresh_postgres_database() as url:
        yield {"ROOST_DATABASE_URL": url, "ROOST_REDIS_URL": reachable_redis,
               "ROOST_REDIS_KEY_PREFIX": prefix, "ROOST_OBJECT_CACHE": "redis"}
    with redis.Redis.from_url(reachable_redis) as client:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


@asynccontextmanager
async def _running(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[
        tuple[httpx.AsyncClient, Roost]]:
    settings = load_settings({"ROOST_DATA_DIR": str(tmp_path), "ROOST_EVENT_LOG": "outbox",
                              "ROOST_RATE_LIMITS": "off", **CHEAP_PASSWORD_HASHING, **env})
    upgrade(settings.database_url)
    prepare_database(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app), in_process_client(app) as http:
        yield http, app.state.roost


def _hits() -> float:
    return sum(
        sample.value
        for metric in cache_hits.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def _get(http: httpx.AsyncClient, user: User | None, url: str) -> Any:
    reply = await http.get(url, headers=user.headers if user else {})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def _status(http: httpx.AsyncClient, user: User | None, status_id: str) -> Any:
    """The status as the next read shows it, after proving it came from the cache."""
    await _get(http, user, f"/api/v1/statuses/{status_id}")  # cached now
    before = _hits()
    body = await _get(http, user, f"/api/v1/statuses/{status_id}")
    assert _hits() > before, "the second read did not come from the cache"
    return body


async def _write(http: httpx.AsyncClient, user: User, method: str, url: str,
                 **data: Any) -> Any:
    reply = await http.request(method, url, headers=user.headers, data=data or None)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_every_write_shows_on_the_very_next_read(
    cache_mode: dict[str, str], tmp_path: Path
) -> None:
    async with _running(tmp_path, cache_mode) as (http, roost):
        assert roost.db.object_cache is not None
        app = await register_app(http)
        author, reader = await sign_up(http, app), await sign_up(http, app)
        status = await post_status(http, author, "first words #cached")
        sid = status["id"]

        # A profile change: the account, and the status that embeds it.
        before = await _status(http, reader, sid)
        assert before["account"]["display_name"] == ""
        await _write(http, author, "PATCH", "/api/v1/accounts/update_credentials",
                     display_name="New Name")
        assert (await _status(http, reader, sid))["account"]["display_name"] == "New Name"
        account = await _get(http, reader, f"/api/v1/accounts/{author.id}")
        assert account["display_name"] == "New Name"

        # An edit.
        await _write(http, author, "PUT", f"/api/v1/statuses/{sid}", status="second words")
        assert "second words" in (await _status(http, reader, sid))["content"]

        # Likes, bookmarks and boosts: the viewer's flags and the counters.
        await _write(http, reader, "POST", f"/api/v1/statuses/{sid}/favourite")
        seen = await _status(http, reader, sid)
        assert (seen["favourited"], seen["favourites_count"]) == (True, 1)
        await _write(http, reader, "POST", f"/api/v1/statuses/{sid}/bookmark")
        assert (await _status(http, reader, sid))["bookmarked"] is True
        await _write(http, reader, "POST", f"/api/v1/statuses/{sid}/reblog")
        seen = await _status(http, reader, sid)
        assert (seen["reblogged"], seen["reblogs_count"]) == (True, 1)
        await _write(http, reader, "POST", f"/api/v1/statuses/{sid}/unfavourite")
        await _write(http, reader, "POST", f"/api/v1/statuses/{sid}/unbookmark")
        await _write(http, reader, "POST", f"/api/v1/statuses/{sid}/unreblog")
        seen = await _status(http, reader, sid)
        assert (seen["favourited"], seen["bookmarked"], seen["reblogged"]) == (False,) * 3
        assert (seen["favourites_count"], seen["reblogs_count"]) == (0, 0)

        # A reply counts on its parent; the author's statuses_count follows posts.
        await post_status(http, reader, "a reply", in_reply_to_id=sid)
        assert (await _status(http, reader, sid))["replies_count"] == 1
        assert (await _status(http, reader, sid))["account"]["statuses_count"] == 1
        await post_status(http, author, "another")
        assert (await _status(http, reader, sid))["account"]["statuses_count"] == 2

        # A delete.
        await _write(http, author, "DELETE", f"/api/v1/statuses/{sid}")
        gone = await http.get(f"/api/v1/statuses/{sid}", headers=reader.headers)
        assert gone.status_code == 404


async def test_follows_and_blocks_decide_visibility_on_the_next_read(
    cache_mode: dict[str, str], tmp_path: Path
) -> None:
    async with _running(tmp_path, cache_mode) as (http, _roost):
        app = await register_app(http)
        author, reader = await sign_up(http, app), await sign_up(http, app)
        private = (await post_status(http, author, "followers only", visibility="private"))["id"]
        public = (await post_status(http, author, "everyone"))["id"]
        url = f"/api/v1/statuses/{private}"

        await _status(http, reader, public)  # the reader's facts about the author, cached
        assert (await http.get(url, headers=reader.headers)).status_code == 404
        await follow(http, reader, author)
        assert (await _status(http, reader, private))["id"] == private
        await _write(http, reader, "POST", f"/api/v1/accounts/{author.id}/unfollow")
        assert (await http.get(url, headers=reader.headers)).status_code == 404

        # Blocks, both ways.
        await _status(http, reader, public)
        await _write(http, author, "POST", f"/api/v1/accounts/{reader.id}/block")
        assert (await http.get(f"/api/v1/statuses/{public}",
                               headers=reader.headers)).status_code == 404
        await _write(http, author, "POST", f"/api/v1/accounts/{reader.id}/unblock")
        await _status(http, reader, public)
        await _write(http, reader, "POST", f"/api/v1/accounts/{author.id}/block")
        assert (await http.get(f"/api/v1/statuses/{public}",
                               headers=reader.headers)).status_code == 404
        # Logged out: only public and unlisted, from the same cached rows.
        assert (await _status(http, None, public))["id"] == public
        assert (await http.get(url)).status_code == 404


async def test_relationships_change_on_the_next_read(
    cache_mode: dict[str, str], tmp_path: Path
) -> None:
    async with _running(tmp_path, cache_mode) as (http, _roost):
        app = await register_app(http)
        viewer, other, locked = [await sign_up(http, app) for _ in range(3)]
        await _write(http, locked, "PATCH", "/api/v1/accounts/update_credentials",
                     locked="true")

        async def relation(target: User) -> Any:
            url = f"/api/v1/accounts/relationships?id[]={target.id}"
            await _get(http, viewer, url)
            before = _hits()
            (body,) = await _get(http, viewer, url)
            assert _hits() > before, "the second read did not come from the cache"
            return body

        assert (await relation(other))["following"] is False
        await follow(http, viewer, other)
        assert (await relation(other))["following"] is True
        await _write(http, viewer, "POST", f"/api/v1/accounts/{other.id}/follow",
                     reblogs="false")
        assert (await relation(other))["showing_reblogs"] is False
        await _write(http, other, "POST", f"/api/v1/accounts/{viewer.id}/follow")
        assert (await relation(other))["followed_by"] is True
        await _write(http, viewer, "POST", f"/api/v1/accounts/{other.id}/mute")
        assert (await relation(other))["muting"] is True
        await _write(http, viewer, "POST", f"/api/v1/accounts/{other.id}/unmute")
        assert (await relation(other))["muting"] is False
        await _write(http, other, "POST", f"/api/v1/accounts/{viewer.id}/block")
        seen = await relation(other)
        assert (seen["blocked_by"], seen["following"], seen["followed_by"]) == (True, False, False)

        assert (await relation(locked))["requested"] is False
        await _write(http, viewer, "POST", f"/api/v1/accounts/{locked.id}/follow")
        assert (await relation(locked))["requested"] is True
        await _write(http, locked, "POST", f"/api/v1/follow_requests/{viewer.id}/authorize")
        seen = await relation(locked)
        assert (seen["requested"], seen["following"]) == (False, True)

        # A mute that ends by itself is never cached: nothing would invalidate it.
        await _write(http, viewer, "POST", f"/api/v1/accounts/{locked.id}/mute", duration="1")
        url = f"/api/v1/accounts/relationships?id[]={locked.id}"
        assert (await _get(http, viewer, url))[0]["muting"] is True
        await asyncio.sleep(1.2)
        assert (await _get(http, viewer, url))[0]["muting"] is False


async def test_a_revoked_token_stops_working_on_the_next_request(
    cache_mode: dict[str, str], tmp_path: Path
) -> None:
    async with _running(tmp_path, cache_mode) as (http, _roost):
        app = await register_app(http)
        user = await sign_up(http, app)
        url = "/api/v1/accounts/verify_credentials"
        await _get(http, user, url)
        before = _hits()
        await _get(http, user, url)
        assert _hits() > before, "the token was not read from the cache"
        reply = await http.post("/oauth/revoke", data={
            "client_id": app.client_id, "client_secret": app.client_secret,
            "token": user.token})
        assert reply.status_code == 200, reply.text
        assert (await http.get(url, headers=user.headers)).status_code == 401


# --- the stores' promise: no stale fill after an invalidation -----------------------


async def _stores(redis_url: str) -> AsyncIterator[Any]:
    yield LocalStore()
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    prefix = f"roost:test-{secrets.token_hex(4)}:"
    try:
        yield RedisStore(client, CircuitBreaker("test"), prefix)
    finally:
        async for key in client.scan_iter(match=f"{prefix}*"):
            await client.delete(key)
        await client.aclose()


async def test_a_reader_that_read_before_a_write_cannot_store_after_it(
    reachable_redis: str
) -> None:
    async for store in _stores(reachable_redis):
        slow, other = new_token(), new_token()
        missed = await store.get(["s:1"], slow)
        assert missed.leased == {"s:1"}  # the slow reader may fill...
        assert (await store.get(["s:1"], other)).leased == set()  # ...and only it
        await ObjectCache(store).invalidate([], ["s:1"])  # a write committed meanwhile
        await store.fill(slow, {"s:1": ("old row", 60_000)})
        after = await store.get(["s:1"], other)
        assert after.values == {} and after.leased == {"s:1"}, type(store).__name__
        await store.fill(other, {"s:1": ("new row", 60_000)})
        assert (await store.get(["s:1"], new_token())).values == {"s:1": "new row"}


# --- Redis unreachable -----------------------------------------------------------------


async def test_invalidations_missed_while_redis_was_unreachable_are_delivered_first(
    tmp_path: Path
) -> None:
    """Redis paused (its data kept, as in a network partition): reads go to the
    database, and the edit's invalidation is delivered before the cache is trusted."""
    from tests.api.test_home_timelines import PrivateRedis

    private = PrivateRedis(free_port(), tmp_path / "redis.log")
    private.start()
    try:
        with fresh_postgres_database() as url:
            env = {"ROOST_DATABASE_URL": url, "ROOST_REDIS_URL": private.url,
                   "ROOST_OBJECT_CACHE": "redis"}
            async with _running(tmp_path, env) as (http, roost):
                app = await register_app(http)
                author = await sign_up(http, app)
                sid = (await post_status(http, author, "before the partition"))["id"]
                await _status(http, author, sid)
                store = roost.db.object_cache.store if roost.db.object_cache else None
                assert isinstance(store, RedisStore)
                with redis.Redis.from_url(private.url) as admin:
                    admin.execute_command("CLIENT", "PAUSE", "4000", "ALL")
                await _write(http, author, "PUT", f"/api/v1/statuses/{sid}",
                             status="during the partition")
                assert store.undelivered_invalidations  # the edit's, waiting
                during = await _get(http, author, f"/api/v1/statuses/{sid}")
                assert "during the partition" in during["content"]
                await asyncio.sleep(4.5)  # the pause is over; the breaker may be open
                for _ in range(100):
                    body = await _get(http, author, f"/api/v1/statuses/{sid}")
                    assert "during the partition" in body["content"], body["content"]
                    if not store.undelivered_invalidations:
                        break
                    await asyncio.sleep(0.1)
                assert not store.undelivered_invalidations
                assert "during the partition" in (await _status(http, author, sid))["content"]
    finally:
        private.stop()


# --- which store -----------------------------------------------------------------------


async def test_an_in_process_cache_is_never_shared_by_several_server_processes(
    tmp_path: Path
) -> None:
    """Each process would keep what another changed: several processes on SQLite get no
    object cache, and asking for the in-process one with several is refused."""
    from roost.cache.objects import object_cache_for
    from roost.config import ConfigError
    from roost.db.engine import Database
    from roost.ids import IdGenerator

    base = {"ROOST_DATA_DIR": str(tmp_path),
            "ROOST_DATABASE_URL": f"sqlite:///{tmp_path / 'one.sqlite3'}"}
    for processes, expected in (("1", LocalStore), ("2", type(None))):
        settings = load_settings({**base, "ROOST_SERVE_PROCESSES": processes})
        roost = Roost(settings=settings, db=Database(settings.database_url), ids=IdGenerator(0))
        cache = object_cache_for(roost, serves_reads=True)
        assert isinstance(cache.store if cache else None, expected), processes
    with pytest.raises(ConfigError, match="single process"):
        load_settings({**base, "ROOST_OBJECT_CACHE": "local", "ROOST_SERVE_PROCESSES": "2"})
    with pytest.raises(ConfigError, match="ROOST_OBJECT_CACHE must be one of"):
        load_settings({**base, "ROOST_OBJECT_CACHE": "memcached"})
