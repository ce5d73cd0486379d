"""Likes, boosts and bookmarks: the writes, each inside the caller's transaction.

Every action first finds the status through `visible_to` (what you may not see does
not exist: 404), and acts on the original when given a boost, as Mastodon's apps do.
Every action is idempotent: the unique indexes decide, under a savepoint, whether a row
was really inserted, and a DELETE ... RETURNING whether one was really removed; only
then is an event emitted (Favourited, Reblogged...), in the same transaction. The
counters and notifications follow from the events (counters.consumer,
notifications.consumer). Two concurrent likes by one account therefore count once
(the second blocks on the unique index, then fails and emits nothing), and counters
stay equal to the number of rows without ever being recomputed.

Boosts follow Mastodon's StatusPolicy#reblog?: a direct status can never be boosted,
a private one only by its author (the boost stays private). A boost is a statuses row
with reblog_of_id set, no text, and counts in the booster's statuses_count.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.cache.keys import invalidate_after_commit, keys_for_bookmark
from roost.db.tables import (
    VISIBILITY_DIRECT,
    VISIBILITY_PRIVATE,
    VISIBILITY_PUBLIC,
    bookmarks,
    favourites,
    status_stats,
    statuses,
    users,
)
from roost.errors import ApiError, not_found
from roost.events import types as ev
from roost.events.outbox import emit
from roost.ids import IdGenerator, shard_of
from roost.statuses.visibility import VISIBILITY_VALUES, visible_to

# Visibilities a boost may be given (Mastodon refuses direct and limited boosts).
BOOST_VISIBILITIES = ("public", "unlisted", "private")


async def visible_original(conn: AsyncConnection, viewer_id: int, status_id: int) -> Row[Any]:
    """The status, or the status it boosts, provided the viewer may see both; else 404.

    The rows are read FOR SHARE (PostgreSQL; SQLite's writers are serialised anyway): a
    concurrent delete of the original waits for this transaction, and then deletes the
    boost it may have made too (boosts have no foreign key to lean on)."""

    def visible(wanted: int) -> Any:
        query = select(statuses).where(statuses.c.id == wanted, visible_to(viewer_id))
        return query.with_for_update(read=True, of=statuses)

    row = (await conn.execute(visible(status_id))).first()
    if row is not None and row.reblog_of_id is not None:
        row = (await conn.execute(visible(row.reblog_of_id))).first()
    if row is None:
        raise not_found()
    return row


async def _insert_once(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """True when the row went in; False when a unique index says it is already there."""
    try:
        async with conn.begin_nested():
            await conn.execute(insert(table).values(**values))
    except IntegrityError:
        return False
    return True


async def _delete_mine(
    conn: AsyncConnection, table: Table, account_id: int, status_id: int
) -> int | None:
    """Deletes the account's row on the status; its id if there was one."""
    deleted = (
        await conn.execute(
            delete(table)
            .where(table.c.account_id == account_id, table.c.status_id == status_id)
            .returning(table.c.id)
        )
    ).first()
    return int(deleted.id) if deleted is not None else None


# --- likes ---------------------------------------------------------------------------


async def favourite(conn: AsyncConnection, ids: IdGenerator, viewer_id: int, status_id: int) -> int:
    """Likes the status (once); returns the id of the status liked."""
    original = await visible_original(conn, viewer_id, status_id)
    favourite_id = ids.next_id(shard_of(viewer_id))
    inserted = await _insert_once(
        conn,
        favourites,
        {"id": favourite_id, "account_id": viewer_id, "status_id": original.id},
    )
    if inserted:
        await emit(conn, ids, ev.Favourited, viewer_id, favourite_id=favourite_id,
                   status_id=original.id, status_account_id=original.account_id)
    return int(original.id)


async def unfavourite(
    conn: AsyncConnection, ids: IdGenerator, viewer_id: int, status_id: int
) -> int:
    original = await visible_original(conn, viewer_id, status_id)
    favourite_id = await _delete_mine(conn, favourites, viewer_id, original.id)
    if favourite_id is not None:
        await emit(conn, ids, ev.Unfavourited, viewer_id, favourite_id=favourite_id,
                   status_id=original.id)
    return int(original.id)


# --- bookmarks -----------------------------------------------------------------------


async def bookmark(conn: AsyncConnection, ids: IdGenerator, viewer_id: int, status_id: int) -> int:
    original = await visible_original(conn, viewer_id, status_id)
    await _insert_once(
        conn,
        bookmarks,
        {"id": ids.next_id(shard_of(viewer_id)), "account_id": viewer_id, "status_id": original.id},
    )
    # Bookmarks are private and emit no event: the cached flag is named here.
    invalidate_after_commit(conn, keys_for_bookmark(viewer_id, original.id))
    return int(original.id)


async def unbookmark(conn: AsyncConnection, viewer_id: int, status_id: int) -> int:
    original = await visible_original(conn, viewer_id, status_id)
    await _delete_mine(conn, bookmarks, viewer_id, original.id)
    invalidate_after_commit(conn, keys_for_bookmark(viewer_id, original.id))
    return int(original.id)


# --- boosts --------------------------------------------------------------------------


def check_boost_visibility(name: str | None) -> int | None:
    """The visibility asked for a boost (None: the booster's default); 422 otherwise."""
    if name is None:
        return None
    if name not in BOOST_VISIBILITIES:
        raise ApiError(422, "Validation failed: Visibility is not included in the list")
    return VISIBILITY_VALUES[name]


async def _default_visibility(conn: AsyncConnection, account_id: int) -> int:
    default = (
        await conn.execute(select(users.c.default_privacy).where(users.c.account_id == account_id))
    ).scalar()
    if default not in BOOST_VISIBILITIES:
        return VISIBILITY_PUBLIC
    return VISIBILITY_VALUES[default]


async def _existing_boost(conn: AsyncConnection, viewer_id: int, original_id: int) -> int | None:
    found = (
        await conn.execute(
            select(statuses.c.id).where(
                statuses.c.reblog_of_id == original_id, statuses.c.account_id == viewer_id
            )
        )
    ).scalar()
    return int(found) if found is not None else None


async def reblog(
    conn: AsyncConnection,
    ids: IdGenerator,
    viewer_id: int,
    status_id: int,
    visibility: int | None = None,
) -> int:
    """Boosts the status (or the status a boost boosts), once; returns the boost's id.
    Boosting again returns the boost already made, as Mastodon does."""
    original = await visible_original(conn, viewer_id, status_id)
    if original.visibility == VISIBILITY_DIRECT or (
        original.visibility == VISIBILITY_PRIVATE and original.account_id != viewer_id
    ):
        raise ApiError(403, "This action is not allowed")
    existing = await _existing_boost(conn, viewer_id, original.id)
    if existing is not None:
        return existing
    if original.visibility == VISIBILITY_PRIVATE:
        visibility = VISIBILITY_PRIVATE  # a self-boost of a private post stays private
    elif visibility is None:
        visibility = await _default_visibility(conn, viewer_id)
    boost_id = ids.next_id(shard_of(viewer_id))
    inserted = await _insert_once(
        conn,
        statuses,
        {
            "id": boost_id,
            "account_id": viewer_id,
            "reblog_of_id": original.id,
            "text": "",
            "content_html": "",
            "visibility": visibility,
        },
    )
    if not inserted:
        # A concurrent request by the same account boosted it first.
        existing = await _existing_boost(conn, viewer_id, original.id)
        if existing is None:
            raise not_found()  # the original went away meanwhile
        return existing
    await conn.execute(insert(status_stats).values(status_id=boost_id))
    await emit(conn, ids, ev.Reblogged, viewer_id, boost_id=boost_id, status_id=original.id,
               status_account_id=original.account_id)
    return boost_id


async def unreblog(
    conn: AsyncConnection, ids: IdGenerator, viewer_id: int, status_id: int
) -> int:
    """Removes the viewer's boost of the status, if any; returns the original's id."""
    original = await visible_original(conn, viewer_id, status_id)
    deleted = (
        await conn.execute(
            delete(statuses)
            .where(statuses.c.reblog_of_id == original.id, statuses.c.account_id == viewer_id)
            .returning(statuses.c.id)
        )
    ).first()
    if deleted is not None:
        await boost_removed(conn, ids, viewer_id, int(deleted.id), original.id)
    return int(original.id)


async def boost_removed(
    conn: AsyncConnection, ids: IdGenerator, booster_id: int, boost_id: int, original_id: int
) -> None:
    """A boost row is gone (unreblogged, or deleted by its booster with
    DELETE /api/v1/statuses/:id): the counters and the notification follow the event."""
    await emit(conn, ids, ev.Unreblogged, booster_id, boost_id=boost_id, status_id=original_id)


async def delete_boosts_of(conn: AsyncConnection, ids: IdGenerator, status_id: int) -> None:
    """Deleting a status deletes every boost of it; each is an Unreblogged event (the
    boosters' counts drop by one each: an account boosts a status at most once)."""
    removed = (
        await conn.execute(
            delete(statuses)
            .where(statuses.c.reblog_of_id == status_id)
            .returning(statuses.c.id, statuses.c.account_id)
        )
    ).all()
    for boost in removed:
        await boost_removed(conn, ids, int(boost.account_id), int(boost.id), status_id)
