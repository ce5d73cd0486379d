"""Reads of statuses in a constant number of statements, whatever the page size:
one for the ids of a page, one for those statuses with their counters, one for their
authors. Every read filters through visibility.visible_to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, literal, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.queries import get_accounts
from roost.db.tables import status_stats, statuses
from roost.paging import Page
from roost.statuses.visibility import visible_to

ANCESTORS_LIMIT = 40
DESCENDANTS_LIMIT = 4096
DESCENDANTS_LIMIT_ANONYMOUS = 60
DESCENDANTS_DEPTH_LIMIT = 100


@dataclass(frozen=True)
class StatusView:
    """A status with everything its entity needs."""

    status: Row[Any]
    account: Row[Any]


_STATUS_WITH_STATS = select(
    statuses,
    status_stats.c.replies_count,
    status_stats.c.reblogs_count,
    status_stats.c.favourites_count,
).select_from(statuses.join(status_stats, status_stats.c.status_id == statuses.c.id))


def statuses_query(status_ids: Sequence[int], viewer_id: int | None) -> Select[Any]:
    """The visible ones of `status_ids` with their counters (any order)."""
    return _STATUS_WITH_STATS.where(statuses.c.id.in_(set(status_ids)), visible_to(viewer_id))


async def hydrate(
    conn: AsyncConnection, status_ids: Sequence[int], viewer_id: int | None
) -> list[StatusView]:
    """The visible ones of `status_ids`, in the given order, in two statements."""
    if not status_ids:
        return []
    rows = (await conn.execute(statuses_query(status_ids, viewer_id))).all()
    by_id = {row.id: row for row in rows}
    authors = await get_accounts(conn, {row.account_id for row in rows})
    return [
        StatusView(status=by_id[sid], account=authors[by_id[sid].account_id])
        for sid in status_ids
        if sid in by_id and by_id[sid].account_id in authors
    ]


async def get_status(
    conn: AsyncConnection, status_id: int, viewer_id: int | None
) -> StatusView | None:
    views = await hydrate(conn, [status_id], viewer_id)
    return views[0] if views else None


def account_statuses_query(
    account_id: int,
    viewer_id: int | None,
    page: Page,
    *,
    exclude_replies: bool = False,
    exclude_reblogs: bool = False,
) -> Select[Any]:
    query = select(statuses.c.id).where(statuses.c.account_id == account_id, visible_to(viewer_id))
    if exclude_replies:
        # Mastodon keeps self-replies (threads) when hiding replies.
        query = query.where(
            (statuses.c.in_reply_to_id.is_(None))
            | (statuses.c.in_reply_to_account_id == account_id)
        )
    if exclude_reblogs:
        query = query.where(statuses.c.reblog_of_id.is_(None))
    return page.apply(query, statuses.c.id)


async def account_status_ids(
    conn: AsyncConnection,
    account_id: int,
    viewer_id: int | None,
    page: Page,
    *,
    exclude_replies: bool = False,
    exclude_reblogs: bool = False,
) -> list[int]:
    query = account_statuses_query(
        account_id,
        viewer_id,
        page,
        exclude_replies=exclude_replies,
        exclude_reblogs=exclude_reblogs,
    )
    rows = (await conn.execute(query)).scalars().all()
    return page.arrange(list(rows))


def ancestors_query(in_reply_to_id: int) -> Select[Any]:
    """(id, depth) of the chain of parents, starting at the parent `in_reply_to_id`."""
    seed = select(statuses.c.id, statuses.c.in_reply_to_id, literal(1).label("depth")).where(
        statuses.c.id == in_reply_to_id
    )
    chain = seed.cte("ancestors", recursive=True)
    step = select(statuses.c.id, statuses.c.in_reply_to_id, (chain.c.depth + 1)).where(
        statuses.c.id == chain.c.in_reply_to_id, chain.c.depth < ANCESTORS_LIMIT
    )
    chain = chain.union_all(step)
    return select(chain.c.id, chain.c.depth)


async def ancestor_ids(conn: AsyncConnection, status: Row[Any]) -> list[int]:
    """Oldest first, up to ANCESTORS_LIMIT, in one recursive statement."""
    if status.in_reply_to_id is None:
        return []
    rows = (await conn.execute(ancestors_query(status.in_reply_to_id))).all()
    return [row.id for row in sorted(rows, key=lambda r: -r.depth)]


def descendants_query(status_id: int, limit: int) -> Select[Any]:
    """(id, in_reply_to_id) of up to `limit` replies below `status_id`, any depth."""
    seed = select(statuses.c.id, statuses.c.in_reply_to_id, literal(1).label("depth")).where(
        statuses.c.in_reply_to_id == status_id
    )
    tree = seed.cte("descendants", recursive=True)
    step = select(statuses.c.id, statuses.c.in_reply_to_id, (tree.c.depth + 1)).where(
        statuses.c.in_reply_to_id == tree.c.id, tree.c.depth < DESCENDANTS_DEPTH_LIMIT
    )
    tree = tree.union_all(step)
    return select(tree.c.id, tree.c.in_reply_to_id).limit(limit)


async def descendant_ids(conn: AsyncConnection, status: Row[Any], limit: int) -> list[int]:
    """Depth-first thread order (each reply followed by its own replies), in one
    recursive statement; the ordering is done here on (id, parent) pairs."""
    rows = (await conn.execute(descendants_query(status.id, limit))).all()
    children: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        children[row.in_reply_to_id].append(row.id)
    ordered: list[int] = []
    stack = sorted(children[status.id], reverse=True)
    while stack:
        current = stack.pop()
        ordered.append(current)
        stack.extend(sorted(children[current], reverse=True))
    return ordered
