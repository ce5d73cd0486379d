"""The relay: committed outbox events onto the JetStream stream (events/nats_log.py).

One process at a time relays (lease "relay"). A round reads the events after the
relay's cursor (events.outbox: commit order, none skipped), publishes them to their
partition subjects without waiting for each answer, then waits for every
acknowledgement (the stream has stored the message on disk) and only then moves the
cursor. A publish that failed, or a crash before the cursor moved, publishes those
events again: JetStream drops the copies it has seen within the duplicate window
(`Nats-Msg-Id` is the event id), and consumers skip whatever copy gets through, so
the log is at-least-once and the effects stay exactly-once.

The cursor moves only from where this round read it: if someone moved it meanwhile
(a replay), the replay wins and the next round starts from there.

It wakes when a transaction of its own process commits events, and polls every
second for the others' (another server, `roost createuser`). Now and then it prunes
the outbox (it is the outbox's only reader here); the stream ages its messages out
by itself (max_age).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from nats.aio.client import Client
from nats.js.api import PubAck

from roost.clock import utcnow
from roost.events import leases, metrics, outbox
from roost.events.dispatcher import IN_DISPATCHER, prune_expired
from roost.events.nats_log import RELAY, connect, ensure_stream, headers_of, subject_of

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)
BATCH = 500
POLL_SECONDS = 1.0
LEASE_TTL = timedelta(seconds=15)
ACK_TIMEOUT_SECONDS = 10.0
PRUNE_EVERY_SECONDS = 600.0
ERROR_PAUSE_SECONDS = 1.0


class NatsRelay:
    def __init__(self, roost: Roost) -> None:
        self.roost = roost
        self.holder = leases.holder_name()
        self.client: Client | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connecting = False  # waiting for the server: a stop cancels the wait
        self._last_prune = time.monotonic()  # not at start: many processes start together

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self.roost.db.after_events_commit.append(self.wake)
        self._task = asyncio.create_task(self.run(), name="event-relay")

    async def stop(self) -> None:
        """Finishes the batch in hand (published, acknowledged, cursor saved), then stops."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            if self._connecting:  # nothing in hand yet
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(ValueError):
            self.roost.db.after_events_commit.remove(self.wake)
        with contextlib.suppress(Exception):
            await leases.release(self.roost.db, RELAY, self.holder)
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()

    async def run(self) -> None:
        IN_DISPATCHER.set(True)  # the relay's statements are not a request's
        ready = False
        while not self._stopping:
            try:
                if self.client is None:
                    self._connecting = True
                    self.client = await connect(self.roost.settings, f"roost-relay-{self.holder}")
                    self._connecting = False
                if not ready:  # at start, and after a failure (the stream was deleted?)
                    await ensure_stream(self.client.jetstream(), self.roost.settings)
                    ready = True
                busy = await self.round(self.client)
            except Exception:  # NATS or the database blipped: log, wait, go on
                log.exception("event relay round failed")
                self._drop_client_if_closed()
                ready, busy = False, False
                if not self._stopping:
                    await asyncio.sleep(ERROR_PAUSE_SECONDS)
            if not busy and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
                self._wake.clear()

    def _drop_client_if_closed(self) -> None:
        if self.client is not None and self.client.is_closed:
            self.client = None

    async def round(self, client: Client) -> bool:
        """Publishes one batch; True when there was one (more may be waiting)."""
        db = self.roost.db
        if not await leases.hold(db, RELAY, self.holder, LEASE_TTL):
            return False
        async with db.read() as conn:
            start = await outbox.cursor_at(conn, RELAY)
            events = await outbox.read_after(conn, start, BATCH)
        reached = start
        if events:
            await self.publish(client, events)
            reached = events[-1].cursor
            async with db.write() as conn:
                await outbox.advance_cursor(conn, RELAY, start, reached)
            for stored in events:
                metrics.published.labels(stored.envelope.type).inc()
        await self._housekeeping(reached)
        return bool(events)

    async def publish(self, client: Client, events: list[outbox.StoredEvent]) -> None:
        """Publishes every event and waits until the stream has stored each one;
        raises if any was refused or not acknowledged in time."""
        settings = self.roost.settings
        js = client.jetstream()
        pending: list[asyncio.Future[PubAck]] = []
        try:
            for stored in events:
                envelope = stored.envelope
                pending.append(await js.publish_async(
                    subject_of(settings, envelope.account_id), envelope.payload.encode(),
                    headers=headers_of(envelope), wait_stall=ACK_TIMEOUT_SECONDS,
                ))
            async with asyncio.timeout(ACK_TIMEOUT_SECONDS):
                await asyncio.gather(*pending)
        finally:
            for future in pending:
                future.cancel()  # no-op for the answered; frees the rest's slots

    async def _housekeeping(self, cursor: outbox.Cursor) -> None:
        async with self.roost.db.read() as conn:
            behind = await outbox.count_after(conn, cursor)
            oldest = await outbox.oldest_after(conn, cursor) if behind else None
        metrics.lag_events.labels(RELAY).set(behind)
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.lag_seconds.labels(RELAY).set(max(age, 0.0))
        now = time.monotonic()
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            retention = timedelta(hours=self.roost.settings.event_retention_hours)
            await prune_expired(self.roost, retention)
