"""Publish/subscribe for streaming pushes, in two implementations (docs/streaming.md).

- `RedisBus` (when ROOST_REDIS_URL is set): channels are Redis pub/sub channels under
  `settings.redis_key_prefix` (`roost:timeline:public`), so a message published by a
  consumer in any process reaches the streams open in every process. A process keeps
  one pub/sub connection however many streams it serves (as Mastodon's streaming
  server does): a reader task takes every message from it and hands it to the local
  subscriptions of its channel.
- `InProcessHub` (embedded mode): the same local hand-out, fed directly by `publish`.
  It only reaches streams in the process that runs the consumers (`roost serve` with
  one worker, consumers in-process).

Channel names are given without the prefix; the bus adds it. Every subscription has
a bounded queue: a message for a full queue is dropped and counted, never waited
for, because the publisher (the consumer handler, or the reader task serving every
stream in the process) must not stall behind one slow client.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from roost.streaming.channels import marker

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)

QUEUE_SIZE = 1000  # messages a subscription holds before it drops
SUBSCRIBE_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 1.0

dropped_total = Counter(
    "roost_stream_messages_dropped_total",
    "Streaming messages dropped because a subscriber's queue was full (a slow client).",
)


class Subscription:
    """Messages for some channels, in the order they arrived, as (channel, message)."""

    def __init__(self, channels: Sequence[str], maxsize: int = QUEUE_SIZE) -> None:
        self.channels = tuple(dict.fromkeys(channels))
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize)
        # Messages lost to a full queue; a stream may close itself when this grows
        # (the client then reloads its timeline, as after any reconnect).
        self.dropped = 0

    def offer(self, channel: str, message: str) -> None:
        try:
            self._queue.put_nowait((channel, message))
        except asyncio.QueueFull:
            self.dropped += 1
            dropped_total.inc()

    async def next(self) -> tuple[str, str]:
        """The next message (a stream waits under `asyncio.timeout` and sends its
        heartbeat when that runs out)."""
        return await self._queue.get()

    def pending(self) -> int:
        """Messages queued and not taken yet."""
        return self._queue.qsize()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> tuple[str, str]:
        return await self._queue.get()


class LocalFanout:
    """The subscriptions of this process, by channel."""

    def __init__(self) -> None:
        self._by_channel: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> list[str]:
        """Adds it; returns the channels nobody here listened to before."""
        new = [c for c in subscription.channels if c not in self._by_channel]
        for channel in subscription.channels:
            self._by_channel.setdefault(channel, set()).add(subscription)
        return new

    def remove(self, subscription: Subscription) -> list[str]:
        """Removes it; returns the channels nobody here listens to any more."""
        gone = []
        for channel in subscription.channels:
            listeners = self._by_channel.get(channel)
            if listeners is None:
                continue
            listeners.discard(subscription)
            if not listeners:
                del self._by_channel[channel]
                gone.append(channel)
        return gone

    def deliver(self, channel: str, message: str) -> None:
        for subscription in tuple(self._by_channel.get(channel, ())):
            subscription.offer(channel, message)

    def has(self, channel: str) -> bool:
        return channel in self._by_channel

    def __bool__(self) -> bool:
        return bool(self._by_channel)


class Bus(ABC):
    @abstractmethod
    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        """Publishes (channel, message) pairs, in one round trip."""

    async def publish(self, channel: str, message: str) -> None:
        await self.publish_many([(channel, message)])

    @abstractmethod
    async def listening(self, channels: Sequence[str]) -> list[bool]:
        """Whether a stream is open on each channel (its marker), in one round trip."""

    @abstractmethod
    async def mark_listening(self, channels: Sequence[str], ttl_seconds: int) -> None:
        """Sets (or refreshes) the channels' markers for `ttl_seconds`."""

    @abstractmethod
    def may_have_subscribers(self) -> bool:
        """False only when no stream can be listening anywhere (nothing to publish)."""

    @abstractmethod
    def subscribe(self, channels: Sequence[str]) -> contextlib.AbstractAsyncContextManager[
        Subscription
    ]:
        """Listens to `channels` for the duration of the block."""


class InProcessHub(Bus):
    """Embedded mode: publisher and streams in one process; a channel's marker is
    whether a subscription here listens to it."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self._fanout = LocalFanout()
        self._queue_size = queue_size

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        for channel, message in messages:
            self._fanout.deliver(channel, message)

    async def listening(self, channels: Sequence[str]) -> list[bool]:
        return [self._fanout.has(channel) for channel in channels]

    async def mark_listening(self, channels: Sequence[str], ttl_seconds: int) -> None:
        return None  # the subscription itself is the marker

    def may_have_subscribers(self) -> bool:
        return bool(self._fanout)

    @asynccontextmanager
    async def subscribe(self, channels: Sequence[str]) -> AsyncIterator[Subscription]:
        subscription = Subscription(channels, self._queue_size)
        self._fanout.add(subscription)
        try:
            yield subscription
        finally:
            self._fanout.remove(subscription)


class RedisBus(Bus):
    """Redis pub/sub under `prefix`; markers are keys `{prefix}subscribed:{channel}`."""

    def __init__(self, redis: Redis, prefix: str, queue_size: int = QUEUE_SIZE) -> None:
        self._redis = redis
        self._prefix = prefix
        self._queue_size = queue_size
        self._fanout = LocalFanout()
        self._lock = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmations: dict[str, asyncio.Future[None]] = {}

    def _key(self, channel: str) -> str:
        return self._prefix + channel

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        if not messages:
            return
        pipe = self._redis.pipeline(transaction=False)
        for channel, message in messages:
            pipe.publish(self._key(channel), message)
        await pipe.execute()

    async def listening(self, channels: Sequence[str]) -> list[bool]:
        if not channels:
            return []
        values = await self._redis.mget([self._key(marker(c)) for c in channels])
        return [value is not None for value in values]

    async def mark_listening(self, channels: Sequence[str], ttl_seconds: int) -> None:
        if not channels:
            return
        pipe = self._redis.pipeline(transaction=False)
        for channel in channels:
            pipe.set(self._key(marker(channel)), "1", ex=ttl_seconds)
        await pipe.execute()

    def may_have_subscribers(self) -> bool:
        return True  # streams in other processes cannot be seen from here

    @asynccontextmanager
    async def subscribe(self, channels: Sequence[str]) -> AsyncIterator[Subscription]:
        subscription = Subscription(channels, self._queue_size)
        async with self._lock:
            new = self._fanout.add(subscription)
            try:
                if new:
                    await self._listen(new)
            except BaseException:
                await self._unlisten(self._fanout.remove(subscription))
                raise
        try:
            yield subscription
        finally:
            async with self._lock:
                await self._unlisten(self._fanout.remove(subscription))

    async def _listen(self, channels: list[str]) -> None:
        """SUBSCRIBEs and waits until Redis confirms: messages published after the
        subscription block is entered are not missed."""
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub()
        loop = asyncio.get_running_loop()
        waiting = {self._key(c): loop.create_future() for c in channels}
        self._confirmations.update(waiting)
        try:
            await self._pubsub.subscribe(*waiting)
            if self._reader is None:
                self._reader = asyncio.create_task(self._read(self._pubsub))
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                await asyncio.gather(*waiting.values())
        finally:
            for key in waiting:
                self._confirmations.pop(key, None)

    async def _unlisten(self, channels: list[str]) -> None:
        """UNSUBSCRIBEs; the last subscription gone also stops the reader and gives
        the pub/sub connection back, so an idle process holds none."""
        pubsub = self._pubsub
        if pubsub is None:
            return
        try:
            if self._fanout:
                if channels:
                    await pubsub.unsubscribe(*(self._key(c) for c in channels))
                return
            reader, self._reader, self._pubsub = self._reader, None, None
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
        except Exception as error:  # Redis gone: the stream is closing anyway
            log.warning("streaming unsubscribe failed", error=f"{type(error).__name__}: {error}")

    async def _read(self, pubsub: PubSub) -> None:
        prefix_length = len(self._prefix)
        while True:
            try:
                message: dict[str, Any] | None = await pubsub.get_message(
                    timeout=READ_TIMEOUT_S
                )
            except asyncio.CancelledError:
                raise
            except Exception as error:  # redis-py resubscribes when it reconnects
                log.warning("streaming read failed", error=f"{type(error).__name__}: {error}")
                await asyncio.sleep(READ_TIMEOUT_S)
                continue
            if message is None:
                continue
            channel = _text(message["channel"])
            if message["type"] == "message":
                self._fanout.deliver(channel[prefix_length:], _text(message["data"]))
            elif message["type"] == "subscribe":
                waiter = self._confirmations.get(channel)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def bus_of(roost: Roost) -> Bus:
    """The process's bus: Redis when configured, otherwise the in-process hub. One per
    Roost context (one per process), made on first use."""
    if roost.streaming_bus is None:
        roost.streaming_bus = (
            RedisBus(roost.redis, roost.settings.redis_key_prefix)
            if roost.redis is not None
            else InProcessHub()
        )
    return roost.streaming_bus


def streams_can_hear(roost: Roost) -> bool:
    """Whether a stream opened in this process hears anything: the in-process hub only
    carries what this process's own consumers publish."""
    return not (isinstance(bus_of(roost), InProcessHub) and not roost.settings.serve_consumers)
