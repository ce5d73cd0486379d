"""Blocks, mutes, follow requests and follow notifications through the HTTP API, on
both databases: what each one writes, what it hides and from whom, exact counters, and
bad input that answers 4xx and writes nothing (docs/privacy.md)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, update

from roost.clock import utcnow
from roost.context import Roost
from roost.db.tables import (
    VISIBILITY_PUBLIC,
    account_stats,
    blocks,
    follow_requests,
    follows,
    mutes,
    notifications,
    status_stats,
    statuses,
)
from roost.ids import shard_of
from roost.paging import Page
from roost.social import blocks as social_blocks
from roost.social import follow_requests as social_requests
from roost.social import operations as social_ops
from roost.timelines.home import home_query
from tests.conftest import StatementCounter
from tests.support.api import User, follow, post_status, register_app, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="session")


# --- helpers ----------------------------------------------------------------------------


async def _people(client: httpx.AsyncClient, n: int) -> list[User]:
    app = await register_app(client)
    return [await sign_up(client, app) for _ in range(n)]


async def _me(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    reply = await client.get("/api/v1/accounts/verify_credentials", headers=user.headers)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def _counts(client: httpx.AsyncClient, user: User) -> tuple[int, int]:
    me = await _me(client, user)
    return me["followers_count"], me["following_count"]


async def _rel(client: httpx.AsyncClient, user: User, other: User) -> dict[str, Any]:
    reply = await client.get("/api/v1/accounts/relationships", params={"id[]": other.id},
                             headers=user.headers)
    assert reply.status_code == 200, reply.text
    (rel,) = reply.json()
    assert rel["id"] == other.id
    result: dict[str, Any] = rel
    return result


async def _post(client: httpx.AsyncClient, user: User, path: str, **data: Any) -> httpx.Response:
    return await client.post(path, headers=user.headers, data=data)


async def _home_ids(client: httpx.AsyncClient, user: User) -> list[str]:
    reply = await client.get("/api/v1/timelines/home", params={"limit": 40},
                             headers=user.headers)
    assert reply.status_code == 200, reply.text
    return [status["id"] for status in reply.json()]


async def _notification_types(roost: Roost, recipient: User, sender: User) -> list[str]:
    async with roost.db.read() as conn:
        rows = await conn.execute(
            select(notifications.c.type).where(
                notifications.c.account_id == int(recipient.id),
                notifications.c.from_account_id == int(sender.id),
            ).order_by(notifications.c.id)
        )
        return list(rows.scalars())


async def _boost(roost: Roost, booster: User, status_id: str) -> str:
    """A boost row as the posting code writes it (the boost endpoint is another module's)."""
    boost_id = roost.ids.next_id(shard_of(int(booster.id)))
    async with roost.db.write() as conn:
        await conn.execute(insert(statuses).values(
            id=boost_id, account_id=int(booster.id), reblog_of_id=int(status_id),
            visibility=VISIBILITY_PUBLIC, text="", content_html=""))
        await conn.execute(insert(status_stats).values(status_id=boost_id))
    return str(boost_id)


async def _rows(roost: Roost, table: Any, *where: Any) -> int:
    async with roost.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def _lock(client: httpx.AsyncClient, user: User) -> None:
    reply = await client.patch("/api/v1/accounts/update_credentials", headers=user.headers,
                               data={"locked": "true"})
    assert reply.status_code == 200 and reply.json()["locked"] is True, reply.text


# --- follows notify ---------------------------------------------------------------------


async def test_follow_notifies_and_unfollow_withdraws(client: httpx.AsyncClient,
                                                      app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    fan, star = await _people(client, 2)
    await follow(client, fan, star)
    assert await _notification_types(roost, star, fan) == ["follow"]
    async with roost.db.read() as conn:
        follow_id = await conn.scalar(select(follows.c.id).where(
            follows.c.account_id == int(fan.id), follows.c.target_account_id == int(star.id)))
        activity = await conn.scalar(select(notifications.c.activity_id).where(
            notifications.c.account_id == int(star.id)))
    assert activity == follow_id
    await follow(client, fan, star)  # following again notifies nothing new
    assert await _notification_types(roost, star, fan) == ["follow"]
    assert (await _post(client, fan, f"/api/v1/accounts/{star.id}/unfollow")).status_code == 200
    assert await _notification_types(roost, star, fan) == []


# --- blocks -----------------------------------------------------------------------------


async def test_block_severs_follows_and_hides_both_ways(
        client: httpx.AsyncClient, app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    alice, bob, carol = await _people(client, 3)
    await follow(client, alice, bob)
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    await follow(client, alice, carol)
    assert await _counts(client, alice) == (2, 2)
    assert await _counts(client, bob) == (1, 1)
    alices = await post_status(client, alice, "alice speaks")
    bobs = await post_status(client, bob, "bob speaks")
    bobs_reply = await post_status(client, bob, "bob answers", in_reply_to_id=alices["id"])
    assert bobs["id"] in await _home_ids(client, alice)

    reply = await _post(client, alice, f"/api/v1/accounts/{bob.id}/block")
    assert reply.status_code == 200, reply.text
    rel = reply.json()
    assert rel["blocking"] is True and rel["following"] is False
    assert rel["followed_by"] is False and rel["blocked_by"] is False
    back = await _rel(client, bob, alice)
    assert back["blocked_by"] is True and back["blocking"] is False
    assert back["following"] is False and back["followed_by"] is False
    # Exactly the two severed follows left both accounts' counters; carol's stayed.
    assert await _counts(client, alice) == (1, 1)
    assert await _counts(client, bob) == (0, 0)
    assert await _counts(client, carol) == (1, 1)
    assert await _rows(roost, follows, follows.c.account_id.in_([int(alice.id), int(bob.id)]),
                       follows.c.target_account_id.in_([int(alice.id), int(bob.id)])) == 0
    assert await _notification_types(roost, alice, bob) == []
    assert await _notification_types(roost, bob, alice) == []
    # Blocking again is idempotent and moves nothing.
    assert (await _post(client, alice, f"/api/v1/accounts/{bob.id}/block")).status_code == 200
    assert await _counts(client, alice) == (1, 1)
    assert await _rows(roost, blocks, blocks.c.account_id == int(alice.id)) == 1

    # Neither sees the other's statuses: by id, at home, on the profile, in threads.
    for viewer, hidden in ((alice, bobs), (bob, alices), (alice, bobs_reply)):
        got = await client.get(f"/api/v1/statuses/{hidden['id']}", headers=viewer.headers)
        assert got.status_code == 404
    assert bobs["id"] not in await _home_ids(client, alice)
    for viewer, author in ((alice, bob), (bob, alice)):
        listed = await client.get(f"/api/v1/accounts/{author.id}/statuses",
                                  headers=viewer.headers)
        assert listed.status_code == 200 and listed.json() == []
    context = await client.get(f"/api/v1/statuses/{alices['id']}/context",
                               headers=alice.headers)
    assert context.status_code == 200
    assert bobs_reply["id"] not in [s["id"] for s in context.json()["descendants"]]
    carol_sees = await client.get(f"/api/v1/statuses/{alices['id']}/context",
                                  headers=carol.headers)
    assert bobs_reply["id"] in [s["id"] for s in carol_sees.json()["descendants"]]

    # Nobody can follow across the block, in either direction.
    for actor, target in ((alice, bob), (bob, alice)):
        refused = await _post(client, actor, f"/api/v1/accounts/{target.id}/follow")
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"error": "This action is not allowed"}
    assert await _counts(client, bob) == (0, 0)

    # Unblocking restores visibility, not the follows.
    reply = await _post(client, alice, f"/api/v1/accounts/{bob.id}/unblock")
    assert reply.status_code == 200 and reply.json()["blocking"] is False
    assert reply.json()["following"] is False
    got = await client.get(f"/api/v1/statuses/{bobs['id']}", headers=alice.headers)
    assert got.status_code == 200
    assert await _counts(client, alice) == (1, 1)
    await follow(client, bob, alice)
    assert await _counts(client, alice) == (2, 1)


async def test_block_drops_follow_requests_both_ways(client: httpx.AsyncClient,
                                                     app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    locked, other = await _people(client, 2)
    await _lock(client, locked)
    await _lock(client, other)
    for actor, target in ((locked, other), (other, locked)):
        rel = (await _post(client, actor, f"/api/v1/accounts/{target.id}/follow")).json()
        assert rel["requested"] is True and rel["following"] is False
    assert (await _rel(client, locked, other))["requested_by"] is True
    assert await _notification_types(roost, locked, other) == ["follow_request"]
    reply = await _post(client, other, f"/api/v1/accounts/{locked.id}/block")
    assert reply.status_code == 200
    rel = reply.json()
    assert rel["requested"] is False and rel["requested_by"] is False and rel["blocking"]
    pair = [int(locked.id), int(other.id)]
    assert await _rows(roost, follow_requests, follow_requests.c.account_id.in_(pair)) == 0
    assert await _notification_types(roost, locked, other) == []
    assert await _notification_types(roost, other, locked) == []
    assert (await _me(client, locked))["source"]["follow_requests_count"] == 0


async def test_block_and_mute_bad_input_write_nothing(client: httpx.AsyncClient,
                                                      app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    me, other = await _people(client, 2)
    mine = (blocks.c.account_id == int(me.id),)
    for action in ("block", "unblock", "mute", "unmute"):
        for missing in ("999999999999", "not-an-id", "-1"):
            reply = await _post(client, me, f"/api/v1/accounts/{missing}/{action}")
            assert reply.status_code == 404, (action, missing, reply.text)
    for action in ("block", "mute"):
        reply = await _post(client, me, f"/api/v1/accounts/{me.id}/{action}")
        assert reply.status_code == 403, reply.text
        assert "error" in reply.json()
    for duration in ("-1", "abc", "1.5", str(10**12)):
        reply = await _post(client, me, f"/api/v1/accounts/{other.id}/mute", duration=duration)
        assert reply.status_code == 422, (duration, reply.text)
    reply = await _post(client, me, f"/api/v1/accounts/{other.id}/mute", notifications="maybe")
    assert reply.status_code == 422
    assert await _rows(roost, blocks, *mine) == 0
    assert await _rows(roost, mutes, mutes.c.account_id == int(me.id)) == 0
    for path in ("/api/v1/follow_requests/999999999999/authorize",
                 f"/api/v1/follow_requests/{other.id}/authorize",
                 f"/api/v1/follow_requests/{other.id}/reject", "/api/v1/follow_requests/x/reject"):
        assert (await _post(client, me, path)).status_code == 404, path
    assert await _counts(client, me) == (0, 0)
    # Scopes: write:blocks allows blocking but not muting; without it, no blocking.
    app = await register_app(client, scopes="read write:accounts write:blocks")
    limited = await sign_up(client, app)
    assert (await _post(client, limited, f"/api/v1/accounts/{other.id}/block")).status_code \
        == 200
    assert (await _post(client, limited, f"/api/v1/accounts/{other.id}/mute")).status_code \
        == 403
    read_only = await sign_up(client, await register_app(client, scopes="read write:accounts"))
    assert (await _post(client, read_only, f"/api/v1/accounts/{other.id}/block")).status_code \
        == 403
    assert (await client.get("/api/v1/blocks")).status_code == 401


# --- mutes ------------------------------------------------------------------------------


async def test_mute_hides_posts_and_boosts_from_home_only(client: httpx.AsyncClient,
                                                          app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    me, loud, quiet_loud, friend, stranger = await _people(client, 5)
    await follow(client, me, loud)
    await follow(client, me, friend)
    louds = await post_status(client, loud, "very loud")
    strangers = await post_status(client, stranger, "a stranger's post")
    boost_by_loud = await _boost(roost, loud, strangers["id"])
    # quiet_loud is not followed: their post reaches home only through friend's boost
    # (a boost whose original is on the page is collapsed into it by timelines/home.py).
    quiet_louds = await post_status(client, quiet_loud, "loud, but elsewhere")
    boost_by_friend = await _boost(roost, friend, quiet_louds["id"])
    friends = await post_status(client, friend, "a friend's own post")
    home = await _home_ids(client, me)
    assert {louds["id"], boost_by_loud, boost_by_friend, friends["id"]} <= set(home)

    for muted in (loud, quiet_loud):
        reply = await _post(client, me, f"/api/v1/accounts/{muted.id}/mute")
        assert reply.status_code == 200, reply.text
        rel = reply.json()
        assert rel["muting"] is True and rel["muting_notifications"] is True
    assert (await _rel(client, me, loud))["following"] is True  # the follow stays
    assert (await _rel(client, loud, me))["muting"] is False  # nor is it visible to them
    home = await _home_ids(client, me)
    assert louds["id"] not in home and boost_by_loud not in home
    assert boost_by_friend not in home
    assert friends["id"] in home
    if not roost.db.is_sqlite:
        # The LATERAL form and the IN form apply the mute filters alike.
        async with roost.db.read() as conn:
            forms = [
                list((await conn.execute(home_query(int(me.id), Page(limit=40), dialect)))
                     .scalars())
                for dialect in ("postgresql", "sqlite")
            ]
        assert forms[0] == forms[1] and int(louds["id"]) not in forms[0]
    await _post(client, me, f"/api/v1/accounts/{quiet_loud.id}/unmute")
    assert boost_by_friend in await _home_ids(client, me)
    # Not privacy: still reachable by id, and in the muted account's own listing.
    got = await client.get(f"/api/v1/statuses/{louds['id']}", headers=me.headers)
    assert got.status_code == 200
    listed = await client.get(f"/api/v1/accounts/{loud.id}/statuses", headers=me.headers)
    assert louds["id"] in [s["id"] for s in listed.json()]

    # notifications=false keeps the mute and only lets notifications through.
    rel = (await _post(client, me, f"/api/v1/accounts/{loud.id}/mute",
                       notifications="false")).json()
    assert rel["muting"] is True and rel["muting_notifications"] is False
    assert await _rows(roost, mutes, mutes.c.account_id == int(me.id)) == 1

    # A mute that has expired counts as none, everywhere.
    async with roost.db.write() as conn:
        await conn.execute(update(mutes).where(mutes.c.account_id == int(me.id))
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await _rel(client, me, loud))["muting"] is False
    assert louds["id"] in await _home_ids(client, me)
    listed_mutes = await client.get("/api/v1/mutes", headers=me.headers)
    assert listed_mutes.json() == []

    # Muted again with a duration: hidden, and the expiry is shown in the mutes list.
    rel = (await _post(client, me, f"/api/v1/accounts/{loud.id}/mute", duration="3600")).json()
    assert rel["muting"] is True
    assert louds["id"] not in await _home_ids(client, me)
    (entry,) = (await client.get("/api/v1/mutes", headers=me.headers)).json()
    assert entry["id"] == loud.id and entry["mute_expires_at"] is not None
    reply = await _post(client, me, f"/api/v1/accounts/{loud.id}/unmute")
    assert reply.status_code == 200 and reply.json()["muting"] is False
    assert louds["id"] in await _home_ids(client, me)
    assert await _rows(roost, mutes, mutes.c.account_id == int(me.id)) == 0


# --- lists ------------------------------------------------------------------------------


async def _walk(client: httpx.AsyncClient, user: User, path: str, limit: int) -> list[str]:
    seen: list[str] = []
    reply = await client.get(path, params={"limit": limit}, headers=user.headers)
    while True:
        assert reply.status_code == 200, reply.text
        page = reply.json()
        if not page:
            assert "link" not in reply.headers
            return seen
        assert len(page) <= limit
        seen += [account["id"] for account in page]
        next_url = reply.links["next"]["url"]
        reply = await client.get(next_url, headers=user.headers)


async def test_lists_page_by_row_with_link(client: httpx.AsyncClient) -> None:
    me, *others = await _people(client, 6)
    for other in others:
        assert (await _post(client, me, f"/api/v1/accounts/{other.id}/block")).status_code \
            == 200
    # Mute in the opposite order: each list follows its own rows' order, newest first.
    for other in reversed(others):
        assert (await _post(client, me, f"/api/v1/accounts/{other.id}/mute")).status_code \
            == 200
    newest_first = [other.id for other in reversed(others)]
    assert await _walk(client, me, "/api/v1/blocks", 2) == newest_first
    assert await _walk(client, me, "/api/v1/mutes", 2) == list(reversed(newest_first))
    whole = await client.get("/api/v1/blocks", params={"limit": 500}, headers=me.headers)
    assert len(whole.json()) == 5
    prev = await client.get(whole.links["prev"]["url"], headers=me.headers)
    assert prev.status_code == 200 and prev.json() == []
    bad = await client.get("/api/v1/mutes", params={"max_id": "x"}, headers=me.headers)
    assert bad.status_code == 422


async def test_lists_and_relationships_cost_constant_statements(
        client: httpx.AsyncClient, count_statements: StatementCounter) -> None:
    me, *others = await _people(client, 9)
    for other in others:
        await _post(client, me, f"/api/v1/accounts/{other.id}/block")
        await _post(client, me, f"/api/v1/accounts/{other.id}/mute")
        await _post(client, other, f"/api/v1/accounts/{me.id}/follow")
    costs = {}
    for path in ("/api/v1/blocks", "/api/v1/mutes"):
        for limit in (2, 8):
            count_statements.statements.clear()
            reply = await client.get(path, params={"limit": limit}, headers=me.headers)
            assert len(reply.json()) == limit
            costs[path, limit] = count_statements.count
        assert costs[path, 2] == costs[path, 8], count_statements.report()
    for n in (1, 8):
        count_statements.statements.clear()
        reply = await client.get("/api/v1/accounts/relationships",
                                 params=[("id[]", o.id) for o in others[:n]],
                                 headers=me.headers)
        assert [r["blocking"] and r["muting"] for r in reply.json()] == [True] * n
        costs["rel", n] = count_statements.count
    assert costs["rel", 1] == costs["rel", 8], count_statements.report()


# --- locked accounts --------------------------------------------------------------------


async def test_follow_requests_authorize_reject_cancel(client: httpx.AsyncClient,
                                                       app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    star, first, second, third = await _people(client, 4)
    await _lock(client, star)
    for fan in (first, second, third):
        rel = (await _post(client, fan, f"/api/v1/accounts/{star.id}/follow",
                           reblogs="false")).json()
        assert rel["requested"] is True and rel["following"] is False
        assert rel["showing_reblogs"] is False
    assert await _counts(client, star) == (0, 0)
    assert (await _me(client, star))["source"]["follow_requests_count"] == 3
    assert (await _rel(client, star, first))["requested_by"] is True
    assert await _notification_types(roost, star, first) == ["follow_request"]
    listed = await client.get("/api/v1/follow_requests", headers=star.headers)
    assert [a["id"] for a in listed.json()] == [third.id, second.id, first.id]
    assert await _walk(client, star, "/api/v1/follow_requests", 2) == [
        third.id, second.id, first.id]
    # Asking again changes nothing but the options.
    await _post(client, first, f"/api/v1/accounts/{star.id}/follow")
    assert await _rows(roost, follow_requests,
                       follow_requests.c.target_account_id == int(star.id)) == 3

    reply = await _post(client, star, f"/api/v1/follow_requests/{first.id}/authorize")
    assert reply.status_code == 200, reply.text
    assert reply.json()["followed_by"] is True and reply.json()["requested_by"] is False
    assert await _counts(client, star) == (1, 0)
    assert await _counts(client, first) == (0, 1)
    assert await _notification_types(roost, star, first) == ["follow"]
    mine = await _rel(client, first, star)
    assert mine["following"] is True and mine["requested"] is False
    assert mine["showing_reblogs"] is False  # the request's options carried over

    reply = await _post(client, star, f"/api/v1/follow_requests/{second.id}/reject")
    assert reply.status_code == 200 and reply.json()["requested_by"] is False
    assert await _notification_types(roost, star, second) == []
    assert await _counts(client, star) == (1, 0)
    again = await _post(client, star, f"/api/v1/follow_requests/{second.id}/reject")
    assert again.status_code == 404

    # Unfollowing a pending request cancels it.
    rel = (await _post(client, third, f"/api/v1/accounts/{star.id}/unfollow")).json()
    assert rel["requested"] is False
    assert await _notification_types(roost, star, third) == []
    assert (await _me(client, star))["source"]["follow_requests_count"] == 0
    assert (await client.get("/api/v1/follow_requests", headers=star.headers)).json() == []
    # Already following a locked account: following again stays a follow.
    rel = (await _post(client, first, f"/api/v1/accounts/{star.id}/follow")).json()
    assert rel["following"] is True and rel["requested"] is False


async def test_unlocking_lets_everyone_waiting_in(client: httpx.AsyncClient,
                                                  app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    star, first, second = await _people(client, 3)
    await _lock(client, star)
    for fan in (first, second):
        await _post(client, fan, f"/api/v1/accounts/{star.id}/follow", reblogs="false")
    reply = await client.patch("/api/v1/accounts/update_credentials", headers=star.headers,
                               data={"locked": "false"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["locked"] is False
    assert reply.json()["source"]["follow_requests_count"] == 0
    assert reply.json()["followers_count"] == 2
    assert (await client.get("/api/v1/follow_requests", headers=star.headers)).json() == []
    for fan in (first, second):
        rel = await _rel(client, fan, star)
        assert rel["following"] is True and rel["requested"] is False
        assert rel["showing_reblogs"] is False  # the request's options carried over
        assert await _notification_types(roost, star, fan) == ["follow"]
        assert await _counts(client, fan) == (0, 1)
    # Saving the profile unlocked again changes nothing.
    again = await client.patch("/api/v1/accounts/update_credentials", headers=star.headers,
                               data={"locked": "false"})
    assert again.json()["followers_count"] == 2


# --- races --------------------------------------------------------------------------------


async def test_no_follow_survives_a_racing_block(client: httpx.AsyncClient,
                                                 app_roost: tuple[Any, Roost]) -> None:
    """A follow (or an authorization) and a block of the same pair, at once, many times:
    whichever wins, no follow is ever left across a block (social/pair_lock.py)."""
    _, roost = app_roost

    async def follow_now(follower: int, target: int) -> None:
        async with roost.db.write() as conn:
            await social_ops.follow(conn, roost.ids, follower, target)

    async def block_now(blocker: int, target: int) -> None:
        async with roost.db.write() as conn:
            await social_blocks.block(conn, roost.ids, blocker, target)

    async def authorize_now(target: int, requester: int) -> None:
        async with roost.db.write() as conn:
            await social_requests.authorize(conn, roost.ids, target, requester)

    pairs: list[tuple[int, int]] = []
    for _ in range(12):
        follower, target = await _people(client, 2)
        pairs.append((int(follower.id), int(target.id)))
        outcomes = await asyncio.gather(follow_now(int(follower.id), int(target.id)),
                                        block_now(int(target.id), int(follower.id)),
                                        return_exceptions=True)
        requester, locked = await _people(client, 2)
        await _lock(client, locked)
        await follow_now(int(requester.id), int(locked.id))
        pairs.append((int(requester.id), int(locked.id)))
        outcomes.extend(await asyncio.gather(authorize_now(int(locked.id), int(requester.id)),
                                         block_now(int(locked.id), int(requester.id)),
                                         return_exceptions=True))
        # The block always succeeds; a follow that lost is a 403, an authorization a 404.
        assert [getattr(o, "status", None) for o in outcomes if o is not None] in (
            [], [403], [404], [403, 404])
    for follower, target in pairs:
        assert await _rows(roost, blocks, blocks.c.account_id == target,
                           blocks.c.target_account_id == follower) == 1
        assert await _rows(roost, follows, follows.c.account_id == follower,
                           follows.c.target_account_id == target) == 0
        async with roost.db.read() as conn:
            stats = (await conn.execute(
                select(account_stats.c.followers_count)
                .where(account_stats.c.account_id == target))).scalar_one()
        assert stats == 0
