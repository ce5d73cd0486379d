"""Reading the home timeline: from Redis when the account has a timeline there, else
(and whenever Redis cannot answer) from the pull query.

- One Redis round trip reads the page's ids (timelines.redis_home.HomeTimelines.page),
  one statement adds the page's statuses by followed accounts with too many followers
  to fan out to (the hybrid), and hydration reads the rest as for every list (from
  the object cache): the same statements whatever the page size. Boosts are collapsed
  after hydration (`collapse_boost_views`), from the statuses it read anyway.
- An account without a complete Redis timeline (never built, expired after
  ROOST_ACTIVE_DAYS away, or Redis emptied) is answered by the pull query, and its
  timeline is rebuilt in the background by one process (a claim in Redis): the first
  visit costs what it always did, the next ones are range reads. At most
  MAX_CONCURRENT_REBUILDS run at once in a process: after Redis restarts empty, every
  visit asks for one, and rebuilding them all at once halved throughput
  (bench/redis_outage.py); a visit refused one is still answered, and asks again.
- A page that reaches below what a trimmed timeline keeps goes to the pull query.
- A Redis error answers from the pull query too (logged and counted), and a few in a
  row open the circuit breaker (resilience.breaker): until it closes again, pages come
  from the pull query at once, without waiting on Redis, and nothing is rebuilt.
  Redis being away costs speed, never an answer.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.observability import metrics
from roost.paging import Page
from roost.resilience.breaker import FAILURES, BreakerOpen, redis_breaker
from roost.timelines.fanout import build_timeline, merged_at_read, timelines_of
from roost.timelines.home import home_page, home_statement

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)

MAX_CONCURRENT_REBUILDS = 2

HomePage = tuple[list[int], int | None, int | None]


async def home_timeline_page(roost: Roost, conn: AsyncConnection, viewer_id: int,
                             page: Page) -> HomePage:
    """(status ids, first and last page keys), as timelines.home.home_page; boosts
    are left for `collapse_boost_views` to collapse."""
    if roost.redis is None:
        return await home_page(conn, viewer_id, page)
    store = timelines_of(roost)
    breaker = redis_breaker(roost)
    try:
        held = await breaker.call(lambda: store.page(viewer_id, page))
    except BreakerOpen:
        metrics.home_reads.labels("redis_down").inc()
        return await home_page(conn, viewer_id, page)
    except FAILURES as error:
        log.warning("home timeline read from the database: Redis failed", error=str(error))
        metrics.home_reads.labels("redis_error").inc()
        return await home_page(conn, viewer_id, page)
    if held is None:
        metrics.home_reads.labels("rebuilding").inc()
        if breaker.is_closed:
            rebuilds_of(roost).request(viewer_id)
        return await home_page(conn, viewer_id, page)
    if not held.complete:
        metrics.home_reads.labels("older_than_redis").inc()
        return await home_page(conn, viewer_id, page)
    metrics.home_reads.labels("redis").inc()
    ids = await _with_authors_not_fanned_out(roost, conn, viewer_id, page, held.status_ids)
    if not ids:
        return [], None, None
    # Not collapsed here: the API collapses boosts once it has hydrated the page.
    return ids, ids[0], ids[-1]


async def _with_authors_not_fanned_out(roost: Roost, conn: AsyncConnection, viewer_id: int,
                                      page: Page, held: list[int]) -> list[int]:
    """The page from Redis merged with the statuses of followed accounts too big to fan
    out to (timelines.fanout.merged_at_read), read for this page by the pull query
    limited to them: one statement. Newest first, each once, the page's size."""
    query, parameters = home_statement(viewer_id, page, conn.dialect.name,
                                       merged_at_read(roost.settings))
    big = [int(row.id) for row in (await conn.execute(query, parameters)).all()]
    if not big:
        return held
    merged = sorted(set(held) | set(big), reverse=not page.ascending)[: page.limit]
    return page.arrange(merged) if page.ascending else merged


class HomeRebuilds:
    """Rebuilds of missing timelines, in the background of this process: at most one
    per account at a time here, and one across processes (HomeTimelines.claim_rebuild)."""

    def __init__(self, roost: Roost) -> None:
        self.roost = roost
        self._running: dict[int, asyncio.Task[None]] = {}

    def request(self, viewer_id: int) -> None:
        if viewer_id in self._running or len(self._running) >= MAX_CONCURRENT_REBUILDS:
            return
        task = asyncio.create_task(self._rebuild(viewer_id), name=f"home-rebuild-{viewer_id}")
        self._running[viewer_id] = task
        task.add_done_callback(lambda _task: self._running.pop(viewer_id, None))

    async def _rebuild(self, viewer_id: int) -> None:
        store = timelines_of(self.roost)
        try:
            if not await store.claim_rebuild(viewer_id):
                return
            async with self.roost.db.read() as conn:
                await build_timeline(self.roost, conn, viewer_id)
            metrics.home_rebuilds.inc()
        except Exception as error:  # the next visit asks again; the reader is not hurt
            log.warning("home timeline rebuild failed", account_id=viewer_id, error=str(error))

    async def wait(self) -> None:
        """Until the rebuilds running now have ended (tests, shutdown)."""
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)


def rebuilds_of(roost: Roost) -> HomeRebuilds:
    if roost.home_rebuilds is None:
        roost.home_rebuilds = HomeRebuilds(roost)
    return roost.home_rebuilds
