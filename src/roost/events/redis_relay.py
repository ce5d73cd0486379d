"""The relay: committed outbox events onto the Redis streams (events/redis_log.py).

One process at a time relays (lease "relay"). A round reads the events after the
relay's cursor (events.outbox: commit order, none skipped), XADDs them to their
partition streams in one pipeline, capped approximately by length, then moves the
cursor. A crash between the two publishes those events again after the restart:
consumers skip what they already applied, so the log is at-least-once and the effects
stay exactly-once.

The cursor moves only from where this round read it: if someone moved it meanwhile
(a replay), the replay wins and the next round starts from there.

Lease, cursor, wake-up, lag and pruning are every outbox reader's (events.reader).
Every minute it also trims the streams by age.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING

from roost.events import outbox
from roost.events.reader import OutboxReader
from roost.events.redis_log import RELAY, connect, stream_keys, stream_of, to_fields

if TYPE_CHECKING:
    from roost.context import Roost

TRIM_EVERY_SECONDS = 60.0


class RedisRelay(OutboxReader):
    batch = 500

    def __init__(self, roost: Roost) -> None:
        super().__init__(roost, RELAY, "event-relay", prune_at_start=False)
        self.redis = connect(roost.settings)
        self._last_trim = 0.0

    async def hand_on(self, events: list[outbox.StoredEvent]) -> list[outbox.StoredEvent]:
        settings = self.roost.settings
        pipe = self.redis.pipeline(transaction=False)
        for stored in events:
            envelope = stored.envelope
            pipe.xadd(
                stream_of(settings, envelope.account_id), to_fields(envelope),
                maxlen=settings.event_stream_maxlen, approximate=True,
            )
        await pipe.execute()
        return events

    async def more_housekeeping(self, now: float, retention: timedelta) -> None:
        if now - self._last_trim >= TRIM_EVERY_SECONDS:
            self._last_trim = now
            await self.trim(retention)

    async def close(self) -> None:
        await self.redis.aclose()

    async def trim(self, retention: timedelta) -> None:
        """Drops entries older than the retention window (the outbox keeps them as long)."""
        oldest_kept = int((time.time() - retention.total_seconds()) * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for key in stream_keys(self.roost.settings):
            pipe.xtrim(key, minid=f"{oldest_kept}-0", approximate=True)
        await pipe.execute()
