"""The foundation slice end to end, in-process, on both databases."""

from __future__ import annotations

import httpx

from tests.support.api import follow, post_status, register_app, sign_up


async def test_post_follow_and_read_home(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    alice = await sign_up(client, app)
    bob = await sign_up(client, app)
    await follow(client, bob, alice)
    first = await post_status(client, alice, "hello https://example.com/path, world")
    assert '<a href="https://example.com/path"' in first["content"]
    home = await client.get("/api/v1/timelines/home", headers=bob.headers)
    assert home.status_code == 200, home.text
    assert [s["id"] for s in home.json()] == [first["id"]]
    assert 'rel="next"' in home.headers["link"]
