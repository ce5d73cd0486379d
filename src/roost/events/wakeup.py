"""Waking outbox readers in other processes: PostgreSQL LISTEN/NOTIFY.

A transaction that appended events sends `NOTIFY roost_outbox` (db.engine.Database.
write), which PostgreSQL delivers when, and only if, it commits. Each outbox reader
on PostgreSQL keeps one connection of its own listening and wakes on every
notification, so a `roost worker` relays or dispatches a post within milliseconds
instead of at its next one-second poll. The poll stays: a notification lost with a
dropped connection costs at most a second. (A listening connection must reach
PostgreSQL itself, not a PgBouncer in transaction mode.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import psycopg
import structlog

from roost.db.engine import OUTBOX_CHANNEL

log = structlog.get_logger(__name__)
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)


def plain_url(database_url: str) -> str:
    """postgresql+psycopg://... as libpq wants it."""
    return "postgresql://" + database_url.split("://", 1)[1]


class OutboxListener:
    def __init__(self, database_url: str, wake: Callable[[], None]) -> None:
        self.url = plain_url(database_url)
        self.wake = wake
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="outbox-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    failures = 0
                    self.wake()  # whatever was committed while not listening
                    async for _notification in conn.notifies():
                        self.wake()
            except (psycopg.Error, OSError) as error:
                pause = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("outbox listener lost its connection", error=str(error),
                            retry_in_s=pause)
                await asyncio.sleep(pause)
