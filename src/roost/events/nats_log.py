"""The NATS JetStream event log (ROOST_EVENT_LOG=nats://host:port): what the relay and
the consumers share.

```
outbox ──relay (lease "relay", cursor "relay")──> stream ROOST_EVENTS, subjects
                                          roost_events.events.{account % partitions}
                                                        │
              one durable pull consumer per consumer (named after it), on the whole stream;
              every `roost worker` (or `roost serve`) process pulls from each one
```

An account's events all go to one partition subject, in the order the relay reads
them from the outbox. A message's body is the event's payload; the rest of the
envelope travels in headers (`Roost-Event-Id`, `-Type`, `-Version`, `Roost-Account-Id`),
and `Nats-Msg-Id` (the event id too) lets JetStream drop a copy the relay publishes
again within the stream's duplicate window. Copies outside it are skipped by the
consumers (processed_events). The stream keeps messages on disk for
ROOST_EVENT_RETENTION_HOURS, as long as the outbox keeps them for replays.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from roost.events import outbox
from roost.events.types import Envelope

if TYPE_CHECKING:
    from roost.config import Settings
    from roost.context import Roost

log = structlog.get_logger(__name__)
RELAY = "relay"  # the relay's lease and outbox cursor (shared with the Redis log)
DUPLICATE_WINDOW_SECONDS = 120.0
CONNECT_TIMEOUT_SECONDS = 5
MAX_ACK_PENDING = 10_000  # messages out (taken, not acknowledged) per consumer at once

EVENT_ID = "Roost-Event-Id"
TYPE = "Roost-Event-Type"
VERSION = "Roost-Event-Version"
ACCOUNT_ID = "Roost-Account-Id"
MSG_ID = "Nats-Msg-Id"  # JetStream's de-duplication key


def server_url(settings: Settings) -> str:
    return settings.event_log


def stream_name(settings: Settings) -> str:
    return settings.event_nats_stream


def subject_of(settings: Settings, account_id: int) -> str:
    partition = account_id % settings.event_partitions
    return f"{settings.event_nats_stream.lower()}.events.{partition}"


def stream_subjects(settings: Settings) -> str:
    """Every partition's subject (a wildcard)."""
    return f"{settings.event_nats_stream.lower()}.events.*"


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=stream_name(settings),
        description="Roost events, relayed from the outbox (docs/events.md)",
        subjects=[stream_subjects(settings)],
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        storage=StorageType.FILE,
        max_age=settings.event_retention_hours * 3600.0,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )


def consumer_config(settings: Settings, name: str) -> ConsumerConfig:
    """A durable pull consumer shared by every process running consumer `name`.
    Redeliveries are unlimited: a message comes back only when a process took it and
    did not acknowledge it (it died, or stopped mid-batch); a failing handler is not
    one of them, the runner parks its event in event_retries and it is acknowledged."""
    return ConsumerConfig(
        name=name,
        durable_name=name,
        description=f"Roost consumer {name}",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.event_nats_ack_wait_ms / 1000,
        max_deliver=-1,
        max_ack_pending=MAX_ACK_PENDING,
    )


async def connect(settings: Settings, name: str, *, patient: bool = True) -> Client:
    """A connection. A patient one waits for the server however long it takes, and
    reconnects by itself for as long as it lives (the services: cancel the task to give
    up); an impatient one fails at once when the server cannot be reached (tools)."""
    client = Client()

    async def on_error(error: Exception) -> None:
        log.warning("NATS connection error", connection=name,
                    error=f"{type(error).__name__}: {error}")

    async def on_disconnect() -> None:
        if not client.is_closed:  # closing on purpose is no news
            log.warning("NATS disconnected, reconnecting", connection=name)

    # nats-py retries a first connection as often as a lost one: -1 is forever, and
    # 0 is forever too (only a positive limit stops it), so impatience is 1 attempt.
    await client.connect(
        server_url(settings), name=name, connect_timeout=CONNECT_TIMEOUT_SECONDS,
        allow_reconnect=patient, max_reconnect_attempts=-1 if patient else 1,
        reconnect_time_wait=1 if patient else 0, error_cb=on_error,
        disconnected_cb=on_disconnect,
    )
    return client


async def ensure_stream(js: JetStreamContext, settings: Settings) -> None:
    """Creates the stream, or brings an existing one's settings up to date (its
    retention, say). Concurrent starts are harmless: creating a stream that exists
    with the same settings succeeds."""
    wanted = stream_config(settings)
    try:
        info = await js.stream_info(stream_name(settings))
    except NotFoundError:
        await js.add_stream(wanted)
        return
    have = info.config
    if (have.subjects, have.max_age, have.duplicate_window) != (
        wanted.subjects, wanted.max_age, wanted.duplicate_window
    ):
        await js.update_stream(wanted)


async def ensure_consumer(js: JetStreamContext, settings: Settings, name: str) -> None:
    """Creates the durable consumer `name` (from the stream's start), or updates its
    settings (ack_wait) when they changed."""
    wanted = consumer_config(settings, name)
    stream = stream_name(settings)
    try:
        info = await js.consumer_info(stream, name)
    except NotFoundError:
        await js.add_consumer(stream, wanted)
        return
    if (info.config.ack_wait, info.config.max_ack_pending) != (
        wanted.ack_wait, wanted.max_ack_pending
    ):
        await js.add_consumer(stream, wanted)  # the same name: an update


def headers_of(envelope: Envelope) -> dict[str, str]:
    return {
        MSG_ID: str(envelope.event_id),
        EVENT_ID: str(envelope.event_id),
        TYPE: envelope.type,
        VERSION: str(envelope.version),
        ACCOUNT_ID: str(envelope.account_id),
    }


def from_message(msg: Msg) -> Envelope:
    """The envelope a message carries; KeyError or ValueError when it is malformed."""
    headers = msg.headers or {}
    return Envelope(
        event_id=int(headers[EVENT_ID]),
        type=headers[TYPE],
        version=int(headers[VERSION]),
        account_id=int(headers[ACCOUNT_ID]),
        payload=msg.data.decode(),
    )


async def consumer_backlog(js: JetStreamContext, settings: Settings, name: str) -> int:
    """Messages consumer `name` has not acknowledged, delivered or not (the whole
    stream when the consumer does not exist yet)."""
    try:
        info = await js.consumer_info(stream_name(settings), name)
    except NotFoundError:
        with contextlib.suppress(NotFoundError):
            return int((await js.stream_info(stream_name(settings))).state.messages)
        return 0
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


async def backlog(roost: Roost, consumers: list[str] | None = None) -> int:
    """Events not yet applied: outbox events the relay has not published, messages
    each consumer (all of them, or `consumers`) has not acknowledged, and parked
    retries. Zero means every committed event has had its effects (tests, shutdown).

    Read in the order an event travels (outbox, stream, retries), so one moving along
    while this counts is seen at least once."""
    from roost.events import runner
    from roost.events.consumer import all_consumers

    names = consumers if consumers is not None else [c.name for c in all_consumers()]
    async with roost.db.read() as conn:
        total = await outbox.unread(conn, RELAY)
    client = await connect(roost.settings, "roost-backlog", patient=False)
    try:
        js = client.jetstream()
        for name in names:
            total += await consumer_backlog(js, roost.settings, name)
    finally:
        await client.close()
    async with roost.db.read() as conn:
        total += await runner.parked(conn, names)
    return total
