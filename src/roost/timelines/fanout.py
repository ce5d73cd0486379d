"""The home-timeline consumer: fan-out on write into Redis timelines (redis_home).

The database pull query (timelines.home) is the specification: an account's Redis
timeline holds exactly the statuses that query would give it, newest first, up to
the timeline's size. So the fan-out asks the database which followers may see a
status with the pull query's own predicates (visibility, blocks, mutes, show_reblogs),
one page of followers at a time, and adds the status to those followers' timelines
in one Redis round trip per page. Only timelines that exist take it: one that was
never built, or expired because its owner stopped visiting, is rebuilt from the pull
query on the next visit (build_timeline).

Order does not matter, and neither do repeats: adding and removing are set
operations, and each handler re-reads the rows it acts on (a status deleted before
its StatusCreated got here has no followers who may see it: the visibility predicate
joins the status row). Relationship changes edit the one timeline they concern:

- follow: the followed account's newest statuses merged in;
- unfollow, block, mute: that account's statuses (and, for a mute, boosts of them)
  taken out;
- unmute, a follow's show_reblogs changed: the timeline rebuilt.

Without a Redis (the embedded mode) there is nothing to deliver: home is the pull
query, and this consumer is not run.
"""

from __future__ import annotations

import asyncio
import enum
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import ColumnElement, Select, and_, exists, literal, not_, or_, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.tables import VISIBILITY_DIRECT, account_stats, blocks, follows, mutes, statuses
from roost.events import types as ev
from roost.events.consumer import Consumer, ServiceUnavailable
from roost.paging import Page
from roost.resilience.breaker import FAILURES
from roost.statuses.visibility import (
    Viewer,
    blocked_between,
    boost_of_muted,
    muted_by,
    not_muted_by,
    visible_to,
)
from roost.timelines.home import Authors, boosts_not_shown, home_query
from roost.timelines.redis_home import HomeTimelines

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from roost.config import Settings
    from roost.context import Roost

FOLLOWERS_PER_ROUND = 1000  # follower_pages: removals, the streaming consumer
# A delivery reads its followers 5,000 at a time (one streamed statement over the follows
# index) and adds to their timelines 1,000 per script call (redis_home.ACCOUNTS_PER_CALL).
FOLLOWERS_PER_PAGE = 5000
RENEW_EVERY_FOLLOWERS = 20_000  # a delivery renews its registration this often


def timelines_of(roost: Roost) -> HomeTimelines:
    """The process's home timelines store (one per Roost context)."""
    if roost.redis is None:
        raise RuntimeError("home timelines need ROOST_REDIS_URL")
    store = roost.home_timelines
    if store is None:
        settings = roost.settings
        store = HomeTimelines(roost.redis, settings.redis_key_prefix,
                              size=settings.home_timeline_size,
                              ttl_s=settings.active_days * 86_400)
        roost.home_timelines = store
    return store


def _shown_to(viewer: Viewer) -> list[Any]:
    """The pull query's per-row rules for `statuses`, as seen by `viewer` (one account,
    or a column of followers)."""
    boost_rule = (boost_of_muted(viewer) if isinstance(viewer, int)
                  else _boost_of_muted_by_column(viewer))
    return [
        visible_to(viewer),
        not_muted_by(viewer, statuses.c.account_id),
        not_(boost_rule),
        not_(boosts_not_shown(viewer)),
    ]


def _boost_of_muted_by_column(viewer: ColumnElement[int]) -> ColumnElement[bool]:
    """visibility.boost_of_muted for a column of viewers. That one nests the mute's
    EXISTS inside the boosted status's, and SQLAlchemy correlates a subquery with its
    immediately enclosing SELECT only: the viewer column's table would be added to the
    inner FROM, uncorrelated (a boost then went to no follower as soon as anyone
    following anyone had muted the boosted author). One level here: same rule."""
    boosted = statuses.alias("boosted")
    return and_(
        statuses.c.reblog_of_id.is_not(None),
        exists(
            select(boosted.c.id)
            .select_from(boosted.join(mutes, mutes.c.target_account_id == boosted.c.account_id))
            .where(boosted.c.id == statuses.c.reblog_of_id, mutes.c.account_id == viewer,
                   or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > utcnow()))
        ),
    )


def followers_shown(status_id: int, author_id: int, after_follow_id: int,
                    limit: int) -> Select[Any]:
    """One page of (follow id, follower id) of the author's followers who would see
    the status on their home timeline, in follow-id order: the pull query's rules for
    each follower. The author is given as a value, not joined from the status: then
    PostgreSQL walks the (target_account_id, id) index in order and stops at the page's
    end, instead of ranking every follower (docs/timelines.md). The delivery uses it
    for direct statuses; the others take `_followers_who_see`'s quicker way to the
    same set."""
    fan = follows.alias("fan")
    return (
        select(fan.c.id, fan.c.account_id)
        .select_from(fan.join(statuses, statuses.c.account_id == fan.c.target_account_id))
        .where(fan.c.target_account_id == author_id, fan.c.id > after_follow_id,
               statuses.c.id == status_id, *_shown_to(fan.c.account_id))
        .order_by(fan.c.id)
        .limit(limit)
    )


def all_followers(author_id: int, after_follow_id: int, limit: int) -> Select[Any]:
    return (
        select(follows.c.id, follows.c.account_id)
        .where(follows.c.target_account_id == author_id, follows.c.id > after_follow_id)
        .order_by(follows.c.id)
        .limit(limit)
    )


async def follower_pages(
    conn: AsyncConnection, page_query: Callable[[int, int], Select[Any]]
) -> AsyncIterator[list[int]]:
    """Account ids, FOLLOWERS_PER_ROUND at a time, from a (follow id, account id) keyset
    query (`followers_shown`, `all_followers`)."""
    after = 0
    while True:
        rows = (await conn.execute(page_query(after, FOLLOWERS_PER_ROUND))).all()
        if not rows:
            return
        yield [int(row.account_id) for row in rows]
        if len(rows) < FOLLOWERS_PER_ROUND:
            return
        after = int(rows[-1].id)


def fanned_out(settings: Settings) -> Authors:
    """The authors whose statuses Redis timelines hold: those followed by at most
    ROOST_FANOUT_MAX_FOLLOWERS accounts (and the viewer)."""
    return Authors(up_to=settings.fanout_max_followers)


def merged_at_read(settings: Settings) -> Authors:
    """The authors whose statuses a home page read from Redis adds from the database:
    followed by more than half of ROOST_FANOUT_MAX_FOLLOWERS. The overlap with
    `fanned_out` keeps an author who falls back under the limit on their followers'
    pages (their statuses posted while above it are in no timeline) until they lose
    half their followers; a status in both is shown once."""
    return Authors(over=settings.fanout_max_followers // 2)


async def _is_fanned_out(roost: Roost, conn: AsyncConnection, author_id: int) -> bool:
    followers = (await conn.execute(
        select(account_stats.c.followers_count).where(account_stats.c.account_id == author_id)
    )).scalar()
    return (followers or 0) <= roost.settings.fanout_max_followers


def _kept_out(author_id: int, boosted_author_id: int | None) -> Any:
    """The accounts the pull query's per-row rules keep a status of `author_id`'s from,
    whatever its visibility (visibility.py): a block either way with the author
    (`blocked_between`), an unexpired mute of the author (`not_muted_by`), and for a
    boost, of the boosted status's author (`boost_of_muted`). A few rows. The mutes of
    the author by its followers are read through the mutes' (target_account_id,
    account_id) index (migration 0010), a few rows, instead of a probe per follower or
    a scan of every mute."""
    followers = select(follows.c.account_id).where(follows.c.target_account_id == author_id)

    def muters(target: int) -> Select[Any]:
        return select(mutes.c.account_id).where(
            mutes.c.target_account_id == target, mutes.c.account_id.in_(followers),
            or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > utcnow()))

    parts = [select(blocks.c.account_id).where(blocks.c.target_account_id == author_id),
             select(blocks.c.target_account_id).where(blocks.c.account_id == author_id),
             muters(author_id)]
    if boosted_author_id is not None:
        parts.append(muters(boosted_author_id))
    return union(*parts)


async def _followers_who_see(conn: AsyncConnection, author_id: int, status_id: int
                             ) -> AsyncGenerator[list[int], None]:
    """The author's followers whose home timeline shows the status, FOLLOWERS_PER_PAGE
    at a time, in follow order: the set `followers_shown` gives, read more cheaply.

    For a status that is not direct, each follower passes `visible_to` by the follow
    itself (public, unlisted, and private to followers), so what can keep one out is
    known per status, not per follower: blocks and mutes (`_kept_out`, one statement
    per delivery) and, for a boost, the follow's show_reblogs. The followers are then
    the bare follows index, read in one streamed statement, instead of the visibility
    rules evaluated for each follower. All of it is read after the delivery's removal
    counts (`deliver`): a delete, block, mute or unfollow that commits later counts
    itself, and the delivery checks again."""
    boosted = statuses.alias("boosted")
    status = (await conn.execute(
        select(statuses.c.visibility, statuses.c.reblog_of_id,
               boosted.c.account_id.label("boosted_author"))
        .select_from(statuses.outerjoin(boosted, boosted.c.id == statuses.c.reblog_of_id))
        .where(statuses.c.id == status_id, statuses.c.account_id == author_id)
    )).first()
    if status is None:
        return  # deleted before its delivery: nobody sees it
    if status.visibility == VISIBILITY_DIRECT:  # the mentioned followers only
        async for followers in follower_pages(
            conn, lambda after, limit: followers_shown(status_id, author_id, after, limit)
        ):
            yield followers
        return
    kept_out = {int(row[0]) for row in (await conn.execute(
        _kept_out(author_id, status.boosted_author))).all()}
    every_follower = (select(follows.c.account_id)
                      .where(follows.c.target_account_id == author_id).order_by(follows.c.id))
    if status.reblog_of_id is not None:  # boosts_not_shown
        every_follower = every_follower.where(follows.c.show_reblogs.is_not(False))
    # One statement, streamed (a server-side cursor on PostgreSQL): no page's keyset
    # query to build, plan and start, and no follow id to carry.
    result = await conn.stream(every_follower)
    try:
        async for page in result.scalars().partitions(FOLLOWERS_PER_PAGE):
            shown = [int(a) for a in page if a not in kept_out]
            if shown:
                yield shown
    finally:
        await result.close()


async def _recipients(roost: Roost, conn: AsyncConnection, author_id: int,
                      status_id: int) -> AsyncGenerator[list[int], None]:
    """The accounts whose home the status belongs on, a page at a time: the author
    (if the pull query would show it to them) and the followers who may see it, unless
    the author has too many followers to fan out to (their followers' pages merge the
    status in when they are read)."""
    mine = select(literal(1)).where(statuses.c.id == status_id, *_shown_to(author_id))
    if (await conn.execute(mine)).first() is not None:
        yield [author_id]
    if not await _is_fanned_out(roost, conn, author_id):
        return
    async with aclosing(_followers_who_see(conn, author_id, status_id)) as followers_pages:
        async for followers in followers_pages:
            yield followers


async def _next_page(pages: AsyncGenerator[list[int], None]) -> list[int] | None:
    try:
        return await anext(pages)
    except StopAsyncIteration:
        return None


async def _read_ahead(pages: AsyncGenerator[list[int], None]
                      ) -> AsyncGenerator[list[int], None]:
    """The pages of `pages`, the next one read (from the database) while the caller
    works on this one (writes it to Redis). The connection is never used twice at once:
    the caller does not use it until the iteration has ended, which waits for the read
    in progress."""
    upcoming = asyncio.ensure_future(_next_page(pages))
    try:
        while (page := await upcoming) is not None:
            upcoming = asyncio.ensure_future(_next_page(pages))
            yield page
    finally:
        if not upcoming.done():  # the caller stopped early (an error): let the read end
            await asyncio.wait([upcoming])
        if not upcoming.cancelled():
            upcoming.exception()  # retrieved; the caller's own error is the one raised
        await pages.aclose()


async def _watched(conn: AsyncConnection, author_id: int, status_id: int) -> list[int]:
    """The authors whose removals could make this status's delivery stale: its author,
    and for a boost the boosted status's author (a mute takes boosts of them out)."""
    boosted = statuses.alias("boosted")
    row = (await conn.execute(
        select(boosted.c.account_id).select_from(
            statuses.join(boosted, boosted.c.id == statuses.c.reblog_of_id))
        .where(statuses.c.id == status_id)
    )).first()
    return [author_id] if row is None else [author_id, int(row.account_id)]


async def deliver(roost: Roost, conn: AsyncConnection, author_id: int, status_id: int) -> int:
    """Adds the status to the timelines it belongs on. Returns how many took it.

    Write, then check. A removal (a delete, an unfollow, a block, a mute) that commits
    after the recipients were read may run its Redis side before this adds, so:
    - removals count themselves per author before removing (HomeTimelines.bump); if
      the count moved while this ran, the recipients are read again and whoever no
      longer qualifies loses the status (a removal committed after that second read
      runs after this added, and takes the status out itself);
    - this delivery is registered as running while it works; a removal that finds
      one running removes again once it ends, which covers a process that died
      between adding and checking (its registration expires).
    Everything the recipients depend on is read after the counts (begin_delivery).
    The next page of followers is read from the database while this one is written
    to Redis (`_read_ahead`).
    """
    store = timelines_of(roost)
    watched = await _watched(conn, author_id, status_id)
    token = f"{status_id}:{uuid.uuid4().hex[:12]}"
    before = await store.begin_delivery(watched, token)
    sent: list[int] = []
    taken = 0
    unrenewed = 0
    # aclosing: if writing fails, the read in progress ends before the error goes on to
    # the transaction (which rolls back on the same connection).
    async with aclosing(_read_ahead(_recipients(roost, conn, author_id, status_id))) as pages:
        async for accounts in pages:
            taken += await store.add(accounts, [status_id])
            sent += accounts
            unrenewed += len(accounts)
            if unrenewed >= RENEW_EVERY_FOLLOWERS:
                await store.begin_delivery(watched, token)  # still running
                unrenewed = 0
    if await store.changes(watched) != before:
        still = {a async for page in _recipients(roost, conn, author_id, status_id)
                 for a in page}
        await store.remove([a for a in sent if a not in still], [status_id])
    # Not in a `finally`: a delivery that failed before its check must stay registered
    # until it expires, so that removals overlapping it wait and remove again.
    await store.end_delivery(watched, token)
    return taken


async def _remove_after_deliveries(store: HomeTimelines, author_id: int,
                                   status_id: int | None, remove: Any) -> None:
    """Counts the removal, removes, and removes again after the deliveries of the
    author's statuses that were running meanwhile have ended."""
    await store.bump([author_id])
    running = await store.deliveries_in_flight(author_id, status_id)
    await remove()
    if running:
        started = time.monotonic()
        await store.wait_for_deliveries(author_id, running)
        await remove()
        log.info("removal waited for deliveries", author_id=author_id, deliveries=len(running),
                 waited_ms=round((time.monotonic() - started) * 1000))


async def withdraw(roost: Roost, conn: AsyncConnection, author_id: int, status_id: int) -> None:
    """Takes the status out of the author's and every follower's timeline (whoever
    follows now: an unfollow took the author's statuses out already)."""
    store = timelines_of(roost)

    async def remove() -> None:
        await store.remove([author_id], [status_id])
        async for followers in follower_pages(
            conn, lambda after, limit: all_followers(author_id, after, limit)
        ):
            await store.remove(followers, [status_id])

    await _remove_after_deliveries(store, author_id, status_id, remove)


def _author_statuses_shown(viewer_id: int, author_id: int, limit: int) -> Select[Any]:
    return (
        select(statuses.c.id)
        .where(statuses.c.account_id == author_id, *_shown_to(viewer_id),
               # The follow may be gone again by now: then nothing is merged.
               select(follows.c.id).where(follows.c.account_id == viewer_id,
                                          follows.c.target_account_id == author_id).exists())
        .order_by(statuses.c.id.desc())
        .limit(limit)
    )


async def merge_author(roost: Roost, conn: AsyncConnection, viewer_id: int,
                       author_id: int) -> None:
    """Adds the author's newest statuses the viewer would see (after a follow); write,
    then check, as `deliver` does."""
    store = timelines_of(roost)
    if not await store.exists(viewer_id) or not await _is_fanned_out(roost, conn, author_id):
        return
    token = f"merge:{uuid.uuid4().hex[:12]}"
    before = await store.begin_delivery([author_id], token)
    query = _author_statuses_shown(viewer_id, author_id, store.size)
    ids = [int(row.id) for row in (await conn.execute(query)).all()]
    await store.add([viewer_id], ids)
    if await store.changes([author_id]) != before:
        still = {int(row.id) for row in (await conn.execute(query)).all()}
        await store.remove([viewer_id], [i for i in ids if i not in still])
    await store.end_delivery([author_id], token)


class Cut(enum.Enum):
    """Why an author's statuses leave a viewer's timeline."""

    UNFOLLOW = "unfollow"
    BLOCK = "block"
    MUTE = "mute"


def _cut_holds(cut: Cut, viewer_id: int, author_id: int) -> Select[Any]:
    """Whether the reason still stands (the log may bring an unfollow after the
    re-follow that undid it)."""
    if cut is Cut.UNFOLLOW:
        return select(not_(select(follows.c.id).where(
            follows.c.account_id == viewer_id,
            follows.c.target_account_id == author_id).exists()))
    if cut is Cut.BLOCK:
        return select(blocked_between(viewer_id, literal(author_id)))
    return select(muted_by(viewer_id, literal(author_id)))


async def unmerge_author(roost: Roost, conn: AsyncConnection, viewer_id: int, author_id: int,
                         cut: Cut) -> None:
    """Takes the author's statuses out of the viewer's timeline (and boosts of them by
    others, for a mute): one read of the timeline, one query for which of its statuses
    are the author's or gone, one removal.

    Remove, then check: if the reason no longer stands afterwards (a re-follow, an
    unmute committed meanwhile, whose own handler may have run before this removed),
    what was taken out is put back as that handler would have."""
    if not (await conn.execute(_cut_holds(cut, viewer_id, author_id))).scalar():
        return
    store = timelines_of(roost)
    boosted = statuses.alias("boosted")
    by_author = statuses.c.account_id == author_id
    if cut is Cut.MUTE:
        by_author = or_(by_author, and_(
            statuses.c.reblog_of_id.is_not(None),
            select(boosted.c.id).where(boosted.c.id == statuses.c.reblog_of_id,
                                       boosted.c.account_id == author_id).exists(),
        ))

    async def remove() -> None:
        members = await store.members_any(viewer_id)
        if not members:
            return
        # Statuses deleted meanwhile go too: their own removal reached the author's
        # followers as they are by then, which the viewer may no longer be.
        found = select(statuses.c.id, by_author.label("theirs")).where(
            statuses.c.id.in_(members))
        rows = (await conn.execute(found)).all()
        kept = {int(row.id) for row in rows if not row.theirs}
        await store.remove([viewer_id], [m for m in members if m not in kept])

    await _remove_after_deliveries(store, author_id, None, remove)
    if not (await conn.execute(_cut_holds(cut, viewer_id, author_id))).scalar():
        if cut is Cut.MUTE:
            await rebuild_if_built(roost, conn, viewer_id)
        else:
            await merge_author(roost, conn, viewer_id, author_id)


async def build_timeline(roost: Roost, conn: AsyncConnection, viewer_id: int) -> list[int]:
    """(Re)builds the viewer's timeline from the pull query; returns its status ids,
    newest first. The fan-out adds to it from the moment it is begun. The query is read
    once more before the timeline is marked complete, and what left it meanwhile is
    taken out (write, then check, as `deliver` does: a rebuild cannot watch every
    author it reads); a rebuild cut short leaves a timeline that is never complete."""
    store = timelines_of(roost)
    await store.begin_build(viewer_id)
    query = home_query(viewer_id, Page(limit=store.size), conn.dialect.name,
                       fanned_out(roost.settings))
    ids = sorted((int(row.id) for row in (await conn.execute(query)).all()), reverse=True)
    await store.fill(viewer_id, ids)
    still = {int(row.id) for row in (await conn.execute(query)).all()}
    await store.remove([viewer_id], [i for i in ids if i not in still])
    await store.finish_build(viewer_id)
    return [i for i in ids if i in still]


async def rebuild_if_built(roost: Roost, conn: AsyncConnection, viewer_id: int) -> None:
    if await timelines_of(roost).exists(viewer_id):
        await build_timeline(roost, conn, viewer_id)


async def handle(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
    try:
        await _apply(roost, conn, event)
    except FAILURES as error:  # Redis is away: retried until it is back, never dropped
        raise ServiceUnavailable(f"Redis: {type(error).__name__}: {error}") from error


async def _apply(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
    match event:
        case ev.StatusCreated():
            await deliver(roost, conn, event.account_id, event.status_id)
        case ev.Reblogged():
            await deliver(roost, conn, event.account_id, event.boost_id)
        case ev.StatusDeleted():
            await withdraw(roost, conn, event.account_id, event.status_id)
        case ev.Unreblogged():
            await withdraw(roost, conn, event.account_id, event.boost_id)
        case ev.Followed():
            await merge_author(roost, conn, event.account_id, event.target_account_id)
        case ev.Unfollowed():
            await unmerge_author(roost, conn, event.account_id, event.target_account_id,
                                 Cut.UNFOLLOW)
        case ev.Blocked():
            # The block broke the follows both ways (their Unfollowed events unmerge
            # too); statuses that stay are the ones the viewer could still be shown
            # by the pull query, which leaves blocked authors out per row.
            for viewer, author in ((event.account_id, event.target_account_id),
                                   (event.target_account_id, event.account_id)):
                await unmerge_author(roost, conn, viewer, author, Cut.BLOCK)
        case ev.Muted():
            await unmerge_author(roost, conn, event.account_id, event.target_account_id,
                                 Cut.MUTE)
        case ev.Unmuted() | ev.FollowUpdated():
            await rebuild_if_built(roost, conn, event.account_id)


HANDLED: Sequence[type[ev.Event]] = (
    ev.StatusCreated, ev.Reblogged, ev.StatusDeleted, ev.Unreblogged, ev.Followed,
    ev.Unfollowed, ev.Blocked, ev.Muted, ev.Unmuted, ev.FollowUpdated,
)

def _with_redis(settings: Settings) -> bool:
    return settings.redis_url is not None


HOME_TIMELINES = Consumer("home_timelines", frozenset(t.TYPE for t in HANDLED), handle,
                          enabled=_with_redis)
