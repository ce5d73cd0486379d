"""Stampede protection of computed values (src/roost/cache/computed.py,
docs/caching.md): many concurrent readers of an expired or absent value, in two
independent app instances sharing one PostgreSQL database and one Redis (as two
server processes would), cause exactly one recomputation; with Redis unreachable or
its breaker open the value is still served, computed once per process; in the
embedded mode (no Redis) likewise.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client import REGISTRY

from roost.app import create_app
from roost.cache import computed
from roost.cache.computed import ComputedValue
from roost.config import load_settings
from roost.context import Roost
from roost.db.migrate import prepare_database, upgrade
from roost.resilience.breaker import State, redis_breaker
from roost.trends.read import TRENDING_STATUSES
from tests.support.api import post_status, register_app, sign_up
from tests.support.events import WRITE_METHODS
from tests.support.server import CHEAP_PASSWORD_HASHING
from tests.support.services import fresh_postgres_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

READERS = 200


@dataclass
class Instance:
    roost: Roost
    http: httpx.AsyncClient


def recomputes(name: str) -> float:
    return REGISTRY.get_sample_value("roost_cache_recompute_total", {"cache": name}) or 0.0


@pytest.fixture(scope="module")
def shared_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


async def _instance(stack: AsyncExitStack, data_dir: Path, database_url: str, **env: str
                    ) -> Instance:
    settings = load_settings({
        "ROOST_DATA_DIR": str(data_dir), "ROOST_DATABASE_URL": database_url,
        "ROOST_EVENT_LOG": "outbox", "ROOST_RATE_LIMITS": "off", **CHEAP_PASSWORD_HASHING,
        **env})
    upgrade(settings.database_url)
    prepare_database(settings)
    app = create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    roost: Roost = app.state.roost

    async def settle_after_writes(response: httpx.Response) -> None:
        if response.request.method in WRITE_METHODS and roost.dispatcher is not None:
            async with asyncio.timeout(15):
                await roost.dispatcher.settle()

    http = await stack.enter_async_context(httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://roost.test",
        event_hooks={"response": [settle_after_writes]}, timeout=30))
    return Instance(roost, http)


@pytest.fixture(scope="module")
async def pair(shared_database: str, reachable_redis: str,
               tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[Instance]]:
    """Two app instances on one database and one Redis key prefix; the first runs the
    consumers. A trending status exists."""
    prefix = f"roost:test-stampede-{secrets.token_hex(4)}:"
    try:
        async with AsyncExitStack() as stack:
            instances = [
                await _instance(stack, tmp_path_factory.mktemp(f"stampede-{n}"),
                                shared_database, ROOST_REDIS_URL=reachable_redis,
                                ROOST_REDIS_KEY_PREFIX=prefix,
                                ROOST_SERVE_CONSUMERS="true" if n == 0 else "false")
                for n in range(2)
            ]
            http = instances[0].http
            client_app = await register_app(http)
            author = await sign_up(http, client_app)
            status = await post_status(http, author, "popular")
            for _ in range(6):
                fan = await sign_up(http, client_app)
                reply = await http.post(f"/api/v1/statuses/{status['id']}/favourite",
                                        headers=fan.headers)
                assert reply.status_code == 200
            yield instances
    finally:
        with redis.Redis.from_url(reachable_redis) as client:
            for key in client.scan_iter(match=f"{prefix}*"):
                client.delete(key)


async def _readers(instances: list[Instance], path: str) -> list[httpx.Response]:
    per = READERS // len(instances)
    return await asyncio.gather(*(
        instance.http.get(path) for instance in instances for _ in range(per)
    ))


@pytest.mark.parametrize("state", ["soft-expired", "absent"])
async def test_many_readers_in_two_instances_recompute_trends_once(
    pair: list[Instance], state: str
) -> None:
    first = await pair[0].http.get("/api/v1/trends/statuses")
    assert first.status_code == 200 and len(first.json()) == 1  # computed and cached
    if state == "absent":
        await TRENDING_STATUSES.forget(pair[0].roost)
    else:
        await TRENDING_STATUSES.expire(pair[0].roost)
    before = recomputes("trends_statuses")
    replies = await _readers(pair, "/api/v1/trends/statuses")
    assert all(reply.status_code == 200 for reply in replies)
    assert all(reply.json() == first.json() for reply in replies)
    assert recomputes("trends_statuses") - before == 1


async def test_instance_statistics_are_a_computed_value(pair: list[Instance]) -> None:
    await pair[0].http.get("/api/v1/instance")
    before = recomputes("instance_stats")
    replies = await _readers(pair, "/api/v2/instance")
    assert all(reply.status_code == 200 for reply in replies)
    assert {reply.json()["usage"]["users"]["active_month"] for reply in replies} == {7}
    assert recomputes("instance_stats") - before == 0  # fresh: every reader hit


@pytest.mark.parametrize("state", ["soft-expired", "absent"])
async def test_a_slow_computation_runs_once_for_200_concurrent_readers(
    pair: list[Instance], state: str
) -> None:
    """The bound itself, with a computation slow enough for every reader to arrive
    while it runs: 100 coroutines in each instance, one computation."""
    calls: list[float] = []

    async def slow(_roost: Roost) -> dict[str, Any]:
        calls.append(time.monotonic())
        await asyncio.sleep(0.3)
        return {"n": len(calls)}

    value = ComputedValue(f"test_slow_{secrets.token_hex(3)}", 60.0, slow)
    roosts = [instance.roost for instance in pair]
    if state == "soft-expired":
        assert await value.get(roosts[0]) == {"n": 1}
        await value.expire(roosts[0])
        calls.clear()
    results = await asyncio.gather(*(
        value.get(roost) for roost in roosts for _ in range(READERS // 2)
    ))
    assert len(calls) == 1
    if state == "absent":
        assert all(result == {"n": 1} for result in results)  # everyone waited for it
    else:
        # The stale value for those who came while it was recomputed, then the new one.
        assert {result["n"] for result in results} <= {1}
    assert await value.get(roosts[1]) == {"n": 1}
    await value.forget(roosts[0])


async def test_without_redis_the_value_is_served_and_computed_once_per_process(
    pair: list[Instance], shared_database: str, tmp_path: Path
) -> None:
    """Redis unreachable (nothing listens on the port): every request is answered, and
    the process computes the value once for all its concurrent readers."""
    async with AsyncExitStack() as stack:
        instance = await _instance(stack, tmp_path, shared_database,
                                   ROOST_REDIS_URL="redis://127.0.0.1:9/0",
                                   ROOST_SERVE_CONSUMERS="false")
        before = recomputes("trends_statuses")
        replies = await asyncio.gather(*(
            instance.http.get("/api/v1/trends/statuses") for _ in range(READERS)
        ))
        assert all(reply.status_code == 200 for reply in replies)
        assert all(len(reply.json()) == 1 for reply in replies)
        assert recomputes("trends_statuses") - before == 1
        assert (await instance.http.get("/api/v1/instance")).status_code == 200
        breaker = redis_breaker(instance.roost)
        assert breaker.failures > 0 or breaker.state is State.OPEN


async def test_with_the_breaker_open_the_value_is_served_from_the_process(
    pair: list[Instance],
) -> None:
    roost = pair[1].roost
    breaker = redis_breaker(roost)
    calls: list[int] = []

    async def count(_roost: Roost) -> list[int]:
        calls.append(1)
        await asyncio.sleep(0.05)
        return [len(calls)]

    value = ComputedValue(f"test_open_{secrets.token_hex(3)}", 60.0, count)
    try:
        for _ in range(breaker.failures_to_open):
            breaker._failed()  # as if Redis had failed that often in a row
        assert breaker.state is State.OPEN
        results = await asyncio.gather(*(value.get(roost) for _ in range(READERS)))
        assert results == [[1]] * READERS and len(calls) == 1
        assert (await pair[1].http.get("/api/v1/trends/statuses")).status_code == 200
    finally:
        breaker._succeeded()
    assert breaker.is_closed


async def test_the_strategy_switch_is_bench_only_and_defaults_to_the_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(computed.STRATEGY_ENV, raising=False)
    assert computed.strategy() == computed.LOCK
    for name in computed.STRATEGIES:
        monkeypatch.setenv(computed.STRATEGY_ENV, name)
        assert computed.strategy() == name
    monkeypatch.setenv(computed.STRATEGY_ENV, "nonsense")
    assert computed.strategy() == computed.LOCK


@pytest.mark.parametrize("name", [computed.XFETCH, computed.OFF])
async def test_the_bench_strategies_serve_the_value_too(
    pair: list[Instance], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XFetch: a value far from its expiry is never recomputed early; without
    protection every reader of an expired value may recompute (what the bench shows)."""
    monkeypatch.setenv(computed.STRATEGY_ENV, name)
    calls: list[int] = []

    async def count(_roost: Roost) -> list[int]:
        calls.append(1)
        await asyncio.sleep(0.01)
        return [7]

    value = ComputedValue(f"test_{name}_{secrets.token_hex(3)}", 600.0, count)
    roosts = [instance.roost for instance in pair]
    assert await value.get(roosts[0]) == [7] and len(calls) == 1
    results = await asyncio.gather(*(value.get(r) for r in roosts for _ in range(50)))
    assert results == [[7]] * 100 and len(calls) == 1  # fresh: no recomputation
    await value.expire(roosts[0])
    results = await asyncio.gather(*(value.get(r) for r in roosts for _ in range(50)))
    assert results == [[7]] * 100 and len(calls) >= 2
    await value.forget(roosts[0])


async def test_embedded_mode_computes_once_in_the_process(
    app_roost: tuple[Any, Roost], client: httpx.AsyncClient
) -> None:
    """No ROOST_REDIS_URL: the value lives in the process, one computation for all its
    concurrent readers; the endpoints answer on both databases."""
    _, roost = app_roost
    assert roost.redis is None
    calls: list[int] = []

    async def count(_roost: Roost) -> int:
        calls.append(1)
        await asyncio.sleep(0.05)
        return len(calls)

    value = ComputedValue(f"test_embedded_{secrets.token_hex(3)}", 60.0, count)
    assert await asyncio.gather(*(value.get(roost) for _ in range(READERS))) == [1] * READERS
    await value.expire(roost)
    assert await asyncio.gather(*(value.get(roost) for _ in range(READERS))) == [2] * READERS
    for path in ("/api/v1/trends/statuses", "/api/v1/trends/tags", "/api/v1/trends",
                 "/api/v1/instance"):
        reply = await client.get(path)
        assert reply.status_code == 200, (path, reply.text)
