"""The privacy guard: random small networks, every viewer, every read endpoint.

Hypothesis builds networks of a few accounts through the real API (posts of every
visibility, replies, mentions, hashtags, follows, locking and unlocking, follow requests,
blocks, mutes, boosts, likes, bookmarks). Then, for every viewer (and nobody), every
read endpoint is called, and every status found anywhere in any answer (nested
boosts, thread context, notifications included) must be one that viewer may see.

The oracle is independent of the SQL in statuses/visibility.py: it reads the raw
tables and applies the rules of docs/privacy.md in plain Python. New read endpoints
join by being added to `read_urls`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from roost.accounts.operations import NewAccount, create_account
from roost.context import Roost
from roost.db import tables
from roost.oauth.operations import issue_token, register_app
from roost.oauth.scopes import parse_scopes
from roost.security.passwords import hash_password
from roost.statuses.visibility import VISIBILITY_NAMES

pytestmark = pytest.mark.asyncio(loop_scope="session")

ACCOUNTS = 4
VISIBILITIES = ["public", "unlisted", "private", "direct"]
TAGS = ["roostprivacy", "roostother"]

Action = tuple[Any, ...]

account_index = st.integers(min_value=0, max_value=ACCOUNTS - 1)
post_index = st.integers(min_value=0, max_value=40)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("post"), account_index, st.sampled_from(VISIBILITIES),
                  st.none() | post_index, st.none() | account_index, st.booleans()),
        st.tuples(st.just("follow"), account_index, account_index),
        st.tuples(st.just("unfollow"), account_index, account_index),
        st.tuples(st.just("lock"), account_index),
        st.tuples(st.just("unlock"), account_index),
        st.tuples(st.just("authorize"), account_index, account_index),
        st.tuples(st.just("block"), account_index, account_index),
        st.tuples(st.just("unblock"), account_index, account_index),
        st.tuples(st.just("mute"), account_index, account_index),
        st.tuples(st.just("boost"), account_index, post_index,
                  st.sampled_from(["public", "unlisted", "private"])),
        st.tuples(st.just("like"), account_index, post_index),
        st.tuples(st.just("bookmark"), account_index, post_index),
    ),
    min_size=4,
    max_size=30,
)


@dataclass
class Member:
    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    """The raw state the oracle reasons from, read straight from the tables."""

    statuses: dict[int, Any] = field(default_factory=dict)
    follows: set[tuple[int, int]] = field(default_factory=set)
    blocks: set[tuple[int, int]] = field(default_factory=set)
    mutes: set[tuple[int, int]] = field(default_factory=set)
    mentions: set[tuple[int, int]] = field(default_factory=set)

    def blocked(self, a: int, b: int) -> bool:
        return (a, b) in self.blocks or (b, a) in self.blocks

    def can_see(self, viewer: int | None, status_id: int) -> bool:
        status = self.statuses[status_id]
        visibility = VISIBILITY_NAMES[status.visibility]
        author = status.account_id
        if viewer is None:
            own_ok = visibility in ("public", "unlisted")
        elif self.blocked(viewer, author):
            own_ok = False
        elif viewer == author or visibility in ("public", "unlisted"):
            own_ok = True
        elif visibility == "private":
            own_ok = (viewer, author) in self.follows or (status_id, viewer) in self.mentions
        else:
            own_ok = (status_id, viewer) in self.mentions
        if status.reblog_of_id is not None:
            original = status.reblog_of_id
            return own_ok and original in self.statuses and self.can_see(viewer, original)
        return own_ok


_password_hash: str | None = None


async def _members(roost: Roost) -> list[Member]:
    """Accounts made directly (hashing one password once), tokens issued for them."""
    global _password_hash
    if _password_hash is None:
        _password_hash = await hash_password("privacy property")
    members = []
    scopes = parse_scopes("read write follow")
    async with roost.db.write() as conn:
        app, _secret = await register_app(conn, roost.ids, name="privacy", redirect_uris=[
            "urn:ietf:wg:oauth:2.0:oob"], scopes=scopes, website=None)
        for _ in range(ACCOUNTS):
            name = f"p_{secrets.token_hex(5)}"
            account_id = await create_account(conn, roost.ids, NewAccount(
                username=name, email=f"{name}@example.test", password_hash=_password_hash))
            token, _row = await issue_token(conn, roost.ids, application_id=app.id,
                                            account_id=account_id, scopes=scopes)
            members.append(Member(account_id, name, token))
    return members


async def _apply(http: httpx.AsyncClient, members: list[Member], steps: list[Action]
                 ) -> list[int]:
    """Runs the actions through the API; refusals (4xx) are part of the game."""
    posted: list[int] = []

    def pick(index: int) -> int | None:
        return posted[index % len(posted)] if posted else None

    for step in steps:
        kind, actor = step[0], members[step[1]]
        if kind == "post":
            _, _, visibility, reply_to, mention, tagged = step
            text = "a post"
            if mention is not None:
                text += f" @{members[mention].username}"
            if tagged:
                text += f" #{TAGS[len(posted) % 2]}"
            data: dict[str, str] = {"status": text, "visibility": visibility}
            target = pick(reply_to) if reply_to is not None else None
            if target is not None:
                data["in_reply_to_id"] = str(target)
            reply = await http.post("/api/v1/statuses", headers=actor.headers, data=data)
            if reply.status_code == 200:
                posted.append(int(reply.json()["id"]))
        elif kind in ("follow", "unfollow", "block", "unblock", "mute"):
            other = members[step[2]]
            await http.post(f"/api/v1/accounts/{other.id}/{kind}", headers=actor.headers)
        elif kind in ("lock", "unlock"):
            # Unlocking also lets every pending request in (follow_requests.authorize_all).
            await http.patch("/api/v1/accounts/update_credentials", headers=actor.headers,
                             data={"locked": "true" if kind == "lock" else "false"})
        elif kind == "authorize":
            other = members[step[2]]
            await http.post(f"/api/v1/follow_requests/{other.id}/authorize",
                            headers=actor.headers)
        elif kind in ("boost", "like", "bookmark"):
            target = pick(step[2])
            if target is None:
                continue
            verb = {"boost": "reblog", "like": "favourite", "bookmark": "bookmark"}[kind]
            data = {"visibility": step[3]} if kind == "boost" else {}
            reply = await http.post(f"/api/v1/statuses/{target}/{verb}",
                                    headers=actor.headers, data=data)
            if kind == "boost" and reply.status_code == 200:
                posted.append(int(reply.json()["id"]))
    return posted


async def _world(roost: Roost, members: list[Member]) -> World:
    ids = [m.id for m in members]
    world = World()
    async with roost.db.read() as conn:
        for row in (await conn.execute(select(tables.statuses).where(
                tables.statuses.c.account_id.in_(ids)))).all():
            world.statuses[row.id] = row
        for table, pairs in ((tables.follows, world.follows), (tables.blocks, world.blocks),
                             (tables.mutes, world.mutes)):
            for row in (await conn.execute(select(table).where(
                    table.c.account_id.in_(ids)))).all():
                pairs.add((row.account_id, row.target_account_id))
        for row in (await conn.execute(select(tables.mentions).where(
                tables.mentions.c.status_id.in_(list(world.statuses))))).all():
            world.mentions.add((row.status_id, row.account_id))
    return world


def read_urls(viewer: Member | None, members: list[Member], world: World) -> Iterator[str]:
    for status_id in world.statuses:
        yield f"/api/v1/statuses/{status_id}"
        yield f"/api/v1/statuses/{status_id}/context"
        yield f"/api/v1/statuses/{status_id}/favourited_by"
        yield f"/api/v1/statuses/{status_id}/reblogged_by"
    yield "/api/v1/statuses?" + "&".join(f"id[]={i}" for i in list(world.statuses)[:40])
    for member in members:
        yield f"/api/v1/accounts/{member.id}/statuses?limit=40"
    yield "/api/v1/timelines/public?limit=40"
    yield "/api/v1/timelines/public?local=true&limit=40"
    for tag in TAGS:
        yield f"/api/v1/timelines/tag/{tag}?limit=40"
    # Search: every generated status says "a post"; each member by exact username.
    yield "/api/v2/search?q=post&limit=40"
    yield "/api/v2/search?q=post&type=statuses&limit=40"
    for member in members:
        yield f"/api/v2/search?q={member.username}&type=accounts&limit=40"
        if viewer is not None:
            yield f"/api/v1/accounts/search?q={member.username}&limit=80"
    if viewer is not None:
        yield "/api/v1/timelines/home?limit=40"
        yield "/api/v1/notifications?limit=80"
        yield "/api/v1/favourites?limit=40"
        yield "/api/v1/bookmarks?limit=40"


MUTE_FILTERED = ("/api/v1/timelines/", "/api/v1/notifications", "/api/v2/search")
SEARCHES = ("/api/v2/search", "/api/v1/accounts/search")


def _statuses_in(body: Any) -> Iterator[dict[str, Any]]:
    """Every Status entity anywhere in a JSON answer (boosts, context, notifications)."""
    if isinstance(body, list):
        for item in body:
            yield from _statuses_in(item)
    elif isinstance(body, dict):
        if "visibility" in body and "content" in body and "account" in body:
            yield body
        for value in body.values():
            yield from _statuses_in(value)


async def _check_viewer(http: httpx.AsyncClient, viewer: Member | None,
                        members: list[Member], world: World) -> None:
    viewer_id = viewer.id if viewer is not None else None
    headers = viewer.headers if viewer is not None else {}
    for url in read_urls(viewer, members, world):
        reply = await http.get(url, headers=headers)
        assert reply.status_code < 500, f"{url}: {reply.status_code} {reply.text}"
        if reply.status_code != 200:
            continue
        if viewer_id is not None and url.startswith(SEARCHES):
            body = reply.json()
            for account in body["accounts"] if isinstance(body, dict) else body:
                assert not world.blocked(viewer_id, int(account["id"])), (
                    f"viewer {viewer_id} found account {account['id']} across a block at {url}")
        for status in _statuses_in(reply.json()):
            status_id = int(status["id"])
            if status_id not in world.statuses:
                continue  # another test's status: not this example's to judge
            assert world.can_see(viewer_id, status_id), (
                f"viewer {viewer_id} was shown status {status_id} at {url}")
            author = int(status["account"]["id"])
            if viewer_id is not None and url.startswith(MUTE_FILTERED):
                assert (viewer_id, author) not in world.mutes, (
                    f"viewer {viewer_id} was shown muted account {author} at {url}")


async def _check_single_statuses(http: httpx.AsyncClient, viewer: Member | None,
                                 world: World) -> None:
    """A single status answers 200 exactly when it may be seen, 404 otherwise."""
    headers = viewer.headers if viewer is not None else {}
    viewer_id = viewer.id if viewer is not None else None
    for status_id in world.statuses:
        reply = await http.get(f"/api/v1/statuses/{status_id}", headers=headers)
        expected = 200 if world.can_see(viewer_id, status_id) else 404
        assert reply.status_code == expected, (viewer_id, status_id, reply.text)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=actions)
@example(steps=[  # the classic leaks, always tried: followers-only, direct, blocks, boosts
    ("post", 0, "private", None, None, False), ("follow", 1, 0),
    ("post", 0, "private", None, None, False), ("post", 0, "direct", None, 2, False),
    ("block", 3, 0), ("post", 0, "public", None, None, True), ("boost", 1, 3, "public"),
    ("boost", 3, 0, "public"), ("mute", 2, 1), ("like", 2, 1), ("bookmark", 3, 0),
    ("post", 2, "private", 1, 0, False),
])
async def test_nothing_invisible_is_ever_shown(client: httpx.AsyncClient,
                                               app_roost: tuple[Any, Roost],
                                               steps: list[Action]) -> None:
    _app, roost = app_roost
    members = await _members(roost)
    await _apply(client, members, steps)
    world = await _world(roost, members)
    for viewer in [None, *members]:
        await _check_viewer(client, viewer, members, world)
        await _check_single_statuses(client, viewer, world)
