"""Trend scores, as Mastodon computes them (Trends::Statuses and Trends::Tags;
MASTODON_API.md, "Trends as Mastodon scores them"; docs/trends.md).

Statuses: observed = boosts + favourites, expected = 1;
score = (observed - expected)^2 / expected when observed >= 5, else 0; it halves for
every hour of the status's age, and a status whose score fell below 0.3 is dropped.

Tags: observed = distinct accounts using the tag today (UTC), expected = yesterday's
(at least 1); score = (observed - expected)^2 / expected when observed >= 5 and
observed >= expected, else 0. What trends is the tag's *peak* over the last two days
(Mastodon's max_score, max_score_at), halving every 4 hours after it was reached, and
dropped below 1. Roost keeps no peak column: tag_uses records the day of each use, and
a day's score only grows while the day lasts (observed only grows), so a day's peak is
its score at its end (or now, for today). The peak is rebuilt from the last four days
of tag_uses exactly as Mastodon's refresh would have kept it.

Only the ranked ids are computed here (globally, then cached: trends/read.py); who
may see which status is decided per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import (
    VISIBILITY_PUBLIC,
    accounts,
    status_stats,
    statuses,
    tag_uses,
    trend_status_candidates,
)
from roost.ids import compose_id, datetime_of

THRESHOLD = 5
STATUS_HALFLIFE_S = 3600.0
STATUS_DECAY_THRESHOLD = 0.3
TAG_HALFLIFE_S = 4 * 3600.0
TAG_DECAY_THRESHOLD = 1.0
TAG_COOLDOWN = timedelta(days=2)
# A status older than this cannot score 0.3 with fewer than ~2^20 interactions
# ((n - 1)^2 / 2^48 < 0.3): candidates are read by id from this age on.
STATUS_MAX_AGE = timedelta(hours=48)
# The ranked lists kept (Mastodon shows at most a few pages of them too).
MAX_STATUSES = 400
MAX_TAGS = 100
# The UTC days of tag_uses a tag's score reads: today and the three before it (the peak
# of the last two days, each day scored against the day before it). No other code
# reads tag_uses (a Tag entity's seven-day history is counted from status_tags:
# timelines/tag.py), so this is the longest window it is read over.
TAG_USES_DAYS_READ = 4
# trends/prune.py deletes tag_uses rows older than that window, keeping one day more: a
# process whose clock runs a little behind, or a scoring that began just before
# midnight UTC, still finds the first day of its window whole.
TAG_USES_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Scored:
    id: int
    score: float


# --- statuses -----------------------------------------------------------------------------


def status_score(reblogs: int, favourites: int, created_at: datetime, now: datetime) -> float:
    """The decayed score of one status (0 below the threshold)."""
    observed = float(reblogs + favourites)
    expected = 1.0
    if observed < THRESHOLD or expected > observed:
        return 0.0
    score = (observed - expected) ** 2 / expected
    age_s = max((now - created_at).total_seconds(), 0.0)
    return float(score * 0.5 ** (age_s / STATUS_HALFLIFE_S))


def eligible(status: Any = statuses, author: Any = accounts) -> Any:
    """Whether a status may trend: public, not a reply nor a boost, not sensitive, its
    author discoverable (read from the rows as they are now)."""
    return and_(
        status.c.visibility == VISIBILITY_PUBLIC,
        status.c.in_reply_to_id.is_(None),
        status.c.reblog_of_id.is_(None),
        status.c.sensitive.is_(False),
        author.c.discoverable.is_(True),
    )


def _first_id_at(moment: datetime) -> int:
    return compose_id(int(moment.timestamp() * 1000), 0, 0, 0)


def candidates_query(now: datetime) -> Select[Any]:
    """Eligible candidates young enough to score, with enough interactions to."""
    interactions = status_stats.c.reblogs_count + status_stats.c.favourites_count
    return (
        select(statuses.c.id, status_stats.c.reblogs_count, status_stats.c.favourites_count)
        .select_from(trend_status_candidates)
        .join(statuses, statuses.c.id == trend_status_candidates.c.status_id)
        .join(status_stats, status_stats.c.status_id == statuses.c.id)
        .join(accounts, accounts.c.id == statuses.c.account_id)
        .where(
            trend_status_candidates.c.status_id >= _first_id_at(now - STATUS_MAX_AGE),
            interactions >= THRESHOLD,
            eligible(),
        )
    )


def rank_statuses(rows: list[tuple[int, int, int]], now: datetime) -> list[Scored]:
    """(id, reblogs, favourites) rows, scored, kept above the threshold, best first
    (the newer first on a tie)."""
    scored = [
        Scored(status_id, score)
        for status_id, reblogs, favourites in rows
        if (score := status_score(reblogs, favourites, datetime_of(status_id), now))
        >= STATUS_DECAY_THRESHOLD
    ]
    scored.sort(key=lambda s: (-s.score, -s.id))
    return scored[:MAX_STATUSES]


async def trending_statuses(conn: AsyncConnection, now: datetime) -> list[Scored]:
    rows = (await conn.execute(candidates_query(now))).all()
    return rank_statuses([(int(r[0]), int(r[1]), int(r[2])) for r in rows], now)


# --- tags ---------------------------------------------------------------------------------


def _day_score(observed: int, expected: int) -> float:
    expected_f = float(max(expected, 1))
    if observed < THRESHOLD or expected_f > observed:
        return 0.0
    return (observed - expected_f) ** 2 / expected_f


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def tag_score(accounts_by_day: Mapping[date, int], now: datetime) -> float:
    """The decayed peak score of one tag from its distinct accounts per UTC day."""
    today = now.astimezone(UTC).date()
    peak, peak_at = 0.0, None
    for back in (2, 1, 0):  # oldest first, as Mastodon's refreshes saw them
        day = today - timedelta(days=back)
        observed = accounts_by_day.get(day, 0)
        expected = accounts_by_day.get(day - timedelta(days=1), 0)
        at = now if back == 0 else _midnight(day + timedelta(days=1))
        if peak_at is not None and peak_at < at - TAG_COOLDOWN:
            peak, peak_at = 0.0, None
        score = _day_score(observed, expected)
        if score > peak:
            peak, peak_at = score, at
    if peak_at is None or peak_at < now - TAG_COOLDOWN:
        return 0.0
    return float(peak * 0.5 ** ((now - peak_at).total_seconds() / TAG_HALFLIFE_S))


def first_tag_use_day(now: datetime) -> date:
    """The oldest day of tag_uses that a score computed at `now` reads."""
    return now.astimezone(UTC).date() - timedelta(days=TAG_USES_DAYS_READ - 1)


def tag_uses_query(now: datetime) -> Select[Any]:
    """Distinct accounts per tag and day over the four days the peak depends on."""
    return (
        select(tag_uses.c.tag_id, tag_uses.c.day, func.count())
        .where(tag_uses.c.day >= first_tag_use_day(now))
        .group_by(tag_uses.c.tag_id, tag_uses.c.day)
    )


def rank_tags(rows: list[tuple[int, date, int]], now: datetime) -> list[Scored]:
    by_tag: dict[int, dict[date, int]] = {}
    for tag_id, day, count in rows:
        by_tag.setdefault(tag_id, {})[day] = count
    scored = [
        Scored(tag_id, score)
        for tag_id, days in by_tag.items()
        if (score := tag_score(days, now)) >= TAG_DECAY_THRESHOLD
    ]
    scored.sort(key=lambda s: (-s.score, s.id))
    return scored[:MAX_TAGS]


async def trending_tags(conn: AsyncConnection, now: datetime) -> list[Scored]:
    rows = (await conn.execute(tag_uses_query(now))).all()
    return rank_tags([(int(r[0]), _as_date(r[1]), int(r[2])) for r in rows], now)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
