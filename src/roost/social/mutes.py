"""Mutes: writing and undoing them, and the viewer's mutes list.

A mute is not privacy: the muted account's statuses stay reachable by link, but leave
the muter's home timeline (timelines/home.py through visibility.hidden_by_mute) and,
with hide_notifications, the muter's notifications (notifications/operations.notify).
An expired mute counts as no mute everywhere; the row is only replaced or deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.tables import mutes
from roost.errors import forbidden
from roost.events import types as ev
from roost.events.outbox import emit
from roost.ids import IdGenerator, shard_of
from roost.paging import Page
from roost.social.listing import AccountPage, account_page, require_account

# Mastodon takes any number of seconds; a cap keeps the datetime representable.
MAX_DURATION_SECONDS = 100 * 365 * 24 * 3600


def active_mute() -> Any:
    return or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > utcnow())


def expiry(duration_seconds: int) -> datetime | None:
    return utcnow() + timedelta(seconds=duration_seconds) if duration_seconds > 0 else None


async def mute(
    conn: AsyncConnection,
    ids: IdGenerator,
    account_id: int,
    target_id: int,
    *,
    hide_notifications: bool = True,
    duration_seconds: int = 0,
) -> None:
    """Muting again replaces the options and the expiry (as Mastodon does)."""
    if account_id == target_id:
        raise forbidden("You cannot mute yourself")
    await require_account(conn, target_id)
    values = {"hide_notifications": hide_notifications, "expires_at": expiry(duration_seconds)}
    pair = (mutes.c.account_id == account_id, mutes.c.target_account_id == target_id)
    await emit(conn, ids, ev.Muted, account_id, target_account_id=target_id,
               hide_notifications=hide_notifications)
    updated = await conn.execute(update(mutes).where(*pair).values(values))
    if updated.rowcount:
        return
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(mutes).values(
                    id=ids.next_id(shard_of(account_id)),
                    account_id=account_id,
                    target_account_id=target_id,
                    **values,
                )
            )
    except IntegrityError:
        # A concurrent mute of the same pair won; ours is the later word.
        await conn.execute(update(mutes).where(*pair).values(values))


async def unmute(
    conn: AsyncConnection, ids: IdGenerator, account_id: int, target_id: int
) -> None:
    await require_account(conn, target_id)
    removed = await conn.execute(
        delete(mutes).where(
            mutes.c.account_id == account_id, mutes.c.target_account_id == target_id
        )
    )
    if removed.rowcount:
        await emit(conn, ids, ev.Unmuted, account_id, target_account_id=target_id)


def mutes_query(account_id: int, page: Page) -> Select[Any]:
    # hide_notifications is not in Mastodon's entity; the web's mutes list shows it.
    query = select(
        mutes.c.id, mutes.c.target_account_id.label("other_id"), mutes.c.expires_at,
        mutes.c.hide_notifications,
    ).where(mutes.c.account_id == account_id, active_mute())
    return page.apply(query, mutes.c.id)


async def mutes_page(conn: AsyncConnection, account_id: int, page: Page) -> AccountPage:
    """Served by ix_mutes_account_id_id; two statements whatever the page size."""
    return await account_page(conn, page, mutes_query(account_id, page))
