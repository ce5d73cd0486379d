"""Hashtag search: tags whose name begins with what was typed (`#` optional), the
exact name first, then the most recently used, then by name (docs/search.md).

The match is one range scan of tags.name_lower in byte order (prefix.py; migration
0009 adds the index PostgreSQL needs), stopped after CANDIDATES names; a tag's last
use is the newest row of its status_tags key (tag_id, status_id), one probe per
candidate. Each Tag comes with its week of history (timelines.tag.with_histories: one
statement for the page, whose cost follows those tags' uses in the week).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.tables import status_tags, tags
from roost.search.prefix import in_byte_order, starts_with
from roost.statuses.html import normalise_hashtag
from roost.timelines.tag import TagInfo, with_histories

CANDIDATES = 1000
MAX_NAME_CHARS = 100  # tags.name_lower's width


def tag_prefix(query: str) -> str | None:
    """The normalised name prefix to look for, or None when no tag can match."""
    text = query.strip().removeprefix("#")
    if not text or len(text) > MAX_NAME_CHARS or any(c.isspace() or c == "#" for c in text):
        return None
    return normalise_hashtag(text)


def tag_search_query(
    conn: AsyncConnection, prefix: str, *, limit: int, offset: int = 0
) -> Select[Any]:
    key = in_byte_order(conn, tags.c.name_lower)
    candidates = (
        select(tags.c.id).where(starts_with(key, prefix)).order_by(key).limit(CANDIDATES)
        .subquery("candidates")
    )
    last_use = (
        select(func.max(status_tags.c.status_id))
        .where(status_tags.c.tag_id == tags.c.id)
        .scalar_subquery()
    )
    return (
        select(tags)
        .join(candidates, candidates.c.id == tags.c.id)
        .order_by(
            case((tags.c.name_lower == prefix, 0), else_=1),
            func.coalesce(last_use, 0).desc(),
            tags.c.name_lower,
        )
        .offset(offset)
        .limit(limit)
    )


async def search_tags(
    conn: AsyncConnection, query: str, *, limit: int, offset: int = 0
) -> list[TagInfo]:
    """One page of matching tags with their history: two statements (none when the
    query cannot be a hashtag, one when nothing matches)."""
    prefix = tag_prefix(query)
    if prefix is None or limit < 1:
        return []
    rows = list((await conn.execute(tag_search_query(conn, prefix, limit=limit,
                                                     offset=offset))).all())
    return await with_histories(conn, rows, utcnow())
