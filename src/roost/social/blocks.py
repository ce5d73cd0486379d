"""Blocks: writing and undoing them, and the viewer's blocks list.

A block severs the social graph both ways in the blocker's transaction: follows and
follow requests in either direction are deleted (their Unfollowed and
FollowRequestClosed events move the counters and withdraw the notifications).
Hiding statuses across a block is statuses/visibility.visible_to's job, and refusing
new follows is social/operations.follow's (docs/privacy.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import blocks, follow_requests, follows
from roost.errors import forbidden
from roost.events import types as ev
from roost.events.outbox import emit
from roost.ids import IdGenerator, shard_of
from roost.paging import Page
from roost.social.listing import AccountPage, account_page, require_account
from roost.social.pair_lock import lock_pair


def _between(table: Any, first: int, second: int) -> Any:
    return or_(
        and_(table.c.account_id == first, table.c.target_account_id == second),
        and_(table.c.account_id == second, table.c.target_account_id == first),
    )


async def block(conn: AsyncConnection, ids: IdGenerator, account_id: int, target_id: int) -> None:
    """Idempotent: blocking again changes nothing."""
    if account_id == target_id:
        raise forbidden("You cannot block yourself")
    await require_account(conn, target_id)
    # Against a follow or an authorization racing this block (social/pair_lock.py).
    await lock_pair(conn, account_id, target_id)
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(blocks).values(
                    id=ids.next_id(shard_of(account_id)),
                    account_id=account_id,
                    target_account_id=target_id,
                )
            )
    except IntegrityError:
        return  # already blocked (or a concurrent identical block won): nothing to sever
    await emit(conn, ids, ev.Blocked, account_id, target_account_id=target_id)
    severed = (
        await conn.execute(
            delete(follows)
            .where(_between(follows, account_id, target_id))
            .returning(follows.c.id, follows.c.account_id, follows.c.target_account_id)
        )
    ).all()
    for row in severed:  # an Unfollowed by the follower, whichever side blocked
        await emit(conn, ids, ev.Unfollowed, int(row.account_id), follow_id=int(row.id),
                   target_account_id=int(row.target_account_id))
    dropped = (
        await conn.execute(
            delete(follow_requests)
            .where(_between(follow_requests, account_id, target_id))
            .returning(
                follow_requests.c.id, follow_requests.c.account_id,
                follow_requests.c.target_account_id,
            )
        )
    ).all()
    for row in dropped:
        await emit(conn, ids, ev.FollowRequestClosed, int(row.account_id),
                   request_id=int(row.id), target_account_id=int(row.target_account_id))


async def unblock(
    conn: AsyncConnection, ids: IdGenerator, account_id: int, target_id: int
) -> None:
    """Idempotent; what the block severed stays severed, as in Mastodon."""
    await require_account(conn, target_id)
    removed = await conn.execute(
        delete(blocks).where(blocks.c.account_id == account_id,
                             blocks.c.target_account_id == target_id)
    )
    if removed.rowcount:
        await emit(conn, ids, ev.Unblocked, account_id, target_account_id=target_id)


def blocks_query(account_id: int, page: Page) -> Select[Any]:
    query = select(blocks.c.id, blocks.c.target_account_id.label("other_id")).where(
        blocks.c.account_id == account_id
    )
    return page.apply(query, blocks.c.id)


async def blocks_page(conn: AsyncConnection, account_id: int, page: Page) -> AccountPage:
    """Served by ix_blocks_account_id_id; two statements whatever the page size."""
    return await account_page(conn, page, blocks_query(account_id, page))
