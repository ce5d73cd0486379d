"""The analytics consumer: who was active each day, and daily totals.

An account is active on a UTC day when it did something that day: posted, edited,
deleted, liked, boosted, followed, asked to follow, blocked or muted, signed up or
changed its profile (events another account's action caused, such as the follows a
block severs, do not count). The totals count posts, sign-ups, likes, boosts and
follows. Both are written so that applying an event again would change nothing beyond
what exactly-once delivery (events.runner) already rules out: activity is a set, and
the totals are increments applied once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import activity_days, daily_counts
from roost.db.upsert import add_to, insert_ignore
from roost.events import types as ev
from roost.events.consumer import Consumer
from roost.ids import datetime_of

if TYPE_CHECKING:
    from roost.context import Roost

ACTIVE = frozenset(
    cls.TYPE
    for cls in (
        ev.AccountCreated, ev.AccountUpdated, ev.StatusCreated, ev.StatusUpdated,
        ev.StatusDeleted, ev.Reblogged, ev.Favourited, ev.Unfavourited, ev.Followed,
        ev.FollowRequested, ev.Blocked, ev.Unblocked, ev.Muted, ev.Unmuted,
    )
)
METRICS = {
    ev.StatusCreated.TYPE: "posts",
    ev.AccountCreated.TYPE: "signups",
    ev.Favourited.TYPE: "likes",
    ev.Reblogged.TYPE: "boosts",
    ev.Followed.TYPE: "follows",
}


async def handle(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
    day = datetime_of(event.event_id).date()
    await insert_ignore(conn, activity_days, [{"day": day, "account_id": event.account_id}])
    metric = METRICS.get(event.TYPE)
    if metric is not None:
        await add_to(conn, daily_counts, {"day": day, "metric": metric}, "value", 1)


ANALYTICS = Consumer("analytics", ACTIVE, handle)
