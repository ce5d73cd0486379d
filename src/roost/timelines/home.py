"""The home timeline as an indexed pull query.

Statuses by the viewer and by everyone the viewer follows, newest first, keyset
paged. The follow list comes from the (account_id, target_account_id) index and each
author's statuses from (account_id, id), so the cost grows with the page and the
follow list, never with the size of the statuses table (docs/schema.md has the plan).
A later issue puts Redis timelines in front of this; this query stays as the fallback.
"""

from __future__ import annotations

from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import follows, statuses
from roost.paging import Page
from roost.statuses.visibility import visible_to


async def home_status_ids(conn: AsyncConnection, viewer_id: int, page: Page) -> list[int]:
    authors = union_all(
        select(follows.c.target_account_id).where(follows.c.account_id == viewer_id),
        select(literal(viewer_id)),
    )
    query = select(statuses.c.id).where(
        statuses.c.account_id.in_(authors.scalar_subquery()), visible_to(viewer_id)
    )
    rows = (await conn.execute(page.apply(query, statuses.c.id))).scalars().all()
    return page.arrange(list(rows))
