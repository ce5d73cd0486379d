"""The analytics consumer's numbers, read back: one row per UTC day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select

from roost.clock import utcnow
from roost.db.engine import Database
from roost.db.tables import activity_days, daily_counts

METRICS = ("posts", "signups", "likes", "boosts", "follows")


@dataclass(frozen=True)
class Day:
    day: str
    active_accounts: int
    posts: int
    signups: int
    likes: int
    boosts: int
    follows: int


async def daily(db: Database, days: int, today: date | None = None) -> list[Day]:
    """The last `days` UTC days (today included), in two statements."""
    last = today or utcnow().date()
    first = last - timedelta(days=days - 1)
    async with db.read() as conn:
        active: dict[date, int] = dict(
            (
                await conn.execute(
                    select(activity_days.c.day, func.count())
                    .where(activity_days.c.day.between(first, last))
                    .group_by(activity_days.c.day)
                )
            ).all()
        )
        counts: dict[tuple[date, str], int] = {
            (row.day, row.metric): int(row.value)
            for row in (
                await conn.execute(
                    select(daily_counts).where(daily_counts.c.day.between(first, last))
                )
            ).all()
        }
    result = []
    for offset in range(days):
        day = last - timedelta(days=offset)
        values = {metric: counts.get((day, metric), 0) for metric in METRICS}
        result.append(Day(day.isoformat(), int(active.get(day, 0)), **values))
    return result
