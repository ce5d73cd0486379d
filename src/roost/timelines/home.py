"""The home timeline as an indexed pull query.

Statuses by the viewer and by everyone the viewer follows, newest first, keyset
paged. The follow list comes from the (account_id, target_account_id) index and each
author's statuses from (account_id, id, visibility), so the cost grows with the page
and the follow list, never with the size of the statuses table.
A later issue puts Redis timelines in front of this; this query stays as the fallback.

PostgreSQL gets the LATERAL form: each followed account contributes at most one page
of its newest visible statuses, read backwards from the (account_id, id, visibility)
index, and only those (at most follows x limit ids) are merged. Given the plain
`account_id IN (...) ORDER BY id DESC LIMIT n`, PostgreSQL walks the primary key
backwards testing every status against the follow list until it has n: fast for a busy
timeline, but for a viewer who follows a few quiet accounts it reads most of the table.
SQLite has no LATERAL and runs the IN form, which its planner serves with one covering
index search per followed account and a sort of those ids (fine at the embedded size).
Both forms return the same ids; docs/schema.md shows the plans.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, literal, select, true, union, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import follows, statuses
from roost.paging import Page
from roost.statuses.visibility import visible_to


def home_query(viewer_id: int, page: Page, dialect: str = "sqlite") -> Select[Any]:
    """The page's status ids as issued on `dialect` (a SQLAlchemy dialect name)."""
    followed = select(follows.c.target_account_id.label("account_id")).where(
        follows.c.account_id == viewer_id
    )
    if dialect != "postgresql":
        authors = union_all(followed, select(literal(viewer_id)))
        query = select(statuses.c.id).where(
            statuses.c.account_id.in_(authors.scalar_subquery()), visible_to(viewer_id)
        )
        return page.apply(query, statuses.c.id)
    # UNION, not UNION ALL: an author listed twice must not give its statuses twice.
    author_list = union(followed, select(literal(viewer_id).label("account_id"))).subquery(
        "authors"
    )
    newest = page.apply(
        select(statuses.c.id).where(
            statuses.c.account_id == author_list.c.account_id, visible_to(viewer_id)
        ),
        statuses.c.id,
    ).lateral("newest")
    merged = select(newest.c.id).select_from(author_list.join(newest, true()))
    order = newest.c.id.asc() if page.ascending else newest.c.id.desc()
    return merged.order_by(order).limit(page.limit)


async def home_status_ids(conn: AsyncConnection, viewer_id: int, page: Page) -> list[int]:
    query = home_query(viewer_id, page, conn.dialect.name)
    rows = (await conn.execute(query)).scalars().all()
    return page.arrange(list(rows))
