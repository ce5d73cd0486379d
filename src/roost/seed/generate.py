"""The deterministic generator behind `roost seed`: a synthetic network that looks real.

Everything here is numpy arrays indexed by account number (0..n-1, oldest account
first) or by status number (0..S-1, in time order); ids are made at the end from
(moment, shard) with Roost's layout (roost.ids). Texts are made later, chunk by chunk,
by `status_chunk` (statuses are the bulk of the bytes), from a generator seeded with
(seed, chunk number), so the whole network depends only on the parameters: the same
seed, size and end moment give the same rows, byte for byte.

The model, in the order it is built:

- accounts: created over the year before the posting window, more of them recently;
  a logical shard each, uniform (as roost.ids.random_shard); 5% locked, 1% bots.
- blocks and mutes: a few percent of accounts block or mute a few others (often
  popular ones). They are dated just after both accounts existed, before anything
  else between them, and nothing ever crosses a block: no follow, request, reply,
  like, boost, bookmark or notification between two accounts with a block either way.
- follows (Chung-Lu with a power law): each account follows a lognormal number of
  others, picked in proportion to a Pareto "attractiveness", so followers are heavy
  tailed; each follow is returned with a probability that falls with the target's
  popularity (friends follow back, celebrities do not). A tenth of the follows of
  locked accounts are still pending follow requests.
- statuses: 45% of accounts never post; the others post a Poisson number of times
  with a lognormal rate, so a few post a lot. Times spread over the window with a
  daily rhythm (quiet at 03:00 UTC, busy in the afternoon). A status is an original
  post, a reply (to an earlier status picked in proportion to its author's
  popularity, among roughly the previous half-day's statuses, so threads form) or a
  boost (picked the same way). Replies mention the parent's author, some posts
  mention a followee, direct posts always mention someone.
- likes and bookmarks go to public/unlisted statuses in proportion to their author's
  popularity and the post's own luck; likers are skewed too.
- notifications exactly as roost.notifications.operations.notify would write them:
  never to oneself, never across a block or to someone who muted the sender with
  hide_notifications, one per (activity, recipient).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from roost.ids import (
    NODE_SHIFT,
    ROOST_EPOCH_MS,
    SHARD_BITS,
    SHARD_COUNT,
    SHARD_SHIFT,
    TIMESTAMP_SHIFT,
)
from roost.seed import words
from roost.statuses.html import (
    _hashtag_link,
    _link,
    _mention_link,
    hashtag_url,
    normalise_hashtag,
    render_plain_text,
)

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
WEEK_MS = 7 * DAY_MS
HISTORY_MS = 52 * WEEK_MS  # accounts were created over the year before the window

# The node seeded ids carry. Any fixed value is safe because every seeded id is stamped
# before `end_ms`, which the command takes at or before the moment it starts (midnight
# UTC of today by default): a live server stamps next_id() with its clock, so the ids it
# issues from then on sort after every seeded one and cannot equal any. A server that
# ran earlier against this database created no accounts (seeding refuses a database
# that has any), so it made nothing the seed could collide with but applications and
# app tokens, and the command checks those few ids (load.check_free_ids). A fixed node,
# rather than a leased one, keeps the output the same from run to run.
SEED_NODE = 255

# Sequence numbers (the id's low 4 bits) are split between kinds of rows, so that ids of
# different tables never coincide either: notifications point at follows, favourites,
# requests and statuses by id (activity_id), and those must be told apart.
SEQ = {
    "accounts": (0, 2),
    "access_tokens": (2, 1),
    "tags": (3, 1),
    "statuses": (4, 4),
    "follows": (8, 2),
    "follow_requests": (10, 1),
    "blocks": (11, 1),
    "mutes": (11, 1),
    "favourites": (12, 2),
    "bookmarks": (14, 1),
    "notifications": (15, 1),
}

KIND_POST, KIND_REPLY, KIND_BOOST = 0, 1, 2
PARETO_ALPHA = 1.0  # the popularity tail: smaller is heavier
MAX_FOLLOWED_SHARE = 0.07  # the most followed account: about this share of all users
BACK_SHARE, BACK_SCALE = 0.5, 15.0  # follow-back chance, and the audience it halves at
NOTIFICATION_TYPES = ("follow", "follow_request", "favourite", "reblog", "mention")
SCOPES = "read write follow push"
MAX_STATUS_CHARS = 500


@dataclass(frozen=True)
class Params:
    users: int
    seed: int
    end_ms: int
    follows_mean: float = 40.0
    posts_mean: float = 20.0
    weeks: float = 4.0
    likes_mean: float | None = None  # None: as many likes as posts
    base_url: str = "http://localhost:8000"

    @property
    def start_ms(self) -> int:
        return self.end_ms - int(self.weeks * WEEK_MS)


@dataclass
class Network:
    params: Params
    # accounts, by number (oldest first)
    account_id: I64
    account_ms: I64
    shard: I64
    locked: B
    bot: B
    usernames: list[str]
    display_names: list[str]
    token_id: I64
    tokens: list[str]
    application_id: int
    client_id: str
    client_secret: str
    # edges: (account number, target number, id)
    follow_src: I32
    follow_dst: I32
    follow_id: I64
    request_src: I32
    request_dst: I32
    request_id: I64
    block_src: I32
    block_dst: I32
    block_id: I64
    mute_src: I32
    mute_dst: I32
    mute_id: I64
    mute_hide: B
    # statuses, by number (time order)
    status_id: I64
    status_author: I32
    status_kind: I8
    status_visibility: I8
    status_parent: I64  # status number replied to, -1
    status_reblog: I64  # status number boosted, -1
    status_mention: I32  # an extra account mentioned, -1
    status_tags: I32  # (S, 3) tag numbers, -1 for none
    status_spoiler: I8  # index into words.SPOILERS + 1, 0 for none
    tag_names: list[str]
    tag_id: I64  # per tag number; 0 when the tag is never used
    # likes and bookmarks: (account number, status number, id)
    favourite_account: I32
    favourite_status: I64
    favourite_id: I64
    bookmark_account: I32
    bookmark_status: I64
    bookmark_id: I64
    # notifications
    notification_id: I64
    notification_account: I32
    notification_from: I32
    notification_type: I8  # index into NOTIFICATION_TYPES
    notification_status: I64  # status number, -1
    notification_activity: I64  # the activity's id
    # derived counters
    statuses_count: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    followers_count: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    following_count: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    last_status_ms: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    replies_count: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    reblogs_count: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    favourites_count: I64 = field(default_factory=lambda: np.zeros(0, np.int64))
    activity_weight: F64 = field(default_factory=lambda: np.zeros(0, np.float64))

    @property
    def users(self) -> int:
        return len(self.account_id)

    def row_counts(self) -> dict[str, int]:
        tagged = int((self.status_tags >= 0).sum())
        mentions = int(self.mention_pairs()[0].size)
        return {
            "accounts": self.users,
            "account_stats": self.users,
            "users": self.users,
            "applications": 1,
            "access_tokens": self.users,
            "tags": int((self.tag_id != 0).sum()),
            "statuses": len(self.status_id),
            "status_stats": len(self.status_id),
            "mentions": mentions,
            "status_tags": tagged,
            "follows": len(self.follow_id),
            "follow_requests": len(self.request_id),
            "blocks": len(self.block_id),
            "mutes": len(self.mute_id),
            "favourites": len(self.favourite_id),
            "bookmarks": len(self.bookmark_id),
            "notifications": len(self.notification_id),
        }

    def mention_pairs(self) -> tuple[I64, I32]:
        """(status number, account number) of every mention, unique, in status order."""
        return _mention_pairs(self)


# --------------------------------------------------------------------------- ids


def make_ids(ms: I64, shard: I64, table: str, end_ms: int) -> I64:
    """Roost ids for rows stamped `ms` on `shard`, unique: rows that would share a
    millisecond, shard and node get consecutive sequence numbers from the table's
    range, and the rare overflow moves to the next free millisecond."""
    seq_lo, seq_n = SEQ[table]
    ms = ms.astype(np.int64, copy=True)
    shard = shard.astype(np.int64, copy=False)
    if ms.size == 0:
        return ms
    while True:
        key = (ms << SHARD_BITS) | shard
        # Only the rows whose key repeats need ranks: find the repeated keys from a
        # plain sort (faster than an argsort of everything), then order those rows.
        ordered = np.sort(key)
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        del ordered
        if repeated.size == 0:
            rows = rank = np.zeros(0, np.int64)
            break
        rows = np.flatnonzero(_in_sorted(key, _unique(repeated)))
        rows = rows[np.argsort(key[rows], kind="stable")]
        same = np.zeros(rows.size, bool)
        same[1:] = key[rows[1:]] == key[rows[:-1]]
        del key
        index = np.arange(rows.size)
        rank = index - np.maximum.accumulate(np.where(same, 0, index))
        over = rank >= seq_n
        if not over.any():
            break
        ms[rows[over]] += 1
    if ms.max() >= end_ms:
        raise RuntimeError("seeded ids would reach the end of the window; use fewer rows")
    sequence = np.full(ms.size, seq_lo, np.int64)
    sequence[rows] += rank
    return (
        ((ms - ROOST_EPOCH_MS) << TIMESTAMP_SHIFT)
        | (shard << SHARD_SHIFT)
        | (SEED_NODE << NODE_SHIFT)
        | sequence
    )


def ms_of(ids: I64) -> I64:
    return (ids >> TIMESTAMP_SHIFT) + ROOST_EPOCH_MS


def shard_of(ids: I64) -> I64:
    return (ids >> SHARD_SHIFT) & (SHARD_COUNT - 1)


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# --------------------------------------------------------------------------- helpers


def _pair_keys(a: npt.NDArray[Any], b: npt.NDArray[Any], n: int) -> I64:
    return a.astype(np.int64) * n + b.astype(np.int64)


def _unique(keys: I64) -> I64:
    """Sorted distinct values (np.unique hashes first in numpy 2, which is slower here)."""
    ordered = np.sort(keys)
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    distinct: I64 = ordered[keep]
    return distinct


def _in_sorted(keys: I64, table: I64) -> B:
    """keys that are in `table` (sorted, unique)."""
    if table.size == 0 or keys.size == 0:
        return np.zeros(keys.size, bool)
    at = np.searchsorted(table, keys)
    at[at >= table.size] = table.size - 1
    found: B = table[at] == keys
    return found


def _after(rng: np.random.Generator, ms: I64, end_ms: int, mean_ms: float) -> I64:
    """Moments a while after `ms` (exponential delay), strictly before end_ms."""
    delay = rng.exponential(mean_ms, ms.size)
    room = (end_ms - 1 - ms).astype(np.float64)
    late = delay >= room
    delay[late] = room[late] * rng.random(int(late.sum()))
    return ms + 1 + np.minimum(delay, np.maximum(room - 1, 0)).astype(np.int64)


def _weighted(rng: np.random.Generator, weights: F64, size: int) -> I64:
    """`size` indexes drawn in proportion to `weights` (with replacement)."""
    cumulative = np.cumsum(weights)
    # Sorted queries walk the table once (random ones miss the cache); then shuffled.
    drawn = np.sort(rng.random(size)) * cumulative[-1]
    picked: I64 = np.searchsorted(cumulative, drawn, side="right").astype(np.int64)
    shuffled: I64 = rng.permutation(np.minimum(picked, weights.size - 1))
    return shuffled


def max_followed_share(n: int) -> float:
    """The share of all users the most followed account expects as followers: about
    MAX_FOLLOWED_SHARE at a million users, more in smaller networks (as in real ones)."""
    return min(1.0, MAX_FOLLOWED_SHARE * float((1_000_000 / max(n, 1)) ** 0.3))


def _cap_popularity(attract: F64, n: int, follows_mean: float) -> F64:
    """Popularity cut so that no account expects more than max_followed_share(n) of
    all users as followers: a Pareto(1) tail left alone gives one account of a million
    the majority of everyone. The cap c solves c = ratio * sum(min(attract, c))."""
    ratio = max_followed_share(n) * 1.15 / max(follows_mean, 0.01)  # 1.15: see follows
    if ratio >= 1.0:
        return attract
    cap = ratio * float(attract.sum())
    for _ in range(50):
        new_cap = ratio * float(np.minimum(attract, cap).sum())
        if new_cap >= cap * (1 - 1e-9):
            break
        cap = new_cap
    capped: F64 = np.minimum(attract, cap)
    return capped


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --------------------------------------------------------------------------- generate


def generate(params: Params) -> Network:
    n = params.users
    if n < 2:
        raise ValueError("seed at least 2 users")
    rng = np.random.default_rng([params.seed, n, 1])
    start_ms, end_ms = params.start_ms, params.end_ms

    # --- accounts
    created = start_ms - (HISTORY_MS * rng.random(n) ** 2).astype(np.int64)
    created.sort()  # account number = age order, oldest first
    shard = rng.integers(0, SHARD_COUNT, n).astype(np.int64)
    account_id = make_ids(created, shard, "accounts", end_ms)
    locked = rng.random(n) < 0.05
    bot = rng.random(n) < 0.01
    first = rng.integers(0, len(words.FIRST_NAMES), n)
    last = rng.integers(0, len(words.LAST_NAMES), n)
    usernames = [
        f"{words.FIRST_NAMES[f].lower()}{i}" for i, f in enumerate(first.tolist())
    ]
    display_names = [
        f"{words.FIRST_NAMES[f]} {words.LAST_NAMES[s]}"
        for f, s in zip(first.tolist(), last.tolist(), strict=True)
    ]
    token_ms = created + 1 + rng.integers(0, 60_000, n)
    token_id = make_ids(token_ms, rng.integers(0, SHARD_COUNT, n), "access_tokens", end_ms)
    secrets_raw = rng.bytes(32 * (n + 2))
    tokens = [_token(secrets_raw[32 * i : 32 * i + 32]) for i in range(n)]
    app_ms = np.array([created[0] - 1], np.int64)
    application_id = int(
        make_ids(app_ms, rng.integers(0, SHARD_COUNT, 1), "access_tokens", end_ms)[0]
    )
    client_id = _token(secrets_raw[32 * n : 32 * n + 32])
    client_secret = _token(secrets_raw[32 * n + 32 :])

    # Popularity: Pareto, a little more for older accounts (they had time to grow).
    age = (start_ms - created) / HISTORY_MS
    attract = (rng.pareto(PARETO_ALPHA, n) + 1.0) * (0.5 + age)
    attract = _cap_popularity(attract, n, params.follows_mean)
    # Activity: 45% never post; the rest post at a lognormal rate.
    lurker = rng.random(n) < 0.45
    activity = rng.lognormal(0.0, 1.3, n)
    activity[lurker] = 0.0

    # --- blocks and mutes (dated just after both accounts existed)
    def pick_edges(share: float, mean: float) -> tuple[I32, I32]:
        actors = np.flatnonzero(rng.random(n) < share)
        counts = 1 + rng.poisson(mean - 1, actors.size)
        src = np.repeat(actors, counts)
        dst = _weighted(rng, attract, src.size)
        keep = src != dst
        keys = _unique(_pair_keys(src[keep], dst[keep], n))
        return (keys // n).astype(np.int32), (keys % n).astype(np.int32)

    block_src, block_dst = pick_edges(0.03, 2.0)
    mute_src, mute_dst = pick_edges(0.04, 2.0)

    def early(a: I32, b: I32) -> I64:
        both = np.maximum(created[a], created[b])
        return both + 1 + rng.integers(0, 10 * 60_000, a.size)

    block_id = make_ids(early(block_src, block_dst), shard[block_src], "blocks", end_ms)
    mute_id = make_ids(early(mute_src, mute_dst), shard[mute_src], "mutes", end_ms)
    mute_hide = rng.random(mute_src.size) < 0.8
    block_keys = _unique(
        np.concatenate(
            [_pair_keys(block_src, block_dst, n), _pair_keys(block_dst, block_src, n)]
        )
    )
    hide_keys = _unique(_pair_keys(mute_src[mute_hide], mute_dst[mute_hide], n))

    # --- follows
    cap = max(1, min(n - 1, int(n * 0.5)))
    sigma = 1.0
    # Follow-backs add about a sixth to the follows drawn: drawn less, the mean is right.
    mean = max(params.follows_mean, 0.01) / 1.15
    want = rng.lognormal(math.log(mean) - sigma**2 / 2, sigma, n)
    want *= 0.6 + 0.8 * (activity > 0)  # posters follow more than lurkers
    out_degree = np.minimum(rng.poisson(want), cap)
    # Popular accounts are drawn again and again by the same follower; the duplicates
    # are drawn anew (a few rounds) so that everyone gets about the follows they wanted.
    keys = np.zeros(0, np.int64)
    need = out_degree
    for _ in range(4):
        src = np.repeat(np.arange(n, dtype=np.int64), need)
        dst = _weighted(rng, attract, src.size)
        fresh = src != dst
        keys = _unique(np.concatenate([keys, _pair_keys(src[fresh], dst[fresh], n)]))
        need = np.maximum(out_degree - np.bincount(keys // n, minlength=n), 0)
        if need.sum() <= 0.01 * out_degree.sum():
            break
    src, dst = keys // n, keys % n
    # Friends follow back; popular accounts rarely do.
    expected_in = attract / attract.sum() * max(src.size, 1)
    back = rng.random(src.size) < BACK_SHARE * np.minimum(
        1.0, BACK_SCALE / np.maximum(expected_in[dst], 1e-9)
    )
    keys = _unique(np.concatenate([keys, _pair_keys(dst[back], src[back], n)]))
    keys = keys[~_in_sorted(keys, block_keys)]
    follow_src = (keys // n).astype(np.int32)
    follow_dst = (keys % n).astype(np.int32)
    pending = locked[follow_dst] & (rng.random(follow_src.size) < 0.1)
    request_src, request_dst = follow_src[pending], follow_dst[pending]
    follow_src, follow_dst = follow_src[~pending], follow_dst[~pending]
    both = np.maximum(created[follow_src], created[follow_dst])
    follow_ms = both + 1 + ((end_ms - 2 - both) * rng.random(both.size)).astype(np.int64)
    follow_id = make_ids(follow_ms, shard[follow_src], "follows", end_ms)
    both = np.maximum(created[request_src], created[request_dst])
    request_ms = both + 1 + ((end_ms - 2 - both) * rng.random(both.size)).astype(np.int64)
    request_id = make_ids(request_ms, shard[request_src], "follow_requests", end_ms)
    followers_count = np.bincount(follow_dst, minlength=n).astype(np.int64)
    following_count = np.bincount(follow_src, minlength=n).astype(np.int64)

    del keys, src, dst, back, expected_in, pending, both, follow_ms, request_ms  # memory
    # --- statuses: how many, by whom, when
    rate = activity * (params.posts_mean / max(activity.mean(), 1e-12))
    posts = rng.poisson(rate)
    author = np.repeat(np.arange(n, dtype=np.int32), posts)
    total = author.size
    days = max(1, int(params.weeks * 7))
    hours = np.arange(24)
    rhythm = 0.3 + 0.7 * (1 + np.cos(2 * np.pi * (hours - 15) / 24)) / 2
    hour = _weighted(rng, rhythm, total)
    day = rng.integers(0, days, total)
    # The hour is of the UTC day (whatever moment the window starts at).
    clock = (hour * HOUR_MS + rng.integers(0, HOUR_MS, total) - start_ms % DAY_MS) % DAY_MS
    ms = start_ms + day * DAY_MS + clock
    ms = np.minimum(ms, end_ms - 1 - 16)  # a short window (weeks < 1 day) stays inside
    order = np.argsort(ms, kind="stable")
    ms, author = ms[order], author[order]
    roll = rng.random(total)
    kind = np.where(roll < 0.15, KIND_BOOST, np.where(roll < 0.45, KIND_REPLY, KIND_POST))
    kind = kind.astype(np.int8)
    visibility = _weighted(rng, np.array([0.76, 0.12, 0.09, 0.03]), total).astype(np.int8)
    visibility[kind == KIND_BOOST] = 0
    luck = rng.lognormal(0.0, 1.0, total)
    popularity = (followers_count[author] + 1.0) ** 0.9 * luck
    eligible = (kind != KIND_BOOST) & (visibility <= 1)
    weight = np.where(eligible, popularity, 0.0)

    # Replies and boosts: an earlier eligible status among about the last half-day's,
    # in proportion to its weight (a prefix sum makes any window one subtraction).
    per_half_day = max(1.0, total / (days * 2))
    cumulative = np.cumsum(weight)
    target = np.full(total, -1, np.int64)
    pickers = np.flatnonzero(kind != KIND_POST)
    window = np.ceil(rng.exponential(per_half_day, pickers.size)).astype(np.int64)
    low = np.maximum(pickers - window, 0)
    below = np.where(low > 0, cumulative[np.maximum(low - 1, 0)], 0.0)
    upper = np.where(pickers > 0, cumulative[np.maximum(pickers - 1, 0)], 0.0)
    span = upper - below
    usable = span > 0
    draw = below + rng.random(pickers.size) * span
    chosen = np.searchsorted(cumulative, draw, side="right")
    chosen = np.minimum(chosen, np.maximum(pickers - 1, 0))
    ok = usable & (weight[np.minimum(chosen, total - 1)] > 0) & (chosen < pickers)
    target[pickers[ok]] = chosen[ok]
    has = target >= 0
    crossing = np.zeros(total, bool)
    crossing[has] = _in_sorted(
        _pair_keys(author[has], author[target[has]], n), block_keys
    )
    target[crossing] = -1
    is_boost = kind == KIND_BOOST
    self_boost = is_boost & (target >= 0)
    self_boost[self_boost] = author[self_boost] == author[target[self_boost]]
    target[self_boost] = -1
    # A boost without a target, or a second boost of the same status, is not made.
    boost_rows = np.flatnonzero(is_boost & (target >= 0))
    boost_keys = _pair_keys(author[boost_rows], target[boost_rows], total)
    _, first_of = np.unique(boost_keys, return_index=True)
    keep_boost = np.zeros(total, bool)
    keep_boost[boost_rows[first_of]] = True
    keep = ~is_boost | keep_boost
    renumber = np.cumsum(keep) - 1
    ms, author, kind, visibility, weight = (
        ms[keep], author[keep], kind[keep], visibility[keep], weight[keep],
    )
    target = target[keep]
    target = np.where(target >= 0, renumber[np.maximum(target, 0)], -1)
    total = ms.size
    is_boost = kind == KIND_BOOST
    parent = np.where(~is_boost, target, -1)
    reblog = np.where(is_boost, target, -1)
    kind[(kind == KIND_REPLY) & (parent < 0)] = KIND_POST

    del cumulative, pickers, window, low, below, upper, span, draw, chosen, ok, crossing
    del roll, luck, popularity, boost_rows, boost_keys, keep, renumber, target  # memory

    # Mentions beyond the reply's: some posts name a followee; direct ones must.
    following_start = np.searchsorted(follow_src, np.arange(n + 1))
    mention = np.full(total, -1, np.int32)
    wants_mention = ~is_boost & (
        (rng.random(total) < 0.08) | ((visibility == 3) & (parent < 0))
    )
    wants_mention &= following_count[author] > 0
    who = np.flatnonzero(wants_mention)
    who_author = author[who]
    offset = (rng.random(who.size) * following_count[who_author]).astype(np.int64)
    mention[who] = follow_dst[following_start[who_author] + offset]
    parent_author = np.where(parent >= 0, author[np.maximum(parent, 0)], -1)
    mention[mention == parent_author] = -1
    # A direct status nobody else is mentioned in becomes private.
    lonely = (visibility == 3) & (mention < 0) & ((parent_author < 0) | (parent_author == author))
    visibility[lonely] = 2
    status_id = make_ids(ms, shard[author], "statuses", end_ms)

    # Hashtags: a few popular ones and a long tail (Zipf-like), on 30% of posts.
    tag_names = _tag_vocabulary(rng, n)
    tag_rank = np.arange(len(tag_names))
    tag_weight: F64 = (1.0 / (tag_rank + 2.0) ** 1.1).astype(np.float64)
    how_many = _weighted(rng, np.array([0.70, 0.18, 0.08, 0.04]), total)
    how_many[is_boost] = 0
    status_tags = _weighted(rng, tag_weight, total * 3).reshape(total, 3).astype(np.int32)
    status_tags[np.arange(3)[None, :] >= how_many[:, None]] = -1
    status_tags[:, 1][status_tags[:, 1] == status_tags[:, 0]] = -1
    status_tags[:, 2][
        (status_tags[:, 2] == status_tags[:, 0]) | (status_tags[:, 2] == status_tags[:, 1])
    ] = -1
    first_use = np.full(len(tag_names), np.iinfo(np.int64).max, np.int64)
    for column in range(3):
        used = status_tags[:, column] >= 0
        np.minimum.at(first_use, status_tags[used, column], ms_of(status_id[used]))
    used_tags = first_use != np.iinfo(np.int64).max
    tag_id = np.zeros(len(tag_names), np.int64)
    tag_id[used_tags] = make_ids(
        first_use[used_tags], rng.integers(0, SHARD_COUNT, int(used_tags.sum())), "tags", end_ms
    )
    spoiler = np.where(
        ~is_boost & (rng.random(total) < 0.03),
        rng.integers(1, len(words.SPOILERS) + 1, total),
        0,
    ).astype(np.int8)

    # --- likes and bookmarks: popular posts, skewed likers, never across a block
    liking: F64 = rng.lognormal(0.0, 1.2, n) * (1.0 + activity)

    def interactions(mean: float, table: str, delay_ms: float) -> tuple[I32, I64, I64]:
        if total == 0 or not (weight > 0).any():
            return np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int64)
        count = round(n * mean)
        who = _weighted(rng, liking, count).astype(np.int32)
        what = _weighted(rng, weight, count)
        keys = _unique(_pair_keys(who, what, total))
        who, what = (keys // total).astype(np.int32), keys % total
        fine = (who != author[what]) & ~_in_sorted(_pair_keys(who, author[what], n), block_keys)
        who, what = who[fine], what[fine]
        when = _after(rng, ms[what], end_ms - 16, delay_ms)
        return who, what, make_ids(when, shard[who], table, end_ms)

    likes_mean = params.posts_mean if params.likes_mean is None else params.likes_mean
    favourite_account, favourite_status, favourite_id = interactions(
        likes_mean, "favourites", 6 * HOUR_MS
    )
    bookmark_account, bookmark_status, bookmark_id = interactions(
        0.3, "bookmarks", 12 * HOUR_MS
    )

    net = Network(
        params=params,
        account_id=account_id,
        account_ms=created,
        shard=shard,
        locked=locked,
        bot=bot,
        usernames=usernames,
        display_names=display_names,
        token_id=token_id,
        tokens=tokens,
        application_id=application_id,
        client_id=client_id,
        client_secret=client_secret,
        follow_src=follow_src,
        follow_dst=follow_dst,
        follow_id=follow_id,
        request_src=request_src,
        request_dst=request_dst,
        request_id=request_id,
        block_src=block_src,
        block_dst=block_dst,
        block_id=block_id,
        mute_src=mute_src,
        mute_dst=mute_dst,
        mute_id=mute_id,
        mute_hide=mute_hide,
        status_id=status_id,
        status_author=author,
        status_kind=kind,
        status_visibility=visibility,
        status_parent=parent,
        status_reblog=reblog,
        status_mention=mention,
        status_tags=status_tags,
        status_spoiler=spoiler,
        tag_names=tag_names,
        tag_id=tag_id,
        favourite_account=favourite_account,
        favourite_status=favourite_status,
        favourite_id=favourite_id,
        bookmark_account=bookmark_account,
        bookmark_status=bookmark_status,
        bookmark_id=bookmark_id,
        notification_id=np.zeros(0, np.int64),
        notification_account=np.zeros(0, np.int32),
        notification_from=np.zeros(0, np.int32),
        notification_type=np.zeros(0, np.int8),
        notification_status=np.zeros(0, np.int64),
        notification_activity=np.zeros(0, np.int64),
    )
    _notifications(net, block_keys, hide_keys)
    _counters(net)
    return net


def _tag_vocabulary(rng: np.random.Generator, n: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for name in words.POPULAR_TAGS:
        if normalise_hashtag(name) not in seen:
            seen.add(normalise_hashtag(name))
            names.append(name)
    tail = 200 + n // 20
    pool = [w for w in words.WORDS if w.isalpha()]
    first = rng.integers(0, len(pool), tail * 2).tolist()
    second = rng.integers(0, len(pool), tail * 2).tolist()
    for a, b in zip(first, second, strict=True):
        if len(names) >= len(words.POPULAR_TAGS) + tail:
            break
        name = pool[a] + pool[b].capitalize()
        if normalise_hashtag(name) not in seen:
            seen.add(normalise_hashtag(name))
            names.append(name)
    return names


def _mention_pairs(net: Network) -> tuple[I64, I32]:
    total = net.status_id.size
    parent = net.status_parent
    parent_author = np.where(parent >= 0, net.status_author[np.maximum(parent, 0)], -1)
    reply_mention = (parent >= 0) & (parent_author != net.status_author)
    statuses = np.concatenate(
        [np.flatnonzero(reply_mention), np.flatnonzero(net.status_mention >= 0)]
    ).astype(np.int64)
    accounts = np.concatenate(
        [parent_author[reply_mention], net.status_mention[net.status_mention >= 0]]
    ).astype(np.int32)
    keys = _unique(_pair_keys(statuses, accounts, max(net.users, 1)))
    del total
    return keys // net.users, (keys % net.users).astype(np.int32)


def _notifications(net: Network, block_keys: I64, hide_keys: I64) -> None:
    n = net.users
    mention_status, mention_account = net.mention_pairs()
    author = net.status_author
    boosts = np.flatnonzero(net.status_reblog >= 0)
    parts = [
        # (recipient, sender, type, status number, activity id)
        (net.follow_dst, net.follow_src, 0, np.full(net.follow_id.size, -1), net.follow_id),
        (net.request_dst, net.request_src, 1, np.full(net.request_id.size, -1), net.request_id),
        (
            author[net.favourite_status],
            net.favourite_account,
            2,
            net.favourite_status,
            net.favourite_id,
        ),
        (
            author[net.status_reblog[boosts]],
            author[boosts],
            3,
            net.status_reblog[boosts],
            net.status_id[boosts],
        ),
        (mention_account, author[mention_status], 4, mention_status, net.status_id[mention_status]),
    ]
    # Filtered part by part (smaller temporaries), then put together.
    kept: list[tuple[I32, I32, I8, I64, I64]] = []
    for part in parts:
        to = np.asarray(part[0], np.int32)
        by = np.asarray(part[1], np.int32)
        keys = _pair_keys(to, by, n)
        fine = (to != by) & ~_in_sorted(keys, block_keys)
        fine &= ~_in_sorted(keys, hide_keys)
        del keys
        kept.append((
            to[fine],
            by[fine],
            np.full(int(fine.sum()), part[2], np.int8),
            np.asarray(part[3], np.int64)[fine],
            np.asarray(part[4], np.int64)[fine],
        ))
    del parts
    recipient = np.concatenate([k[0] for k in kept])
    sender = np.concatenate([k[1] for k in kept])
    kind = np.concatenate([k[2] for k in kept])
    status = np.concatenate([k[3] for k in kept])
    activity = np.concatenate([k[4] for k in kept])
    del kept
    net.notification_id = make_ids(
        ms_of(activity), net.shard[recipient], "notifications", net.params.end_ms
    )
    net.notification_account = recipient
    net.notification_from = sender
    net.notification_type = kind
    net.notification_status = status
    net.notification_activity = activity


def _counters(net: Network) -> None:
    n, total = net.users, net.status_id.size
    author = net.status_author
    net.statuses_count = np.bincount(author, minlength=n).astype(np.int64)
    net.followers_count = np.bincount(net.follow_dst, minlength=n).astype(np.int64)
    net.following_count = np.bincount(net.follow_src, minlength=n).astype(np.int64)
    last = np.full(n, -1, np.int64)
    np.maximum.at(last, author, ms_of(net.status_id))
    net.last_status_ms = last
    parent = net.status_parent
    net.replies_count = np.bincount(parent[parent >= 0], minlength=total).astype(np.int64)
    reblog = net.status_reblog
    net.reblogs_count = np.bincount(reblog[reblog >= 0], minlength=total).astype(np.int64)
    net.favourites_count = np.bincount(net.favourite_status, minlength=total).astype(np.int64)
    acts = net.statuses_count + np.bincount(net.favourite_account, minlength=n)
    net.activity_weight = acts / max(int(acts.sum()), 1)


# --------------------------------------------------------------------------- texts

CHUNK = 50_000
SENTENCES = 8192


@dataclass
class StatusText:
    text: str
    html: str
    spoiler: str


class Renderer:
    """Renders texts exactly as statuses.content.prepare does, given that every
    @name and #tag written resolves (they are all seeded).

    `render` is statuses.html.render_plain_text itself. status_texts builds the same
    HTML faster for the texts it writes: their bodies are plain words (letters,
    spaces, and . ! ?), which that function leaves as they are, and everything else
    is a mention, link or hashtag separated by single spaces, so each is the markup
    statuses.html writes for it (made once per account and tag, by its own
    functions). Tests compare the two, and the stored HTML with what content.prepare
    renders."""

    def __init__(self, net: Network) -> None:
        self.base = net.params.base_url.rstrip("/")
        self.usernames = net.usernames
        self._by_lower: dict[str, str] | None = None
        self.tags = {normalise_hashtag(name) for name in net.tag_names}
        # The markup of every tag, by tag number; of mentions, by account, as needed.
        self.tag_html = [
            _hashtag_link(hashtag_url(self.base, name), name) for name in net.tag_names
        ]
        self._mentions: dict[int, str] = {}
        # Sentences posts are made of: plain words, a capital, a full stop.
        rng = np.random.default_rng([net.params.seed, net.users, 3])
        pool = words.WORDS
        sizes = rng.integers(3, 14, SENTENCES).tolist()
        picks = rng.integers(0, len(pool), sum(sizes)).tolist()
        ends = rng.random(SENTENCES).tolist()
        self.sentences: list[str] = []
        at = 0
        for size, end in zip(sizes, ends, strict=True):
            sentence = " ".join([pool[w] for w in picks[at : at + size]])
            at += size
            stop = "!" if end < 0.08 else "?" if end < 0.15 else "."
            self.sentences.append(sentence[0].upper() + sentence[1:] + stop)

    def mention(self, name: str, domain: str | None) -> tuple[str, str] | None:
        if domain is not None:
            return None
        if self._by_lower is None:
            self._by_lower = {name.lower(): name for name in self.usernames}
        username = self._by_lower.get(name.lower())
        return None if username is None else (f"{self.base}/@{username}", username)

    def hashtag(self, name: str) -> str | None:
        return hashtag_url(self.base, name) if normalise_hashtag(name) in self.tags else None

    def render(self, text: str) -> str:
        return render_plain_text(text, mention=self.mention, hashtag=self.hashtag)

    def mention_html(self, account: int) -> str:
        """The markup of @username of account number `account`."""
        done = self._mentions.get(account)
        if done is None:
            if len(self._mentions) > 500_000:
                self._mentions.clear()
            username = self.usernames[account]
            done = _mention_link(f"{self.base}/@{username}", username)
            self._mentions[account] = done
        return done


@dataclass
class StatusTexts:
    """The texts of a chunk of statuses, as columns (boosts: all empty)."""

    text: list[str]
    html: list[str]
    spoiler: list[str]


def chunk_texts(net: Network, renderer: Renderer, chunk: int) -> StatusTexts:
    """The texts of statuses CHUNK*chunk .. CHUNK*(chunk+1)-1 (boosts have none)."""
    lo = chunk * CHUNK
    hi = min(net.status_id.size, lo + CHUNK)
    rng = np.random.default_rng([net.params.seed, net.users, 2, chunk])
    count = hi - lo
    sentences = renderer.sentences
    # Sentences per post: mostly one to three, sometimes many (a long post).
    length = np.clip(rng.lognormal(0.6, 0.7, count), 1, 40).astype(np.int64)
    picks = rng.integers(0, len(sentences), int(length.sum())).tolist()
    extras = rng.random((count, 3))
    split = extras[:, 1] < 0.5
    linked = (extras[:, 2] < 0.05).tolist()
    link_paths = rng.integers(0, 100_000, count).tolist()
    texts: list[str] = []
    htmls: list[str] = []
    spoiler_texts: list[str] = []
    position = 0
    usernames = net.usernames
    tag_names = net.tag_names
    tag_html = renderer.tag_html
    mention_html = renderer.mention_html
    hosts = words.LINK_HOSTS
    spoiler_words = ("", *words.SPOILERS)
    kinds = net.status_kind[lo:hi]
    parents = net.status_parent[lo:hi]
    authors = net.status_author[lo:hi]
    # The author replied to, when it is someone else (-1 otherwise).
    replied = np.where(parents >= 0, net.status_author[np.maximum(parents, 0)], -1)
    replied = np.where(replied != authors, replied, -1).tolist()
    boosts = (kinds == KIND_BOOST).tolist()
    mentioned = net.status_mention[lo:hi].tolist()
    spoilers = net.status_spoiler[lo:hi].tolist()
    tag_rows = net.status_tags[lo:hi].tolist()
    lengths = length.tolist()
    splits = split.tolist()
    for k in range(count):
        size = lengths[k]
        end = position + size
        if boosts[k]:
            position = end
            texts.append("")
            htmls.append("")
            spoiler_texts.append("")
            continue
        # A paragraph break in some longer posts.
        if size >= 4 and splits[k]:
            half = position + size // 2
            body = (
                " ".join([sentences[j] for j in picks[position:half]])
                + "\n\n"
                + " ".join([sentences[j] for j in picks[half:end]])
            )
        else:
            body = " ".join([sentences[j] for j in picks[position:end]])
        position = end
        prefix = head = tail = tail_html = ""
        parent_author = replied[k]
        if parent_author >= 0:
            prefix = f"@{usernames[parent_author]} "
            head = mention_html(parent_author) + " "
        mention = mentioned[k]
        if mention >= 0:
            if splits[k]:
                tail = f" cc @{usernames[mention]}"
                tail_html = " cc " + mention_html(mention)
            else:
                prefix = f"{prefix}@{usernames[mention]} "
                head = head + mention_html(mention) + " "
        if linked[k]:
            url = f"https://{hosts[link_paths[k] % 4]}/p/{link_paths[k]}"
            tail = f"{tail} {url}"
            tail_html = f"{tail_html} {_link(url)}"
        row = tag_rows[k]
        if row[0] >= 0 or row[1] >= 0 or row[2] >= 0:
            tags = [t for t in row if t >= 0]
            tail += " " + " ".join(["#" + tag_names[t] for t in tags])
            tail_html += " " + " ".join([tag_html[t] for t in tags])
        spoiler = spoiler_words[spoilers[k]]
        # Cut the words, never a mention or a tag: text and warning fit the status limit.
        room = MAX_STATUS_CHARS - len(spoiler) - len(prefix) - len(tail)
        if len(body) > room:
            body = body[:room].rstrip()
        texts.append(prefix + body + tail)
        htmls.append("<p>" + head + body.replace("\n\n", "</p><p>") + tail_html + "</p>")
        spoiler_texts.append(spoiler)
    return StatusTexts(texts, htmls, spoiler_texts)


def status_texts(net: Network, renderer: Renderer, chunk: int) -> list[StatusText]:
    """chunk_texts, one object per status."""
    made = chunk_texts(net, renderer, chunk)
    return [
        StatusText(text, html, spoiler)
        for text, html, spoiler in zip(made.text, made.html, made.spoiler, strict=True)
    ]


def chunk_count(net: Network) -> int:
    return (net.status_id.size + CHUNK - 1) // CHUNK


# --------------------------------------------------------------------------- shape


def shape(net: Network) -> dict[str, float]:
    """The numbers that say whether the network looks real (docs/loadlab.md)."""
    n = net.users
    followers = np.sort(net.followers_count)[::-1]
    top = max(1, n // 100)
    pairs = _pair_keys(net.follow_src, net.follow_dst, n)
    reverse = np.sort(_pair_keys(net.follow_dst, net.follow_src, n))
    posts = np.sort(net.statuses_count)[::-1]
    hour = (ms_of(net.status_id) % DAY_MS) // HOUR_MS
    day_posts = int(((hour >= 12) & (hour < 20)).sum())
    night_posts = int(((hour >= 0) & (hour < 8)).sum())
    return {
        "users": float(n),
        "follows": float(net.follow_id.size),
        "statuses": float(net.status_id.size),
        "favourites": float(net.favourite_id.size),
        "notifications": float(net.notification_id.size),
        "top1pct_follower_share": float(followers[:top].sum() / max(followers.sum(), 1)),
        "median_followers": float(np.median(net.followers_count)),
        "max_followers": float(followers[0]) if n else 0.0,
        "never_posted_share": float((net.statuses_count == 0).mean()),
        "top10pct_status_share": float(posts[: max(1, n // 10)].sum() / max(posts.sum(), 1)),
        "reciprocity": float(_in_sorted(pairs, reverse).mean()) if pairs.size else 0.0,
        "day_night_ratio": day_posts / max(night_posts, 1),
    }
