"""The search_index consumer: keeps the search index up to date with the statuses
(docs/search.md).

Posting and editing (re)index the status as it is when the event is handled, deleting
removes it, so events may arrive in any order: a status.created handled after the
status was deleted indexes nothing, and an older edit handled late writes the current
text anyway. On PostgreSQL the index row also goes with its status (ON DELETE
CASCADE); on SQLite (FTS5 has no foreign keys) status.deleted is what removes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from roost.events import types as ev
from roost.events.consumer import Consumer
from roost.search.index import index_status, unindex_status

if TYPE_CHECKING:
    from roost.context import Roost


async def handle(_roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
    match event:
        case ev.StatusCreated(status_id=status_id) | ev.StatusUpdated(status_id=status_id):
            await index_status(conn, status_id)
        case ev.StatusDeleted(status_id=status_id):
            await unindex_status(conn, status_id)


SEARCH_INDEX = Consumer(
    "search_index",
    frozenset({ev.StatusCreated.TYPE, ev.StatusUpdated.TYPE, ev.StatusDeleted.TYPE}),
    handle,
)
