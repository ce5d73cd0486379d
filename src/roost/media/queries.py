"""Reading media attachments: one by id for its owner, and a page's worth by status.

A status's attachments travel as plain dicts (`attachment_values`): the same shape
from the database and from the object cache, where they live inside the cached status
(statuses.cached), so a cached page costs no statement for its media.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import media_attachments

m = media_attachments.c

# What a rendered attachment needs (api/mastodon/entities.media_attachment).
ENTITY_COLUMNS = (
    m.id, m.status_id, m.type, m.file_name, m.preview_file_name, m.description,
    m.focus_x, m.focus_y, m.meta, m.blurhash, m.state,
)


def attachment_values(row: Any) -> dict[str, Any]:
    return {column.name: getattr(row, column.name) for column in ENTITY_COLUMNS}


def attachments_query(status_ids: Iterable[int]) -> Select[Any]:
    return (
        select(*ENTITY_COLUMNS)
        .where(m.status_id.in_(set(status_ids)))
        .order_by(m.status_id, m.position, m.id)
    )


async def attachments_by_status(
    conn: AsyncConnection, status_ids: Iterable[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each status's attachments in order (one statement, none for no ids)."""
    wanted = set(status_ids)
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not wanted:
        return grouped
    for row in (await conn.execute(attachments_query(wanted))).all():
        grouped[row.status_id].append(attachment_values(row))
    return grouped


async def get_own(conn: AsyncConnection, account_id: int, media_id: int) -> Row[Any] | None:
    """The attachment if `account_id` uploaded it (anyone else's is "not found")."""
    query = select(media_attachments).where(m.id == media_id, m.account_id == account_id)
    return (await conn.execute(query)).first()
