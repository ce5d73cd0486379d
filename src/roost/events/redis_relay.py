"""The relay: committed outbox events onto the Redis streams (events/redis_log.py).

One process at a time relays (lease "relay"). A round reads the events after the
relay's cursor (events.outbox: commit order, none skipped), XADDs them to their
partition streams in one pipeline, capped approximately by length, then moves the
cursor. A crash between the two publishes those events again after the restart:
consumers skip what they already applied, so the log is at-least-once and the effects
stay exactly-once.

The cursor moves only from where this round read it: if someone moved it meanwhile
(a replay), the replay wins and the next round starts from there.

It wakes when a transaction of its own process commits events, and polls every
second for the others' (another server, `roost createuser`). Now and then it trims
the streams by age and prunes the outbox (it is the outbox's only reader here).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from roost.clock import utcnow
from roost.events import leases, metrics, outbox
from roost.events.dispatcher import IN_DISPATCHER, prune_expired
from roost.events.redis_log import RELAY, connect, stream_keys, stream_of, to_fields

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)
BATCH = 500
POLL_SECONDS = 1.0
LEASE_TTL = timedelta(seconds=15)
TRIM_EVERY_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 600.0


class RedisRelay:
    def __init__(self, roost: Roost) -> None:
        self.roost = roost
        self.holder = leases.holder_name()
        self.redis = connect(roost.settings)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_trim = 0.0
        self._last_prune = time.monotonic()  # not at start: many processes start together

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.roost.db.after_events_commit.append(self.wake)
        self._task = asyncio.create_task(self.run(), name="event-relay")

    async def stop(self) -> None:
        """Finishes the batch in hand (published and cursor saved), then stops."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ValueError):
            self.roost.db.after_events_commit.remove(self.wake)
        with contextlib.suppress(Exception):
            await leases.release(self.roost.db, RELAY, self.holder)
        await self.redis.aclose()

    async def run(self) -> None:
        IN_DISPATCHER.set(True)  # the relay's statements are not a request's
        while not self._stopping:
            try:
                busy = await self.round()
            except Exception:  # Redis or the database blipped: log, wait, go on
                log.exception("event relay round failed")
                busy = False
            if not busy and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                self._wake.clear()

    async def round(self) -> bool:
        """Publishes one batch; True when there was one (more may be waiting)."""
        db = self.roost.db
        if not await leases.hold(db, RELAY, self.holder, LEASE_TTL):
            return False
        async with db.read() as conn:
            start = await outbox.cursor_at(conn, RELAY)
            events = await outbox.read_after(conn, start, BATCH)
        reached = start
        if events:
            await self.publish(events)
            reached = events[-1].cursor
            async with db.write() as conn:
                await outbox.advance_cursor(conn, RELAY, start, reached)
            for stored in events:
                metrics.published.labels(stored.envelope.type).inc()
        await self._housekeeping(reached)
        return bool(events)

    async def publish(self, events: list[outbox.StoredEvent]) -> None:
        settings = self.roost.settings
        pipe = self.redis.pipeline(transaction=False)
        for stored in events:
            envelope = stored.envelope
            pipe.xadd(
                stream_of(settings, envelope.account_id), to_fields(envelope),
                maxlen=settings.event_stream_maxlen, approximate=True,
            )
        await pipe.execute()

    async def _housekeeping(self, cursor: outbox.Cursor) -> None:
        async with self.roost.db.read() as conn:
            behind = await outbox.count_after(conn, cursor)
            oldest = await outbox.oldest_after(conn, cursor) if behind else None
        metrics.lag_events.labels(RELAY).set(behind)
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.lag_seconds.labels(RELAY).set(max(age, 0.0))
        now = time.monotonic()
        retention = timedelta(hours=self.roost.settings.event_retention_hours)
        if now - self._last_trim >= TRIM_EVERY_SECONDS:
            self._last_trim = now
            await self.trim(retention)
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            await prune_expired(self.roost, retention)

    async def trim(self, retention: timedelta) -> None:
        """Drops entries older than the retention window (the outbox keeps them as long)."""
        oldest_kept = int((time.time() - retention.total_seconds()) * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for key in stream_keys(self.roost.settings):
            pipe.xtrim(key, minid=f"{oldest_kept}-0", approximate=True)
        await pipe.execute()
