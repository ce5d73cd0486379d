"""Timeline read markers (GET/POST /api/v1/markers): where the account stopped reading
its home timeline and its notifications, so that another client can resume there.

Each save bumps `version` (Mastodon's optimistic-lock counter, which clients read) in
the same statement as the upsert, so concurrent saves never lose an increment.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.tables import markers

TIMELINES = ("home", "notifications")


async def get_markers(
    conn: AsyncConnection, account_id: int, timelines: Collection[str]
) -> dict[str, Row[Any]]:
    wanted = [name for name in TIMELINES if name in timelines]
    if not wanted:
        return {}
    rows = (
        await conn.execute(
            select(markers).where(
                markers.c.account_id == account_id, markers.c.timeline.in_(wanted)
            )
        )
    ).all()
    return {row.timeline: row for row in rows}


async def save_markers(
    conn: AsyncConnection, account_id: int, last_read_ids: Mapping[str, int]
) -> dict[str, Row[Any]]:
    """Creates (version 0) or moves (version + 1) each given timeline's marker."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    for timeline, last_read_id in last_read_ids.items():
        statement = insert(markers).values(
            account_id=account_id,
            timeline=timeline,
            last_read_id=last_read_id,
            version=0,
            updated_at=now,
        )
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[markers.c.account_id, markers.c.timeline],
                set_={
                    "last_read_id": statement.excluded.last_read_id,
                    "updated_at": statement.excluded.updated_at,
                    "version": markers.c.version + 1,
                },
            )
        )
    return await get_markers(conn, account_id, last_read_ids.keys())
