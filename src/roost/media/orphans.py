"""The sweep of orphaned files: files under `media/` (and `uploads/`) that no row names.

An upload writes its files first and its row after (the CPU work and the writes stay
out of the transaction, operations.prepare_now/prepare_later). When that transaction
fails, or the process dies in between, the files are left with no row pointing at
them, and the prune, which removes only the files of rows it deletes, never sees
them. This sweep walks the directories and removes such files (docs/media.md,
"Clean-up"); it runs with the prune, hourly and in `roost media prune`.

- A file younger than ORPHAN_GRACE_SECONDS is kept whatever the database says: an
  upload in flight has written its file and not yet committed its row. Its age is
  checked again just before it is removed, after the database was asked.
- References are read SWEEP_BATCH names at a time, one statement for all four columns
  that name a file (storage.unreferenced: originals, previews, avatars, headers), so
  the sweep costs one statement per SWEEP_BATCH old files, whatever the total.
- The walk streams: a batch at a time, in a worker thread, never the whole tree in
  memory.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from roost.media import storage

if TYPE_CHECKING:
    from roost.config import Settings
    from roost.db.engine import Database

# An hour, as the prune's grace (operations.PRUNE_GRACE_SECONDS): far longer than any
# upload takes between writing its file and committing its row.
ORPHAN_GRACE_SECONDS = 3600.0
# 4 columns x 500 names = 2,000 bound values a statement: within SQLite's 32,766.
SWEEP_BATCH = 500
UPLOADS_PREFIX = "uploads/"  # media_attachments.file_name of a PROCESSING upload
HEX = frozenset("0123456789abcdef")


def _is_level(name: str) -> bool:
    """One of storage's two directory levels (`h[0:2]`, `h[2:4]`)."""
    return len(name) == 2 and set(name) <= HEX


def _old(entry: os.DirEntry[str], cutoff: float) -> bool:
    try:
        return entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def old_stored_names(settings: Settings, cutoff: float) -> Iterator[str]:
    """Names as the database keeps them (`aa/bb/h.ext`, and `uploads/<id>`) of the files
    last written before `cutoff`. Only storage's own layout is walked: anything else
    put in the data directory is left alone. Files named `.upload-*` (a write that
    died before its rename) are included: no row ever names them."""
    media = settings.data_dir / "media"
    for first in _scan(media):
        if not first.is_dir(follow_symlinks=False) or not _is_level(first.name):
            continue
        for second in _scan(Path(first.path)):
            if not second.is_dir(follow_symlinks=False) or not _is_level(second.name):
                continue
            for entry in _scan(Path(second.path)):
                if _old(entry, cutoff):
                    yield f"{first.name}/{second.name}/{entry.name}"
    for entry in _scan(settings.data_dir / "uploads"):
        if _old(entry, cutoff):
            yield UPLOADS_PREFIX + entry.name


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def path_of_name(settings: Settings, name: str) -> Path:
    if name.startswith(UPLOADS_PREFIX):
        return settings.data_dir / name
    return storage.path_of(settings, name)


def remove_if_older(settings: Settings, names: list[str], cutoff: float) -> int:
    """Removes those of `names` still last written before `cutoff` (one may have been
    written again since the walk: an upload of the same bytes, about to commit)."""
    return sum(storage.unlink_if_written_before(path_of_name(settings, name), cutoff)
               for name in names)


async def sweep_orphans(
    db: Database, settings: Settings, *, grace_seconds: float = ORPHAN_GRACE_SECONDS,
    batch: int = SWEEP_BATCH,
) -> int:
    """Removes the files no row names and older than `grace_seconds`; returns how many."""
    cutoff = time.time() - grace_seconds
    names = old_stored_names(settings, cutoff)
    removed = 0
    while True:
        # The generator moves on in a thread each time (never two at once): the walk's
        # directory reads stay off the event loop.
        chunk = await asyncio.to_thread(lambda: list(islice(names, batch)))
        if not chunk:
            return removed
        async with db.read() as conn:
            orphans = await storage.unreferenced(conn, chunk)
        if orphans:
            removed += await asyncio.to_thread(remove_if_older, settings, orphans, cutoff)
