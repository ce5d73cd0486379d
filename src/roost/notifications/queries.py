"""Reads of a recipient's notifications, in a constant number of statements per page:
the page of notification rows (1), the accounts that caused them (1), then
statuses.queries.hydrate's fixed set for the statuses they point at.

Notifications are filtered again when read, not only when written (operations.notify):
a block made after the notification, in either direction, or a mute that hides
notifications, hides it from then on; and one whose status the recipient can no longer
see (deleted, made invisible by a block) is left out of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, exists, func, not_, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.queries import get_accounts
from roost.clock import utcnow
from roost.db.tables import markers, mutes, notifications
from roost.paging import Page
from roost.statuses.queries import StatusView, hydrate
from roost.statuses.visibility import blocked_between


@dataclass(frozen=True)
class NotificationFilter:
    types: frozenset[str] | None = None  # only these; None means all
    exclude_types: frozenset[str] = frozenset()
    from_account_id: int | None = None


@dataclass(frozen=True)
class NotificationView:
    notification: Row[Any]
    account: Row[Any]
    status: StatusView | None


def _notifications_muted_by(recipient_id: int) -> ColumnElement[bool]:
    return exists(
        select(mutes.c.id).where(
            mutes.c.account_id == recipient_id,
            mutes.c.target_account_id == notifications.c.from_account_id,
            mutes.c.hide_notifications.is_(True),
            or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > utcnow()),
        )
    )


def _readable(recipient_id: int, wanted: NotificationFilter) -> list[ColumnElement[bool]]:
    conditions = [
        notifications.c.account_id == recipient_id,
        not_(blocked_between(recipient_id, notifications.c.from_account_id)),
        not_(_notifications_muted_by(recipient_id)),
    ]
    if wanted.types is not None:
        conditions.append(notifications.c.type.in_(wanted.types))
    if wanted.exclude_types:
        conditions.append(notifications.c.type.not_in(wanted.exclude_types))
    if wanted.from_account_id is not None:
        conditions.append(notifications.c.from_account_id == wanted.from_account_id)
    return conditions


def notifications_query(recipient_id: int, page: Page, wanted: NotificationFilter) -> Select[Any]:
    query = select(notifications).where(*_readable(recipient_id, wanted))
    return page.apply(query, notifications.c.id)


async def _views(
    conn: AsyncConnection, rows: Sequence[Row[Any]], recipient_id: int
) -> list[NotificationView]:
    authors = await get_accounts(conn, {row.from_account_id for row in rows})
    status_ids = list(dict.fromkeys(row.status_id for row in rows if row.status_id is not None))
    statuses = {view.status.id: view for view in await hydrate(conn, status_ids, recipient_id)}
    result = []
    for row in rows:
        author = authors.get(row.from_account_id)
        status = statuses.get(row.status_id) if row.status_id is not None else None
        if author is None or (row.status_id is not None and status is None):
            continue
        result.append(NotificationView(row, author, status))
    return result


async def notification_page(
    conn: AsyncConnection, recipient_id: int, page: Page, wanted: NotificationFilter
) -> tuple[list[NotificationView], list[int]]:
    """The page's notifications that can be shown, newest first, and the ids of the
    page as selected (for the Link header, so that paging goes on past what was left
    out)."""
    rows = (await conn.execute(notifications_query(recipient_id, page, wanted))).all()
    rows = page.arrange(list(rows))
    return await _views(conn, rows, recipient_id), [row.id for row in rows]


async def get_notification(
    conn: AsyncConnection, recipient_id: int, notification_id: int
) -> NotificationView | None:
    query = select(notifications).where(
        notifications.c.id == notification_id, *_readable(recipient_id, NotificationFilter())
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    views = await _views(conn, [row], recipient_id)
    return views[0] if views else None


async def unread_count(
    conn: AsyncConnection, recipient_id: int, wanted: NotificationFilter, cap: int
) -> int:
    """Notifications newer than the recipient's notifications marker, counted up to
    `cap`, in one statement (the index on (account_id, id) serves it)."""
    last_read = (
        select(markers.c.last_read_id)
        .where(markers.c.account_id == recipient_id, markers.c.timeline == "notifications")
        .scalar_subquery()
    )
    newer = (
        select(notifications.c.id)
        .where(*_readable(recipient_id, wanted), notifications.c.id > func.coalesce(last_read, 0))
        .limit(cap)
        .subquery()
    )
    return int((await conn.execute(select(func.count()).select_from(newer))).scalar_one())


# The two writes the notifications API makes. They live beside the reads because they
# are the recipient's own housekeeping, not domain events (operations.py creates and
# withdraws notifications for the actions that cause them).


async def dismiss(conn: AsyncConnection, recipient_id: int, notification_id: int) -> bool:
    """Deletes one of the recipient's notifications; False when there was none."""
    result = await conn.execute(
        delete(notifications).where(
            notifications.c.id == notification_id, notifications.c.account_id == recipient_id
        )
    )
    return bool(result.rowcount)


async def clear(conn: AsyncConnection, recipient_id: int) -> None:
    await conn.execute(delete(notifications).where(notifications.c.account_id == recipient_id))
