"""A locked account's pending follow requests: the list, the count, and deciding them.

Requests are filed by social/operations.follow; authorizing turns one into a follow
(counters and a "follow" notification, the "follow_request" one withdrawn), rejecting
deletes it. Either way a missing request is a 404, as in Mastodon.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import follow_requests
from roost.errors import not_found
from roost.events import types as ev
from roost.events.outbox import emit
from roost.ids import IdGenerator
from roost.paging import Page
from roost.social.listing import AccountPage, account_page
from roost.social.operations import create_follow
from roost.social.pair_lock import lock_pair, pair_key


async def _take_request(
    conn: AsyncConnection, ids: IdGenerator, target_id: int, requester_id: int
) -> Any:
    taken = (
        await conn.execute(
            delete(follow_requests)
            .where(
                follow_requests.c.account_id == requester_id,
                follow_requests.c.target_account_id == target_id,
            )
            .returning(
                follow_requests.c.id, follow_requests.c.show_reblogs, follow_requests.c.notify
            )
        )
    ).first()
    if taken is None:
        raise not_found()
    await emit(conn, ids, ev.FollowRequestClosed, requester_id, request_id=int(taken.id),
               target_account_id=target_id)
    return taken


async def authorize(
    conn: AsyncConnection, ids: IdGenerator, target_id: int, requester_id: int
) -> None:
    await lock_pair(conn, target_id, requester_id)  # against a block racing it
    taken = await _take_request(conn, ids, target_id, requester_id)
    await create_follow(
        conn,
        ids,
        requester_id,
        target_id,
        {"show_reblogs": bool(taken.show_reblogs), "notify": bool(taken.notify)},
    )


async def authorize_all(conn: AsyncConnection, ids: IdGenerator, target_id: int) -> int:
    """Every pending request becomes a follow, as Mastodon does when an account is
    unlocked. Returns how many. The pair locks are taken up front in one order, so this
    cannot deadlock with a block or follow on one of the pairs (social/pair_lock.py)."""
    requesters = list(
        (
            await conn.execute(
                select(follow_requests.c.account_id)
                .where(follow_requests.c.target_account_id == target_id)
                .order_by(follow_requests.c.id)
            )
        ).scalars()
    )
    for requester_id in sorted(requesters, key=lambda other: pair_key(target_id, other)):
        await lock_pair(conn, target_id, requester_id)
    for requester_id in requesters:
        await authorize(conn, ids, target_id, requester_id)
    return len(requesters)


async def reject(
    conn: AsyncConnection, ids: IdGenerator, target_id: int, requester_id: int
) -> None:
    await _take_request(conn, ids, target_id, requester_id)


def requests_query(target_id: int, page: Page) -> Select[Any]:
    query = select(follow_requests.c.id, follow_requests.c.account_id.label("other_id")).where(
        follow_requests.c.target_account_id == target_id
    )
    return page.apply(query, follow_requests.c.id)


async def requests_page(conn: AsyncConnection, target_id: int, page: Page) -> AccountPage:
    """Served by ix_follow_requests_target_account_id_id; two statements."""
    return await account_page(conn, page, requests_query(target_id, page))


async def pending_count(conn: AsyncConnection, target_id: int) -> int:
    """An index-only count on (target_account_id, id): cheap for any sane backlog."""
    count = await conn.scalar(
        select(func.count()).select_from(follow_requests)
        .where(follow_requests.c.target_account_id == target_id)
    )
    return int(count or 0)
