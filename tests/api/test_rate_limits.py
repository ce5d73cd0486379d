"""Rate limits (docs/ratelimits.md): the in-process and Redis limiters, the middleware
in-process (headers, 429s, buckets per account, per IP and for sign-ups, what is not
limited), and one limit shared by two real server processes through Redis.

Windows are aligned to the clock, so tests that count requests use a period so long
(ROOST_RATE_LIMIT_PERIOD=1e9 s, the next boundary is in 2033) that no window can end
while they run; rollover is tested with an explicit clock instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import event

from roost.app import create_app
from roost.config import ConfigError, Settings, load_settings
from roost.context import Roost
from roost.resilience.ratelimit import (
    Hit,
    MemoryRateLimiter,
    RedisRateLimiter,
    client_ip,
    iso_reset,
)
from tests.conftest import StatementCounter
from tests.support.api import User, register_app, sign_up
from tests.support.server import RunningServer, start_server
from tests.support.services import reachable_redis_url, redis_url, unavailable

pytestmark = pytest.mark.asyncio(loop_scope="session")

FOREVER = 1_000_000_000


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _prefix() -> str:
    return f"roost:rl:test-{secrets.token_hex(4)}:"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards (they are made
    with endless windows here, so they would never expire)."""
    import redis

    url = reachable_redis_url()
    prefix = _prefix()
    yield prefix
    with redis.Redis.from_url(url) as client:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


async def _reachable_redis() -> str:
    url = redis_url()
    client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # any failure to reach it
        unavailable("Redis", f"{type(exc).__name__}: {exc}")
    finally:
        await client.aclose()
    return url


# --- the limiters ----------------------------------------------------------------------


async def test_memory_limiter_counts_refuses_and_rolls_over() -> None:
    clock = Clock(1_000_000.5)  # a window of 10 s spans [1_000_000, 1_000_010)
    limiter = MemoryRateLimiter(clock)
    hit = Hit("api:ip:192.0.2.1", limit=3, period=10)
    verdicts = [(await limiter.hit([hit]))[0] for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0]
    assert {v.reset_at for v in verdicts} == {1_000_010}
    other = (await limiter.hit([Hit("api:ip:192.0.2.2", 3, 10)]))[0]
    assert other.allowed and other.remaining == 2  # another client has its own count
    clock.now = 1_000_010.0  # the next window starts afresh
    fresh = (await limiter.hit([hit]))[0]
    assert fresh.allowed and fresh.remaining == 2 and fresh.reset_at == 1_000_020


async def test_memory_limiter_forgets_past_windows() -> None:
    clock = Clock(5_000.0)
    limiter = MemoryRateLimiter(clock)
    for n in range(50):
        await limiter.hit([Hit(f"api:ip:198.51.100.{n}", 10, 10)])
    assert len(limiter) == 50
    clock.now += 3600
    await limiter.hit([Hit("api:ip:203.0.113.1", 10, 10)])
    assert len(limiter) == 1


async def test_redis_limiter_is_shared_and_expires() -> None:
    url = await _reachable_redis()
    prefix = _prefix()
    clock = Clock(2_000_000.0)
    first = RedisRateLimiter(url, key_prefix=prefix, clock=clock)
    second = RedisRateLimiter(url, key_prefix=prefix, clock=clock)  # another process
    inspector = Redis.from_url(url)
    try:
        hits = [Hit("api:account:1", 4, 60), Hit("signup:ip:192.0.2.9", 2, 1800)]
        counts = []
        for limiter in (first, second, first):
            api, signup = await limiter.hit(hits)
            counts.append((api.count, signup.count, signup.allowed))
        assert counts == [(1, 1, True), (2, 2, True), (3, 3, False)]
        api, _ = await second.hit(hits)
        assert (api.count, api.allowed, api.remaining) == (4, True, 0)
        assert api.reset_at == 2_000_040  # 2_000_000 // 60 * 60 + 60
        assert (await first.hit(hits[:1]))[0].allowed is False

        keys = sorted(k.decode() for k in await inspector.keys(f"{prefix}*"))
        assert keys == [f"{prefix}api:account:1:60:33333", f"{prefix}signup:ip:192.0.2.9:1800:1111"]
        ttl = await inspector.ttl(keys[0])
        assert 0 < ttl <= 61
        clock.now += 60  # next window: a new key, a fresh count
        assert (await first.hit(hits[:1]))[0].count == 1
    finally:
        for key in await inspector.keys(f"{prefix}*"):
            await inspector.delete(key)
        await inspector.aclose()
        await first.close()
        await second.close()


async def test_client_ip_groups_ipv6_by_64() -> None:
    assert client_ip({"client": ("192.0.2.7", 5000)}) == "192.0.2.7"
    assert client_ip({"client": ("2001:db8:1:2:aaaa::1", 1)}) == "2001:db8:1:2::"
    assert client_ip({"client": ("2001:db8:1:2:bbbb::9", 1)}) == "2001:db8:1:2::"
    assert client_ip({"client": None}) == "unknown"


async def test_settings(tmp_path: Path) -> None:
    base = {"ROOST_DATA_DIR": str(tmp_path)}
    defaults = load_settings(base)
    assert defaults.rate_limits is True
    assert (defaults.rate_limit_requests, defaults.rate_limit_period) == (300, 300)
    assert (defaults.rate_limit_signups, defaults.rate_limit_signup_period) == (5, 1800)
    assert load_settings({**base, "ROOST_RATE_LIMITS": "off"}).rate_limits is False
    tuned = load_settings(
        {
            **base,
            "ROOST_RATE_LIMIT_REQUESTS": "10",
            "ROOST_RATE_LIMIT_PERIOD": "60",
            "ROOST_RATE_LIMIT_SIGNUPS": "1",
        }
    )
    assert (tuned.rate_limit_requests, tuned.rate_limit_period, tuned.rate_limit_signups) == (
        10,
        60,
        1,
    )
    for name, bad in (
        ("ROOST_RATE_LIMITS", "sometimes"),
        ("ROOST_RATE_LIMIT_REQUESTS", "0"),
        ("ROOST_RATE_LIMIT_PERIOD", "-5"),
        ("ROOST_RATE_LIMIT_SIGNUPS", "five"),
    ):
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, name: bad})


# --- the middleware, in-process ----------------------------------------------------------


async def _limited_client(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(dataclasses.replace(settings, rate_limits=True, **changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("192.0.2.50", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
            yield http


@pytest.fixture
async def limited(app_roost: tuple[Any, Roost]) -> AsyncIterator[httpx.AsyncClient]:
    """The same database, served with 4 requests and 2 sign-ups per (endless) window."""
    _, roost = app_roost
    async for http in _limited_client(
        roost.settings,
        rate_limit_requests=4,
        rate_limit_period=FOREVER,
        rate_limit_signups=2,
        rate_limit_signup_period=FOREVER,
    ):
        yield http


def _remaining(reply: httpx.Response) -> int:
    return int(reply.headers["x-ratelimit-remaining"])


async def test_headers_then_429(limited: httpx.AsyncClient) -> None:
    replies = [await limited.get("/api/v1/instance") for _ in range(4)]
    assert [r.status_code for r in replies] == [200] * 4
    assert [r.headers["x-ratelimit-limit"] for r in replies] == ["4"] * 4
    assert [_remaining(r) for r in replies] == [3, 2, 1, 0]
    reset = datetime.strptime(replies[0].headers["x-ratelimit-reset"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert reset.replace(tzinfo=UTC) == datetime.fromtimestamp(2 * FOREVER, UTC)

    refused = await limited.get("/api/v1/instance")
    assert refused.status_code == 429
    assert refused.json() == {"error": "Too many requests"}
    assert refused.headers["content-type"].startswith("application/json")
    assert (refused.headers["x-ratelimit-limit"], _remaining(refused)) == ("4", 0)
    assert refused.headers["x-ratelimit-reset"] == replies[0].headers["x-ratelimit-reset"]
    assert "x-request-id" in refused.headers  # logged like any other answer
    # /oauth/token counts as API traffic; operations endpoints never do.
    assert (await limited.post("/oauth/token", data={"grant_type": "x"})).status_code == 429
    for path in ("/healthz", "/readyz", "/metrics", "/static/avatar-missing.png"):
        reply = await limited.get(path)
        assert reply.status_code == 200, path
        assert "x-ratelimit-limit" not in reply.headers, path


async def test_accounts_and_anonymous_ips_count_apart(
    client: httpx.AsyncClient, limited: httpx.AsyncClient
) -> None:
    # Accounts made through the unlimited app: the same database.
    app = await register_app(client)
    alice, bob = await sign_up(client, app), await sign_up(client, app)

    async def verify(user: User | None) -> httpx.Response:
        headers = user.headers if user else {}
        return await limited.get("/api/v1/accounts/verify_credentials", headers=headers)

    assert [(await verify(alice)).status_code for _ in range(5)] == [200] * 4 + [429]
    bob_reply = await verify(bob)
    assert bob_reply.status_code == 200 and _remaining(bob_reply) == 3
    anonymous = await verify(None)  # 401, counted against the IP, not against alice
    assert anonymous.status_code == 401 and _remaining(anonymous) == 3
    # A wrong token is anonymous for counting, and still a 401.
    wrong = await limited.get(
        "/api/v1/accounts/verify_credentials", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401 and _remaining(wrong) == 2


async def test_sign_ups_have_their_own_smaller_bucket(
    client: httpx.AsyncClient, limited: httpx.AsyncClient
) -> None:
    app = await register_app(client)
    answers = []
    for n in range(3):
        username = f"limited_{secrets.token_hex(3)}_{n}"
        reply = await limited.post(
            "/api/v1/accounts",
            headers={"Authorization": f"Bearer {app.token}"},
            data={
                "username": username,
                "email": f"{username}@example.test",
                "password": "correct horse battery",
                "agreement": "true",
                "locale": "en",
            },
        )
        answers.append((reply.status_code, reply.headers["x-ratelimit-limit"], _remaining(reply)))
    # The headers describe the bucket closest to running out: sign-ups (2), not API (4).
    assert answers == [(200, "2", 1), (200, "2", 0), (429, "2", 0)]
    # Other API requests from that IP still have their own room.
    reply = await limited.get("/api/v1/instance")
    assert reply.status_code == 200 and reply.headers["x-ratelimit-limit"] == "4"


async def test_off_means_no_headers(client: httpx.AsyncClient) -> None:
    reply = await client.get("/api/v1/instance")
    assert reply.status_code == 200
    assert "x-ratelimit-limit" not in reply.headers


async def test_an_unreachable_redis_leaves_the_counting_to_this_process(
    app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    async for http in _limited_client(
        roost.settings, redis_url="redis://127.0.0.1:1/0", rate_limit_requests=2,
        rate_limit_period=FOREVER,
    ):
        replies = [await http.get("/api/v1/instance") for _ in range(5)]
        assert [(r.status_code, _remaining(r)) for r in replies] == [
            (200, 1), (200, 0), (429, 0), (429, 0), (429, 0)]


async def test_redis_backend_in_process(app_roost: tuple[Any, Roost], redis_prefix: str) -> None:
    url = redis_url()
    _, roost = app_roost
    async for http in _limited_client(
        roost.settings,
        redis_url=url,
        rate_limit_requests=2,
        rate_limit_period=FOREVER,
        rate_limit_key_prefix=redis_prefix,
    ):
        replies = [await http.get("/api/v1/instance") for _ in range(3)]
        assert [(r.status_code, _remaining(r)) for r in replies] == [(200, 1), (200, 0), (429, 0)]


# --- one limit across two real server processes ----------------------------------------


@pytest.fixture
def two_servers(
    tmp_path_factory: pytest.TempPathFactory, redis_prefix: str
) -> Iterator[list[RunningServer]]:
    url = redis_url()
    env = {
        "ROOST_RATE_LIMITS": "on",
        "ROOST_REDIS_URL": url,
        "ROOST_RATE_LIMIT_REQUESTS": "10",
        "ROOST_RATE_LIMIT_PERIOD": str(FOREVER),
        "ROOST_RATE_LIMIT_KEY_PREFIX": redis_prefix,
        "ROOST_LOG_LEVEL": "warning",
        # Two databases (one per server): their events must not share Redis streams.
        "ROOST_EVENT_LOG": "outbox",
    }
    servers: list[RunningServer] = []
    try:
        for name in ("one", "two"):
            servers.append(start_server(tmp_path_factory.mktemp(name), None, **env))
        yield servers
    finally:
        for server in servers:
            server.stop()


async def test_the_limit_holds_across_processes(two_servers: list[RunningServer]) -> None:
    one, two = two_servers
    async with httpx.AsyncClient(timeout=30) as http:
        seen = []
        for n in range(10):
            server = one if n % 2 == 0 else two
            reply = await http.get(f"{server.url}/api/v1/instance")
            seen.append((reply.status_code, _remaining(reply)))
        assert seen == [(200, 9 - n) for n in range(10)]
        for server in (one, two):
            refused = await http.get(f"{server.url}/api/v1/instance")
            assert refused.status_code == 429, server.url
            assert refused.json() == {"error": "Too many requests"}
            assert refused.headers["x-ratelimit-reset"] == iso_reset(2 * FOREVER)


async def test_limiting_a_signed_in_request_costs_no_statement(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], count_statements: StatementCounter
) -> None:
    """The middleware's token lookup is the one the route's auth dependency reuses."""
    _, roost = app_roost
    user = await sign_up(client, await register_app(client))
    url = "/api/v1/accounts/verify_credentials"
    count_statements.statements.clear()
    assert (await client.get(url, headers=user.headers)).status_code == 200
    unlimited = count_statements.count

    app = create_app(dataclasses.replace(roost.settings, rate_limits=True))
    async with app.router.lifespan_context(app):
        counter = StatementCounter()
        engines = {app.state.roost.db.primary.sync_engine, app.state.roost.db.replica.sync_engine}
        for engine in engines:
            event.listen(engine, "before_cursor_execute", counter)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
                reply = await http.get(url, headers=user.headers)
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", counter)
    assert reply.status_code == 200 and "x-ratelimit-limit" in reply.headers
    assert counter.count == unlimited, counter.report()
