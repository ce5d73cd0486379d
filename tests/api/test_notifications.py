"""The notifications API and markers, in-process on both databases.

Notifications are created by calling notify() inside a transaction, as the features
that cause them (likes, boosts, mentions, follows) do, so these tests do not depend on
those features; the Mastodon.py tests drive the same endpoints through a real client.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert, select

from roost.clock import utcnow
from roost.context import Roost
from roost.db.tables import blocks, markers, mutes, notifications
from roost.ids import datetime_of, shard_of
from roost.notifications.operations import NotificationType, notify
from tests.conftest import StatementCounter
from tests.support.api import App, User, follow, post_status, register_app, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _notify(
    roost: Roost,
    recipient: User,
    sender: User,
    type: NotificationType,
    status_id: str | None = None,
) -> str:
    async with roost.db.write() as conn:
        notification_id = await notify(
            conn,
            roost.ids,
            recipient_id=int(recipient.id),
            from_account_id=int(sender.id),
            type=type,
            activity_id=roost.ids.next_id(shard_of(int(sender.id))),
            status_id=int(status_id) if status_id else None,
        )
    assert notification_id is not None
    return str(notification_id)


async def _list(client: httpx.AsyncClient, user: User, **params: Any) -> httpx.Response:
    reply = await client.get("/api/v1/notifications", headers=user.headers, params=params)
    assert reply.status_code == 200, reply.text
    return reply


def _ids(reply: httpx.Response) -> list[str]:
    return [item["id"] for item in reply.json()]


@pytest.fixture
async def app(client: httpx.AsyncClient) -> App:
    return await register_app(client)


async def test_entity_and_filters(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], app: App
) -> None:
    _, roost = app_roost
    me, alice, bob = [await sign_up(client, app) for _ in range(3)]
    mine = await post_status(client, me, "a post to like")
    liked = await _notify(roost, me, alice, "favourite", mine["id"])
    followed = await _notify(roost, me, bob, "follow")
    mentioned = await _notify(roost, me, bob, "mention", mine["id"])

    body = (await _list(client, me)).json()
    assert [n["id"] for n in body] == [mentioned, followed, liked]
    like = body[2]
    assert like["type"] == "favourite"
    assert like["group_key"] == f"ungrouped-{liked}"
    assert like["account"]["id"] == alice.id
    assert like["status"]["id"] == mine["id"]
    assert like["status"]["favourited"] is False  # rendered for the recipient
    assert like["created_at"].startswith(datetime_of(int(liked)).strftime("%Y-%m-%dT%H:%M"))
    assert "status" not in body[1] or body[1]["status"] is None

    assert _ids(await _list(client, me, **{"types[]": "follow"})) == [followed]
    both = await _list(client, me, **{"types[]": ["follow", "favourite"]})
    assert _ids(both) == [followed, liked]
    assert _ids(await _list(client, me, **{"exclude_types[]": ["follow", "mention"]})) == [liked]
    assert _ids(await _list(client, me, account_id=bob.id)) == [mentioned, followed]
    assert _ids(await _list(client, me, account_id=bob.id, **{"types[]": "follow"})) == [followed]
    assert _ids(await _list(client, me, **{"types[]": "poll"})) == []
    # Someone else's notifications are not mine to see.
    assert _ids(await _list(client, alice)) == []
    reply = await client.get(
        "/api/v1/notifications", headers=me.headers, params={"account_id": "nope"}
    )
    assert reply.status_code == 422


async def test_paging_and_link_headers(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], app: App
) -> None:
    _, roost = app_roost
    me, other = await sign_up(client, app), await sign_up(client, app)
    made = [await _notify(roost, me, other, "follow") for _ in range(90)]
    newest_first = list(reversed(made))

    first = await _list(client, me)
    assert _ids(first) == newest_first[:40]  # default 40
    assert _ids(await _list(client, me, limit=500)) == newest_first[:80]  # max 80
    link = first.headers["link"]
    assert f"max_id={newest_first[39]}" in link and 'rel="next"' in link
    assert f"min_id={newest_first[0]}" in link and 'rel="prev"' in link

    second = await _list(client, me, limit=40, max_id=newest_first[39])
    assert _ids(second) == newest_first[40:80]
    assert _ids(await _list(client, me, limit=3, since_id=made[10])) == newest_first[:3]
    assert _ids(await _list(client, me, limit=3, min_id=made[10])) == [made[13], made[12], made[11]]
    empty = await _list(client, me, max_id=made[0])
    assert empty.json() == [] and "link" not in empty.headers


async def test_one_dismiss_and_clear(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], app: App
) -> None:
    _, roost = app_roost
    me, other = await sign_up(client, app), await sign_up(client, app)
    first = await _notify(roost, me, other, "follow")
    second = await _notify(roost, me, other, "follow_request")
    theirs = await _notify(roost, other, me, "follow")

    reply = await client.get(f"/api/v1/notifications/{first}", headers=me.headers)
    assert reply.status_code == 200 and reply.json()["type"] == "follow"
    for wrong in (theirs, "12345", "not-an-id"):
        reply = await client.get(f"/api/v1/notifications/{wrong}", headers=me.headers)
        assert reply.status_code == 404, wrong
        assert reply.json() == {"error": "Record not found"}
        reply = await client.post(f"/api/v1/notifications/{wrong}/dismiss", headers=me.headers)
        assert reply.status_code == 404, wrong
    assert _ids(await _list(client, other)) == [theirs]  # not dismissed by me

    reply = await client.post(f"/api/v1/notifications/{first}/dismiss", headers=me.headers)
    assert reply.status_code == 200 and reply.json() == {}
    assert _ids(await _list(client, me)) == [second]
    reply = await client.post("/api/v1/notifications/clear", headers=me.headers)
    assert reply.status_code == 200 and reply.json() == {}
    assert _ids(await _list(client, me)) == []
    assert _ids(await _list(client, other)) == [theirs]


async def test_blocks_and_mutes_hide_at_read_time(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], app: App
) -> None:
    _, roost = app_roost
    me, blocked, blocker, muted, quiet, expired = [await sign_up(client, app) for _ in range(6)]
    made = {
        user.username: await _notify(roost, me, user, "follow")
        for user in (blocked, blocker, muted, quiet, expired)
    }
    async with roost.db.write() as conn:
        await conn.execute(
            insert(blocks).values(
                id=roost.ids.next_id(shard_of(int(me.id))),
                account_id=int(me.id),
                target_account_id=int(blocked.id),
            )
        )
        await conn.execute(
            insert(blocks).values(
                id=roost.ids.next_id(shard_of(int(blocker.id))),
                account_id=int(blocker.id),
                target_account_id=int(me.id),
            )
        )
        await conn.execute(
            insert(mutes).values(
                id=roost.ids.next_id(shard_of(int(me.id))),
                account_id=int(me.id),
                target_account_id=int(muted.id),
                hide_notifications=True,
            )
        )
        # A mute that keeps notifications, and one that has run out: both still shown.
        await conn.execute(
            insert(mutes).values(
                id=roost.ids.next_id(shard_of(int(me.id))),
                account_id=int(me.id),
                target_account_id=int(quiet.id),
                hide_notifications=False,
            )
        )
        await conn.execute(
            insert(mutes).values(
                id=roost.ids.next_id(shard_of(int(me.id))),
                account_id=int(me.id),
                target_account_id=int(expired.id),
                hide_notifications=True,
                expires_at=utcnow() - timedelta(minutes=1),
            )
        )
    assert _ids(await _list(client, me)) == [made[expired.username], made[quiet.username]]
    for hidden in (blocked, blocker, muted):
        reply = await client.get(
            f"/api/v1/notifications/{made[hidden.username]}", headers=me.headers
        )
        assert reply.status_code == 404
    count = await client.get("/api/v1/notifications/unread_count", headers=me.headers)
    assert count.json() == {"count": 2}


async def test_a_status_no_longer_visible_is_left_out(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], app: App
) -> None:
    _, roost = app_roost
    me, author = await sign_up(client, app), await sign_up(client, app)
    await follow(client, me, author)
    private = await post_status(client, author, "followers only", visibility="private")
    public = await post_status(client, author, "for everyone")
    on_private = await _notify(roost, me, author, "status", private["id"])
    on_public = await _notify(roost, me, author, "status", public["id"])
    assert _ids(await _list(client, me, **{"types[]": "status"})) == [on_public, on_private]

    reply = await client.post(f"/api/v1/accounts/{author.id}/unfollow", headers=me.headers)
    assert reply.status_code == 200
    page = await _list(client, me, **{"types[]": "status"})
    assert _ids(page) == [on_public]
    # The Link header still covers the whole page, so paging goes on past the gap.
    assert f"max_id={on_private}" in page.headers["link"]
    reply = await client.get(f"/api/v1/notifications/{on_private}", headers=me.headers)
    assert reply.status_code == 404


async def test_scopes(client: httpx.AsyncClient) -> None:
    narrow = await register_app(
        client, scopes="read:accounts write:accounts read:statuses write:statuses"
    )
    user = await sign_up(client, narrow)
    for method, url in (
        ("GET", "/api/v1/notifications"),
        ("GET", "/api/v1/notifications/unread_count"),
        ("GET", "/api/v1/notifications/1"),
        ("POST", "/api/v1/notifications/1/dismiss"),
        ("POST", "/api/v1/notifications/clear"),
    ):
        reply = await client.request(method, url, headers=user.headers)
        assert reply.status_code == 403, url
        reply = await client.request(method, url)
        assert reply.status_code == 401, url
    # ...and read:statuses / write:statuses are what markers need.
    reply = await client.post(
        "/api/v1/markers", headers=user.headers, data={"home[last_read_id]": "5"}
    )
    assert reply.status_code == 200, reply.text
    granular = await register_app(
        client, scopes="read:accounts write:accounts read:notifications write:notifications"
    )
    other = await sign_up(client, granular)
    assert (await client.get("/api/v1/notifications", headers=other.headers)).status_code == 200
    assert (await client.get("/api/v1/markers", headers=other.headers)).status_code == 403
    assert (await client.post("/api/v1/markers", headers=other.headers)).status_code == 403
    assert (await client.get("/api/v1/markers")).status_code == 401


async def test_page_costs_constant_statements(
    client: httpx.AsyncClient,
    app_roost: tuple[Any, Roost],
    app: App,
    count_statements: StatementCounter,
) -> None:
    _, roost = app_roost
    me = await sign_up(client, app)
    fans = [await sign_up(client, app) for _ in range(5)]
    posts = [await post_status(client, me, f"post {n}") for n in range(9)]
    for n in range(45):
        await _notify(roost, me, fans[n % 5], "favourite", posts[n % 9]["id"])
    counts = []
    for limit in (5, 40):
        count_statements.statements.clear()
        reply = await _list(client, me, limit=limit)
        assert len(reply.json()) == limit
        counts.append(count_statements.count)
    assert counts[0] == counts[1], count_statements.report()
    # token, the page, its accounts, then hydrate: statuses, authors, mentions, tags,
    # media, viewer flags (no boosts here); + 2 BEGINs on SQLite.
    assert counts[1] <= 11, count_statements.report()


async def test_unread_count_follows_the_marker(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], app: App
) -> None:
    _, roost = app_roost
    me, other = await sign_up(client, app), await sign_up(client, app)
    made = [await _notify(roost, me, other, "follow") for _ in range(5)]
    url = "/api/v1/notifications/unread_count"
    assert (await client.get(url, headers=me.headers)).json() == {"count": 5}
    assert (await client.get(url, headers=me.headers, params={"limit": 2})).json() == {"count": 2}
    reply = await client.post(
        "/api/v1/markers", headers=me.headers, data={"notifications[last_read_id]": made[2]}
    )
    assert reply.status_code == 200
    assert (await client.get(url, headers=me.headers)).json() == {"count": 2}
    reply = await client.get(url, headers=me.headers, params={"types[]": "mention"})
    assert reply.json() == {"count": 0}


async def test_markers(client: httpx.AsyncClient, app_roost: tuple[Any, Roost], app: App) -> None:
    _, roost = app_roost
    me = await sign_up(client, app)
    both = {"timeline[]": ["home", "notifications"]}
    reply = await client.get("/api/v1/markers", headers=me.headers, params=both)
    assert reply.status_code == 200 and reply.json() == {}

    reply = await client.post(
        "/api/v1/markers", headers=me.headers, data={"home[last_read_id]": "103206604258487607"}
    )
    assert reply.status_code == 200, reply.text
    home = reply.json()["home"]
    assert home["last_read_id"] == "103206604258487607" and home["version"] == 0
    assert home["updated_at"].endswith("Z")
    assert set(reply.json()) == {"home"}

    reply = await client.post(
        "/api/v1/markers",
        headers=me.headers,
        json={
            "home": {"last_read_id": "103206604258487700"},
            "notifications": {"last_read_id": 35098814},
        },
    )
    assert reply.status_code == 200, reply.text
    saved = reply.json()
    assert saved["home"] == {**saved["home"], "last_read_id": "103206604258487700", "version": 1}
    assert saved["notifications"]["last_read_id"] == "35098814"
    assert saved["notifications"]["version"] == 0

    reply = await client.get("/api/v1/markers", headers=me.headers, params=both)
    assert reply.json() == saved
    reply = await client.get(
        "/api/v1/markers", headers=me.headers, params={"timeline[]": "notifications"}
    )
    assert set(reply.json()) == {"notifications"}
    assert (await client.get("/api/v1/markers", headers=me.headers)).json() == {}

    for bad in ({"home[last_read_id]": "abc"}, {"home[last_read_id]": ""}, {"notifications": "5"}):
        reply = await client.post("/api/v1/markers", headers=me.headers, data=bad)
        assert reply.status_code == 422, (bad, reply.text)
    # Unknown timelines are ignored, as Mastodon does.
    reply = await client.post(
        "/api/v1/markers", headers=me.headers, data={"public[last_read_id]": "5"}
    )
    assert reply.status_code == 200 and reply.json() == {}
    async with roost.db.read() as conn:
        rows = (
            await conn.execute(
                select(markers.c.timeline, markers.c.version).where(
                    markers.c.account_id == int(me.id)
                )
            )
        ).all()
    assert sorted(rows) == [("home", 1), ("notifications", 0)]


async def test_deleting_the_status_deletes_its_notifications(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost], app: App
) -> None:
    _, roost = app_roost
    me, other = await sign_up(client, app), await sign_up(client, app)
    post = await post_status(client, me, "short-lived")
    await _notify(roost, me, other, "favourite", post["id"])
    reply = await client.delete(f"/api/v1/statuses/{post['id']}", headers=me.headers)
    assert reply.status_code == 200
    assert _ids(await _list(client, me)) == []
    async with roost.db.write() as conn:  # nothing left behind either
        left = (
            await conn.execute(
                select(notifications.c.id).where(notifications.c.account_id == int(me.id))
            )
        ).all()
        await conn.execute(delete(notifications).where(notifications.c.account_id == -1))
    assert left == []
