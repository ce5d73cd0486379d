"""The shape of the network `roost seed` generates (roost.seed.generate): heavy-tailed
followers, skewed activity, reciprocity, a daily rhythm, the application's rules, and
determinism. No database: the generator alone."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from roost.ids import NODE_COUNT, node_of, shard_of, unix_ms_of
from roost.seed.generate import (
    DAY_MS,
    HOUR_MS,
    KIND_BOOST,
    Network,
    Params,
    Renderer,
    generate,
    shape,
    status_texts,
)
from roost.statuses.html import extract

END_MS = 1_790_000_000_000  # a fixed moment: 2026-09-21, so runs compare exactly
USERS = 10_000


@cache
def network(users: int = USERS, seed: int = 3) -> Network:
    return generate(Params(users=users, seed=seed, end_ms=END_MS))


@cache
def numbers() -> dict[str, float]:
    return shape(network())


def test_followers_are_heavy_tailed() -> None:
    found = numbers()
    assert found["top1pct_follower_share"] > 0.20
    assert found["median_followers"] < 40  # the mean is about 40
    assert found["max_followers"] > 50 * found["median_followers"]
    followers = network().followers_count
    assert (followers < 10).mean() > 0.2  # plenty of small accounts
    assert (followers == 0).any()


def test_activity_is_skewed() -> None:
    found = numbers()
    assert 0.35 < found["never_posted_share"] < 0.6
    assert found["top10pct_status_share"] > 0.5
    net = network()
    assert net.status_id.size == pytest.approx(20 * USERS, rel=0.1)
    weights = net.activity_weight
    assert weights.sum() == pytest.approx(1.0)
    assert (np.sort(weights)[::-1][: USERS // 10].sum()) > 0.4


def test_reciprocity_is_present() -> None:
    assert 0.1 < numbers()["reciprocity"] < 0.6


def test_posts_follow_a_daily_rhythm_and_stay_in_the_past() -> None:
    net = network()
    moments = (net.status_id >> 22) + 1_577_836_800_000
    assert moments.max() < END_MS
    assert moments.min() >= END_MS - 4 * 7 * DAY_MS
    hours = (moments % DAY_MS) // HOUR_MS
    by_hour = np.bincount(hours, minlength=24)
    assert by_hour[12:20].sum() > 2 * by_hour[0:8].sum()
    days = (moments - (END_MS - 28 * DAY_MS)) // DAY_MS
    assert (np.bincount(days, minlength=28) > 0).all()  # spread over every day


def test_edges_obey_the_rules() -> None:
    net = network()
    n = net.users
    follows = net.follow_src.astype(np.int64) * n + net.follow_dst
    assert np.unique(follows).size == follows.size  # no duplicate follows
    assert (net.follow_src != net.follow_dst).all()  # nobody follows themselves
    blocks = set(
        (net.block_src.astype(np.int64) * n + net.block_dst).tolist()
        + (net.block_dst.astype(np.int64) * n + net.block_src).tolist()
    )
    assert blocks
    assert not blocks & set(follows.tolist())  # no follow across a block
    requests = net.request_src.astype(np.int64) * n + net.request_dst
    assert not blocks & set(requests.tolist())
    assert not set(requests.tolist()) & set(follows.tolist())
    assert net.locked[net.request_dst].all()
    likes = net.favourite_account.astype(np.int64) * net.status_id.size + net.favourite_status
    assert np.unique(likes).size == likes.size
    liked_authors = net.status_author[net.favourite_status]
    assert (liked_authors != net.favourite_account).all()
    like_pairs = net.favourite_account.astype(np.int64) * n + liked_authors
    assert not blocks & set(like_pairs.tolist())


def test_statuses_are_consistent() -> None:
    net = network()
    parent = net.status_parent
    replies = np.flatnonzero(parent >= 0)
    assert replies.size > 0.2 * net.status_id.size
    assert (net.status_id[parent[replies]] < net.status_id[replies]).all()
    assert (net.status_visibility[parent[replies]] <= 1).all()
    boosts = np.flatnonzero(net.status_reblog >= 0)
    assert (net.status_kind[boosts] == KIND_BOOST).all()
    originals = net.status_reblog[boosts]
    assert (net.status_reblog[originals] < 0).all()
    assert (net.status_author[originals] != net.status_author[boosts]).all()
    pairs = net.status_author[boosts].astype(np.int64) * net.status_id.size + originals
    assert np.unique(pairs).size == pairs.size
    # Threads: some replies answer replies.
    assert (parent[parent[replies]] >= 0).any()
    # Counters are the counts.
    assert net.statuses_count.sum() == net.status_id.size
    assert net.reblogs_count.sum() == boosts.size
    assert net.replies_count.sum() == replies.size
    assert net.favourites_count.sum() == net.favourite_id.size
    assert net.followers_count.sum() == net.following_count.sum() == net.follow_id.size
    # Likes and boosts go to popular authors more than to others.
    liked = np.bincount(net.status_author[net.favourite_status], minlength=net.users)
    top = np.argsort(net.followers_count)[::-1][: net.users // 100]
    assert liked[top].sum() > 0.1 * liked.sum()


def test_ids_use_roosts_layout_and_are_unique() -> None:
    net = network()
    everything = np.concatenate([
        net.account_id, net.token_id, net.status_id, net.follow_id, net.request_id,
        net.block_id, net.favourite_id, net.bookmark_id, net.tag_id[net.tag_id != 0],
    ])
    assert np.unique(everything).size == everything.size
    assert np.unique(net.notification_id).size == net.notification_id.size
    sample = net.status_id[:: max(1, net.status_id.size // 500)].tolist()
    for status_id in sample:
        assert node_of(status_id) == NODE_COUNT - 1
        assert unix_ms_of(status_id) < END_MS
    authors = net.account_id[net.status_author]
    assert ((net.status_id >> 12) & 1023 == (authors >> 12) & 1023).all()
    followers = net.account_id[net.follow_src]
    assert ((net.follow_id >> 12) & 1023 == (followers >> 12) & 1023).all()
    recipients = net.account_id[net.notification_account]
    assert ((net.notification_id >> 12) & 1023 == (recipients >> 12) & 1023).all()
    assert shard_of(int(net.account_id[0])) == int(net.shard[0])


def test_notifications_skip_self_blocks_and_duplicates() -> None:
    net = network()
    assert (net.notification_account != net.notification_from).all()
    keys = net.notification_activity.astype(object) * 10**7 + net.notification_account
    assert len(set(keys.tolist())) == keys.size
    kinds = np.bincount(net.notification_type, minlength=5)
    assert (kinds > 0).all()


def test_texts_mention_and_tag_what_the_rows_say() -> None:
    net = network(2_000, 5)
    renderer = Renderer(net)
    texts = status_texts(net, renderer, 0)
    statuses_of, accounts_of = net.mention_pairs()
    mentioned: dict[int, set[str]] = {}
    for s, a in zip(statuses_of.tolist(), accounts_of.tolist(), strict=True):
        mentioned.setdefault(s, set()).add(net.usernames[a].lower())
    for i, made in enumerate(texts[:5000]):
        if net.status_kind[i] == KIND_BOOST:
            assert made.text == made.html == ""
            continue
        found = extract(made.text)
        assert {name.lower() for name, _ in found.mentions} == mentioned.get(i, set())
        tags = {net.tag_names[t] for t in net.status_tags[i].tolist() if t >= 0}
        assert set(found.hashtags) == tags
        assert made.html == renderer.render(made.text)  # render_plain_text's own output
        assert len(made.text) + len(made.spoiler) <= 500
    lengths = [len(t.text) for t in texts if t.text]
    assert 40 < float(np.mean(lengths)) < 300


def test_same_seed_same_network_other_seed_other_network() -> None:
    a = generate(Params(users=1_500, seed=11, end_ms=END_MS))
    b = generate(Params(users=1_500, seed=11, end_ms=END_MS))
    c = generate(Params(users=1_500, seed=12, end_ms=END_MS))
    for name in ("account_id", "status_id", "follow_id", "favourite_id", "notification_id",
                 "status_parent", "status_tags"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.tokens == b.tokens and a.usernames == b.usernames
    texts_a = [t.text + t.html for t in status_texts(a, Renderer(a), 0)]
    texts_b = [t.text + t.html for t in status_texts(b, Renderer(b), 0)]
    assert texts_a == texts_b
    assert not np.array_equal(a.account_id, c.account_id)
    assert a.tokens != c.tokens
    assert texts_a != [t.text + t.html for t in status_texts(c, Renderer(c), 0)]
