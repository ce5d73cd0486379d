"""Opening a stream: what the streaming endpoints (issue 7) call for each connection.

A stream subscribes first and then sets its channels' markers (`subscribed:{channel}`,
docs/streaming.md), so that whoever sees a marker can be sure the stream hears what it
publishes; a background task refreshes the markers while the stream is open. Markers
are left to expire when the stream closes: another stream of the same account may
still be open, and a marker outliving its stream only costs a few useless publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog

from roost.streaming import channels as ch
from roost.streaming.bus import Bus, Subscription, bus_of

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)

# Mastodon refreshes every 6 minutes for 18; Roost a little more often, so a closed
# stream's followers stop being published to sooner.
MARKER_REFRESH_S = 300
MARKER_TTL_S = 3 * MARKER_REFRESH_S


async def _refresh_markers(bus: Bus, channels: Sequence[str]) -> None:
    while True:
        await asyncio.sleep(MARKER_REFRESH_S)
        try:
            await bus.mark_listening(channels, MARKER_TTL_S)
        except Exception as error:  # Redis away for a moment: try again next time
            log.warning("stream marker refresh failed", error=f"{type(error).__name__}: {error}")


@asynccontextmanager
async def open_stream(bus: Bus, channels: Sequence[str]) -> AsyncIterator[Subscription]:
    """Listens to `channels` (unprefixed names, streaming.channels) until the block
    ends, with their markers set and kept fresh."""
    async with bus.subscribe(channels) as subscription:
        await bus.mark_listening(subscription.channels, MARKER_TTL_S)
        refresher = asyncio.create_task(_refresh_markers(bus, subscription.channels))
        try:
            yield subscription
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher


@asynccontextmanager
async def open_user_stream(
    roost: Roost, account_id: int, *, with_notifications: bool = True
) -> AsyncIterator[Subscription]:
    """/api/v1/streaming/user: the account's home-timeline channel and, when the
    token may read notifications, its notifications channel."""
    channels = ch.user_stream(account_id, with_notifications=with_notifications)
    async with open_stream(bus_of(roost), channels) as subscription:
        yield subscription
