"""A consumer on the Redis streams: its consumer group, joined once per process.

The group is named after the consumer and exists on every partition stream (created at
id 0, so a group made after the streams filled up still reads them from the start).
Every process running the consumer reads the streams as one member of the group
(`host:pid:random`, unique per process), so the processes share the entries between
them. An entry is acknowledged after `runner.deliver` returns: the effects and the
processed marker have committed, or the failure has been parked in event_retries, so
nothing acknowledged is lost, and an entry delivered twice is skipped by the marker.

What a process read and never acknowledged (it died, or stopped in the middle of a
batch) stays pending in the group; any member claims entries pending longer than
ROOST_EVENT_CLAIM_IDLE_MS (XAUTOCLAIM) and handles them. If the streams vanish (Redis
restarted empty, someone deleted them), the groups are made again and the relay's
cursor can be moved back to publish the lost entries again (`replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

import structlog
from redis.exceptions import ResponseError

from roost.events import leases, metrics, runner
from roost.events.consumer import Consumer
from roost.events.context import IN_DISPATCHER
from roost.events.redis_log import (
    connect,
    entry_order,
    from_fields,
    group_backlog,
    stream_keys,
)
from roost.observability.repeated import RepeatedFailures

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)
READ_COUNT = 100
BLOCK_MS = 1000
CHORES_EVERY_SECONDS = 1.0  # claiming stale entries, due retries
METRICS_EVERY_SECONDS = 5.0
CLAIM_ROUNDS = 10  # XAUTOCLAIM pages per stream per chore, READ_COUNT entries each
ERROR_PAUSE_SECONDS = 1.0
REJOIN_PAUSE_SECONDS = 0.1


class RedisConsumerGroup:
    def __init__(self, roost: Roost, consumer: Consumer) -> None:
        self.roost = roost
        self.consumer = consumer
        self.group = consumer.name
        self.member = leases.holder_name()
        self.keys = stream_keys(roost.settings)
        self.redis = connect(roost.settings)
        # Blocking reads get a connection of their own, so that stop() can wake one
        # (CLIENT UNBLOCK: the read returns empty-handed, as on its timeout).
        self.reader = connect(roost.settings, single=True)
        self._reader_id: int | None = None
        self._reading = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_chores = 0.0
        self._next_metrics = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"event-group-{self.group}")

    async def stop(self) -> None:
        """Finishes the entry in hand and stops reading; entries read but not handled
        stay pending, for another member to claim."""
        self._stopping = True
        if self._reading and self._reader_id is not None:
            with contextlib.suppress(Exception):
                await self.redis.client_unblock(self._reader_id)
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self._leave_if_idle()
        await self.reader.aclose()
        await self.redis.aclose()

    async def run(self) -> None:
        IN_DISPATCHER.set(True)  # the consumers' statements are not a request's
        ready = False
        failures = RepeatedFailures(log, "event group round failed", group=self.group)
        while not self._stopping:
            try:
                if not ready:
                    await self.join()
                    ready = True
                await self.round()
                failures.succeeded()
            except Exception as error:
                if _vanished(error):  # the streams were deleted, or Redis restarted empty
                    log.warning("event group vanished, joining again", group=self.group)
                    ready = False
                    await self._pause(REJOIN_PAUSE_SECONDS)
                    continue
                failures.failed(error)  # a blip, or an outage: logged once
                self._reader_id = None  # a new connection has a new id
                await self._pause()

    async def _pause(self, seconds: float = ERROR_PAUSE_SECONDS) -> None:
        if not self._stopping:
            await asyncio.sleep(seconds)

    async def join(self) -> None:
        """Creates the group on every partition stream (and the streams), if missing."""
        for key in self.keys:
            try:
                await self.redis.xgroup_create(key, self.group, id="0", mkstream=True)
            except ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    async def round(self) -> None:
        now = time.monotonic()
        if now >= self._next_chores:
            self._next_chores = now + CHORES_EVERY_SECONDS
            await self.claim_stale()
            await runner.retry_due(self.roost, [self.consumer])
        if now >= self._next_metrics:
            self._next_metrics = now + METRICS_EVERY_SECONDS
            await self.observe_lag()
        if self._reader_id is None:
            self._reader_id = int(await self.reader.client_id())
        if self._stopping:
            return
        self._reading = True
        try:
            replies: Any = await self.reader.xreadgroup(
                self.group, self.member, dict.fromkeys(self.keys, ">"),
                count=READ_COUNT, block=BLOCK_MS,
            )
        finally:
            self._reading = False
        for key, entries in replies or []:
            for entry_id, fields in entries:
                if self._stopping:
                    return
                await self.handle(key, entry_id, fields)

    async def handle(self, key: str, entry_id: str, fields: dict[str, str] | None) -> None:
        if fields is not None:  # None: trimmed away while it was pending (Redis 6.2)
            try:
                envelope = from_fields(fields)
            except (KeyError, ValueError):
                log.error("malformed event entry dropped", stream=key, entry=entry_id,
                          fields=fields)
            else:
                if self.consumer.wants(envelope.type):
                    await runner.deliver(self.roost, self.consumer, envelope)
        await self.redis.xack(key, self.group, entry_id)

    async def claim_stale(self) -> int:
        """Takes over and handles entries other members left pending too long."""
        idle_ms = self.roost.settings.event_claim_idle_ms
        claimed = 0
        for key in self.keys:
            start = "0-0"
            for _ in range(CLAIM_ROUNDS):
                reply: list[Any] = await self.redis.xautoclaim(
                    key, self.group, self.member, idle_ms, start_id=start, count=READ_COUNT
                )
                start, entries = reply[0], reply[1]
                for entry_id, fields in entries:
                    if self._stopping:
                        return claimed
                    if entry_id is not None:  # None: deleted meanwhile (Redis 6.2)
                        await self.handle(key, entry_id, fields)
                        claimed += 1
                if start == "0-0":
                    break
        if claimed:
            log.info("claimed stale event entries", group=self.group, entries=claimed)
        return claimed

    async def observe_lag(self) -> None:
        behind = 0
        oldest_ms: int | None = None
        for key in self.keys:
            count, oldest = await group_backlog(self.redis, key, self.group)
            behind += count
            if oldest is not None:
                ms = entry_order(oldest)[0]
                oldest_ms = ms if oldest_ms is None else min(oldest_ms, ms)
        metrics.lag_events.labels(self.group).set(behind)
        age = time.time() - oldest_ms / 1000 if oldest_ms is not None else 0.0
        metrics.lag_seconds.labels(self.group).set(max(age, 0.0))

    async def _leave_if_idle(self) -> None:
        """Leaves the group when nothing is pending on this member (deleting a member
        deletes its pending entries, so one with some stays for them to be claimed)."""
        for key in self.keys:
            pending = await self.redis.xpending_range(
                key, self.group, min="-", max="+", count=1, consumername=self.member
            )
            if not pending:
                await self.redis.xgroup_delconsumer(key, self.group, self.member)


def _vanished(error: Exception) -> bool:
    """The group is gone: NOGROUP, or a blocked read woken because its stream was deleted."""
    return isinstance(error, ResponseError) and (
        "NOGROUP" in str(error) or "UNBLOCKED" in str(error)
    )
