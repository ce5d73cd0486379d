"""The embedded event log: the outbox itself, read by one dispatcher in-process.

With no broker configured (ROOST_EVENT_LOG=outbox, the default), `roost serve` runs
this reader (events.reader: lease, cursor, wake-up, lag) beside the web app, and
`roost worker` can run it instead. It hands each committed event to every consumer
that wants it (events.runner: exactly once each, failures parked for retries), and
runs the parked events that are due. A crash between the effects and the cursor
means those events come again, and the consumers skip them.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

from roost.events import outbox, runner
from roost.events.consumer import Consumer, all_consumers
from roost.events.context import IN_DISPATCHER
from roost.events.reader import OutboxReader

if TYPE_CHECKING:
    from roost.config import Settings
    from roost.context import Roost

__all__ = ["CURSOR", "IN_DISPATCHER", "Dispatcher", "cursor_name"]
CURSOR = "dispatcher"
SETTLE_POLL_SECONDS = 0.005


def cursor_name(consumers: list[Consumer], settings: Settings | None = None) -> str:
    """"dispatcher" for every consumer; a set of its own for a subset (`roost worker
    --only`), so that the consumers left out are not passed over: each subset reads
    the outbox at its own pace (and a worker running everything skips, by the
    processed markers, what a subset's worker applied already). Every consumer means
    every one `settings` enables (the home-timeline fan-out runs only with a Redis)."""
    names = sorted(c.name for c in consumers)
    everything = [c for c in all_consumers() if settings is None or c.enabled(settings)]
    if names == sorted(c.name for c in everything):
        return CURSOR
    name = f"{CURSOR}:{'+'.join(names)}"
    if len(name) > 40:  # the width of the cursor and lease names
        name = f"{CURSOR}:{hashlib.sha256(name.encode()).hexdigest()[:16]}"
    return name


class Dispatcher(OutboxReader):
    def __init__(
        self, roost: Roost, consumers: list[Consumer], *, cursor: str | None = None
    ) -> None:
        super().__init__(roost, cursor or cursor_name(consumers, roost.settings),
                         "event-dispatcher", prune_at_start=True)
        self.consumers = consumers

    @property
    def cursor_name(self) -> str:
        return self.name

    async def hand_on(self, events: list[outbox.StoredEvent]) -> list[outbox.StoredEvent]:
        handed = []
        for stored in events:
            if self.stopping:
                break  # graceful stop: the event in hand was finished
            for consumer in self.consumers:
                if consumer.wants(stored.envelope.type):
                    await runner.deliver(self.roost, consumer, stored.envelope)
            handed.append(stored)
        return handed

    async def chores(self) -> bool:
        return await runner.retry_due(self.roost, self.consumers) > 0

    async def settle(self) -> None:
        """Waits until every committed event has been dispatched (tests, shutdown);
        bound it with asyncio.timeout."""
        while True:
            self.wake()
            async with self.roost.db.read() as conn:
                backlog = await outbox.unread(conn, self.name)
            if backlog == 0:
                return
            await asyncio.sleep(SETTLE_POLL_SECONDS)
