"""Page reads cost a constant number of SQL statements and Redis round trips, whatever
the page size: every list endpoint, read with limit=5 and limit=40, costs the same,
the first time (cold) and the second (warm), and no more than a pinned bound (so an
extra statement per request is noticed too).

Each mode runs the app in-process with its consumers: PostgreSQL with a Redis (the
home timeline and the object cache in Redis), SQLite with a Redis, and the embedded
SQLite alone (statements only: its object cache lives in the process). Every page is
read both ways a request can go: through the object cache (src/roost/cache), which
is emptied before each cold read, so that cold means nothing of the page or its
authors cached, for 5 as for 40; and on the database path (the cache turned off, as
when Redis is away).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from roost.app import create_app
from roost.config import load_settings
from roost.context import Roost
from roost.db.migrate import prepare_database, upgrade
from roost.timelines.fanout import build_timeline
from tests.support.api import User, follow, post_status, register_app, sign_up
from tests.support.costs import Costs, counting, flush_object_cache
from tests.support.server import CHEAP_PASSWORD_HASHING
from tests.support.services import fresh_postgres_database, reachable_redis_url

pytestmark = pytest.mark.asyncio(loop_scope="session")

SMALL, LARGE = 5, 40
MODES = ["postgresql+redis", "sqlite+redis", "sqlite"]
PATHS = ("cache", "database")

# Redis round trips are not pinned exactly (the object cache may gain or lose a
# multi-get): equal for both sizes, and at most this many. A cold read stores what
# it missed: one more round trip for each of the token, the endpoint's first read
# and the page's hydration.
MAX_ROUND_TRIPS = {"cold": 9, "warm": 5}

# The SQL statements of each page read on PostgreSQL, at most (measured, then
# pinned); SQLite adds its two BEGINs (the token's read and the page's).
# - On the database path: the token, what the endpoint reads first (as commented),
#   then hydration: the statuses, the originals of boosts (when the page has some),
#   authors, mentions, tags, media attachments, the viewer's flags.
# - Through the cache, cold: the token, what the endpoint reads first, then each kind
#   of object missed in one statement: statuses, their mentions, tags, media and
#   counters (and the same five for the originals of boosts), authors, flags, follows and
#   blocks. Warm: only the token and the page's keys (and a tag's id).
SQLITE_BEGINS = 2
MAX_STATEMENTS: dict[str, dict[str, int]] = {
    "database": {
        "account_statuses": 10,  # token, account, page ids + hydration 7 (with boosts)
        "notifications": 9,  # token, notifications, their accounts + hydration 6
        "public": 8,  # token, page ids + hydration 6 (no boosts)
        "public_local": 8,
        "tag": 9,  # token, the tags' ids, page ids + hydration 6
        "home": 10,  # token, authors not fanned out, boost links + hydration 7
        "favourites": 8,  # token, favourites rows + hydration 6
        "bookmarks": 8,
        "followers": 4,  # token, account, follows rows, their accounts
    },
    "cache cold": {
        "account_statuses": 16,  # token, account, page ids + statuses 5, originals 5, 3
        "notifications": 11,  # token, notifications, their accounts + statuses 5, 3
        "public": 10,  # token, page ids + statuses 5, authors + flags + visibility 3
        "public_local": 10,
        "tag": 11,
        "home": 16,
        "favourites": 10,
        "bookmarks": 10,
        "followers": 4,
    },
    "cache warm": {
        "account_statuses": 2,  # token, page ids
        "notifications": 2,  # token, notifications
        "public": 2,  # token, page ids
        "public_local": 2,
        "tag": 3,  # token, the tags' ids, page ids
        "home": 3,  # token, authors not fanned out, boost links
        "favourites": 2,  # token, favourites rows
        "bookmarks": 2,
        "followers": 2,  # token, follows rows
    },
}


@dataclass
class World:
    """One viewer's network: authors it follows (posts, self-replies, replies to each
    other with mentions, boosts, hashtags), fans following it, its likes and bookmarks,
    and notifications of each kind (follow, mention, favourite, reblog)."""

    tag: str
    viewer: User
    authors: list[User]
    fans: list[User] = field(default_factory=list)


@dataclass
class Stack:
    roost: Roost
    http: httpx.AsyncClient
    with_redis: bool
    is_sqlite: bool
    world: World


ENDPOINTS: dict[str, Callable[[World], tuple[str, dict[str, str]]]] = {
    "account_statuses": lambda w: (f"/api/v1/accounts/{w.authors[0].id}/statuses", {}),
    "notifications": lambda _w: ("/api/v1/notifications", {}),
    "public": lambda _w: ("/api/v1/timelines/public", {}),
    "public_local": lambda _w: ("/api/v1/timelines/public", {"local": "true"}),
    "tag": lambda w: (f"/api/v1/timelines/tag/{w.tag}", {}),
    "home": lambda _w: ("/api/v1/timelines/home", {}),
    "favourites": lambda _w: ("/api/v1/favourites", {}),
    "bookmarks": lambda _w: ("/api/v1/bookmarks", {}),
    "followers": lambda w: (f"/api/v1/accounts/{w.viewer.id}/followers", {}),
}


async def _act(http: httpx.AsyncClient, user: User, status_id: str, action: str) -> None:
    reply = await http.post(f"/api/v1/statuses/{status_id}/{action}", headers=user.headers)
    assert reply.status_code == 200, reply.text


def _steps(at_least: int) -> int:
    """Rounds to build: at least `at_least`, ending on a round whose authors boost,
    like and mention (see _build_world), so that the newest page of notifications of
    any size holds every type."""
    return at_least + (3 - (at_least - 1)) % 5


async def _build_world(http: httpx.AsyncClient, steps: int, tag: str) -> World:
    """`steps` rounds of: the viewer posts, each of three authors does one of five
    things in turn (the third of them in the last round: boost, post and like, mention),
    a new fan follows the viewer, and the viewer likes and bookmarks some of what the
    authors post. Each list gets `steps` items or more, of every kind in any five in a
    row (boosts are of older statuses, which are never on the page themselves)."""
    app = await register_app(http)
    viewer = await sign_up(http, app)
    authors = [await sign_up(http, app) for _ in range(3)]
    fans = [await sign_up(http, app) for _ in range(steps)]
    for author in authors:
        await follow(http, viewer, author)
    early = [[(await post_status(http, author, f"early {n} #{tag}"))["id"]
              for n in range(steps // 5 + 1)] for author in authors]
    world = World(tag, viewer, authors, fans)
    latest = [posts[-1] for posts in early]  # each author's newest original
    for step in range(steps):
        mine = (await post_status(http, viewer, f"mine {step} #{tag}"))["id"]
        for a, author in enumerate(authors):
            other = authors[(a + 1) % 3]
            kind = (step + a) % 5
            made: dict[str, Any] | None = None
            if kind == 0:  # a post mentioning the viewer
                made = await post_status(http, author, f"@{viewer.username} hi {step} #{tag}")
            elif kind == 1:  # a self-reply (a thread)
                made = await post_status(http, author, f"more {step} #{tag}",
                                         in_reply_to_id=latest[a])
            elif kind == 2:  # a reply to another author, mentioning them
                made = await post_status(http, author, f"@{other.username} re {step} #{tag}",
                                         in_reply_to_id=latest[(a + 1) % 3])
            elif kind == 3:  # boosts: an older status of another author, the viewer's
                await _act(http, author, early[(a + 1) % 3][step // 5], "reblog")
                await _act(http, author, mine, "reblog")
            else:  # a post, and a like of the viewer's status
                made = await post_status(http, author, f"note {step} #{tag}")
                await _act(http, author, mine, "favourite")
            if made is not None:
                latest[a] = made["id"]
                if kind in (0, 2, 4):
                    await _act(http, viewer, made["id"], "favourite")
                if kind in (1, 2, 4):
                    await _act(http, viewer, made["id"], "bookmark")
        await follow(http, fans[step], viewer)
    return world


@contextmanager
def _database(kind: str, data_dir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'roost.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module", params=MODES)
async def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    kind, _, with_redis = request.param.partition("+")
    redis_url = reachable_redis_url() if with_redis else None
    data_dir = tmp_path_factory.mktemp(f"costs-{kind}")
    prefix = f"roost:test-{secrets.token_hex(4)}:"
    with _database(kind, data_dir) as database_url:
        env = {"ROOST_DATA_DIR": str(data_dir), "ROOST_DATABASE_URL": database_url,
               "ROOST_EVENT_LOG": "outbox", "ROOST_RATE_LIMITS": "off",
               "ROOST_LOG_LEVEL": "warning", **CHEAP_PASSWORD_HASHING}
        if redis_url is not None:
            env |= {"ROOST_REDIS_URL": redis_url, "ROOST_REDIS_KEY_PREFIX": prefix}
        settings = load_settings(env)
        upgrade(settings.database_url)
        prepare_database(settings)
        app = create_app(settings)
        try:
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://roost.test",
                timeout=30,
            ) as http:
                roost: Roost = app.state.roost
                world = await _build_world(http, _steps(LARGE), "costs")
                # Counters and notifications are made by the consumers: wait for them.
                assert roost.dispatcher is not None
                await roost.dispatcher.settle()
                if roost.redis is not None:
                    async with roost.db.read() as conn:  # as a first visit would
                        await build_timeline(roost, conn, int(world.viewer.id))
                yield Stack(roost, http, bool(with_redis), kind == "sqlite", world)
        finally:
            if redis_url is not None:
                with redis.Redis.from_url(redis_url) as client:
                    for key in client.scan_iter(match=f"{prefix}*"):
                        client.delete(key)


async def _read(stack: Stack, name: str, limit: int) -> tuple[Costs, list[Any]]:
    url, params = ENDPOINTS[name](stack.world)
    with counting(stack.roost) as cost:
        reply = await stack.http.get(url, headers=stack.world.viewer.headers,
                                     params={**params, "limit": str(limit)})
    assert reply.status_code == 200, reply.text
    body: list[Any] = reply.json()
    if name == "home":  # boosts of a status on the page are left out of it
        assert limit * 0.8 <= len(body) <= limit, (name, limit, len(body))
    else:
        assert len(body) == limit, (name, limit, len(body))
    return cost, body


def _kinds(name: str, body: list[Any]) -> set[str]:
    """What a page holds, to check that both sizes hold every kind of item."""
    if name == "notifications":
        return {item["type"] for item in body}
    if name == "followers":
        return {"account"}
    kinds = set()
    for item in body:
        if item.get("reblog"):
            kinds.add("boost")
            item = item["reblog"]
        if item["in_reply_to_id"]:
            kinds.add("reply")
        if item["mentions"]:
            kinds.add("mention")
        if item["tags"]:
            kinds.add("tag")
        kinds |= {flag for flag in ("favourited", "bookmarked") if item.get(flag)}
    return kinds


# What a page must hold, on both sizes. Some of it changes what a read costs: a page
# with boosts reads their originals, a notification has a status or not (a follow);
# the rest is there so that every part of hydration has something to find.
_HOLDS: dict[str, set[str]] = {
    "account_statuses": {"boost", "reply", "mention", "tag", "favourited", "bookmarked"},
    "notifications": {"follow", "mention", "favourite", "reblog"},
    "public": {"mention", "tag", "favourited"},  # no boosts, nor replies to others
    "public_local": {"mention", "tag", "favourited"},
    "tag": {"reply", "mention", "tag", "favourited"},
    "home": {"boost", "mention", "tag", "favourited", "bookmarked"},
    "favourites": {"reply", "mention", "tag", "favourited"},
    "bookmarks": {"reply", "tag", "bookmarked"},
    "followers": {"account"},
}


@pytest.mark.parametrize("name", list(ENDPOINTS))
async def test_a_page_costs_the_same_whatever_its_size(stack: Stack, name: str) -> None:
    roost = stack.roost
    await _read(stack, name, SMALL)  # connections open, the cache's scripts loaded
    costs: dict[str, Costs] = {}
    try:
        for path in PATHS:
            roost.db.reads_use_cache = path == "cache"
            for limit in (SMALL, LARGE):
                await flush_object_cache(roost)
                for temperature in ("cold", "warm"):
                    cost, body = await _read(stack, name, limit)
                    costs[f"{path} {temperature} {limit}"] = cost
                    assert _HOLDS[name] <= _kinds(name, body), (limit, _kinds(name, body))
    finally:
        roost.db.reads_use_cache = True
    print(f"\n{name}: " + ", ".join(
        f"{key}: {c.statements} SQL / {c.round_trips} Redis" for key, c in costs.items()))
    if roost.db.object_cache is not None:  # the premise: cold reads miss, warm ones hit
        for limit in (SMALL, LARGE):
            cold, warm = costs[f"cache cold {limit}"], costs[f"cache warm {limit}"]
            assert warm.statements < cold.statements, (limit, cold, warm)
    for path in PATHS:
        for temperature in ("cold", "warm"):
            max_round_trips = MAX_ROUND_TRIPS[temperature] if stack.with_redis else 0
            pinned = MAX_STATEMENTS.get(f"{path} {temperature}") or MAX_STATEMENTS[path]
            max_statements = pinned[name] + (SQLITE_BEGINS if stack.is_sqlite else 0)
            small = costs[f"{path} {temperature} {SMALL}"]
            large = costs[f"{path} {temperature} {LARGE}"]
            assert small == large, (
                f"{name} {path} {temperature}: {small} for {SMALL}, {large} for {LARGE}\n"
                f"--- {SMALL}:\n{small.report()}\n--- {LARGE}:\n{large.report()}")
            assert large.statements <= max_statements, (path, temperature, large.report())
            assert large.round_trips <= max_round_trips, (path, temperature, large.report())
