"""Follow and unfollow, with both sides' counters kept exact in the same transaction."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import account_stats, accounts, follows
from roost.errors import ApiError, not_found
from roost.ids import IdGenerator, shard_of


async def _bump(conn: AsyncConnection, account_id: int, column: str, delta: int) -> None:
    counter = account_stats.c[column]
    await conn.execute(
        update(account_stats)
        .where(account_stats.c.account_id == account_id)
        .values({column: counter + delta})
    )


async def follow(
    conn: AsyncConnection,
    ids: IdGenerator,
    follower_id: int,
    target_id: int,
    *,
    show_reblogs: bool | None = None,
    notify: bool | None = None,
) -> None:
    """Idempotent: following again only updates the options given."""
    if follower_id == target_id:
        raise ApiError(403, "You cannot follow yourself")
    target = (await conn.execute(select(accounts.c.id).where(accounts.c.id == target_id))).first()
    if target is None:
        raise not_found()
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
        return
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(follows).values(
                    id=ids.next_id(shard_of(follower_id)),
                    account_id=follower_id,
                    target_account_id=target_id,
                    **options,
                )
            )
    except IntegrityError:
        return  # a concurrent identical follow won; the outcome is the same
    await _bump(conn, follower_id, "following_count", +1)
    await _bump(conn, target_id, "followers_count", +1)


async def unfollow(conn: AsyncConnection, follower_id: int, target_id: int) -> None:
    """Idempotent: unfollowing someone not followed changes nothing."""
    removed = (
        await conn.execute(
            delete(follows)
            .where(follows.c.account_id == follower_id, follows.c.target_account_id == target_id)
            .returning(follows.c.id)
        )
    ).first()
    if removed is not None:
        await _bump(conn, follower_id, "following_count", -1)
        await _bump(conn, target_id, "followers_count", -1)
