"""The clean-up of uploads never attached to a status, and of files no row names (the
orphan sweep, media/orphans.py): a background loop in every process that runs the media
consumer (`roost serve` with its consumers, `roost worker`), and `roost media prune`
for a one-off run (docs/media.md).

Several processes may prune at once: each DELETE ... RETURNING takes its own rows, and
a file is removed only once no row refers to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from roost.media.operations import prune_unattached
from roost.media.orphans import sweep_orphans

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


@dataclass(frozen=True)
class Pruned:
    uploads: int  # unattached uploads deleted (rows)
    orphans: int  # files no row named, removed


async def prune_and_sweep(db: Database, settings: Settings) -> Pruned:
    """The whole clean-up: unattached uploads first (their files become orphans only if
    a failure stops the prune between the DELETE and the removal), then the sweep."""
    uploads = await prune_all(db, settings)
    return Pruned(uploads, await sweep_orphans(db, settings))


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
                pruned = await prune_and_sweep(self.roost.db, self.roost.settings)
                if pruned.uploads:
                    log.info("unattached media pruned", count=pruned.uploads)
                if pruned.orphans:
                    log.info("orphaned media files removed", count=pruned.orphans)
            except Exception:  # a failed round is retried at the next one
                log.exception("media prune failed")
            delay = PRUNE_EVERY_SECONDS * random.uniform(0.9, 1.1)  # noqa: S311
