"""Mastodon.py against a running server, on both databases: mentions and hashtags in
posts, the public and hashtag timelines with paging, tags, and editing (status_update,
status_history, status_source)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonNotFoundError

from tests.clients.test_mastodon_py import (
    AppCredentials,
    Person,
    app,  # noqa: F401  (fixture)
    error_status,
    ids,
    sign_up,
)
from tests.support.server import RunningServer


def fresh_tag() -> str:
    return f"Roost{secrets.token_hex(4)}"


def walk(api: Mastodon, page: Any) -> list[int]:
    """Every id of a paged list, following the Link header."""
    seen: list[int] = []
    while page:
        seen.extend(ids(page))
        page = api.fetch_next(page)
    return seen


def test_mentions_and_hashtags(server: RunningServer, app: AppCredentials) -> None:  # noqa: F811
    author, friend, outsider = (sign_up(server, app, p) for p in ("author", "friend", "out"))
    tag = fresh_tag()
    status = author.api.status_post(
        f"hello @{friend.username} and @nobody_{tag}, #{tag}! mail: me@example.com"
    )
    assert [str(m.id) for m in status.mentions] == [friend.id]
    assert status.mentions[0].acct == friend.username
    assert [t.name for t in status.tags] == [tag]
    assert status.tags[0].url == f"{server.url}/tags/{tag}"
    assert f'href="{server.url}/@{friend.username}" class="u-url mention"' in status.content
    assert f'class="mention hashtag" rel="tag">#<span>{tag}</span></a>' in status.content
    assert f"@nobody_{tag}" in status.content and "me@example.com" in status.content

    # The mentioned account sees private and direct posts; others do not.
    for visibility in ("private", "direct"):
        secret = author.api.status_post(f"@{friend.username} psst", visibility=visibility)
        assert friend.api.status(secret.id).visibility == visibility
        with pytest.raises(MastodonNotFoundError):
            outsider.api.status(secret.id)
    mentioned = [n for n in friend.api.notifications() if n.type == "mention"]
    assert {str(n.status.id) for n in mentioned} >= {str(status.id)}


def test_public_and_hashtag_timelines(server: RunningServer, app: AppCredentials) -> None:  # noqa: F811
    author, reader = sign_up(server, app, "author"), sign_up(server, app, "reader")
    tag = fresh_tag()
    start = author.api.status_post("start")
    public = [author.api.status_post(f"#{tag} public {n}") for n in range(5)]
    for visibility in ("unlisted", "private", "direct"):
        author.api.status_post(f"#{tag} {visibility} @{reader.username}", visibility=visibility)
    expected = [int(s.id) for s in reversed(public)]

    for api in (reader.api, Mastodon(api_base_url=server.url)):
        assert ids(api.timeline_public(since_id=start.id)) == expected
        assert ids(api.timeline_public(since_id=start.id, local=True)) == expected
        assert ids(api.timeline_local(since_id=start.id)) == expected
        assert ids(api.timeline_public(since_id=start.id, remote=True)) == []
        assert walk(api, api.timeline_hashtag(tag.lower(), limit=2)) == expected
    first = reader.api.timeline_hashtag(tag, limit=2)
    assert ids(first) == expected[:2]
    newer = reader.api.timeline_hashtag(tag, min_id=public[1].id)
    assert ids(newer) == expected[:3]
    assert ids(reader.api.timeline_hashtag(tag, max_id=public[1].id)) == expected[4:]
    assert ids(reader.api.timeline_hashtag(f"nothing{tag}")) == []

    info = reader.api.tag(tag.upper())
    assert info.name == tag and len(info.history) == 7
    assert info.history[0].uses == "6"  # public and unlisted are counted
    with pytest.raises(MastodonNotFoundError):
        reader.api.tag(f"nothing{tag}")


def test_edit_history_and_source(server: RunningServer, app: AppCredentials) -> None:  # noqa: F811
    author: Person = sign_up(server, app, "author")
    other = sign_up(server, app, "other")
    original = author.api.status_post("first version", spoiler_text="cw")
    assert original.edited_at is None
    text = f"second version @{other.username} #{fresh_tag()}"
    edited = author.api.status_update(original.id, text)
    assert edited.id == original.id and edited.edited_at is not None
    assert "second version" in edited.content and edited.spoiler_text == ""
    assert [str(m.id) for m in edited.mentions] == [other.id]

    history = author.api.status_history(original.id)
    assert [h.content for h in history] == [original.content, edited.content]
    assert history[0].spoiler_text == "cw" and history[0].sensitive is True
    assert history[0].created_at == original.created_at
    assert history[1].created_at == edited.edited_at
    assert str(history[0].account.id) == author.id

    source = other.api.status_source(original.id)
    assert source.text.startswith("second version") and source.spoiler_text == ""
    assert str(source.id) == str(original.id)

    with pytest.raises(MastodonNotFoundError):
        other.api.status_update(original.id, "not mine")
    with pytest.raises(MastodonAPIError) as blank:
        author.api.status_update(original.id, "   ")
    assert error_status(blank) == 422
    assert len(author.api.status_history(original.id)) == 2
