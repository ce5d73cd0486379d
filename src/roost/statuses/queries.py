"""Reads of statuses in a constant number of statements, whatever the page size:
one for the ids of a page, then `hydrate`'s fixed set (statuses, boosted originals,
authors, mentions, tags, viewer flags). Every read filters through
visibility.visible_to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, Select, literal, select, union_all
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.queries import get_accounts
from roost.cache.objects import object_cache_of
from roost.counters.overlay import adjust_statuses
from roost.db.tables import (
    accounts,
    bookmarks,
    favourites,
    mentions,
    status_stats,
    status_tags,
    statuses,
    tags,
)
from roost.media.queries import attachments_by_status
from roost.paging import Page
from roost.statuses.visibility import visible_to

ANCESTORS_LIMIT = 40
DESCENDANTS_LIMIT = 4096
DESCENDANTS_LIMIT_ANONYMOUS = 60
DESCENDANTS_DEPTH_LIMIT = 100


# A SQLAlchemy Row, or a CachedRow read back from the object cache (cache.objects):
# both give the columns as attributes.
RowLike = Any


@dataclass(frozen=True)
class StatusView:
    """A status with everything its entity needs for one viewer."""

    status: RowLike
    account: RowLike
    reblog: StatusView | None = None
    mentions: tuple[RowLike, ...] = ()
    tags: tuple[RowLike, ...] = ()
    # Which of "favourited", "reblogged", "bookmarked" hold for the viewer.
    flags: frozenset[str] = frozenset()
    # Its media attachments in order, as media.queries.attachment_values dicts.
    media: tuple[dict[str, Any], ...] = ()


_STATUS_WITH_STATS = select(
    statuses,
    status_stats.c.replies_count,
    status_stats.c.reblogs_count,
    status_stats.c.favourites_count,
).select_from(statuses.join(status_stats, status_stats.c.status_id == statuses.c.id))


def statuses_query(status_ids: Iterable[int], viewer_id: int | None) -> Select[Any]:
    """The visible ones of `status_ids` with their counters (any order)."""
    return _STATUS_WITH_STATS.where(statuses.c.id.in_(set(status_ids)), visible_to(viewer_id))


def viewer_flags_query(viewer_id: int, status_ids: Iterable[int]) -> CompoundSelect[Any]:
    """(status_id, flag) for the viewer's likes, bookmarks and boosts among the ids."""
    wanted = set(status_ids)
    return union_all(
        select(favourites.c.status_id, literal("favourited").label("flag")).where(
            favourites.c.account_id == viewer_id, favourites.c.status_id.in_(wanted)
        ),
        select(bookmarks.c.status_id, literal("bookmarked")).where(
            bookmarks.c.account_id == viewer_id, bookmarks.c.status_id.in_(wanted)
        ),
        select(statuses.c.reblog_of_id, literal("reblogged")).where(
            statuses.c.account_id == viewer_id, statuses.c.reblog_of_id.in_(wanted)
        ),
    )


def mentions_query(status_ids: Iterable[int]) -> Select[Any]:
    return (
        select(mentions.c.status_id, accounts.c.id, accounts.c.username)
        .join(accounts, accounts.c.id == mentions.c.account_id)
        .where(mentions.c.status_id.in_(set(status_ids)))
    )


def tags_query(status_ids: Iterable[int]) -> Select[Any]:
    return (
        select(status_tags.c.status_id, tags.c.name)
        .join(tags, tags.c.id == status_tags.c.tag_id)
        .where(status_tags.c.status_id.in_(set(status_ids)))
    )


def _grouped(rows: Sequence[Row[Any]]) -> dict[int, tuple[Row[Any], ...]]:
    grouped: dict[int, list[Row[Any]]] = defaultdict(list)
    for row in rows:
        grouped[row.status_id].append(row)
    return {key: tuple(value) for key, value in grouped.items()}


async def hydrate(
    conn: AsyncConnection, status_ids: Sequence[int], viewer_id: int | None
) -> list[StatusView]:
    """The visible ones of `status_ids`, in the given order, with everything their
    entities need, in at most seven statements whatever their number: the statuses, the
    statuses they boost, all their authors, mentions, tags, media, and the viewer's
    flags.
    A boost whose original the viewer may not see is dropped with it."""
    if not status_ids:
        return []
    cache = object_cache_of(conn)
    if cache is not None:
        # Imported here: statuses.cached builds on this module's queries.
        from roost.statuses.cached import hydrate_cached

        return await hydrate_cached(conn, cache.read(), status_ids, viewer_id)
    rows = {
        row.id: row for row in (await conn.execute(statuses_query(status_ids, viewer_id))).all()
    }
    boosted = {row.reblog_of_id for row in rows.values() if row.reblog_of_id is not None}
    originals = (
        {row.id: row for row in (await conn.execute(statuses_query(boosted, viewer_id))).all()}
        if boosted
        else {}
    )
    # Inside a writing transaction: its own pending counter changes (counters.overlay).
    everything = adjust_statuses(conn, {**rows, **originals})
    rows = {sid: everything[sid] for sid in rows}
    authors = await get_accounts(conn, {row.account_id for row in everything.values()})
    content_ids = [sid for sid, row in everything.items() if row.reblog_of_id is None]
    mention_rows = _grouped((await conn.execute(mentions_query(content_ids))).all())
    tag_rows = _grouped((await conn.execute(tags_query(content_ids))).all())
    media = await attachments_by_status(conn, content_ids)
    flags: dict[int, set[str]] = defaultdict(set)
    if viewer_id is not None:
        for status_id, flag in (
            await conn.execute(viewer_flags_query(viewer_id, content_ids))
        ).all():
            flags[status_id].add(flag)

    def view(row: Row[Any], reblog: StatusView | None = None) -> StatusView:
        return StatusView(
            status=row,
            account=authors[row.account_id],
            reblog=reblog,
            mentions=mention_rows.get(row.id, ()),
            tags=tag_rows.get(row.id, ()),
            flags=frozenset(flags.get(row.id, ())),
            media=tuple(media.get(row.id, ())),
        )

    result = []
    for sid in status_ids:
        row = rows.get(sid)
        if row is None or row.account_id not in authors:
            continue
        if row.reblog_of_id is None:
            result.append(view(row))
            continue
        original = everything.get(row.reblog_of_id)
        if original is not None and original.account_id in authors:
            result.append(view(row, reblog=view(original)))
    return result


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
