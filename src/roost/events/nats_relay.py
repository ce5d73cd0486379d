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

Lease, cursor, wake-up, lag and pruning are every outbox reader's (events.reader);
the stream ages its messages out by itself (max_age).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from nats.aio.client import Client
from nats.js.api import PubAck

from roost.events import outbox
from roost.events.nats_log import RELAY, connect, ensure_stream, headers_of, subject_of
from roost.events.reader import OutboxReader

if TYPE_CHECKING:
    from roost.context import Roost

ACK_TIMEOUT_SECONDS = 10.0


class NatsRelay(OutboxReader):
    batch = 500
    error_pause_seconds = 1.0

    def __init__(self, roost: Roost) -> None:
        super().__init__(roost, RELAY, "event-relay", prune_at_start=False)
        self.client: Client | None = None
        self._connecting = False  # waiting for the server: a stop cancels the wait
        self._ready = False  # the stream checked since the last failure

    async def prepare(self) -> None:
        if self.client is None:
            self._connecting = True
            self.client = await connect(self.roost.settings, f"roost-relay-{self.holder}")
            self._connecting = False
        if not self._ready:  # at start, and after a failure (the stream was deleted?)
            await ensure_stream(self.client.jetstream(), self.roost.settings)
            self._ready = True

    def cancel_on_stop(self) -> bool:
        return self._connecting  # nothing in hand yet

    async def on_error(self) -> None:
        self._ready = False
        if self.client is not None and self.client.is_closed:
            self.client = None

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()

    async def hand_on(self, events: list[outbox.StoredEvent]) -> list[outbox.StoredEvent]:
        """Publishes every event and waits until the stream has stored each one;
        raises if any was refused or not acknowledged in time."""
        assert self.client is not None  # prepare() connected
        settings = self.roost.settings
        js = self.client.jetstream()
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
        return events
