"""GET /api/v2/search and GET /api/v1/accounts/search, in-process on SQLite and
PostgreSQL: each kind of result, the prefix rules, paging, bad input, `following`,
`account_id`, who may find what (visibility, blocks, mutes, discoverability, pending
accounts), anonymous search, and a constant number of statements whatever the limit.

The client waits for the event log after every write, so the search index consumer
has run before each search."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from roost.accounts.operations import NewAccount, create_account
from roost.context import Roost
from tests.conftest import StatementCounter
from tests.support.api import App, User, follow, post_status, register_app, sign_up
from tests.support.costs import counting, flush_object_cache

pytestmark = pytest.mark.asyncio(loop_scope="session")


def word() -> str:
    """A word (and name prefix) no other test uses: letters and digits only."""
    return "s" + secrets.token_hex(5)


async def users(client: httpx.AsyncClient, *names: str) -> list[User]:
    app = await register_app(client)
    return [await sign_up(client, app, name) for name in names]


async def search(client: httpx.AsyncClient, viewer: User | None, q: str,
                 **params: str) -> dict[str, Any]:
    headers = viewer.headers if viewer is not None else {}
    reply = await client.get("/api/v2/search", params={"q": q, **params}, headers=headers)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    assert set(body) == {"accounts", "statuses", "hashtags"}
    return body


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


async def set_display_name(client: httpx.AsyncClient, user: User, name: str) -> None:
    reply = await client.patch("/api/v1/accounts/update_credentials", headers=user.headers,
                               data={"display_name": name})
    assert reply.status_code == 200, reply.text


async def act(client: httpx.AsyncClient, user: User, path: str, **data: str) -> None:
    reply = await client.post(path, headers=user.headers, data=data)
    assert reply.status_code == 200, reply.text


# --- each kind of result ------------------------------------------------------------------


async def test_each_kind_of_result(client: httpx.AsyncClient) -> None:
    prefix = word()
    [alice] = await users(client, f"{prefix}_alice")
    key, tag = word(), word()
    status = await post_status(client, alice, f"hello {key} #{tag}Cats")

    everything = await search(client, alice, key)
    assert ids(everything["statuses"]) == [status["id"]]
    assert everything["statuses"][0]["account"]["id"] == alice.id
    assert everything["accounts"] == [] and everything["hashtags"] == []

    accounts = await search(client, alice, prefix, type="accounts")
    assert ids(accounts["accounts"]) == [alice.id]
    assert accounts["accounts"][0]["acct"] == f"{prefix}_alice"
    assert accounts["statuses"] == [] and accounts["hashtags"] == []

    tags = await search(client, alice, f"#{tag}", type="hashtags")
    [found] = tags["hashtags"]
    assert found["name"] == f"{tag}Cats"
    assert found["url"].endswith(f"/tags/{tag}Cats")
    assert len(found["history"]) == 7
    assert found["history"][0]["uses"] == "1" and found["history"][0]["accounts"] == "1"
    # Without '#', in any case, as a prefix.
    assert ids((await search(client, None, tag.upper()))["hashtags"]) == [found["id"]]


async def test_hashtags_exact_name_first_then_most_recently_used(
    client: httpx.AsyncClient,
) -> None:
    [alice] = await users(client, word())
    tag = word()
    await post_status(client, alice, f"#{tag}")
    await post_status(client, alice, f"#{tag}older")
    await post_status(client, alice, f"#{tag}newer")
    names = [t["name"] for t in (await search(client, alice, tag, type="hashtags"))["hashtags"]]
    assert names == [tag, f"{tag}newer", f"{tag}older"]
    # "@" makes it an account lookup: no hashtags.
    assert (await search(client, alice, f"{tag}@x"))["hashtags"] == []


# --- accounts: what matches, in which order ----------------------------------------------


async def test_account_prefix_rules(client: httpx.AsyncClient) -> None:
    prefix = word()
    alice, bob = await users(client, f"{prefix}alice", f"{prefix}bob")
    await set_display_name(client, bob, f"Zebra {prefix} Crossing")
    await set_display_name(client, alice, f"Quokka{prefix}")

    def found(body: dict[str, Any]) -> set[str]:
        return set(ids(body["accounts"]))

    assert found(await search(client, None, prefix)) == {alice.id, bob.id}
    assert found(await search(client, None, prefix.upper())) == {alice.id, bob.id}
    assert found(await search(client, None, f"@{prefix}ali")) == {alice.id}
    assert found(await search(client, None, f"{prefix}alice@roost.test")) == {alice.id}
    assert found(await search(client, None, f"@{prefix}alice@ROOST.test")) == {alice.id}
    assert found(await search(client, None, f"@{prefix}alice@elsewhere.example")) == set()
    # The display name from its start, case-insensitively; never from its middle.
    assert found(await search(client, None, f"zebra {prefix}")) == {bob.id}
    assert found(await search(client, None, f"QUOKKA{prefix}")) == {alice.id}
    assert found(await search(client, None, "crossing " + prefix)) == set()
    assert found(await search(client, None, f"{prefix[1:]}")) - {alice.id, bob.id} == found(
        await search(client, None, f"{prefix[1:]}"))  # no infix match of these two
    # A hashtag query finds no accounts.
    assert found(await search(client, None, f"#{prefix}")) == set()


async def test_account_order_exact_then_followed_then_followers(
    client: httpx.AsyncClient,
) -> None:
    prefix = word()
    exact, popular, followed, plain, fan = await users(
        client, prefix, f"{prefix}_pop", f"{prefix}_fol", f"{prefix}_pla", word())
    await follow(client, fan, popular)
    await follow(client, plain, popular)
    await follow(client, fan, followed)
    order = ids((await search(client, fan, prefix, type="accounts"))["accounts"])
    # fan follows `followed` and `popular`; popular has more followers; then the rest.
    assert order == [exact.id, popular.id, followed.id, plain.id]
    # Anonymous: no "followed" tier, so by followers then username.
    anonymous = ids((await search(client, None, prefix, type="accounts"))["accounts"])
    assert anonymous == [exact.id, popular.id, followed.id, plain.id]
    fol_first = ids((await search(client, plain, prefix, type="accounts"))["accounts"])
    assert fol_first[:2] == [exact.id, popular.id]


async def test_following_keeps_followed_accounts(client: httpx.AsyncClient) -> None:
    prefix = word()
    viewer, one, two = await users(client, word(), f"{prefix}_one", f"{prefix}_two")
    await follow(client, viewer, two)
    body = await search(client, viewer, prefix, type="accounts", following="true")
    assert ids(body["accounts"]) == [two.id]
    listed = await client.get("/api/v1/accounts/search", headers=viewer.headers,
                              params={"q": prefix, "following": "true"})
    assert listed.status_code == 200, listed.text
    assert ids(listed.json()) == [two.id]
    everyone = await client.get("/api/v1/accounts/search", headers=viewer.headers,
                                params={"q": prefix})
    assert set(ids(everyone.json())) == {one.id, two.id}


async def test_blocked_and_pending_accounts_are_never_found(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    prefix = word()
    viewer, blocked, blocker, other = await users(
        client, word(), f"{prefix}_blocked", f"{prefix}_blocker", f"{prefix}_other")
    await act(client, viewer, f"/api/v1/accounts/{blocked.id}/block")
    await act(client, blocker, f"/api/v1/accounts/{viewer.id}/block")
    async with roost.db.write() as conn:
        await create_account(conn, roost.ids, NewAccount(
            username=f"{prefix}_pending", email=f"{prefix}@example.test",
            password_hash="x", approved=False))
    body = await search(client, viewer, prefix, type="accounts")
    assert ids(body["accounts"]) == [other.id]
    listed = await client.get("/api/v1/accounts/search", headers=viewer.headers,
                              params={"q": prefix})
    assert ids(listed.json()) == [other.id]
    # Others still find them (except the pending one).
    assert set(ids((await search(client, None, prefix))["accounts"])) == {
        viewer.id, blocked.id, blocker.id, other.id} - {viewer.id}


# --- statuses: paging and filters ---------------------------------------------------------


async def test_status_paging_and_account_id(client: httpx.AsyncClient) -> None:
    alice, bob = await users(client, word(), word())
    key = word()
    posted = [(await post_status(client, author, f"{key} number {n}"))["id"]
              for n, author in enumerate([alice, bob, alice, bob, alice])]
    newest_first = list(reversed(posted))
    assert ids((await search(client, alice, key))["statuses"]) == newest_first
    assert ids((await search(client, alice, key, limit="2"))["statuses"]) == newest_first[:2]
    page = await search(client, alice, key, limit="2", max_id=newest_first[1])
    assert ids(page["statuses"]) == newest_first[2:4]
    page = await search(client, alice, key, limit="2", min_id=newest_first[4])
    assert ids(page["statuses"]) == newest_first[2:4]  # immediately newer, newest first
    page = await search(client, alice, key, min_id=newest_first[4], max_id=newest_first[0])
    assert ids(page["statuses"]) == newest_first[1:4]
    page = await search(client, alice, key, type="statuses", limit="2", offset="2")
    assert ids(page["statuses"]) == newest_first[2:4]
    # offset counts only with a type (Mastodon).
    page = await search(client, alice, key, limit="2", offset="2")
    assert ids(page["statuses"]) == newest_first[:2]
    by_bob = await search(client, alice, key, account_id=bob.id)
    assert ids(by_bob["statuses"]) == [posted[3], posted[1]]
    # A limit over 40 is clamped, as every Mastodon list.
    assert ids((await search(client, alice, key, limit="500"))["statuses"]) == newest_first


async def test_one_word_lookups_do_not_search_statuses(client: httpx.AsyncClient) -> None:
    [alice] = await users(client, word())
    key = word()
    await post_status(client, alice, f"#{key} and {key}x@mail")
    assert (await search(client, alice, f"#{key}"))["statuses"] == []
    assert (await search(client, alice, f"{key}x@mail"))["statuses"] == []
    assert len((await search(client, alice, f"#{key} and"))["statuses"]) == 1


# --- who may find which status ------------------------------------------------------------


async def test_status_visibility(client: httpx.AsyncClient) -> None:
    author, follower, mentioned, stranger, liker = await users(
        client, word(), word(), word(), word(), word())
    await follow(client, follower, author)
    await follow(client, liker, author)
    key = word()
    private = await post_status(client, author, f"{key} private @{mentioned.username}",
                                visibility="private")
    direct = await post_status(client, author, f"{key} direct @{mentioned.username}",
                               visibility="direct")
    unlisted = await post_status(client, author, f"{key} unlisted", visibility="unlisted")
    public = await post_status(client, author, f"{key} public")
    await act(client, liker, f"/api/v1/statuses/{private['id']}/favourite")

    def found(body: dict[str, Any]) -> list[str]:
        return ids(body["statuses"])

    everything = [public["id"], unlisted["id"], direct["id"], private["id"]]
    assert found(await search(client, author, key)) == everything
    assert found(await search(client, mentioned, key)) == [
        public["id"], direct["id"], private["id"]]
    # Mastodon's scope: public statuses, and those the viewer interacted with.
    assert found(await search(client, follower, key)) == [public["id"]]
    assert found(await search(client, liker, key)) == [public["id"], private["id"]]
    assert found(await search(client, stranger, key)) == [public["id"]]
    # Anonymous: statuses are never full-text searched.
    assert found(await search(client, None, key)) == []


async def test_blocks_mutes_and_undiscoverable_authors(client: httpx.AsyncClient) -> None:
    author, blocker, blocked, muter, viewer = await users(
        client, word(), word(), word(), word(), word())
    key = word()
    public = await post_status(client, author, f"{key} hello")
    await act(client, blocker, f"/api/v1/accounts/{author.id}/block")
    await act(client, author, f"/api/v1/accounts/{blocked.id}/block")
    await act(client, muter, f"/api/v1/accounts/{author.id}/mute")
    assert ids((await search(client, viewer, key))["statuses"]) == [public["id"]]
    for hidden_from in (blocker, blocked, muter):
        assert (await search(client, hidden_from, key))["statuses"] == []
    # An author who is not discoverable is not full-text searchable by others...
    reply = await client.patch("/api/v1/accounts/update_credentials", headers=author.headers,
                               data={"discoverable": "false"})
    assert reply.status_code == 200, reply.text
    assert (await search(client, viewer, key))["statuses"] == []
    # ...but finds their own posts, and so does anyone who interacted with them.
    assert ids((await search(client, author, key))["statuses"]) == [public["id"]]
    await act(client, viewer, f"/api/v1/statuses/{public['id']}/bookmark")
    assert ids((await search(client, viewer, key))["statuses"]) == [public["id"]]


async def test_resolve_finds_local_urls(client: httpx.AsyncClient) -> None:
    author, follower, stranger, blocked = await users(client, word(), word(), word(), word())
    await follow(client, follower, author)
    await act(client, author, f"/api/v1/accounts/{blocked.id}/block")
    public = await post_status(client, author, "a public post")
    private = await post_status(client, author, "for followers", visibility="private")

    async def resolve(viewer: User, url: str, **params: str) -> dict[str, Any]:
        return await search(client, viewer, url, resolve="true", **params)

    assert public["url"] == f"http://roost.test/@{author.username}/{public['id']}"
    assert ids((await resolve(stranger, public["url"]))["statuses"]) == [public["id"]]
    assert ids((await resolve(stranger, public["uri"]))["statuses"]) == [public["id"]]
    assert (await resolve(stranger, private["url"]))["statuses"] == []
    assert ids((await resolve(follower, private["url"]))["statuses"]) == [private["id"]]
    assert (await resolve(blocked, public["url"]))["statuses"] == []
    # The wrong author in the path, another server, a type that does not match: nothing.
    assert (await resolve(stranger, f"http://roost.test/@{stranger.username}/{public['id']}")
            )["statuses"] == []
    assert (await resolve(stranger, f"https://elsewhere.example/@x/{public['id']}")
            )["statuses"] == []
    assert (await resolve(stranger, public["url"], type="accounts"))["statuses"] == []
    profile = f"http://roost.test/@{author.username}"
    assert ids((await resolve(stranger, profile))["accounts"]) == [author.id]
    assert ids((await resolve(stranger, f"http://roost.test/users/{author.username}")
                )["accounts"]) == [author.id]
    assert (await resolve(blocked, profile))["accounts"] == []
    # Without resolve, a URL is just words.
    assert (await search(client, stranger, profile))["accounts"] == []


# --- bad input and anonymous use ----------------------------------------------------------


@pytest.mark.parametrize(("params", "status"), [
    ({}, 400),
    ({"q": ""}, 400),
    ({"q": "   "}, 400),
    ({"q": "x" * 1001}, 422),
    ({"q": "x", "type": "people"}, 422),
    ({"q": "x", "limit": "many"}, 422),
    ({"q": "x", "type": "accounts", "offset": "-1"}, 422),
    ({"q": "x", "type": "accounts", "offset": "10001"}, 422),
    ({"q": "x", "max_id": "abc"}, 422),
    ({"q": "x", "account_id": "abc"}, 422),
])
async def test_bad_parameters(client: httpx.AsyncClient, params: dict[str, str],
                              status: int) -> None:
    [alice] = await users(client, word())
    reply = await client.get("/api/v2/search", params=params, headers=alice.headers)
    assert reply.status_code == status, reply.text
    assert isinstance(reply.json()["error"], str)
    if status == 400:
        assert reply.json()["error"] == "param is missing or the value is empty: q"


async def test_anonymous_search(client: httpx.AsyncClient) -> None:
    prefix = word()
    [alice] = await users(client, f"{prefix}_a")
    await post_status(client, alice, f"#{prefix} {prefix}")
    body = await search(client, None, prefix)
    assert ids(body["accounts"]) == [alice.id]
    assert [t["name"] for t in body["hashtags"]] == [prefix]
    assert body["statuses"] == []
    for params, message in (({"offset": "0"}, "pagination"), ({"resolve": "true"}, "resolve")):
        reply = await client.get("/api/v2/search", params={"q": prefix, **params})
        assert reply.status_code == 401, reply.text
        assert message in reply.json()["error"]
    # following means nothing without a viewer; resolve is accepted with one.
    assert ids((await search(client, None, prefix, following="true"))["accounts"]) == [alice.id]
    assert ids((await search(client, alice, prefix, resolve="true"))["accounts"]) == [alice.id]
    # v1 account search needs a user.
    reply = await client.get("/api/v1/accounts/search", params={"q": prefix})
    assert reply.status_code == 401
    bad = await client.get("/api/v2/search", params={"q": "x"},
                           headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


async def test_scopes(client: httpx.AsyncClient) -> None:
    app: App = await register_app(client, scopes="read:statuses write profile")
    narrow = await sign_up(client, app, word())
    reply = await client.get("/api/v2/search", params={"q": "x"}, headers=narrow.headers)
    assert reply.status_code == 403, reply.text
    reply = await client.get("/api/v1/accounts/search", params={"q": "x"},
                             headers=narrow.headers)
    assert reply.status_code == 403, reply.text
    search_only = await register_app(client, scopes="read:search profile write:accounts")
    user = await sign_up(client, search_only, word())
    reply = await client.get("/api/v2/search", params={"q": "x"}, headers=user.headers)
    assert reply.status_code == 200, reply.text


async def test_v1_account_search_limit_and_offset(client: httpx.AsyncClient) -> None:
    prefix = word()
    made = await users(client, *(f"{prefix}_{n}" for n in range(4)))
    viewer = made[0]
    everyone = await client.get("/api/v1/accounts/search", headers=viewer.headers,
                                params={"q": prefix})
    assert sorted(ids(everyone.json())) == sorted(u.id for u in made)
    order = ids(everyone.json())
    two = await client.get("/api/v1/accounts/search", headers=viewer.headers,
                           params={"q": prefix, "limit": "2", "offset": "1"})
    assert ids(two.json()) == order[1:3]
    missing = await client.get("/api/v1/accounts/search", headers=viewer.headers)
    assert missing.status_code == 400
    # "search" is not read as an account id any more.
    assert (await client.get(f"/api/v1/accounts/{viewer.id}")).status_code == 200


# --- cost ---------------------------------------------------------------------------------


async def test_a_search_costs_the_same_statements_for_5_and_40(
    client: httpx.AsyncClient, count_statements: StatementCounter
) -> None:
    prefix = word()
    made = await users(client, *(f"{prefix}_{n}" for n in range(6)))
    viewer = made[0]
    for n, author in enumerate(made):
        await follow(client, viewer, author) if author is not viewer else None
        await post_status(client, author, f"{prefix} #{prefix}{n} @{made[(n + 1) % 6].username}")
    await act(client, viewer, f"/api/v1/accounts/{made[1].id}/mute")

    async def cost(limit: str, **params: str) -> tuple[int, dict[str, Any]]:
        before = count_statements.count
        body = await search(client, viewer, prefix, limit=limit, **params)
        return count_statements.count - before, body

    small, small_body = await cost("2")
    large, large_body = await cost("40")
    assert len(small_body["statuses"]) == 2 and len(large_body["statuses"]) == 5
    assert len(large_body["accounts"]) == 6 and len(large_body["hashtags"]) == 6
    assert small == large, count_statements.report()
    # token, accounts, hashtags + histories, status ids + hydration (statuses, authors,
    # mentions, tags, media, flags: 6 without boosts, which are never found); SQLite
    # adds a BEGIN for the token's read and the search's.
    assert large <= 13, count_statements.report()
    only_accounts, _ = await cost("40", type="accounts")
    assert only_accounts <= 4, count_statements.report()


async def test_through_the_object_cache_too(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    """With the object cache on (hydration reads through it), cold and warm, a page of
    2 and one of 40 cost the same statements."""
    _, roost = app_roost
    prefix = word()
    made = await users(client, *(f"{prefix}_{n}" for n in range(4)))
    for n, author in enumerate(made):
        await post_status(client, author, f"{prefix} #{prefix}{n}")
    viewer = made[0]

    async def cost(limit: str, *, cold: bool) -> int:
        if cold:
            await flush_object_cache(roost)
        with counting(roost) as costs:
            body = await search(client, viewer, prefix, limit=limit)
        assert len(body["statuses"]) == (2 if limit == "2" else 4)
        return costs.statements

    for cold in (True, False):
        assert await cost("2", cold=cold) == await cost("40", cold=cold)
