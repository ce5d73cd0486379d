"""The counters consumer: status_stats and account_stats follow the event log.

Each change is an atomic `x = x + n` in the handler's transaction, which also records
the event as processed (events.runner), so a redelivered event never counts twice and
concurrent handlers never lose an update. Increments commute: the order in which
events arrive does not matter. A counter of a row deleted meanwhile (the status is
gone) changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.cache.keys import invalidate_after_commit, keys_for_counters
from roost.counters.deltas import ACCOUNT, COUNTED, TOUCHES_LAST_STATUS, deltas
from roost.db.tables import account_stats, status_stats
from roost.events.consumer import Consumer
from roost.events.types import Event
from roost.ids import datetime_of

if TYPE_CHECKING:
    from roost.context import Roost


async def handle(roost: Roost, conn: AsyncConnection, event: Event) -> None:
    invalidate_after_commit(conn, keys_for_counters(event))
    for delta in deltas(event):
        if delta.kind == ACCOUNT:
            column = account_stats.c[delta.column]
            values = {delta.column: column + delta.amount}
            if event.TYPE in TOUCHES_LAST_STATUS and delta.column == "statuses_count":
                moment = datetime_of(event.event_id)
                last = account_stats.c.last_status_at
                values["last_status_at"] = case(
                    (last.is_(None) | (last < moment), moment), else_=last
                )
            await conn.execute(
                update(account_stats)
                .where(account_stats.c.account_id == delta.id)
                .values(values)
            )
        else:
            column = status_stats.c[delta.column]
            await conn.execute(
                update(status_stats)
                .where(status_stats.c.status_id == delta.id)
                .values({delta.column: column + delta.amount})
            )


COUNTERS = Consumer("counters", COUNTED, handle)
