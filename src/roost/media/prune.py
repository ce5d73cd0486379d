"""The clean-up of uploads never attached to a status: a background loop in every
process that runs the media consumer (`roost serve` with its consumers, `roost worker`),
and `roost media prune` for a one-off run (docs/media.md).

Several processes may prune at once: each DELETE ... RETURNING takes its own rows, and
a file is removed only once no row refers to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING

import structlog

from roost.media.operations import prune_unattached

if TYPE_CHECKING:
    from roost.config import Settings
    from roost.context import Roost
    from roost.db.engine import Database

log = structlog.get_logger(__name__)
PRUNE_EVERY_SECONDS = 3600.0
FIRST_PRUNE_AFTER_SECONDS = 60.0
BATCH = 1000


async def prune_all(db: Database, settings: Settings) -> int:
    """Prunes in batches (one transaction each) until nothing is left; returns the count."""
    total = 0
    while True:
        async with db.write() as conn:
            removed = await prune_unattached(conn, settings, limit=BATCH)
        total += removed
        if removed < BATCH:
            return total


class MediaPruner:
    """A Service (events.backends): prunes an hour apart, the first a minute after start
    (with jitter, so processes started together do not prune together)."""

    def __init__(self, roost: Roost) -> None:
        self.roost = roost
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="media-pruner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = FIRST_PRUNE_AFTER_SECONDS * random.uniform(1, 2)  # noqa: S311 - timing
        while True:
            await asyncio.sleep(delay)
            try:
                removed = await prune_all(self.roost.db, self.roost.settings)
                if removed:
                    log.info("unattached media pruned", count=removed)
            except Exception:  # a failed round is retried at the next one
                log.exception("media prune failed")
            delay = PRUNE_EVERY_SECONDS * random.uniform(0.9, 1.1)  # noqa: S311
