"""Mentions, hashtags, the public and tag timelines, tags and edits (in-process, on both
databases): parsing edge cases, what is stored, who is notified, what each timeline
shows, constant statement counts per page, and bad input that writes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from roost.context import Roost
from roost.db.tables import mentions, notifications, status_edits, status_tags, tags
from roost.statuses.html import extract, normalise_hashtag, render_plain_text
from roost.timelines.tag import normalised, tag_filter
from tests.conftest import StatementCounter
from tests.support.api import User, post_status, register_app, sign_up, unique_name

BASE = "http://roost.test"

# --- parsing (no database) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @alice", [("alice", None)]),
        ("@alice, @bob: and (@carol)!", [("alice", None), ("bob", None), ("carol", None)]),
        ("mail me@example.com or a@b", []),
        ("see https://example.com/@alice", []),
        ("x=@alice /@bob", []),
        ("@alice.", [("alice", None)]),
        ("@al.ice_x-y", [("al.ice_x-y", None)]),
        ("@alice@roost.test.", [("alice", "roost.test")]),
        ("@alice@127.0.0.1:8080 hi", [("alice", "127.0.0.1:8080")]),
        ("@ alone @", []),
    ],
)
def test_mentions_are_parsed_like_mastodon(text: str, expected: list[Any]) -> None:
    assert extract(text).mentions == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#tag", ["tag"]),
        ("#123 #2024", []),
        ("#123abc #a1", ["123abc", "a1"]),
        ("(#tag), #other. #end!", ["tag", "other", "end"]),
        ("#Café #日本語 #हिन्दी #Ελλάδα", ["Café", "日本語", "हिन्दी", "Ελλάδα"]),
        ("#snake_case #_lead #trail_", ["snake_case", "_lead", "trail_"]),
        ("#_ #__1", []),
        ("#a·b #tag· #·x", ["a·b", "tag"]),
        ("x#y =#z /#w )#v", []),
        ("https://example.com/page#anchor", []),
        ("##double", ["double"]),  # as Mastodon: the second # starts one
        ("#" + "a" * 100 + " #" + "b" * 101, ["a" * 100]),
    ],
)
def test_hashtags_are_parsed_like_mastodon(text: str, expected: list[str]) -> None:
    assert extract(text).hashtags == expected


def test_without_linkers_mentions_and_tags_stay_text() -> None:
    assert render_plain_text("@alice #tag <b>") == "<p>@alice #tag &lt;b&gt;</p>"


def test_links_are_escaped_and_unresolved_names_stay_text() -> None:
    html = render_plain_text(
        "@known @unknown #Tag",
        mention=lambda name, domain: (f"{BASE}/@known", "known") if name == "known" else None,
        hashtag=lambda name: f'{BASE}/tags/"{name}',
    )
    assert html == (
        '<p><span class="h-card" translate="no"><a href="http://roost.test/@known" '
        'class="u-url mention">@<span>known</span></a></span> @unknown '
        '<a href="http://roost.test/tags/&#34;Tag" class="mention hashtag" rel="tag">'
        "#<span>Tag</span></a></p>"
    )


def test_tag_names_match_case_and_width_insensitively() -> None:
    assert normalise_hashtag("Café") == normalise_hashtag("CAFÉ") == "café"
    assert normalise_hashtag("\uff34\uff21\uff27") == "tag"  # full-width letters (NFKC)
    assert normalised("#Cats") == "cats"
    assert normalised("123") is None
    assert normalised("a b") is None
    wanted = tag_filter("Cats", ["DOGS", "dogs", "#1"], [], ["x", "y", "z", "w", "v"])
    assert wanted is not None
    assert (wanted.tag, wanted.any, wanted.none) == ("cats", ("dogs",), ("x", "y", "z", "w"))


# --- helpers --------------------------------------------------------------------------


async def _users(client: httpx.AsyncClient, n: int) -> list[User]:
    app = await register_app(client)
    return [await sign_up(client, app) for _ in range(n)]


async def _notifications(roost: Roost, recipient: User, status_id: str) -> list[str]:
    async with roost.db.read() as conn:
        rows = await conn.execute(
            select(notifications.c.type).where(
                notifications.c.account_id == int(recipient.id),
                notifications.c.status_id == int(status_id),
            )
        )
        return sorted(rows.scalars().all())


async def _ids(client: httpx.AsyncClient, url: str, user: User | None = None,
               **params: Any) -> list[str]:
    headers = user.headers if user is not None else {}
    reply = await client.get(url, params=params, headers=headers)
    assert reply.status_code == 200, reply.text
    return [item["id"] for item in reply.json()]


def _tag() -> str:
    return unique_name("Tag")  # a fresh tag per test: the database is shared


# --- mentions and hashtags on posting ---------------------------------------------------


async def test_mentions_and_tags_in_the_entity_and_the_content(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    author, alice, bob = await _users(client, 3)
    tag = _tag()
    text = (
        f"hi @{alice.username.upper()} and @{bob.username}@roost.test, "
        f"not @nobody_{tag} nor @{alice.username}@elsewhere.test #{tag} #{tag.lower()}"
    )
    status = await post_status(client, author, text)
    assert sorted(m["id"] for m in status["mentions"]) == sorted([alice.id, bob.id])
    mention = next(m for m in status["mentions"] if m["id"] == alice.id)
    assert mention == {"id": alice.id, "username": alice.username, "acct": alice.username,
                       "url": f"{BASE}/@{alice.username}"}
    assert status["tags"] == [{"name": tag, "url": f"{BASE}/tags/{tag}"}]
    content = status["content"]
    assert (
        f'<span class="h-card" translate="no"><a href="{BASE}/@{alice.username}" '
        f'class="u-url mention">@<span>{alice.username}</span></a></span>'
    ) in content
    assert f'href="{BASE}/@{bob.username}"' in content
    assert f"not @nobody_{tag} nor @{alice.username}@elsewhere.test" in content
    assert (
        f'<a href="{BASE}/tags/{tag}" class="mention hashtag" rel="tag">#<span>{tag}</span></a>'
    ) in content
    assert f'href="{BASE}/tags/{tag.lower()}"' in content  # links keep the spelling used
    _, roost = app_roost
    assert await _notifications(roost, alice, status["id"]) == ["mention"]
    assert await _notifications(roost, bob, status["id"]) == ["mention"]
    # Reading it back gives the same entity.
    again = (await client.get(f"/api/v1/statuses/{status['id']}", headers=author.headers)).json()
    assert again["mentions"] == status["mentions"] and again["tags"] == status["tags"]


async def test_mentioned_accounts_see_private_and_direct_statuses(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    author, reader, outsider = await _users(client, 3)
    _, roost = app_roost
    for visibility in ("private", "direct"):
        status = await post_status(client, author, f"psst @{reader.username}",
                                   visibility=visibility)
        url = f"/api/v1/statuses/{status['id']}"
        assert (await client.get(url, headers=reader.headers)).status_code == 200
        assert (await client.get(url, headers=outsider.headers)).status_code == 404
        assert await _notifications(roost, reader, status["id"]) == ["mention"]


async def test_a_reply_notifies_only_whom_it_mentions(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    author, replier = await _users(client, 2)
    _, roost = app_roost
    parent = await post_status(client, author, "root")
    silent = await post_status(client, replier, "no mention", in_reply_to_id=parent["id"])
    loud = await post_status(client, replier, f"@{author.username} yes",
                             in_reply_to_id=parent["id"])
    assert await _notifications(roost, author, silent["id"]) == []
    assert await _notifications(roost, author, loud["id"]) == ["mention"]


async def test_self_mentions_and_blocked_mentions_notify_nobody(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    author, blocker = await _users(client, 2)
    _, roost = app_roost
    reply = await client.post(f"/api/v1/accounts/{author.id}/block", headers=blocker.headers)
    assert reply.status_code == 200, reply.text
    status = await post_status(client, author, f"@{author.username} @{blocker.username}")
    assert await _notifications(roost, author, status["id"]) == []
    assert await _notifications(roost, blocker, status["id"]) == []


async def test_a_tag_is_created_once_with_its_first_spelling(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    (author,) = await _users(client, 1)
    tag = _tag()
    first = await post_status(client, author, f"#{tag}")
    second = await post_status(client, author, f"#{tag.upper()}")
    assert first["tags"] == second["tags"] == [{"name": tag, "url": f"{BASE}/tags/{tag}"}]
    # Concurrent first uses of a new tag: one row, both posts tagged.
    fresh = _tag()
    posts = await asyncio.gather(
        *(post_status(client, author, f"#{fresh} {n}") for n in range(4))
    )
    _, roost = app_roost
    async with roost.db.read() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(tags).where(tags.c.name_lower == fresh.lower())
        )
        tagged = await conn.scalar(
            select(func.count()).select_from(status_tags).where(
                status_tags.c.status_id.in_([int(p["id"]) for p in posts])
            )
        )
    assert (count, tagged) == (1, 4)


# --- public and tag timelines -------------------------------------------------------------


async def test_the_public_timeline(client: httpx.AsyncClient) -> None:
    author, other, viewer = await _users(client, 3)
    start = await post_status(client, author, "start")
    public = await post_status(client, author, "public")
    await post_status(client, author, "unlisted", visibility="unlisted")
    await post_status(client, author, "private", visibility="private")
    await post_status(client, author, f"direct @{viewer.username}", visibility="direct")
    self_reply = await post_status(client, author, "thread", in_reply_to_id=public["id"])
    await post_status(client, other, "reply to another", in_reply_to_id=public["id"])
    boost = await client.post(f"/api/v1/statuses/{public['id']}/reblog", headers=other.headers)
    assert boost.status_code == 200, boost.text
    by_other = await post_status(client, other, "other's public")
    expected = [by_other["id"], self_reply["id"], public["id"]]
    url = "/api/v1/timelines/public"
    assert await _ids(client, url, since_id=start["id"]) == expected
    assert await _ids(client, url, viewer, since_id=start["id"], local="true") == expected
    assert await _ids(client, url, viewer, since_id=start["id"], remote="true") == []
    assert await _ids(client, url, viewer, since_id=start["id"], only_media="true") == []
    # Mutes and blocks take the account's statuses out for the viewer alone.
    reply = await client.post(f"/api/v1/accounts/{other.id}/mute", headers=viewer.headers)
    assert reply.status_code == 200, reply.text
    assert await _ids(client, url, viewer, since_id=start["id"]) == expected[1:]
    reply = await client.post(f"/api/v1/accounts/{viewer.id}/block", headers=author.headers)
    assert reply.status_code == 200, reply.text
    assert await _ids(client, url, viewer, since_id=start["id"]) == []
    assert await _ids(client, url, since_id=start["id"]) == expected


async def test_public_timeline_pages_with_link_headers(client: httpx.AsyncClient) -> None:
    (author,) = await _users(client, 1)
    start = await post_status(client, author, "start")
    posted = [(await post_status(client, author, f"p{n}"))["id"] for n in range(5)]
    newest_first = posted[::-1]
    url = "/api/v1/timelines/public"
    first = await client.get(url, params={"limit": 2, "since_id": start["id"]})
    assert [s["id"] for s in first.json()] == newest_first[:2]
    links = httpx.Response(200, headers=first.headers).links
    following = await client.get(links["next"]["url"])
    assert [s["id"] for s in following.json()] == newest_first[2:4]
    assert await _ids(client, url, min_id=start["id"], limit=2) == posted[:2][::-1]
    assert await _ids(client, url, max_id=posted[1], since_id=start["id"]) == [posted[0]]


async def test_the_tag_timeline(client: httpx.AsyncClient) -> None:
    author, viewer = await _users(client, 2)
    tag, other, third = _tag(), _tag(), _tag()
    only = await post_status(client, author, f"#{tag}")
    both = await post_status(client, author, f"#{tag.upper()} #{other}")
    just_other = await post_status(client, author, f"#{other}")
    await post_status(client, author, f"#{tag} unlisted", visibility="unlisted")
    await post_status(client, author, f"#{tag} private", visibility="private")
    await post_status(client, author, f"#{tag} @{viewer.username}", visibility="direct")
    reply = await post_status(client, viewer, f"#{tag} reply", in_reply_to_id=only["id"])
    url = f"/api/v1/timelines/tag/{tag.lower()}"
    assert await _ids(client, url) == [reply["id"], both["id"], only["id"]]
    assert await _ids(client, url, viewer) == [reply["id"], both["id"], only["id"]]
    # A leading '#' is ignored, as Mastodon's HashtagNormalizer does.
    assert await _ids(client, f"/api/v1/timelines/tag/%23{tag}") == [
        reply["id"], both["id"], only["id"]
    ]
    assert await _ids(client, url, **{"all[]": other}) == [both["id"]]
    assert await _ids(client, url, **{"none[]": other}) == [reply["id"], only["id"]]
    assert await _ids(client, url, **{"any[]": [other, third]}) == [
        reply["id"], just_other["id"], both["id"], only["id"]
    ]
    assert await _ids(client, url, **{"all[]": [other, third]}) == []
    assert await _ids(client, url, limit=1, max_id=both["id"]) == [only["id"]]
    assert await _ids(client, "/api/v1/timelines/tag/nosuchtag_" + tag) == []
    assert await _ids(client, "/api/v1/timelines/tag/123") == []
    assert await _ids(client, url, remote="true") == []


async def test_the_tag_entity(client: httpx.AsyncClient) -> None:
    first, second = await _users(client, 2)
    tag = _tag()
    await post_status(client, first, f"#{tag}")
    await post_status(client, first, f"#{tag} again")
    await post_status(client, second, f"#{tag}", visibility="unlisted")
    await post_status(client, second, f"#{tag}", visibility="private")
    reply = await client.get(f"/api/v1/tags/{tag.upper()}")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["name"] == tag and body["url"] == f"{BASE}/tags/{tag}"
    assert body["following"] is False
    history = body["history"]
    assert len(history) == 7
    assert history[0]["uses"] == "3" and history[0]["accounts"] == "2"
    assert all(day["uses"] == "0" for day in history[1:])
    days = [int(day["day"]) for day in history]
    assert days == sorted(days, reverse=True) and days[0] % 86400 == 0
    assert days[0] - days[1] == 86400
    for missing in ("nosuchtag_" + tag, "123", "a%20b"):
        assert (await client.get(f"/api/v1/tags/{missing}")).status_code == 404


async def test_timeline_reads_are_constant(
    client: httpx.AsyncClient, count_statements: StatementCounter
) -> None:
    author, reader = await _users(client, 2)
    tag = _tag()
    for n in range(42):
        await post_status(client, author, f"#{tag} @{reader.username} post {n}")
    for url in ("/api/v1/timelines/public", f"/api/v1/timelines/tag/{tag}"):
        counts = []
        for limit in (5, 40):
            count_statements.statements.clear()
            reply = await client.get(url, params={"limit": limit}, headers=reader.headers)
            assert reply.status_code == 200, reply.text
            assert len(reply.json()) == limit
            counts.append(count_statements.count)
        assert counts[0] == counts[1], f"{url}: {counts}\n{count_statements.report()}"
        # (11 since media attachments joined hydration: one statement per page)
        assert counts[1] <= 11, count_statements.report()


# --- edits ----------------------------------------------------------------------------


async def test_editing_a_status(client: httpx.AsyncClient, app_roost: tuple[Any, Roost]) -> None:
    author, first, second, booster = await _users(client, 4)
    _, roost = app_roost
    old_tag, new_tag = _tag(), _tag()
    status = await post_status(client, author, f"v1 @{first.username} #{old_tag}",
                               spoiler_text="cw", language="en")
    assert status["edited_at"] is None
    boost = await client.post(f"/api/v1/statuses/{status['id']}/reblog", headers=booster.headers)
    assert boost.status_code == 200, boost.text
    url = f"/api/v1/statuses/{status['id']}"
    reply = await client.put(url, headers=author.headers, data={
        "status": f"v2 @{first.username} @{second.username} #{new_tag}"})
    assert reply.status_code == 200, reply.text
    edited = reply.json()
    assert edited["edited_at"] is not None and edited["id"] == status["id"]
    assert edited["spoiler_text"] == "" and edited["sensitive"] is False
    assert edited["language"] == "en"  # kept when not given
    assert f'href="{BASE}/@{second.username}"' in edited["content"]
    assert sorted(m["id"] for m in edited["mentions"]) == sorted([first.id, second.id])
    assert edited["tags"] == [{"name": new_tag, "url": f"{BASE}/tags/{new_tag}"}]
    assert await _ids(client, f"/api/v1/timelines/tag/{old_tag}") == []
    assert await _ids(client, f"/api/v1/timelines/tag/{new_tag}") == [status["id"]]
    # Only the newly mentioned are told of the mention; boosters of the update.
    assert await _notifications(roost, first, status["id"]) == ["mention"]
    assert await _notifications(roost, second, status["id"]) == ["mention"]
    assert await _notifications(roost, booster, status["id"]) == ["update"]

    history = (await client.get(f"{url}/history")).json()
    assert [h["content"] for h in history] == [status["content"], edited["content"]]
    assert [h["spoiler_text"] for h in history] == ["cw", ""]
    assert [h["sensitive"] for h in history] == [True, False]
    assert history[0]["created_at"] == status["created_at"]
    assert history[1]["created_at"] == edited["edited_at"]
    assert history[0]["account"]["id"] == author.id

    source = await client.get(f"{url}/source", headers=first.headers)
    assert source.json() == {"id": status["id"], "spoiler_text": "",
                             "text": f"v2 @{first.username} @{second.username} #{new_tag}"}
    # Mentions and tags dropped from the text leave the status.
    again = await client.put(url, headers=author.headers, data={"status": "v3"})
    assert again.json()["mentions"] == [] and again.json()["tags"] == []
    assert len((await client.get(f"{url}/history")).json()) == 3


async def test_an_edit_that_changes_nothing_is_not_recorded(client: httpx.AsyncClient) -> None:
    (author,) = await _users(client, 1)
    status = await post_status(client, author, "same")
    url = f"/api/v1/statuses/{status['id']}"
    reply = await client.put(url, headers=author.headers, json={"status": "same"})
    assert reply.status_code == 200 and reply.json()["edited_at"] is None
    history = (await client.get(f"{url}/history")).json()
    assert [h["content"] for h in history] == ["<p>same</p>"]


async def test_edit_errors_write_nothing(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    author, other = await _users(client, 2)
    status = await post_status(client, author, "original")
    url = f"/api/v1/statuses/{status['id']}"
    boost = await client.post(f"{url}/reblog", headers=other.headers)
    assert boost.status_code == 200, boost.text
    private = await post_status(client, author, "secret", visibility="private")
    cases: list[tuple[str, dict[str, Any], User, int]] = [
        (url, {"status": "mine now"}, other, 404),
        (f"/api/v1/statuses/{boost.json()['id']}", {"status": "x"}, other, 404),
        ("/api/v1/statuses/12345", {"status": "x"}, author, 404),
        ("/api/v1/statuses/nope", {"status": "x"}, author, 404),
        (url, {"status": "   "}, author, 422),
        (url, {}, author, 422),
        (url, {"status": "x" * 600}, author, 422),
        (url, {"status": "x", "language": "not a language"}, author, 422),
        (url, {"status": "x", "media_ids[]": "1"}, author, 422),
        (url, {"status": "x", "sensitive": "maybe"}, author, 422),
    ]
    for target, data, user, expected in cases:
        reply = await client.put(target, headers=user.headers, data=data)
        assert reply.status_code == expected, (target, data, reply.text)
    assert (await client.put(url, data={"status": "anon"})).status_code == 401
    unchanged = (await client.get(url, headers=author.headers)).json()
    assert unchanged["content"] == "<p>original</p>" and unchanged["edited_at"] is None
    _, roost = app_roost
    async with roost.db.read() as conn:
        edits = await conn.scalar(
            select(func.count()).select_from(status_edits).where(
                status_edits.c.status_id == int(status["id"])
            )
        )
    assert edits == 0
    # History and source of what one may not see are 404s; source needs a user token.
    for path in ("history", "source"):
        hidden = f"/api/v1/statuses/{private['id']}/{path}"
        assert (await client.get(hidden, headers=other.headers)).status_code == 404
    assert (await client.get(f"{url}/source")).status_code == 401


async def test_bad_timeline_parameters_are_422(client: httpx.AsyncClient) -> None:
    for url in ("/api/v1/timelines/public", "/api/v1/timelines/tag/x"):
        for params in ({"limit": "many"}, {"max_id": "abc"}, {"local": "perhaps"}):
            reply = await client.get(url, params=params)
            assert reply.status_code == 422, (url, params, reply.text)


async def test_a_repeated_mention_is_one_row(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    author, alice = await _users(client, 2)
    status = await post_status(client, author, f"@{alice.username} @{alice.username}")
    _, roost = app_roost
    async with roost.db.read() as conn:
        rows = (await conn.execute(
            select(mentions.c.account_id).where(mentions.c.status_id == int(status["id"]))
        )).scalars().all()
    assert list(rows) == [int(alice.id)]
    assert len(status["mentions"]) == 1
