"""The one Redis client a process shares for home timelines, caches and streaming.

Built from ROOST_REDIS_URL with short timeouts: a read path that waits on Redis must
give up quickly and fall back to the database (the event streams have their own
client, whose timeouts outlast a blocking read: events.redis_log.connect).
"""

from __future__ import annotations

from redis.asyncio import Redis

from roost.config import Settings

CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 2.0


def shared_client(settings: Settings) -> Redis | None:
    """The process's client, or None when no Redis is configured (embedded mode)."""
    if not settings.redis_url:
        return None
    return Redis.from_url(
        settings.redis_url, decode_responses=True,
        socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=COMMAND_TIMEOUT_S,
        health_check_interval=30,
    )
