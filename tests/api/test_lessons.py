"""bench/lessons.py's two instruments (docs/performance.md): the naive feed query it times
against Roost's home query, and the ceiling app it measures the framework's limit with.

The naive feed is not only slow: on the same tiny network, it leaves out a followed post
nobody replied to and shows a followed account's direct message, which Roost's home
query (the statement the server issues) does not. The ceiling app is Roost's own app,
middleware included, plus one route answering a prepared body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from bench.ceiling_app import CEILING_PATH, add_ceiling_route
from bench.naive_feed import naive_feed_sql
from sqlalchemy import text

from roost.app import create_app
from roost.config import load_settings
from roost.context import Roost
from roost.db.migrate import prepare_database
from roost.paging import Page
from roost.timelines.home import home_page_query
from tests.support.api import follow, post_status, register_app, sign_up
from tests.support.server import CHEAP_PASSWORD_HASHING

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_naive_feed_against_home_query(client: httpx.AsyncClient,
                                             app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    app = await register_app(client)
    viewer, friend, stranger = [await sign_up(client, app) for _ in range(3)]
    await follow(client, viewer, friend)

    async def post(user: Any, words: str, **fields: Any) -> int:
        return int((await post_status(client, user, words, **fields))["id"])

    commented = await post(friend, "a post with comments")
    first = await post(stranger, "first comment", in_reply_to_id=str(commented))
    second = await post(viewer, "second comment", in_reply_to_id=str(commented))
    quiet = await post(friend, "a post nobody answers")
    secret = await post(friend, "a direct message to nobody here", visibility="direct")
    await post(friend, "and its follow-up", visibility="direct", in_reply_to_id=str(secret))
    await post(stranger, "not followed")
    viewer_id = int(viewer.id)

    async with roost.db.read() as conn:
        naive = (await conn.execute(text(naive_feed_sql(viewer_id)))).all()
        home = (await conn.execute(
            home_page_query(viewer_id, Page(limit=20), conn.dialect.name))).all()

    posts = [int(row.id) for row in naive]
    assert posts == sorted(posts, reverse=True)
    # One row per (post, comment): the commented post twice, the direct message once.
    assert sorted(posts) == sorted([commented, commented, secret])
    assert {int(row.comment_id) for row in naive if int(row.id) == commented} == {first, second}
    assert {row.username for row in naive} == {friend.username}
    home_ids = {int(row.id) for row in home}
    assert {commented, quiet, second} <= home_ids  # the viewer's own comment is in home
    assert secret not in home_ids and quiet not in posts


async def test_ceiling_app_serves_its_body_through_the_middleware(tmp_path: Path) -> None:
    settings = load_settings({"ROOST_DATA_DIR": str(tmp_path), "ROOST_RATE_LIMITS": "off",
                              "ROOST_LOG_LEVEL": "warning", **CHEAP_PASSWORD_HASHING})
    prepare_database(settings)
    body = b'[{"id":"1","content":"<p>from memory</p>"}]'
    app = add_ceiling_route(create_app(settings), body)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
            reply = await http.get(CEILING_PATH, headers={"X-Request-Id": "ceiling-test"})
            health = await http.get("/healthz")
    assert reply.status_code == 200
    assert reply.content == body
    assert reply.headers["content-type"] == "application/json"
    # ObservabilityMiddleware answered it, as it answers every route of the app.
    assert reply.headers["x-request-id"] == "ceiling-test"
    assert health.status_code == 200
