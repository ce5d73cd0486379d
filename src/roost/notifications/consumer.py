"""The notifications consumer: what the event log says happened, told to the people
it concerns (Mastodon's notification types; notifications.operations does the
writing, and skips blocks, notification mutes and yourself).

Order does not matter, and neither do repeats. Before notifying, the handler reads the
row the action made (the favourite, follow, request, boost or status), locked against
deletion until it commits: if the action was undone before the event got here, there
is nothing to say, and if it is undone after, the undo's event comes after the lock
and withdraws what was said. A notification points at its action (activity_id), and
one action notifies a recipient once (a unique index), so a repeat changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import favourites, follow_requests, follows, statuses
from roost.events import types as ev
from roost.events.consumer import Consumer
from roost.notifications.operations import notify, withdraw

if TYPE_CHECKING:
    from roost.context import Roost


async def _still_there(conn: AsyncConnection, table: Table, row_id: int) -> Any:
    query = select(table).where(table.c.id == row_id).with_for_update(read=True)
    return (await conn.execute(query)).first()


async def handle(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
    ids = roost.ids
    match event:
        case ev.StatusCreated(mentioned_account_ids=mentioned) if mentioned:
            if await _still_there(conn, statuses, event.status_id) is not None:
                for account_id in mentioned:
                    await notify(conn, ids, recipient_id=account_id,
                                 from_account_id=event.account_id, type="mention",
                                 activity_id=event.status_id, status_id=event.status_id)
        case ev.StatusUpdated():
            await _edited(roost, conn, event)
        case ev.Reblogged():
            if await _still_there(conn, statuses, event.boost_id) is not None:
                await notify(conn, ids, recipient_id=event.status_account_id,
                             from_account_id=event.account_id, type="reblog",
                             activity_id=event.boost_id, status_id=event.status_id)
        case ev.Favourited():
            if await _still_there(conn, favourites, event.favourite_id) is not None:
                await notify(conn, ids, recipient_id=event.status_account_id,
                             from_account_id=event.account_id, type="favourite",
                             activity_id=event.favourite_id, status_id=event.status_id)
        case ev.Followed():
            if await _still_there(conn, follows, event.follow_id) is not None:
                await notify(conn, ids, recipient_id=event.target_account_id,
                             from_account_id=event.account_id, type="follow",
                             activity_id=event.follow_id)
        case ev.FollowRequested():
            if await _still_there(conn, follow_requests, event.request_id) is not None:
                await notify(conn, ids, recipient_id=event.target_account_id,
                             from_account_id=event.account_id, type="follow_request",
                             activity_id=event.request_id)
        case ev.Unreblogged():
            await withdraw(conn, event.boost_id)
        case ev.Unfavourited():
            await withdraw(conn, event.favourite_id)
        case ev.Unfollowed():
            await withdraw(conn, event.follow_id)
        case ev.FollowRequestClosed():
            await withdraw(conn, event.request_id)


async def _edited(roost: Roost, conn: AsyncConnection, event: ev.StatusUpdated) -> None:
    """Newly mentioned accounts get a mention; everyone who boosted it, an update."""
    if await _still_there(conn, statuses, event.status_id) is None:
        return
    for account_id in event.added_mention_ids:
        await notify(conn, roost.ids, recipient_id=account_id, from_account_id=event.account_id,
                     type="mention", activity_id=event.status_id, status_id=event.status_id)
    boosters = await conn.execute(
        select(statuses.c.account_id).where(statuses.c.reblog_of_id == event.status_id)
    )
    for booster_id in boosters.scalars().all():
        await notify(conn, roost.ids, recipient_id=booster_id, from_account_id=event.account_id,
                     type="update", activity_id=event.edit_id, status_id=event.status_id)


def _relevant(event: ev.Event) -> bool:
    """A post notifies only the accounts it mentions."""
    return not isinstance(event, ev.StatusCreated) or bool(event.mentioned_account_ids)


NOTIFICATIONS = Consumer(
    "notifications",
    frozenset(
        cls.TYPE
        for cls in (
            ev.StatusCreated, ev.StatusUpdated, ev.Reblogged, ev.Favourited, ev.Followed,
            ev.FollowRequested, ev.Unreblogged, ev.Unfavourited, ev.Unfollowed,
            ev.FollowRequestClosed,
        )
    ),
    handle,
    _relevant,
)
