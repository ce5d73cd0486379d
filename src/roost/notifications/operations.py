"""Creating and withdrawing notifications, inside the caller's transaction.

Every notification points at the row that caused it (`activity_id`: the favourite,
follow, follow request or status), which makes both halves simple: one action
notifies at most once (a unique index on activity and recipient), and undoing the
action withdraws exactly its notifications. The event-log issue moves the calls into
a consumer; the functions stay the same.

A notification actually made is itself an event (NotificationCreated, appended in the
same transaction, so it exists exactly when the notification does): the streaming
push consumer tells the recipient's open streams (docs/streaming.md).
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.tables import blocks, mutes, notifications
from roost.events.outbox import emit
from roost.events.types import NotificationCreated
from roost.ids import IdGenerator, shard_of

NotificationType = Literal[
    "mention", "status", "reblog", "follow", "follow_request", "favourite", "poll", "update"
]
NOTIFICATION_TYPES: tuple[NotificationType, ...] = (
    "mention",
    "status",
    "reblog",
    "follow",
    "follow_request",
    "favourite",
    "poll",
    "update",
)


async def _refused(conn: AsyncConnection, recipient_id: int, from_account_id: int) -> bool:
    """Blocks in either direction, and the recipient's notification mutes, silence it."""
    blocked = select(blocks.c.id).where(
        or_(
            (blocks.c.account_id == recipient_id) & (blocks.c.target_account_id == from_account_id),
            (blocks.c.account_id == from_account_id) & (blocks.c.target_account_id == recipient_id),
        )
    )
    muted = select(mutes.c.id).where(
        mutes.c.account_id == recipient_id,
        mutes.c.target_account_id == from_account_id,
        mutes.c.hide_notifications.is_(True),
        or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > utcnow()),
    )
    row = (await conn.execute(blocked.union_all(muted).limit(1))).first()
    return row is not None


async def notify(
    conn: AsyncConnection,
    ids: IdGenerator,
    *,
    recipient_id: int,
    from_account_id: int,
    type: NotificationType,
    activity_id: int,
    status_id: int | None = None,
) -> int | None:
    """Records one notification; returns its id, or None when nothing is to be said
    (yourself, a block or notification mute between you, or already notified)."""
    if recipient_id == from_account_id or await _refused(conn, recipient_id, from_account_id):
        return None
    notification_id = ids.next_id(shard_of(recipient_id))
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(notifications).values(
                    id=notification_id,
                    account_id=recipient_id,
                    from_account_id=from_account_id,
                    type=type,
                    status_id=status_id,
                    activity_id=activity_id,
                )
            )
    except IntegrityError:
        return None  # this activity already notified this recipient
    await emit(conn, ids, NotificationCreated, from_account_id, notification_id=notification_id,
               recipient_id=recipient_id, notification_type=type)
    return notification_id


async def withdraw(conn: AsyncConnection, activity_id: int) -> None:
    """Removes what an undone action (unfavourite, unfollow, rejected request...) said."""
    await conn.execute(delete(notifications).where(notifications.c.activity_id == activity_id))
