"""What every reader of the outbox does: the in-process dispatcher (events.dispatcher)
and the relays to Redis Streams and NATS (events.redis_relay, events.nats_relay).

One process at a time reads under a name: it holds the lease of that name, reads the
committed events after the cursor of that name (events.outbox), hands them on (to the
consumers, or to a broker: `hand_on`, what each reader is), and moves the cursor from
where it read to the last event handed on, unless a replay moved it meanwhile. It
wakes when a transaction of its own process commits events, on PostgreSQL when any
process's does (events.wakeup: LISTEN/NOTIFY), and otherwise polls. Every round it
also reports its lag and, every ten minutes, forgets outbox events past the retention
window and trend inputs no score reads any more (trends/prune.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import delete

from roost.clock import utcnow
from roost.db.tables import processed_events
from roost.events import leases, metrics, outbox
from roost.events.context import IN_DISPATCHER
from roost.events.wakeup import OutboxListener
from roost.observability.repeated import RepeatedFailures
from roost.trends.prune import MAX_BATCHES_PER_ROUND, prune_trend_inputs

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)


class OutboxReader:
    batch = 200
    poll_seconds = 1.0
    error_pause_seconds = 0.0  # after a failed round, before the next
    lease_ttl = timedelta(seconds=15)
    prune_every_seconds = 600.0

    def __init__(self, roost: Roost, name: str, task_name: str, *, prune_at_start: bool) -> None:
        self.roost = roost
        self.name = name  # of the cursor and the lease
        self.task_name = task_name
        self.holder = leases.holder_name()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: OutboxListener | None = None
        self._stopping = False
        self._lease_renew_at = 0.0  # loop time after which the lease is renewed
        self._standing_by = False  # stand_by(): leaves the lease to other processes
        self.poll_seconds = roost.settings.event_poll_ms / 1000
        # Several processes starting together need not all prune at once.
        self._last_prune = 0.0 if prune_at_start else time.monotonic()

    # --- what a reader is (overridden) ---------------------------------------------

    async def hand_on(self, events: list[outbox.StoredEvent]) -> list[outbox.StoredEvent]:
        """Hands the events on, in order; returns those handed on (a prefix of them)."""
        raise NotImplementedError

    async def prepare(self) -> None:
        """Before every round (connect to a broker, say)."""

    async def chores(self) -> bool:
        """After every round's batch; True when it did some work."""
        return False

    async def on_error(self) -> None:
        """After a failed round (drop a broken connection, say)."""

    def cancel_on_stop(self) -> bool:
        """True when stop() may cancel the task (nothing is in hand)."""
        return False

    async def close(self) -> None:
        """After the task stopped: release what the reader holds."""

    async def more_housekeeping(self, now: float, retention: timedelta) -> None:
        """Every round, after the lag was reported."""

    # --- the loop -------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.roost.db.after_events_commit.append(self.wake)
        if not self.roost.db.is_sqlite:  # other processes' commits wake it too
            self._listener = OutboxListener(self.roost.db.url, self.wake)
            self._listener.start()
        self._task = asyncio.create_task(self.run(), name=self.task_name)

    async def stand_by(self) -> None:
        """Gives the lease up, if held, and stops taking it: another process's reader of
        the same name takes it at its next look. The test suite's in-process app does
        this while a server shares its database: its event loop pauses between tests and
        in blocking client calls, and a paused lease holder would hold up everyone's
        events until the lease expired."""
        self._standing_by = True
        await leases.release(self.roost.db, self.name, self.holder)

    async def stop(self) -> None:
        """Finishes the batch in hand (handed on, cursor moved), then stops."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            if self.cancel_on_stop():
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            await self._listener.stop()
        with contextlib.suppress(ValueError):
            self.roost.db.after_events_commit.remove(self.wake)
        with contextlib.suppress(Exception):
            await leases.release(self.roost.db, self.name, self.holder)
        await self.close()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run(self) -> None:
        IN_DISPATCHER.set(True)  # its statements are not a request's
        failures = RepeatedFailures(log, "event log reader round failed", reader=self.task_name)
        while not self._stopping:
            try:
                await self.prepare()
                busy = await self.round()
                failures.succeeded()
            except Exception as error:  # the database or a broker blipped: log, wait, go on
                failures.failed(error)
                await self.on_error()
                busy = False
                if self.error_pause_seconds and not self._stopping:
                    await asyncio.sleep(self.error_pause_seconds)
            if not busy and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                self._wake.clear()

    async def round(self) -> bool:
        """One batch, the chores, the housekeeping. True when it did work."""
        db = self.roost.db
        if not await self._hold_lease():
            return False
        async with db.read() as conn:
            start = await outbox.cursor_at(conn, self.name)
            events = await outbox.read_after(conn, start, self.batch)
        reached = start
        if events:
            handed = await self.hand_on(events)
            if handed:
                reached = handed[-1].cursor
                async with db.write() as conn:
                    # A replay may have moved the cursor back meanwhile: it stands.
                    await outbox.advance_cursor(conn, self.name, start, reached)
                for stored in handed:
                    metrics.published.labels(stored.envelope.type).inc()
        worked = await self.chores()
        await self._housekeeping(reached)
        return bool(events) or worked

    async def _hold_lease(self) -> bool:
        """Renews the lease a third of the way through it, not on every round: an idle
        reader polls every second, and need not write every second."""
        if self._standing_by:
            return False
        now = asyncio.get_running_loop().time()
        if now < self._lease_renew_at:
            return True
        if not await leases.hold(self.roost.db, self.name, self.holder, self.lease_ttl):
            return False
        self._lease_renew_at = now + self.lease_ttl.total_seconds() / 3
        return True

    async def _housekeeping(self, cursor: outbox.Cursor) -> None:
        async with self.roost.db.read() as conn:
            behind = await outbox.count_after(conn, cursor)
            oldest = await outbox.oldest_after(conn, cursor) if behind else None
        metrics.lag_events.labels(self.name).set(behind)
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.lag_seconds.labels(self.name).set(max(age, 0.0))
        now = time.monotonic()
        retention = timedelta(hours=self.roost.settings.event_retention_hours)
        if now - self._last_prune >= self.prune_every_seconds:
            self._last_prune = now
            await prune_expired(self.roost, retention)
            # Here because one process at a time holds this reader's lease (trends/prune.py).
            await prune_trend_inputs(self.roost.db, utcnow(), max_batches=MAX_BATCHES_PER_ROUND)
        await self.more_housekeeping(now, retention)


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
