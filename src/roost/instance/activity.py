"""Weekly instance activity (GET /api/v1/instance/activity), as Mastodon reports it:
twelve weeks, newest first, each starting on a Monday at 00:00 UTC.

Read from what the analytics consumer already keeps (roost.analytics): `daily_counts`
gives the posts and sign-ups of each day, `activity_days` the accounts that did
something each day. Roost keeps no record of logins, so `logins` counts the distinct
accounts that were active (posted, liked, boosted, followed, edited their profile...)
during the week: the nearest thing it knows to "users who logged in".

Two statements whatever the size of the instance (the distinct counts of all twelve
weeks come from one SELECT), and the result is a computed value shared by every
process for an hour (Mastodon caches it for a day).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, distinct, func, select

from roost.cache.computed import ComputedValue
from roost.clock import utcnow
from roost.db.tables import activity_days, daily_counts

if TYPE_CHECKING:
    from roost.context import Roost

WEEKS = 12
TTL_S = 3600.0


@dataclass(frozen=True)
class Week:
    start: date  # a Monday
    statuses: int
    logins: int
    registrations: int

    def entity(self) -> dict[str, str]:
        """Mastodon's shape: every value a string, the week as a Unix timestamp."""
        moment = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        return {
            "week": str(int(moment.timestamp())),
            "statuses": str(self.statuses),
            "logins": str(self.logins),
            "registrations": str(self.registrations),
        }


def week_starts(today: date, weeks: int = WEEKS) -> list[date]:
    """The Mondays that begin this week and the `weeks - 1` before it, newest first."""
    this_monday = today - timedelta(days=today.weekday())
    return [this_monday - timedelta(weeks=n) for n in range(weeks)]


async def weekly_activity(roost: Roost, today: date | None = None) -> list[Week]:
    starts = week_starts(today or utcnow().date())
    first, last = starts[-1], starts[0] + timedelta(days=6)
    active_columns = [
        func.count(
            distinct(
                case(
                    (
                        activity_days.c.day.between(start, start + timedelta(days=6)),
                        activity_days.c.account_id,
                    ),
                )
            )
        ).label(f"week_{n}")
        for n, start in enumerate(starts)
    ]
    async with roost.db.read() as conn:
        active = (
            await conn.execute(
                select(*active_columns).where(activity_days.c.day.between(first, last))
            )
        ).one()
        totals = (
            await conn.execute(
                select(daily_counts.c.day, daily_counts.c.metric, daily_counts.c.value).where(
                    daily_counts.c.day.between(first, last),
                    daily_counts.c.metric.in_(("posts", "signups")),
                )
            )
        ).all()
    sums: dict[tuple[date, str], int] = {}
    for row in totals:
        monday = row.day - timedelta(days=row.day.weekday())
        sums[(monday, row.metric)] = sums.get((monday, row.metric), 0) + int(row.value)
    return [
        Week(
            start=start,
            statuses=sums.get((start, "posts"), 0),
            logins=int(active[n] or 0),
            registrations=sums.get((start, "signups"), 0),
        )
        for n, start in enumerate(starts)
    ]


def _encode(weeks: list[Week]) -> list[dict[str, Any]]:
    return [
        {
            "start": w.start.isoformat(),
            "statuses": w.statuses,
            "logins": w.logins,
            "registrations": w.registrations,
        }
        for w in weeks
    ]


def _decode(data: Any) -> list[Week]:
    return [
        Week(
            start=date.fromisoformat(w["start"]),
            statuses=int(w["statuses"]),
            logins=int(w["logins"]),
            registrations=int(w["registrations"]),
        )
        for w in data
    ]


async def _compute(roost: Roost) -> list[Week]:
    return await weekly_activity(roost)


INSTANCE_ACTIVITY: ComputedValue[list[Week]] = ComputedValue(
    "instance_activity", TTL_S, _compute, encode=_encode, decode=_decode
)
