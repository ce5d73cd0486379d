"""The public (federated/local) timeline: every public status, newest first.

As Mastodon's PublicFeed: public visibility only (unlisted, private and direct never
appear), no boosts, and no replies except an author's replies to itself (threads);
for a signed-in viewer, nothing from accounts on either side of a block with it or
muted by it. Every status here is local (there is no federation yet), so `local`
changes nothing and `remote` is always empty; so is `only_media` until media exist.

The query walks statuses by primary key newest-first and tests each row, which is
cheap while most statuses are public originals. What would keep it cheap whatever
the mix (not added yet; the schema is owned elsewhere): a partial index on
statuses (id) WHERE visibility = 0 AND reblog_of_id IS NULL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import VISIBILITY_PUBLIC, statuses
from roost.paging import Page
from roost.statuses.visibility import not_muted_by, visible_to


def public_query(viewer_id: int | None, page: Page) -> Select[Any]:
    s = statuses.c
    query = select(s.id).where(
        s.visibility == VISIBILITY_PUBLIC,
        s.reblog_of_id.is_(None),
        or_(s.in_reply_to_id.is_(None), s.in_reply_to_account_id == s.account_id),
        visible_to(viewer_id),
        not_muted_by(viewer_id, s.account_id),
    )
    return page.apply(query, s.id)


async def public_status_ids(
    conn: AsyncConnection,
    viewer_id: int | None,
    page: Page,
    *,
    remote: bool = False,
    only_media: bool = False,
) -> list[int]:
    if remote or only_media:
        return []
    rows = (await conn.execute(public_query(viewer_id, page))).scalars().all()
    return page.arrange(list(rows))
