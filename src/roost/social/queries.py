"""Relationships and follower lists, each page in a constant number of statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.queries import get_accounts
from roost.db.tables import accounts, follows
from roost.paging import Page


@dataclass(frozen=True)
class Relationship:
    account_id: int
    following: bool = False
    showing_reblogs: bool = False
    notifying: bool = False
    followed_by: bool = False


def relationships_query(viewer_id: int, wanted: Sequence[int]) -> Select[Any]:
    return select(follows).where(
        or_(
            and_(follows.c.account_id == viewer_id, follows.c.target_account_id.in_(wanted)),
            and_(follows.c.target_account_id == viewer_id, follows.c.account_id.in_(wanted)),
        )
    )


async def relationships(
    conn: AsyncConnection, viewer_id: int, account_ids: Sequence[int]
) -> list[Relationship]:
    """Both directions for every existing account (unknown ids are left out, as
    Mastodon does), in two statements: the ids by primary key, then the follows,
    served by the (account_id, target_account_id) index both ways round."""
    wanted = list(dict.fromkeys(account_ids))
    if not wanted:
        return []
    existing = set(
        (await conn.execute(select(accounts.c.id).where(accounts.c.id.in_(wanted)))).scalars()
    )
    wanted = [account_id for account_id in wanted if account_id in existing]
    if not wanted:
        return []
    rows = (await conn.execute(relationships_query(viewer_id, wanted))).all()
    outgoing = {row.target_account_id: row for row in rows if row.account_id == viewer_id}
    incoming = {row.account_id for row in rows if row.target_account_id == viewer_id}
    result = []
    for account_id in wanted:
        out = outgoing.get(account_id)
        result.append(
            Relationship(
                account_id=account_id,
                following=out is not None,
                showing_reblogs=bool(out.show_reblogs) if out is not None else False,
                notifying=bool(out.notify) if out is not None else False,
                followed_by=account_id in incoming,
            )
        )
    return result


@dataclass(frozen=True)
class FollowPage:
    """Accounts of one followers/following page, and the follow-row ids that page it."""

    accounts: list[Row[Any]]
    first_key: int | None
    last_key: int | None


def follow_page_query(page: Page, mine: Any, theirs: Any, account_id: int) -> Select[Any]:
    """One page of follow rows on `mine` (= account_id), keyed by the follow's id."""
    query = select(follows.c.id, theirs.label("other_id")).where(mine == account_id)
    return page.apply(query, follows.c.id)


def followers_query(account_id: int, page: Page) -> Select[Any]:
    return follow_page_query(page, follows.c.target_account_id, follows.c.account_id, account_id)


def following_query(account_id: int, page: Page) -> Select[Any]:
    return follow_page_query(page, follows.c.account_id, follows.c.target_account_id, account_id)


async def _follow_page(conn: AsyncConnection, page: Page, query: Select[Any]) -> FollowPage:
    rows = page.arrange(list((await conn.execute(query)).all()))
    found = await get_accounts(conn, {row.other_id for row in rows})
    listed = [found[row.other_id] for row in rows if row.other_id in found]
    return FollowPage(
        accounts=listed,
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
    )


async def followers_page(conn: AsyncConnection, account_id: int, page: Page) -> FollowPage:
    return await _follow_page(conn, page, followers_query(account_id, page))


async def following_page(conn: AsyncConnection, account_id: int, page: Page) -> FollowPage:
    return await _follow_page(conn, page, following_query(account_id, page))
