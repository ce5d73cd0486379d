"""Follow and unfollow. Each emits its event in the same transaction (Followed,
Unfollowed, FollowRequested, FollowRequestClosed): both sides' counters and the
target's notification follow from it (counters.consumer, notifications.consumer).

Following a locked account files a follow request instead (social/follow_requests.py
authorizes or rejects it); nobody can follow across a block (social/blocks.py).
Every follow and request notifies its target, and undoing it withdraws that.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import accounts, follow_requests, follows
from roost.errors import ApiError, forbidden, not_found
from roost.events import types as ev
from roost.events.outbox import emit
from roost.ids import IdGenerator, shard_of
from roost.social.pair_lock import lock_pair
from roost.statuses.visibility import blocked_between


async def create_follow(
    conn: AsyncConnection,
    ids: IdGenerator,
    follower_id: int,
    target_id: int,
    options: dict[str, bool],
) -> int | None:
    """Inserts the follow (its event moves both counters and notifies the target);
    returns its id, or None when a concurrent identical follow won (same outcome)."""
    follow_id = ids.next_id(shard_of(follower_id))
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(follows).values(
                    id=follow_id,
                    account_id=follower_id,
                    target_account_id=target_id,
                    **options,
                )
            )
    except IntegrityError:
        return None
    await emit(conn, ids, ev.Followed, follower_id, follow_id=follow_id,
               target_account_id=target_id)
    return follow_id


async def _request_follow(
    conn: AsyncConnection,
    ids: IdGenerator,
    follower_id: int,
    target_id: int,
    options: dict[str, bool],
) -> None:
    existing = (
        await conn.execute(
            select(follow_requests.c.id).where(
                follow_requests.c.account_id == follower_id,
                follow_requests.c.target_account_id == target_id,
            )
        )
    ).first()
    if existing is not None:
        if options:
            await conn.execute(
                update(follow_requests)
                .where(follow_requests.c.id == existing.id)
                .values(options)
            )
        return
    request_id = ids.next_id(shard_of(follower_id))
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(follow_requests).values(
                    id=request_id,
                    account_id=follower_id,
                    target_account_id=target_id,
                    **options,
                )
            )
    except IntegrityError:
        return  # a concurrent identical request won
    await emit(conn, ids, ev.FollowRequested, follower_id, request_id=request_id,
               target_account_id=target_id)


async def follow(
    conn: AsyncConnection,
    ids: IdGenerator,
    follower_id: int,
    target_id: int,
    *,
    show_reblogs: bool | None = None,
    notify: bool | None = None,
) -> None:
    """Idempotent: following again only updates the options given. A locked target
    gets a follow request (or its options updated) unless already followed."""
    if follower_id == target_id:
        raise ApiError(403, "You cannot follow yourself")
    # Taken before the block check below, so a racing block cannot slip in between
    # (social/pair_lock.py).
    await lock_pair(conn, follower_id, target_id)
    target = (
        await conn.execute(
            select(accounts.c.id, accounts.c.locked, blocked_between(follower_id, accounts.c.id)
                   .label("blocked")).where(accounts.c.id == target_id)
        )
    ).first()
    if target is None:
        raise not_found()
    if target.blocked:
        raise forbidden()
    options = {
        key: value
        for key, value in (("show_reblogs", show_reblogs), ("notify", notify))
        if value is not None
    }
    existing = (
        await conn.execute(
            select(follows.c.id).where(
                follows.c.account_id == follower_id, follows.c.target_account_id == target_id
            )
        )
    ).first()
    if existing is not None:
        if options:
            await conn.execute(update(follows).where(follows.c.id == existing.id).values(options))
            await emit(conn, ids, ev.FollowUpdated, follower_id, follow_id=int(existing.id),
                       target_account_id=target_id)
        return
    if target.locked:
        await _request_follow(conn, ids, follower_id, target_id, options)
        return
    await create_follow(conn, ids, follower_id, target_id, options)


async def unfollow(
    conn: AsyncConnection, ids: IdGenerator, follower_id: int, target_id: int
) -> None:
    """Idempotent: unfollowing someone not followed changes nothing. Also cancels a
    pending follow request."""
    removed = (
        await conn.execute(
            delete(follows)
            .where(follows.c.account_id == follower_id, follows.c.target_account_id == target_id)
            .returning(follows.c.id)
        )
    ).first()
    if removed is not None:
        await emit(conn, ids, ev.Unfollowed, follower_id, follow_id=int(removed.id),
                   target_account_id=target_id)
    cancelled = (
        await conn.execute(
            delete(follow_requests)
            .where(
                follow_requests.c.account_id == follower_id,
                follow_requests.c.target_account_id == target_id,
            )
            .returning(follow_requests.c.id)
        )
    ).first()
    if cancelled is not None:
        await emit(conn, ids, ev.FollowRequestClosed, follower_id,
                   request_id=int(cancelled.id), target_account_id=target_id)
