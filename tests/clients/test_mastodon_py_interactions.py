"""The real Mastodon.py client likes, boosts and bookmarks against a running server,
on both databases: the actions, who did them, the favourites and bookmarks lists with
fetch_next, the errors it sees, and counters that stay exact while many accounts act
on one status at the same moment."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonNotFoundError

from tests.clients.test_mastodon_py import (
    AppCredentials,
    Person,
    error_status,
    new_app,
    sign_up,
)
from tests.support.server import RunningServer


@pytest.fixture
def app(server: RunningServer) -> AppCredentials:
    return new_app(server)


def everything(api: Mastodon, first_page: Any) -> list[Any]:
    """Follows the Link header (fetch_next) to the end."""
    items: list[Any] = []
    page = first_page
    while page:
        items += page
        page = api.fetch_next(page)
    return items


def test_like_unlike_and_the_lists(server: RunningServer, app: AppCredentials) -> None:
    author = sign_up(server, app, "author")
    fan = sign_up(server, app, "fan")
    posts = [author.api.status_post(f"post {n}") for n in range(5)]
    liked = fan.api.status_favourite(posts[0].id)
    assert liked.favourited is True and liked.favourites_count == 1
    again = fan.api.status_favourite(posts[0].id)
    assert again.favourites_count == 1
    assert [str(a.id) for a in author.api.status_favourited_by(posts[0].id)] == [fan.id]
    unliked = fan.api.status_unfavourite(posts[0].id)
    assert unliked.favourited is False and unliked.favourites_count == 0
    assert author.api.status_favourited_by(posts[0].id) == []

    # Liked in an order unlike the posts' own: the list follows the likes.
    order = [posts[2], posts[0], posts[4], posts[1], posts[3]]
    for post in order:
        fan.api.status_favourite(post.id)
        fan.api.status_bookmark(post.id)
    expected = [post.id for post in reversed(order)]
    assert [s.id for s in everything(fan.api, fan.api.favourites(limit=2))] == expected
    assert [s.id for s in everything(fan.api, fan.api.bookmarks(limit=2))] == expected
    assert all(s.favourited and s.bookmarked for s in fan.api.favourites())
    unmarked = fan.api.status_unbookmark(posts[1].id)
    assert unmarked.bookmarked is False
    assert posts[1].id not in [s.id for s in fan.api.bookmarks()]
    # The author sees the counts, not the fan's flags.
    seen = author.api.status(posts[2].id)
    assert seen.favourites_count == 1 and seen.favourited is False


def test_boosts(server: RunningServer, app: AppCredentials) -> None:
    author = sign_up(server, app, "author")
    booster = sign_up(server, app, "booster")
    reader = sign_up(server, app, "reader")
    reader.api.account_follow(booster.id)
    original = author.api.status_post("worth sharing")
    boost = booster.api.status_reblog(original.id, visibility="unlisted")
    assert boost.reblog.id == original.id
    assert boost.visibility == "unlisted"
    assert boost.reblog.reblogged is True and boost.reblog.reblogs_count == 1
    assert booster.api.status_reblog(original.id).id == boost.id
    assert [str(a.id) for a in author.api.status_reblogged_by(original.id)] == [booster.id]
    home = reader.api.timeline_home()
    assert [(s.id, s.reblog.id) for s in home] == [(boost.id, original.id)]
    assert home[0].reblog.reblogged is False
    # A second boost by someone else the reader follows shows the post once.
    second = sign_up(server, app, "second")
    reader.api.account_follow(second.id)
    newer = second.api.status_reblog(boost.id)
    assert newer.reblog.id == original.id and newer.reblog.reblogs_count == 2
    assert [s.id for s in reader.api.timeline_home()] == [newer.id]
    # Hiding the booster's boosts.
    reader.api.account_follow(second.id, reblogs=False)
    assert [s.id for s in reader.api.timeline_home()] == [boost.id]

    undone = booster.api.status_unreblog(original.id)
    assert undone.id == original.id and undone.reblogged is False
    assert undone.reblogs_count == 1
    assert booster.api.status_unreblog(original.id).reblogs_count == 1
    assert reader.api.timeline_home() == []
    with pytest.raises(MastodonNotFoundError):
        reader.api.status(boost.id)


def test_what_cannot_be_boosted_or_seen(server: RunningServer, app: AppCredentials) -> None:
    author = sign_up(server, app, "author")
    follower = sign_up(server, app, "follower")
    stranger = sign_up(server, app, "stranger")
    follower.api.account_follow(author.id)
    private = author.api.status_post("followers only", visibility="private")
    direct = author.api.status_post("only me", visibility="direct")
    with pytest.raises(MastodonAPIError) as refused:
        follower.api.status_reblog(private.id)
    assert error_status(refused) == 403
    with pytest.raises(MastodonAPIError) as refused:
        author.api.status_reblog(direct.id)
    assert error_status(refused) == 403
    own = author.api.status_reblog(private.id)
    assert own.visibility == "private"
    for action in (stranger.api.status_favourite, stranger.api.status_unfavourite,
                   stranger.api.status_bookmark, stranger.api.status_unbookmark,
                   stranger.api.status_reblog, stranger.api.status_unreblog,
                   stranger.api.status_favourited_by, stranger.api.status_reblogged_by):
        for target in (private.id, direct.id, own.id, 1234567):
            with pytest.raises(MastodonNotFoundError):
                action(target)
    assert stranger.api.favourites() == [] and stranger.api.bookmarks() == []
    assert author.api.status(private.id).favourites_count == 0
    with pytest.raises(MastodonAPIError) as bad:
        follower.api.status_reblog(author.api.status_post("public").id, visibility="direct")
    assert error_status(bad) == 422


def _toggle_many(person: Person, status_id: int, rounds: int, seed: int) -> bool:
    """Likes and unlikes at random; returns whether it ends liked."""
    rng = random.Random(seed)
    liked = False
    for _ in range(rounds):
        if rng.random() < 0.5:
            person.api.status_favourite(status_id)
            liked = True
        else:
            person.api.status_unfavourite(status_id)
            liked = False
    return liked


def test_counters_stay_exact_under_concurrency(server: RunningServer,
                                               app: AppCredentials) -> None:
    author = sign_up(server, app, "author")
    crowd = [sign_up(server, app, "crowd") for _ in range(20)]
    status = author.api.status_post("everyone at once")
    with ThreadPoolExecutor(max_workers=len(crowd)) as pool:
        # Each account also races itself: two threads like the same status at once.
        doubles = list(pool.map(lambda p: p.api.status_favourite(status.id), crowd + crowd))
        assert all(s.favourited for s in doubles)
        assert author.api.status(status.id).favourites_count == len(crowd)
        ends = list(pool.map(lambda ip: _toggle_many(ip[1], status.id, 12, ip[0]),
                             enumerate(crowd)))
        boosted = list(pool.map(
            lambda ip: ip[1].api.status_reblog(status.id) if ip[0] % 2 else None,
            enumerate(crowd + crowd)))
        list(pool.map(lambda p: p.api.status_unreblog(status.id), crowd[:5]))
    final = author.api.status(status.id)
    likers = author.api.status_favourited_by(status.id)
    assert final.favourites_count == len(likers) == sum(ends)
    assert {str(a.id) for a in likers} == {p.id for p, end in zip(crowd, ends, strict=True) if end}
    boosters = author.api.status_reblogged_by(status.id)
    expected_boosters = {p.id for i, p in enumerate(crowd + crowd) if i % 2} - {
        p.id for p in crowd[:5]}
    assert final.reblogs_count == len(boosters) == len(expected_boosters)
    assert {str(a.id) for a in boosters} == expected_boosters
    assert sum(1 for b in boosted if b is not None) == len(crowd)
    for person in crowd:
        me = person.api.account_verify_credentials()
        assert me.statuses_count == (1 if person.id in expected_boosters else 0)
