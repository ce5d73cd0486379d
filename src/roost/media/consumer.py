"""The media consumer: processes uploads left for later, frees a deleted status's media.

- media.uploaded: a large upload (POST /api/v2/media's 202) is processed here, in
  `roost serve` or in any `roost worker`, and survives restarts as the event does.
  Redelivery is harmless: a row no longer PROCESSING is left alone, and files are
  content-addressed.
- status.deleted: the status's attachments are deleted, with the files no other row
  uses (the status rows are gone when this runs; attachments have no foreign key to
  them, so they wait here).

On SQLite the handler's transaction holds the write lock while the picture is
processed (docs/media.md gives the time per size); the 202 threshold keeps small
uploads out of this path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from roost.events import types as ev
from roost.events.consumer import Consumer
from roost.media import operations

if TYPE_CHECKING:
    from roost.context import Roost


async def handle(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
    match event:
        case ev.MediaUploaded(media_id=media_id):
            await operations.process_pending(conn, roost.settings, media_id)
        case ev.StatusDeleted(status_id=status_id):
            await operations.free_status_media(conn, roost.settings, status_id)


MEDIA = Consumer("media", frozenset({ev.MediaUploaded.TYPE, ev.StatusDeleted.TYPE}), handle)
