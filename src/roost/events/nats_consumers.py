"""A consumer on the JetStream stream: its durable pull consumer, pulled from by every
process that runs it.

The durable consumer is named after the consumer and reads the whole stream from its
start, so one created after the stream filled up still reads everything in it. Every
process running the consumer fetches batches from it, and JetStream hands each
message to one of them (competing consumers). A message is acknowledged after
`runner.deliver` returns: the effects and the processed marker have committed, or the
failure has been parked in event_retries, so nothing acknowledged is lost, and a
message delivered twice is skipped by the marker.

What a process took and never acknowledged (it died, or stopped in the middle of a
batch) goes to another process ROOST_EVENT_NATS_ACK_WAIT_MS after it was handed out;
a graceful stop hands the untouched rest of its batch back at once (NAK).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from roost.clock import utcnow
from roost.events import leases, metrics, runner
from roost.events.consumer import Consumer
from roost.events.context import IN_DISPATCHER
from roost.events.nats_log import (
    connect,
    ensure_consumer,
    ensure_stream,
    from_message,
    stream_name,
    stream_subjects,
)
from roost.observability.repeated import RepeatedFailures

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)
FETCH_BATCH = 100
FETCH_TIMEOUT_SECONDS = 0.5  # also how long a graceful stop may wait for a fetch to end
RETRIES_EVERY_SECONDS = 1.0
METRICS_EVERY_SECONDS = 2.0  # also how soon a deleted stream or consumer is noticed
ERROR_PAUSE_SECONDS = 1.0


class NatsConsumer:
    def __init__(self, roost: Roost, consumer: Consumer) -> None:
        self.roost = roost
        self.consumer = consumer
        self.name = consumer.name
        self.member = leases.holder_name()
        self.client: Client | None = None
        self.subscription: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connecting = False  # waiting for the server: a stop cancels the wait
        self._next_retries = 0.0
        self._next_metrics = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"event-consumer-{self.name}")

    async def stop(self) -> None:
        """Finishes the message in hand and stops fetching; the rest of the batch is
        handed back for another process (or this consumer's next start)."""
        self._stopping = True
        if self._task is not None:
            if self._connecting:  # nothing in hand yet
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()  # drains nothing: what it did not ack comes back

    async def run(self) -> None:
        IN_DISPATCHER.set(True)  # the consumers' statements are not a request's
        failures = RepeatedFailures(log, "event consumer round failed", consumer=self.name)
        while not self._stopping:
            try:
                if self.subscription is None:
                    self.subscription = await self.join()
                await self.round(self.subscription)
                failures.succeeded()
            except Exception as error:  # NATS or the database blipped: log, wait, join again
                # Joining again also makes the stream and the consumer anew if they were
                # deleted (the relay's cursor can then be moved back: `replay`).
                failures.failed(error)
                await self._leave()
                await self._pause()

    async def _leave(self) -> None:
        """Forgets the subscription (and a connection that gave up), to join again."""
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        if self.client is not None and self.client.is_closed:
            self.client = None

    async def _pause(self, seconds: float = ERROR_PAUSE_SECONDS) -> None:
        if not self._stopping:
            await asyncio.sleep(seconds)

    async def join(self) -> JetStreamContext.PullSubscription:
        """Connects, makes sure the stream and the durable consumer exist, and binds."""
        if self.client is None:
            self._connecting = True
            self.client = await connect(self.roost.settings, f"roost-{self.name}-{self.member}")
            self._connecting = False
        settings = self.roost.settings
        js = self.client.jetstream()
        await ensure_stream(js, settings)
        await ensure_consumer(js, settings, self.name)
        return await js.pull_subscribe_bind(
            durable=self.name, stream=stream_name(settings)
        )

    async def round(self, subscription: JetStreamContext.PullSubscription) -> None:
        now = time.monotonic()
        if now >= self._next_retries:
            self._next_retries = now + RETRIES_EVERY_SECONDS
            await runner.retry_due(self.roost, [self.consumer])
        if now >= self._next_metrics:
            self._next_metrics = now + METRICS_EVERY_SECONDS
            await self.observe_lag(subscription)
        try:
            messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT_SECONDS)
        except TimeoutError:  # nothing new within the timeout (nats.errors.TimeoutError too)
            return
        for index, msg in enumerate(messages):
            if self._stopping:
                await self._hand_back(messages[index:])
                return
            await self.handle(msg)

    async def handle(self, msg: Msg) -> None:
        try:
            envelope = from_message(msg)
        except (KeyError, ValueError, UnicodeDecodeError):
            log.error("malformed event message dropped", consumer=self.name,
                      subject=msg.subject, headers=msg.headers)
        else:
            if self.consumer.wants(envelope.type):
                await runner.deliver(self.roost, self.consumer, envelope)
        await msg.ack()

    async def _hand_back(self, messages: list[Msg]) -> None:
        for msg in messages:
            with contextlib.suppress(Exception):
                await msg.nak()

    async def observe_lag(self, subscription: JetStreamContext.PullSubscription) -> None:
        """Messages not yet acknowledged (delivered or not), and the age of the oldest."""
        info = await subscription.consumer_info()
        behind = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        metrics.lag_events.labels(self.name).set(behind)
        age = 0.0
        if behind and info.ack_floor is not None and self.client is not None:
            with contextlib.suppress(NotFoundError):
                settings = self.roost.settings
                oldest = await self.client.jetstream().get_msg(
                    stream_name(settings), seq=info.ack_floor.stream_seq + 1,
                    subject=stream_subjects(settings), next=True,
                )
                if oldest.time is not None:
                    age = (utcnow() - oldest.time).total_seconds()
        metrics.lag_seconds.labels(self.name).set(max(age, 0.0))
