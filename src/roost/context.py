"""What every operation and router needs from the running process, in one object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from roost.config import Settings
from roost.db.engine import Database
from roost.ids import IdGenerator

if TYPE_CHECKING:
    from roost.cache.computed import ComputedState
    from roost.events.dispatcher import Dispatcher
    from roost.resilience.breaker import CircuitBreaker
    from roost.streaming.bus import Bus
    from roost.timelines.home_read import HomeRebuilds
    from roost.timelines.redis_home import HomeTimelines


@dataclass
class Roost:
    settings: Settings
    db: Database
    ids: IdGenerator
    # The in-process event dispatcher, when this process runs the consumers.
    dispatcher: Dispatcher | None = None
    # The shared Redis client (redis_client.py), when ROOST_REDIS_URL is set.
    redis: Redis | None = None
    # Home timelines in Redis (timelines.fanout.timelines_of makes it on first use).
    home_timelines: HomeTimelines | None = None
    # Background rebuilds of missing Redis home timelines (timelines.home_read).
    home_rebuilds: HomeRebuilds | None = None
    # The breaker around `redis` (resilience.breaker.redis_breaker makes it).
    redis_breaker: CircuitBreaker | None = None
    # The streaming pub/sub (streaming.bus.bus_of makes it on first use).
    streaming_bus: Bus | None = None
    # This process's copies and locks of computed values (cache.computed).
    computed_values: ComputedState | None = None
