"""Mastodon.py searches a running server, on both databases: search_v2 for each kind of
result (with its defaults: resolve=true, exclude_unreviewed=true), paging by offset
with fetch_next, account_id, account_search (and `following`), what a block hides,
anonymous search and the errors a client sees."""

from __future__ import annotations

import secrets

import pytest
from mastodon import Mastodon, MastodonAPIError

from tests.clients.test_mastodon_py import (
    AppCredentials,
    error_status,
    new_app,
    sign_up,
)
from tests.support.server import RunningServer


@pytest.fixture
def app(server: RunningServer) -> AppCredentials:
    return new_app(server)


def word() -> str:
    return "m" + secrets.token_hex(5)


def ids(items: list[object]) -> list[str]:
    return [str(item.id) for item in items]  # type: ignore[attr-defined]


def test_search_v2_each_kind(server: RunningServer, app: AppCredentials) -> None:
    prefix = word()
    alice = sign_up(server, app, prefix)
    bob = sign_up(server, app, prefix)
    key = word()
    status = alice.api.status_post(f"{key} about #{prefix}tag")

    found = bob.api.search_v2(key)
    assert ids(found.statuses) == [str(status.id)]
    assert found.statuses[0].account.username == alice.username

    accounts = bob.api.search_v2(prefix, result_type="accounts")
    assert set(ids(accounts.accounts)) == {alice.id, bob.id}
    assert accounts.statuses == [] and accounts.hashtags == []

    tags = bob.api.search_v2(f"#{prefix}", result_type="hashtags")
    [tag] = tags.hashtags
    assert tag.name == f"{prefix}tag" and len(tag.history) == 7

    by_alice = bob.api.search_v2(key, account_id=alice.id, result_type="statuses")
    assert ids(by_alice.statuses) == [str(status.id)]
    assert bob.api.search_v2(key, account_id=bob.id, result_type="statuses").statuses == []


def test_offset_paging_with_fetch_next(server: RunningServer, app: AppCredentials) -> None:
    prefix = word()
    people = [sign_up(server, app, prefix) for _ in range(3)]
    viewer = people[0]
    first = viewer.api.search_v2(prefix, result_type="accounts", limit=2)
    assert len(first.accounts) == 2
    second = viewer.api.fetch_next(first)
    assert second is not None
    seen = ids(first.accounts) + ids(second.accounts)
    assert sorted(seen) == sorted(p.id for p in people)


def test_account_search(server: RunningServer, app: AppCredentials) -> None:
    prefix = word()
    viewer, one, two = (sign_up(server, app, prefix) for _ in range(3))
    assert set(ids(viewer.api.account_search(prefix))) == {viewer.id, one.id, two.id}
    # The exact username comes first.
    assert ids(viewer.api.account_search(two.username))[0] == two.id
    viewer.api.account_follow(one.id)
    assert ids(viewer.api.account_search(prefix, following=True)) == [one.id]
    assert len(viewer.api.account_search(prefix, limit=1)) == 1
    viewer.api.account_block(two.id)
    assert two.id not in ids(viewer.api.account_search(prefix))
    assert viewer.id not in ids(two.api.account_search(prefix))


def test_what_search_hides(server: RunningServer, app: AppCredentials) -> None:
    author, follower, stranger = (sign_up(server, app, "hide") for _ in range(3))
    follower.api.account_follow(author.id)
    key = word()
    private = author.api.status_post(f"{key} private", visibility="private")
    public = author.api.status_post(f"{key} public")
    direct = author.api.status_post(f"{key} direct @{stranger.username}", visibility="direct")
    assert ids(author.api.search_v2(key).statuses) == [
        str(direct.id), str(public.id), str(private.id)]
    assert ids(stranger.api.search_v2(key).statuses) == [str(direct.id), str(public.id)]
    follower.api.status_favourite(private.id)
    assert ids(follower.api.search_v2(key).statuses) == [str(public.id), str(private.id)]
    stranger.api.account_block(author.id)
    assert stranger.api.search_v2(key).statuses == []


def test_anonymous_search_and_errors(server: RunningServer, app: AppCredentials) -> None:
    prefix = word()
    person = sign_up(server, app, prefix)
    person.api.status_post(f"{prefix} #{prefix}")
    anonymous = Mastodon(api_base_url=server.url)
    found = anonymous.search_v2(prefix, resolve=False)
    assert ids(found.accounts) == [person.id]
    assert [t.name for t in found.hashtags] == [prefix]
    assert found.statuses == []  # full-text search needs a user
    with pytest.raises(MastodonAPIError) as refused:
        anonymous.search_v2(prefix)  # Mastodon.py resolves by default
    assert error_status(refused) == 401
    with pytest.raises(MastodonAPIError) as refused:
        anonymous.search_v2(prefix, resolve=False, result_type="accounts", offset=1)
    assert error_status(refused) == 401
    with pytest.raises(MastodonAPIError) as blank:
        person.api.search_v2("   ")
    assert error_status(blank) == 400

