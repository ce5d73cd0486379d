"""The trend-inputs consumer: what Mastodon's trend scores are computed from
(MASTODON_API.md, "Trends as Mastodon scores them").

- Tags: the distinct accounts that used a tag in a public status, per UTC day
  (tag_uses). Only public statuses count: a private or direct post must never show
  in a trend, not even as a number.
- Statuses: the ones liked or boosted lately (trend_status_candidates), so that
  scoring reads a few candidates rather than every status. Whether a candidate may
  trend (public, not a reply, not sensitive, author discoverable) is decided when
  trends are read, from the rows as they are then.
Both tables are sets keyed by what they record, so a repeat changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import VISIBILITY_PUBLIC, statuses, tag_uses, trend_status_candidates
from roost.db.upsert import insert_ignore, keep_latest
from roost.events import types as ev
from roost.events.consumer import Consumer
from roost.ids import datetime_of

if TYPE_CHECKING:
    from roost.context import Roost


async def handle(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
    moment = datetime_of(event.event_id)
    match event:
        case ev.StatusCreated(visibility=visibility, tag_ids=tag_ids) if (
            visibility == VISIBILITY_PUBLIC and tag_ids
        ):
            day = moment.date()
            rows = [{"tag_id": t, "day": day, "account_id": event.account_id} for t in tag_ids]
            await insert_ignore(conn, tag_uses, rows)
        case ev.Favourited() | ev.Reblogged():
            await _candidate(conn, event.status_id, moment)


async def _candidate(conn: AsyncConnection, status_id: int, moment: datetime) -> None:
    # The status may be gone already (deleted before the event got here): its foreign
    # key would refuse the row, so only live statuses are recorded.
    exists = (await conn.execute(select(statuses.c.id).where(statuses.c.id == status_id))).first()
    if exists is not None:
        await keep_latest(conn, trend_status_candidates, {"status_id": status_id},
                          "last_interaction_at", moment)


def _relevant(event: ev.Event) -> bool:
    """A post counts only when it is public and has hashtags."""
    if isinstance(event, ev.StatusCreated):
        return event.visibility == VISIBILITY_PUBLIC and bool(event.tag_ids)
    return True


TREND_INPUTS = Consumer(
    "trend_inputs", frozenset({ev.StatusCreated.TYPE, ev.Favourited.TYPE, ev.Reblogged.TYPE}),
    handle,
    _relevant,
)
