"""Likes, boosts and bookmarks over HTTP (in-process, on SQLite and PostgreSQL): the
actions and their idempotency, counters, notifications, viewer flags wherever a
status appears, the lists and their paging keys, boosts in home, deletes, the rules
on who may boost what, and bad input that must write nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from roost.context import Roost
from roost.db.tables import bookmarks, favourites, notifications, statuses
from tests.conftest import StatementCounter
from tests.support.api import User, follow, post_status, register_app, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _users(client: httpx.AsyncClient, n: int) -> list[User]:
    app = await register_app(client)
    return [await sign_up(client, app) for _ in range(n)]


async def _post(client: httpx.AsyncClient, user: User, path: str,
                **data: Any) -> httpx.Response:
    return await client.post(f"/api/v1/{path}", headers=user.headers, data=data)


async def _get(client: httpx.AsyncClient, user: User | None, path: str) -> httpx.Response:
    return await client.get(f"/api/v1/{path}", headers=user.headers if user else {})


async def _status(client: httpx.AsyncClient, user: User, status_id: str) -> dict[str, Any]:
    reply = await _get(client, user, f"statuses/{status_id}")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _links(reply: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"',
                                                reply.headers.get("link", ""))}


async def _count(roost: Roost, query: Any) -> int:
    async with roost.db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _notifications(roost: Roost, account: User, kind: str) -> int:
    return await _count(roost, select(func.count()).select_from(notifications).where(
        notifications.c.account_id == int(account.id), notifications.c.type == kind))


async def test_favourite_is_idempotent_counts_and_notifies(
        client: httpx.AsyncClient, app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    author, fan, other = await _users(client, 3)
    status = await post_status(client, author, "like me")
    for _ in range(2):
        reply = await _post(client, fan, f"statuses/{status['id']}/favourite")
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["id"] == status["id"]
        assert body["favourited"] is True
        assert body["favourites_count"] == 1
    assert (await _post(client, other, f"statuses/{status['id']}/favourite")).json()[
        "favourites_count"] == 2
    assert await _notifications(roost, author, "favourite") == 2
    # Liking your own status counts but does not notify you.
    mine = await _post(client, author, f"statuses/{status['id']}/favourite")
    assert mine.json()["favourites_count"] == 3
    assert await _notifications(roost, author, "favourite") == 2
    seen = await _status(client, other, status["id"])
    assert seen["favourited"] is True and seen["favourites_count"] == 3
    assert (await _status(client, author, status["id"]))["favourited"] is True
    # Anonymous readers get no viewer flags at all.
    anonymous = (await _get(client, None, f"statuses/{status['id']}")).json()
    assert "favourited" not in anonymous and anonymous["favourites_count"] == 3

    for _ in range(2):
        reply = await _post(client, fan, f"statuses/{status['id']}/unfavourite")
        assert reply.status_code == 200, reply.text
        assert reply.json()["favourited"] is False
        assert reply.json()["favourites_count"] == 2
    assert await _notifications(roost, author, "favourite") == 1
    assert (await _status(client, other, status["id"]))["favourited"] is True


async def test_favourited_by_pages_by_the_favourite(client: httpx.AsyncClient) -> None:
    author, *fans = await _users(client, 6)
    status = await post_status(client, author, "popular")
    for fan in fans:
        assert (await _post(client, fan, f"statuses/{status['id']}/favourite")).status_code == 200
    first = await _get(client, None, f"statuses/{status['id']}/favourited_by?limit=2")
    assert first.status_code == 200, first.text
    newest_first = [fan.id for fan in reversed(fans)]
    assert [a["id"] for a in first.json()] == newest_first[:2]
    links = _links(first)
    # The keys are favourite ids, not account ids.
    max_id = re.search(r"max_id=(\d+)", links["next"])
    assert max_id is not None and max_id.group(1) not in {fan.id for fan in fans}
    path = links["next"].split("/api/v1/", 1)[1]
    second = await _get(client, None, path)
    assert [a["id"] for a in second.json()] == newest_first[2:4]
    prev = await _get(client, None, _links(second)["prev"].split("/api/v1/", 1)[1])
    assert [a["id"] for a in prev.json()] == newest_first[:2]
    everyone = await _get(client, fans[0], f"statuses/{status['id']}/favourited_by")
    assert [a["id"] for a in everyone.json()] == newest_first


async def test_favourites_and_bookmarks_lists_page_by_their_rows(
        client: httpx.AsyncClient) -> None:
    author, reader = await _users(client, 2)
    posts = [await post_status(client, author, f"post {n}") for n in range(5)]
    # Liked and bookmarked oldest post last: the list order is the action's, not the post's.
    order = [posts[3], posts[1], posts[4], posts[2], posts[0]]
    for post in order:
        assert (await _post(client, reader, f"statuses/{post['id']}/favourite")).status_code == 200
        assert (await _post(client, reader, f"statuses/{post['id']}/bookmark")).status_code == 200
    expected = [post["id"] for post in reversed(order)]
    for listing, flag in (("favourites", "favourited"), ("bookmarks", "bookmarked")):
        seen: list[str] = []
        path = f"{listing}?limit=2"
        while True:
            reply = await _get(client, reader, path)
            assert reply.status_code == 200, reply.text
            if not reply.json():
                assert "link" not in reply.headers
                break
            assert all(item[flag] is True for item in reply.json())
            seen += [item["id"] for item in reply.json()]
            path = _links(reply)["next"].split("/api/v1/", 1)[1]
        assert seen == expected, listing
    # The other's lists are their own; an author's are empty.
    assert (await _get(client, author, "favourites")).json() == []
    # Unbookmark twice: gone once, no error.
    for _ in range(2):
        reply = await _post(client, reader, f"statuses/{posts[0]['id']}/unbookmark")
        assert reply.status_code == 200 and reply.json()["bookmarked"] is False
    listed = [s["id"] for s in (await _get(client, reader, "bookmarks")).json()]
    assert posts[0]["id"] not in listed and len(listed) == 4
    assert (await _get(client, None, "bookmarks")).status_code == 401


async def test_reblog_wraps_the_original_and_is_idempotent(
        client: httpx.AsyncClient, app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    author, booster, second = await _users(client, 3)
    original = await post_status(client, author, "boost me")
    reply = await _post(client, booster, f"statuses/{original['id']}/reblog",
                        visibility="unlisted")
    assert reply.status_code == 200, reply.text
    boost = reply.json()
    assert boost["id"] != original["id"]
    assert boost["account"]["id"] == booster.id
    assert boost["visibility"] == "unlisted"
    assert boost["content"] == ""
    assert boost["reblog"]["id"] == original["id"]
    assert boost["reblog"]["reblogged"] is True
    assert boost["reblog"]["reblogs_count"] == 1
    again = await _post(client, booster, f"statuses/{original['id']}/reblog")
    assert again.json()["id"] == boost["id"]
    # Boosting the boost boosts the original.
    via_boost = await _post(client, second, f"statuses/{boost['id']}/reblog")
    assert via_boost.status_code == 200, via_boost.text
    assert via_boost.json()["reblog"]["id"] == original["id"]
    assert via_boost.json()["reblog"]["reblogs_count"] == 2
    assert await _notifications(roost, author, "reblog") == 2
    # Liking or bookmarking a boost acts on the original.
    liked = await _post(client, second, f"statuses/{boost['id']}/favourite")
    assert liked.json()["id"] == original["id"] and liked.json()["favourited"] is True
    # The booster's profile lists the boost; statuses_count counts it.
    listed = (await _get(client, author, f"accounts/{booster.id}/statuses")).json()
    assert [s["id"] for s in listed] == [boost["id"]]
    assert listed[0]["reblog"]["id"] == original["id"]
    me = (await _get(client, booster, "accounts/verify_credentials")).json()
    assert me["statuses_count"] == 1
    who = await _get(client, None, f"statuses/{original['id']}/reblogged_by")
    assert [a["id"] for a in who.json()] == [second.id, booster.id]
    assert "link" in who.headers

    for _ in range(2):
        undone = await _post(client, booster, f"statuses/{original['id']}/unreblog")
        assert undone.status_code == 200, undone.text
        assert undone.json()["id"] == original["id"]
        assert undone.json()["reblogged"] is False
        assert undone.json()["reblogs_count"] == 1
    assert (await _get(client, None, f"statuses/{boost['id']}")).status_code == 404
    assert await _notifications(roost, author, "reblog") == 1
    me = (await _get(client, booster, "accounts/verify_credentials")).json()
    assert me["statuses_count"] == 0
    who = await _get(client, None, f"statuses/{original['id']}/reblogged_by")
    assert [a["id"] for a in who.json()] == [second.id]


async def test_private_and_direct_cannot_be_boosted(
        client: httpx.AsyncClient, app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    author, follower = await _users(client, 2)
    await follow(client, follower, author)
    private = await post_status(client, author, "followers only", visibility="private")
    direct = await post_status(client, author, "just me", visibility="direct")
    before = await _count(roost, select(func.count()).select_from(statuses))
    refused = await _post(client, follower, f"statuses/{private['id']}/reblog")
    assert refused.status_code == 403, refused.text
    assert (await _post(client, author, f"statuses/{direct['id']}/reblog")).status_code == 403
    assert await _count(roost, select(func.count()).select_from(statuses)) == before
    # Mastodon lets the author boost their own private post; the boost stays private.
    mine = await _post(client, author, f"statuses/{private['id']}/reblog", visibility="public")
    assert mine.status_code == 200, mine.text
    assert mine.json()["visibility"] == "private"
    # Mastodon does not list a private boost in reblogged_by; strangers get a 404.
    who = await _get(client, follower, f"statuses/{private['id']}/reblogged_by")
    assert who.status_code == 200 and who.json() == []
    home = (await _get(client, follower, "timelines/home")).json()
    assert [s["id"] for s in home] == [private["id"]]  # the boost collapses into it
    profile = (await _get(client, follower, f"accounts/{author.id}/statuses")).json()
    assert profile[0]["id"] == mine.json()["id"] and profile[0]["visibility"] == "private"
    assert (await _get(client, None, f"statuses/{mine.json()['id']}")).status_code == 404
    assert (await _get(client, None, f"statuses/{private['id']}/reblogged_by")).status_code == 404
    # The follower may still like and bookmark what they can see.
    liked = await _post(client, follower, f"statuses/{private['id']}/favourite")
    assert liked.status_code == 200 and liked.json()["favourited"] is True


async def test_invisible_statuses_are_404_for_every_action(
        client: httpx.AsyncClient, app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    author, stranger = await _users(client, 2)
    hidden = await post_status(client, author, "not for you", visibility="private")
    tables = (favourites, bookmarks, statuses, notifications)

    async def rows() -> list[int]:
        return [await _count(roost, select(func.count()).select_from(t)) for t in tables]

    before = await rows()
    for target in (hidden["id"], "123456789", "not-an-id", "0"):
        for action in ("favourite", "unfavourite", "bookmark", "unbookmark", "reblog",
                       "unreblog"):
            reply = await _post(client, stranger, f"statuses/{target}/{action}")
            assert reply.status_code == 404, (target, action, reply.text)
            assert reply.json() == {"error": "Record not found"}
        for listing in ("favourited_by", "reblogged_by"):
            reply = await _get(client, stranger, f"statuses/{target}/{listing}")
            assert reply.status_code == 404, (target, listing)
    assert await rows() == before


async def test_bad_input_writes_nothing(client: httpx.AsyncClient,
                                        app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    author, booster = await _users(client, 2)
    status = await post_status(client, author, "boost with care")
    before = await _count(roost, select(func.count()).select_from(statuses))
    for visibility in ("direct", "limited", "everyone"):
        reply = await _post(client, booster, f"statuses/{status['id']}/reblog",
                            visibility=visibility)
        assert reply.status_code == 422, reply.text
    reply = await client.post(f"/api/v1/statuses/{status['id']}/reblog",
                              headers={**booster.headers, "content-type": "application/json"},
                              content=b'{"visibility": ')
    assert reply.status_code == 400, reply.text
    assert await _count(roost, select(func.count()).select_from(statuses)) == before
    for query in ("limit=x", "max_id=abc", "limit=--5"):
        assert (await _get(client, booster, f"favourites?{query}")).status_code == 422
        assert (await _get(client, booster,
                           f"statuses/{status['id']}/favourited_by?{query}")).status_code == 422
    # No token, or a token without the scope.
    assert (await client.post(f"/api/v1/statuses/{status['id']}/favourite")).status_code == 401
    app = await register_app(client, scopes="read write")
    token = await client.post("/oauth/token", data={
        "grant_type": "password", "client_id": app.client_id,
        "client_secret": app.client_secret, "username": booster.email,
        "password": booster.password, "scope": "read"})
    assert token.status_code == 200, token.text
    read_only = {"Authorization": f"Bearer {token.json()['access_token']}"}
    for action in ("favourite", "bookmark", "reblog"):
        reply = await client.post(f"/api/v1/statuses/{status['id']}/{action}",
                                  headers=read_only)
        assert reply.status_code == 403, action
    assert (await _status(client, author, status["id"]))["favourites_count"] == 0


async def test_flags_hold_everywhere_a_status_appears(client: httpx.AsyncClient) -> None:
    author, reader = await _users(client, 2)
    await follow(client, reader, author)
    root = await post_status(client, author, "root")
    reply = await post_status(client, author, "reply", in_reply_to_id=root["id"])
    for target in (root, reply):
        for action in ("favourite", "bookmark", "reblog"):
            answer = await _post(client, reader, f"statuses/{target['id']}/{action}")
            assert answer.status_code == 200, answer.text

    def check(entity: dict[str, Any]) -> None:
        content = entity["reblog"] or entity
        assert (content["favourited"], content["bookmarked"], content["reblogged"]) == (
            True, True, True), entity

    for status_id in (root["id"], reply["id"]):
        check(await _status(client, reader, status_id))
    home = (await _get(client, reader, "timelines/home")).json()
    # The reader's own boosts collapse into the originals on the same page.
    assert sorted(s["id"] for s in home) == sorted([root["id"], reply["id"]])
    for entity in home:
        check(entity)
    for entity in (await _get(client, reader, f"accounts/{author.id}/statuses")).json():
        check(entity)
    for entity in (await _get(client, reader, f"accounts/{reader.id}/statuses")).json():
        assert entity["reblog"] is not None
        check(entity)
    context = (await _get(client, reader, f"statuses/{root['id']}/context")).json()
    assert [s["id"] for s in context["descendants"]] == [reply["id"]]
    check(context["descendants"][0])
    multi = (await _get(client, reader, f"statuses?id[]={root['id']}&id[]={reply['id']}")).json()
    for entity in multi:
        check(entity)
    # Someone else sees the same statuses without the reader's flags.
    for entity in (await _get(client, author, f"accounts/{author.id}/statuses")).json():
        assert (entity["favourited"], entity["bookmarked"], entity["reblogged"]) == (
            False, False, False)


async def test_home_shows_a_boost_once_and_respects_show_reblogs(
        client: httpx.AsyncClient) -> None:
    viewer, friend, other, quiet, stranger = await _users(client, 5)
    for followed in (friend, other):
        await follow(client, viewer, followed)
    hush = await client.post(f"/api/v1/accounts/{quiet.id}/follow", headers=viewer.headers,
                             data={"reblogs": "false"})
    assert hush.status_code == 200 and hush.json()["showing_reblogs"] is False
    outside = await post_status(client, stranger, "from outside")
    inside = await post_status(client, friend, "from a friend")
    boosts = {}
    for booster in (friend, other, quiet):
        answer = await _post(client, booster, f"statuses/{outside['id']}/reblog")
        boosts[booster.id] = answer.json()["id"]
    quiet_post = await post_status(client, quiet, "quiet's own post")
    await _post(client, quiet, f"statuses/{inside['id']}/reblog")
    await _post(client, other, f"statuses/{inside['id']}/reblog")

    home = (await _get(client, viewer, "timelines/home")).json()
    shown = [(s["id"], s["reblog"]["id"] if s["reblog"] else None) for s in home]
    # The stranger's post shows once, as the newest boost of it by someone whose boosts
    # the viewer wants (quiet's is hidden); the friend's post shows itself, not its boost.
    assert shown == [(quiet_post["id"], None), (boosts[other.id], outside["id"]),
                     (inside["id"], None)], shown
    # Paging past a page whose last rows were collapsed moves on from the page's keys.
    first = await _get(client, viewer, "timelines/home?limit=2")
    rest = await _get(client, viewer, _links(first)["next"].split("/api/v1/", 1)[1])
    ids_seen = [s["id"] for s in first.json() + rest.json()]
    assert len(ids_seen) == len(set(ids_seen))
    # Following again with reblogs on brings quiet's boosts back.
    await client.post(f"/api/v1/accounts/{quiet.id}/follow", headers=viewer.headers,
                      data={"reblogs": "true"})
    home = (await _get(client, viewer, "timelines/home")).json()
    assert home[1]["id"] == boosts[quiet.id]


async def test_deleting_statuses_cleans_up_boosts(
        client: httpx.AsyncClient, app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    author, booster, fan = await _users(client, 3)
    first = await post_status(client, author, "short-lived")
    second = await post_status(client, author, "kept")
    boost = (await _post(client, booster, f"statuses/{first['id']}/reblog")).json()
    await _post(client, booster, f"statuses/{second['id']}/reblog")
    await _post(client, fan, f"statuses/{first['id']}/favourite")
    await _post(client, fan, f"statuses/{first['id']}/bookmark")
    count = (await _get(client, booster, "accounts/verify_credentials")).json()
    assert count["statuses_count"] == 2
    reply = await client.delete(f"/api/v1/statuses/{first['id']}", headers=author.headers)
    assert reply.status_code == 200, reply.text
    assert (await _get(client, booster, f"statuses/{boost['id']}")).status_code == 404
    count = (await _get(client, booster, "accounts/verify_credentials")).json()
    assert count["statuses_count"] == 1
    assert (await _get(client, fan, "favourites")).json() == []
    assert (await _get(client, fan, "bookmarks")).json() == []
    assert await _count(roost, select(func.count()).select_from(favourites).where(
        favourites.c.status_id == int(first["id"]))) == 0
    # Deleting one's boost through DELETE /statuses/:id is an unreblog.
    boost_of_second = (await _get(client, booster, f"accounts/{booster.id}/statuses")).json()[0]
    reply = await client.delete(f"/api/v1/statuses/{boost_of_second['id']}",
                                headers=booster.headers)
    assert reply.status_code == 200, reply.text
    kept = await _status(client, author, second["id"])
    assert kept["reblogs_count"] == 0
    assert await _notifications(roost, author, "reblog") == 0
    count = (await _get(client, booster, "accounts/verify_credentials")).json()
    assert count["statuses_count"] == 0


async def test_favourites_page_is_constant(client: httpx.AsyncClient,
                                           count_statements: StatementCounter) -> None:
    author, reader = await _users(client, 2)
    for n in range(20):
        status = await post_status(client, author, f"post {n}")
        await _post(client, reader, f"statuses/{status['id']}/favourite")
        await _post(client, reader, f"statuses/{status['id']}/bookmark")
    for listing in ("favourites", "bookmarks"):
        counts = []
        for limit in (2, 20):
            count_statements.statements.clear()
            reply = await _get(client, reader, f"{listing}?limit={limit}")
            assert len(reply.json()) == limit
            counts.append(count_statements.count)
        assert counts[0] == counts[1], count_statements.report()
        # token, page rows, then hydration; + BEGINs on SQLite
        assert counts[1] <= 10, count_statements.report()
    counts = []
    fans = await _users(client, 4)
    target = status["id"]
    for fan in fans:
        await _post(client, fan, f"statuses/{target}/favourite")
    for limit in (1, 4):
        count_statements.statements.clear()
        reply = await _get(client, reader, f"statuses/{target}/favourited_by?limit={limit}")
        assert len(reply.json()) == limit
        counts.append(count_statements.count)
    assert counts[0] == counts[1], count_statements.report()
