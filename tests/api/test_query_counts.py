"""Page reads cost a constant number of SQL statements, whatever the page size.

Each test reads a small page and a full one and asserts the same statement count
(and pins the number, so an extra query per request is noticed too).
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StatementCounter
from tests.support.api import User, follow, post_status, register_app, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _network(client: httpx.AsyncClient, posts: int = 45) -> tuple[User, User, list[str]]:
    app = await register_app(client)
    author = await sign_up(client, app)
    reader = await sign_up(client, app)
    await follow(client, reader, author)
    ids = []
    parent: str | None = None
    for n in range(posts):
        fields = {"in_reply_to_id": parent} if parent and n % 3 else {}
        status = await post_status(client, author, f"post {n}", **fields)
        parent = status["id"]
        ids.append(status["id"])
    return author, reader, ids


async def _count(client: httpx.AsyncClient, counter: StatementCounter, url: str,
                 user: User) -> tuple[int, int]:
    counter.statements.clear()
    reply = await client.get(url, headers=user.headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return counter.count, len(body) if isinstance(body, list) else -1


async def test_page_reads_are_constant(client: httpx.AsyncClient,
                                       count_statements: StatementCounter) -> None:
    author, reader, _ids = await _network(client)
    for url in (
        "/api/v1/timelines/home",
        f"/api/v1/accounts/{author.id}/statuses",
    ):
        small, small_len = await _count(client, count_statements, f"{url}?limit=5", reader)
        large, large_len = await _count(client, count_statements, f"{url}?limit=40", reader)
        assert (small_len, large_len) == (5, 40)
        assert small == large, f"{url}: {small} vs {large}\n{count_statements.report()}"
        # token, (account exists,) page ids, then hydration: statuses, boosted
        # originals (none here), authors, mentions, tags, media, viewer flags; + 2 BEGINs
        # on SQLite
        assert large <= 11, count_statements.report()


async def test_follow_lists_are_constant(client: httpx.AsyncClient,
                                         count_statements: StatementCounter) -> None:
    app = await register_app(client)
    star = await sign_up(client, app)
    fans = [await sign_up(client, app) for _ in range(6)]
    for fan in fans:
        await follow(client, fan, star)
        await follow(client, star, fan)
    url = f"/api/v1/accounts/{star.id}"
    for listing in ("followers", "following"):
        small, n_small = await _count(client, count_statements, f"{url}/{listing}?limit=2", star)
        large, n_large = await _count(client, count_statements, f"{url}/{listing}?limit=6", star)
        assert (n_small, n_large) == (2, 6)
        assert small == large, count_statements.report()


async def test_context_is_constant(client: httpx.AsyncClient,
                                   count_statements: StatementCounter) -> None:
    app = await register_app(client)
    author = await sign_up(client, app)
    root = await post_status(client, author, "root")
    short_thread = await post_status(client, author, "short", in_reply_to_id=root["id"])
    deep_start = await post_status(client, author, "deep", in_reply_to_id=root["id"])
    parent = deep_start["id"]
    for n in range(12):
        parent = (await post_status(client, author, f"deep {n}", in_reply_to_id=parent))["id"]
    count_statements.statements.clear()
    reply = await client.get(f"/api/v1/statuses/{short_thread['id']}/context",
                             headers=author.headers)
    small = count_statements.count
    assert len(reply.json()["ancestors"]) == 1
    count_statements.statements.clear()
    reply = await client.get(f"/api/v1/statuses/{deep_start['id']}/context",
                             headers=author.headers)
    large = count_statements.count
    assert len(reply.json()["descendants"]) == 12
    assert small == large, count_statements.report()
