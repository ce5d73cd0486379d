"""Media attachment writes: upload, describe, process later, attach, free, prune.

Each function runs in the caller's transaction, like every domain operation. The CPU
work (roost.media.processing) runs in a thread; file writes are content-addressed and
atomic (roost.media.storage), so writing one twice is harmless.

States: READY (processed in the request, or by the consumer), PROCESSING (stored as
uploaded in `{data_dir}/uploads/`, outside what is served, until the media consumer
processes it), FAILED (the consumer found it unusable; GET answers 422).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.config import Settings
from roost.db.tables import (
    MEDIA_FAILED,
    MEDIA_PROCESSING,
    MEDIA_READY,
    accounts,
    media_attachments,
)
from roost.errors import ApiError
from roost.events import types as ev
from roost.events.outbox import emit
from roost.ids import IdGenerator, shard_of
from roost.media import processing, storage
from roost.media.processing import MediaRejected

m = media_attachments.c
MAX_ATTACHMENTS = 4
DESCRIPTION_MAX = 1500
UNATTACHED_LIFETIME = timedelta(days=1)
# A file written this recently is never pruned: an upload of the same bytes may not
# have committed its row yet (storage.remove_unreferenced).
PRUNE_GRACE_SECONDS = 3600.0
NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!"


# Decoding a large picture takes ~200 MiB for a second or two (docs/media.md): at most
# this many at once per process, so that a burst of uploads neither exhausts memory
# nor fills the default thread pool that password hashing and file reads share.
PROCESSING_CONCURRENCY = max(1, os.cpu_count() or 1)
# One semaphore per event loop (a semaphore belongs to the loop it first waits in).
_processing_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
_Result = TypeVar("_Result")


async def _cpu(function: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
    """`function` in a worker thread, at most PROCESSING_CONCURRENCY at a time."""
    slots = _processing_slots.setdefault(
        asyncio.get_running_loop(), asyncio.Semaphore(PROCESSING_CONCURRENCY)
    )
    async with slots:
        return await asyncio.to_thread(function, *args, **kwargs)


@dataclass(frozen=True)
class Upload:
    data: bytes
    description: str | None = None
    focus: tuple[float, float] = (0.0, 0.0)


def _limits(settings: Settings) -> dict[str, int]:
    return {"max_bytes": settings.media_max_image_bytes,
            "max_pixels": settings.media_max_image_pixels}


def rejected(error: MediaRejected) -> ApiError:
    return ApiError(422, f"Validation failed: {error}")


async def _store_processed(settings: Settings, processed: processing.Processed) -> tuple[str, str]:
    def write() -> tuple[str, str]:
        original = storage.write(settings, processed.original.data, processed.original.extension)
        small = processed.small
        preview = storage.write(settings, small.data, small.extension) if small else original
        return original, preview

    return await asyncio.to_thread(write)


@dataclass(frozen=True)
class Prepared:
    """An upload made ready outside any transaction: processed and stored (READY), or
    kept as it came for the consumer (PROCESSING)."""

    media_id: int
    upload: Upload
    processed: processing.Processed | None = None
    files: tuple[str, str] | None = None


async def prepare_now(
    ids: IdGenerator, settings: Settings, account_id: int, upload: Upload
) -> Prepared:
    """Processes the upload (in a thread) and stores its files. Called before the
    transaction that records it: the database (SQLite's one writer) is not held while
    the CPU works."""
    try:
        processed = await _cpu(
            processing.process_image, upload.data, focus=upload.focus, **_limits(settings)
        )
    except MediaRejected as error:
        raise rejected(error) from error
    files = await _store_processed(settings, processed)
    return Prepared(ids.next_id(shard_of(account_id)), upload, processed, files)


def incoming_path(settings: Settings, media_id: int) -> Path:
    """Where an upload waits for the consumer: outside `media/`, so never served (it
    still has its EXIF, GPS included)."""
    return settings.data_dir / "uploads" / str(media_id)


async def prepare_later(
    ids: IdGenerator, settings: Settings, account_id: int, upload: Upload
) -> Prepared:
    """Checks the upload's header (format, size: no pixel is decoded) and keeps it as
    it came, for the media consumer."""
    try:
        await asyncio.to_thread(processing.peek, upload.data, **_limits(settings))
    except MediaRejected as error:
        raise rejected(error) from error
    media_id = ids.next_id(shard_of(account_id))
    path = incoming_path(settings, media_id)

    def keep() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(upload.data)

    await asyncio.to_thread(keep)
    return Prepared(media_id, upload)


async def record_upload(
    conn: AsyncConnection, ids: IdGenerator, account_id: int, prepared: Prepared
) -> int:
    """The attachment's row; a PROCESSING one also gets its media.uploaded event."""
    upload, processed = prepared.upload, prepared.processed
    values: dict[str, Any] = {
        "id": prepared.media_id, "account_id": account_id, "description": upload.description,
        "focus_x": upload.focus[0], "focus_y": upload.focus[1], "created_at": utcnow(),
    }
    if processed is not None and prepared.files is not None:
        values.update(file_name=prepared.files[0], preview_file_name=prepared.files[1],
                      meta=processed.meta, blurhash=processed.blurhash, state=MEDIA_READY)
    else:
        values.update(file_name=f"uploads/{prepared.media_id}", state=MEDIA_PROCESSING)
    await conn.execute(insert(media_attachments).values(**values))
    if processed is None:
        await emit(conn, ids, ev.MediaUploaded, account_id, media_id=prepared.media_id)
    return prepared.media_id


async def ensure_stored(settings: Settings, prepared: Prepared) -> None:
    """After the commit: writes the files again if a concurrent clean-up removed them
    between their write and the commit (content-addressed: the same bytes again)."""
    processed = prepared.processed
    if processed is None or prepared.files is None:
        return
    if all(storage.path_of(settings, name).exists() for name in prepared.files):
        return
    await _store_processed(settings, processed)


async def process_pending(conn: AsyncConnection, settings: Settings, media_id: int) -> None:
    """The consumer's work: processes a PROCESSING upload and marks it READY, or FAILED
    when it is unusable. Done already (a redelivery), or gone: nothing to do."""
    row = (await conn.execute(
        select(media_attachments).where(m.id == media_id).with_for_update()
    )).first()
    if row is None or row.state != MEDIA_PROCESSING:
        return
    path = incoming_path(settings, media_id)
    try:
        data = await asyncio.to_thread(path.read_bytes)
        processed = await _cpu(
            processing.process_image, data, focus=(row.focus_x, row.focus_y),
            **_limits(settings),
        )
    except FileNotFoundError:
        await _fail(conn, media_id, "The uploaded file was lost before it was processed")
        return
    except MediaRejected as error:
        await _fail(conn, media_id, str(error))
        path.unlink(missing_ok=True)
        return
    original, preview = await _store_processed(settings, processed)
    await conn.execute(update(media_attachments).where(m.id == media_id).values(
        file_name=original, preview_file_name=preview, meta=processed.meta,
        blurhash=processed.blurhash, state=MEDIA_READY,
    ))
    path.unlink(missing_ok=True)


async def _fail(conn: AsyncConnection, media_id: int, message: str) -> None:
    await conn.execute(update(media_attachments).where(m.id == media_id).values(
        state=MEDIA_FAILED, error=message[:300]))


async def describe(
    conn: AsyncConnection, account_id: int, media_id: int,
    description: str | None, focus: tuple[float, float] | None,
) -> Row[Any]:
    """Changes the description and focus of one's own unattached upload; an attached
    one is "not found", as in Mastodon (its status is edited instead)."""
    values: dict[str, Any] = {}
    if description is not None:
        values["description"] = description
    if focus is not None:
        values["focus_x"], values["focus_y"] = focus
    where = (m.id == media_id, m.account_id == account_id, m.status_id.is_(None))
    row = (await conn.execute(select(media_attachments).where(*where).with_for_update())).first()
    if row is None:
        raise ApiError(404, "Record not found")
    if values:
        if focus is not None and row.meta:
            values["meta"] = {**row.meta, "focus": {"x": focus[0], "y": focus[1]}}
        await conn.execute(update(media_attachments).where(*where).values(**values))
        row = (await conn.execute(select(media_attachments).where(*where))).first()
        assert row is not None
    return row


async def attach(
    conn: AsyncConnection, account_id: int, status_id: int, media_ids: Sequence[int]
) -> None:
    """Attaches the account's own ready, unattached uploads to its status, in order;
    anything else is a 422 and attaches nothing (the caller's transaction rolls back)."""
    await _check_attachable(conn, account_id, media_ids, status_id=None)
    for position, media_id in enumerate(media_ids):
        await conn.execute(update(media_attachments).where(m.id == media_id).values(
            status_id=status_id, position=position))


async def replace(
    conn: AsyncConnection, account_id: int, status_id: int, media_ids: Sequence[int]
) -> bool:
    """An edit's new list of attachments: those left out are detached (pruned a day
    later unless attached again), new ones attached. True when anything changed."""
    if await attached_ids(conn, status_id) == list(media_ids):
        return False
    await _check_attachable(conn, account_id, media_ids, status_id=status_id)
    await conn.execute(update(media_attachments).where(
        m.status_id == status_id, m.id.not_in(list(media_ids) or [0])
    ).values(status_id=None, position=0))
    for position, media_id in enumerate(media_ids):
        await conn.execute(update(media_attachments).where(m.id == media_id).values(
            status_id=status_id, position=position))
    return True


async def _check_attachable(
    conn: AsyncConnection, account_id: int, media_ids: Sequence[int], *, status_id: int | None
) -> None:
    if len(media_ids) > MAX_ATTACHMENTS:
        raise ApiError(422, f"Validation failed: Cannot attach more than {MAX_ATTACHMENTS} files")
    if len(set(media_ids)) != len(media_ids):
        raise ApiError(422, "Validation failed: The same file is attached twice")
    if not media_ids:
        return
    rows = (await conn.execute(
        select(m.id, m.account_id, m.status_id, m.state)
        .where(m.id.in_(list(media_ids))).with_for_update()
    )).all()
    found = {row.id: row for row in rows if row.account_id == account_id}
    for media_id in media_ids:
        row = found.get(media_id)
        if row is None:
            raise ApiError(422, f"Validation failed: Media {media_id} was not found")
        if row.status_id is not None and row.status_id != status_id:
            raise ApiError(422, f"Validation failed: Media {media_id} is already attached")
        if row.state != MEDIA_READY:
            raise ApiError(422, NOT_READY)


async def attached_ids(conn: AsyncConnection, status_id: int) -> list[int]:
    query = select(m.id).where(m.status_id == status_id).order_by(m.position, m.id)
    return list((await conn.execute(query)).scalars())


async def detach_for_redraft(conn: AsyncConnection, status_id: int) -> None:
    """A deleted status's attachments become unattached uploads again, each with a new
    day to live: "delete and redraft" posts them again by their ids."""
    await conn.execute(update(media_attachments).where(m.status_id == status_id).values(
        status_id=None, position=0, created_at=utcnow()))


async def free_status_media(conn: AsyncConnection, settings: Settings, status_id: int) -> int:
    """A deleted status's attachments: rows deleted, files removed unless another row
    still uses them (the media consumer, on status.deleted). Returns rows deleted."""
    rows = (await conn.execute(
        delete(media_attachments).where(m.status_id == status_id)
        .returning(m.file_name, m.preview_file_name)
    )).all()
    names = [n for row in rows for n in (row.file_name, row.preview_file_name)]
    await storage.remove_unreferenced(conn, settings, names)
    return len(rows)


async def prune_unattached(
    conn: AsyncConnection, settings: Settings, *, older_than: timedelta = UNATTACHED_LIFETIME,
    limit: int = 1000,
) -> int:
    """Deletes up to `limit` uploads never attached and older than `older_than`, and
    the files no other row uses. Returns how many rows went."""
    cutoff = utcnow() - older_than
    ids = list((await conn.execute(
        select(m.id).where(m.status_id.is_(None), m.created_at < cutoff)
        .order_by(m.created_at).limit(limit)
    )).scalars())
    if not ids:
        return 0
    rows = (await conn.execute(
        delete(media_attachments).where(m.id.in_(ids), m.status_id.is_(None))
        .returning(m.id, m.state, m.file_name, m.preview_file_name)
    )).all()
    names = []
    for row in rows:
        if row.state == MEDIA_READY:
            names += [row.file_name, row.preview_file_name]
        else:
            incoming_path(settings, row.id).unlink(missing_ok=True)
    await storage.remove_unreferenced(conn, settings, names, grace_seconds=PRUNE_GRACE_SECONDS)
    return len(rows)


AVATAR_SIZE = (400, 400)
HEADER_SIZE = (1500, 500)


async def store_profile_image(settings: Settings, data: bytes, size: tuple[int, int]) -> str:
    """An avatar or header, cropped and scaled to `size`, stored; its stored name."""
    try:
        rendition = await _cpu(
            processing.process_profile_image, data, size, **_limits(settings)
        )
    except MediaRejected as error:
        raise rejected(error) from error
    return await asyncio.to_thread(storage.write, settings, rendition.data, rendition.extension)


async def set_profile_images(
    conn: AsyncConnection, ids: IdGenerator, account_id: int,
    *, avatar: str | None, header: str | None,
) -> list[str]:
    """Points the account at stored avatar/header files (emits account.updated, which
    invalidates its cached profile). Returns the names it used before, for the caller
    to remove after commit if nothing else uses them."""
    values = {k: v for k, v in (("avatar_path", avatar), ("header_path", header)) if v}
    if not values:
        return []
    before = (await conn.execute(
        select(accounts.c.avatar_path, accounts.c.header_path).where(accounts.c.id == account_id)
    )).one()
    await conn.execute(update(accounts).where(accounts.c.id == account_id).values(
        **values, updated_at=utcnow()))
    await emit(conn, ids, ev.AccountUpdated, account_id)
    return [getattr(before, column) for column in values if getattr(before, column)]


async def remove_if_unreferenced(conn: AsyncConnection, settings: Settings,
                                 names: Sequence[str]) -> None:
    """After the commit that stopped using `names`: removes those nobody uses now."""
    await storage.remove_unreferenced(conn, settings, names, grace_seconds=PRUNE_GRACE_SECONDS)
