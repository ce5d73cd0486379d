"""Reads of likes, boosts and bookmarks, each page in a constant number of statements.

Lists page by the row that records the action, as Mastodon does: favourites and
favourited_by by the favourite's id, bookmarks by the bookmark's id, reblogged_by by
the boost's status id. The page keys therefore differ from the ids of the items, and
clients follow the Link header built from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.queries import get_accounts
from roost.db.tables import (
    VISIBILITY_PUBLIC,
    VISIBILITY_UNLISTED,
    bookmarks,
    favourites,
    statuses,
)
from roost.paging import Page
from roost.statuses.queries import StatusView, hydrate
from roost.statuses.visibility import visible_to


@dataclass(frozen=True)
class KeyedPage:
    """A page of items and the row ids that page it (None on an empty page)."""

    items: list[Any]
    first_key: int | None
    last_key: int | None


def _keys(rows: list[Row[Any]]) -> tuple[int | None, int | None]:
    return (rows[0].id, rows[-1].id) if rows else (None, None)


def favourited_by_query(status_id: int, page: Page) -> Select[Any]:
    query = select(favourites.c.id, favourites.c.account_id).where(
        favourites.c.status_id == status_id
    )
    return page.apply(query, favourites.c.id)


def reblogged_by_query(status_id: int, viewer_id: int | None, page: Page) -> Select[Any]:
    """Public and unlisted boosts only, as Mastodon lists them (an author's boost of
    their own private post is not listed), and none across a block."""
    query = select(statuses.c.id, statuses.c.account_id).where(
        statuses.c.reblog_of_id == status_id,
        statuses.c.visibility.in_((VISIBILITY_PUBLIC, VISIBILITY_UNLISTED)),
        visible_to(viewer_id),
    )
    return page.apply(query, statuses.c.id)


async def _account_page(conn: AsyncConnection, page: Page, query: Select[Any]) -> KeyedPage:
    rows = page.arrange(list((await conn.execute(query)).all()))
    found = await get_accounts(conn, {row.account_id for row in rows})
    first, last = _keys(rows)
    return KeyedPage([found[r.account_id] for r in rows if r.account_id in found], first, last)


async def _visible(conn: AsyncConnection, status_id: int, viewer_id: int | None) -> bool:
    query = select(statuses.c.id).where(statuses.c.id == status_id, visible_to(viewer_id))
    return (await conn.execute(query)).first() is not None


async def favourited_by(
    conn: AsyncConnection, status_id: int, viewer_id: int | None, page: Page
) -> KeyedPage | None:
    """Accounts that liked the status, newest like first; None when the viewer may
    not see the status (the list of a hidden status does not exist either)."""
    if not await _visible(conn, status_id, viewer_id):
        return None
    return await _account_page(conn, page, favourited_by_query(status_id, page))


async def reblogged_by(
    conn: AsyncConnection, status_id: int, viewer_id: int | None, page: Page
) -> KeyedPage | None:
    """Accounts that boosted the status, newest boost first; None as favourited_by."""
    if not await _visible(conn, status_id, viewer_id):
        return None
    return await _account_page(conn, page, reblogged_by_query(status_id, viewer_id, page))


def saved_query(table: Table, account_id: int, page: Page) -> Select[Any]:
    """One page of the account's favourites or bookmarks rows, keyed by the row id."""
    query = select(table.c.id, table.c.status_id).where(table.c.account_id == account_id)
    return page.apply(query, table.c.id)


async def _saved_page(
    conn: AsyncConnection, table: Table, account_id: int, page: Page
) -> KeyedPage:
    rows = page.arrange(list((await conn.execute(saved_query(table, account_id, page))).all()))
    # Statuses that became invisible (a block since) drop out; the keys stay the rows'.
    views: list[StatusView] = await hydrate(conn, [r.status_id for r in rows], account_id)
    first, last = _keys(rows)
    return KeyedPage(views, first, last)


async def favourites_page(conn: AsyncConnection, account_id: int, page: Page) -> KeyedPage:
    return await _saved_page(conn, favourites, account_id, page)


async def bookmarks_page(conn: AsyncConnection, account_id: int, page: Page) -> KeyedPage:
    return await _saved_page(conn, bookmarks, account_id, page)
