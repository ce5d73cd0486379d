"""The embedded event log: the outbox itself, read by one dispatcher in-process.

With no broker configured (ROOST_EVENT_LOG=outbox, the default), `roost serve` runs
this loop beside the web app, and `roost worker` can run it instead. It holds the
"dispatcher" lease (so one process on the database dispatches), reads committed
events after its cursor (events.outbox), hands each to every consumer that wants it
(events.runner: exactly once each, failures parked for retries), then saves its cursor.
A crash between the effects and the cursor means those events come again, and the
consumers skip them.

It wakes when a transaction of its own process commits events (Database.write), and
otherwise polls, for events written by other processes (`roost createuser`, a second
server).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import delete

from roost.clock import utcnow
from roost.db.tables import processed_events
from roost.events import leases, metrics, outbox, runner
from roost.events.consumer import Consumer, all_consumers

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)
CURSOR = "dispatcher"
BATCH = 200
POLL_SECONDS = 1.0
LEASE_TTL = timedelta(seconds=15)
PRUNE_EVERY_SECONDS = 600.0
SETTLE_POLL_SECONDS = 0.005
# True in the dispatcher's task: its statements are not a request's (the statement
# counting tests leave them out).
IN_DISPATCHER: ContextVar[bool] = ContextVar("in_event_dispatcher", default=False)


def cursor_name(consumers: list[Consumer]) -> str:
    """"dispatcher" for every consumer; a set of its own for a subset (`roost worker
    --only`), so that the consumers left out are not passed over: each subset reads
    the outbox at its own pace (and a worker running everything skips, by the
    processed markers, what a subset's worker applied already)."""
    names = sorted(c.name for c in consumers)
    if names == sorted(c.name for c in all_consumers()):
        return CURSOR
    name = f"{CURSOR}:{'+'.join(names)}"
    if len(name) > 40:  # the width of the cursor and lease names
        name = f"{CURSOR}:{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return name


class Dispatcher:
    def __init__(
        self, roost: Roost, consumers: list[Consumer], *, cursor: str | None = None
    ) -> None:
        self.roost = roost
        self.consumers = consumers
        self.cursor_name = cursor or cursor_name(consumers)
        self.holder = leases.holder_name()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_prune = 0.0
        self._lease_renew_at = 0.0  # loop time after which the lease is renewed

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.roost.db.after_events_commit.append(self.wake)
        self._task = asyncio.create_task(self.run(), name="event-dispatcher")

    async def stop(self) -> None:
        """Finishes the event in hand, then stops (graceful shutdown)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ValueError):
            self.roost.db.after_events_commit.remove(self.wake)
        with contextlib.suppress(Exception):
            await leases.release(self.roost.db, self.cursor_name, self.holder)

    async def settle(self) -> None:
        """Waits until every committed event has been dispatched (tests, shutdown);
        bound it with asyncio.timeout."""
        while True:
            self.wake()
            async with self.roost.db.read() as conn:
                cursor = await outbox.cursor_at(conn, self.cursor_name)
                backlog = await outbox.count_after(conn, cursor)
            if backlog == 0:
                return
            await asyncio.sleep(SETTLE_POLL_SECONDS)

    async def run(self) -> None:
        IN_DISPATCHER.set(True)
        while not self._stopping:
            try:
                busy = await self.round()
            except Exception:  # a database blip: log, wait, go on
                log.exception("event dispatcher round failed")
                busy = False
            if not busy and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                self._wake.clear()

    async def round(self) -> bool:
        """One pass: new events, due retries, housekeeping. True when it did work."""
        db = self.roost.db
        if not await self._hold_lease():
            return False
        async with db.read() as conn:
            start = cursor = await outbox.cursor_at(conn, self.cursor_name)
            events = await outbox.read_after(conn, cursor, BATCH)
        for stored in events:
            if self._stopping:
                break
            for consumer in self.consumers:
                if consumer.wants(stored.envelope.type):
                    await runner.deliver(self.roost, consumer, stored.envelope)
            metrics.published.labels(stored.envelope.type).inc()
            cursor = stored.cursor
        if events:
            async with db.write() as conn:
                # A replay may have moved the cursor back meanwhile: it stands.
                await outbox.advance_cursor(conn, self.cursor_name, start, cursor)
        retried = await runner.retry_due(self.roost, self.consumers)
        await self._housekeeping(cursor)
        return bool(events) or retried > 0

    async def _hold_lease(self) -> bool:
        """Renews the lease a third of the way through it, not on every round: an idle
        server polls every second, and need not write every second."""
        now = asyncio.get_running_loop().time()
        if now < self._lease_renew_at:
            return True
        if not await leases.hold(self.roost.db, self.cursor_name, self.holder, LEASE_TTL):
            return False
        self._lease_renew_at = now + LEASE_TTL.total_seconds() / 3
        return True

    async def _housekeeping(self, cursor: outbox.Cursor) -> None:
        db = self.roost.db
        async with db.read() as conn:
            backlog = await outbox.count_after(conn, cursor)
            oldest = await outbox.oldest_after(conn, cursor) if backlog else None
        metrics.lag_events.labels(self.cursor_name).set(backlog)
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.lag_seconds.labels(self.cursor_name).set(max(age, 0.0))
        now = asyncio.get_running_loop().time()
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            retention = timedelta(hours=self.roost.settings.event_retention_hours)
            await prune_expired(self.roost, retention)


async def prune_expired(roost: Roost, retention: timedelta) -> None:
    """Forgets outbox events past the retention window, and processed markers past
    twice that (an event can only come again from the outbox, so its marker must
    outlive it)."""
    async with roost.db.write() as conn:
        await outbox.prune(conn, retention)
        await conn.execute(
            delete(processed_events).where(
                processed_events.c.processed_at < utcnow() - 2 * retention
            )
        )
