"""One stream of one connection: messages from its Subscription, rendered for its
viewer, handed to the transport; heartbeats when nothing comes (docs/streaming.md).

Slow consumers are disconnected, never waited for: the Subscription's queue is
bounded (streaming.bus.QUEUE_SIZE) and drops what does not fit, and a stream that
has dropped anything ends, as does one whose transport has not taken a message
within SEND_TIMEOUT_S (a client that stopped reading: the socket's buffers are full).
The client reconnects and reloads its timeline, as after any reconnect. Nobody else
waits meanwhile: the bus only ever offers to a queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from roost.streaming.bus import Subscription
from roost.streaming.render import Audience, StreamRenderer
from roost.streaming.streams import StreamRequest

log = structlog.get_logger(__name__)

SEND_TIMEOUT_S = 10.0

# (event, payload) to send, or (None, None) for a heartbeat.
Emit = Callable[[str | None, str | None], Awaitable[None]]


class SlowConsumer(Exception):
    """The client did not keep up: its stream ends."""


async def pump(subscription: Subscription, stream: StreamRequest, audience: Audience,
               renderer: StreamRenderer, emit: Emit, heartbeat_s: float) -> None:
    """Runs until cancelled (the client left) or the client is too slow (SlowConsumer)."""
    while True:
        try:
            async with asyncio.timeout(heartbeat_s):
                channel, raw = await subscription.next()
        except TimeoutError:
            await _send(emit, None, None)
            continue
        if subscription.dropped:
            raise SlowConsumer(f"{subscription.dropped} messages dropped")
        try:
            rendered = await renderer.render(audience, stream, channel, raw)
        except Exception:  # one bad message must not end the stream: logged, skipped
            log.exception("streaming message not rendered", channel=channel)
            continue
        if rendered is not None:
            await _send(emit, *rendered)


async def _send(emit: Emit, event: str | None, payload: str | None) -> None:
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await emit(event, payload)
    except TimeoutError as error:
        raise SlowConsumer("the client stopped reading") from error
