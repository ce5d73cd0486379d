"""Forgetting trend inputs that no score reads any more (docs/trends.md, "Pruning").

tag_uses rows older than the days a tag's score reads, plus a day of margin
(scores.TAG_USES_DAYS_READ, TAG_USES_MARGIN), and trend_status_candidates of statuses
older than the status scores read (scores.STATUS_MAX_AGE) plus the same margin (a like of
an old status still records one), are deleted in batches walked in primary
key order: each batch's keys are read outside any write transaction, then deleted as a
key range in a short transaction of its own, so a large backlog never holds SQLite's
single writer (or PostgreSQL row locks) for long, and no batch reads again the rows an
earlier one deleted.

It runs in the event-log reader's housekeeping (events/reader.py), every ten minutes,
in the one process that holds the reader's lease, and at most MAX_BATCHES_PER_ROUND
batches at a time there so that a backlog delays event delivery by little;
`roost trends prune` (trends/cli.py) deletes a whole backlog at once.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, delete, literal, select, tuple_

from roost.db.tables import tag_uses, trend_status_candidates
from roost.ids import compose_id
from roost.trends.scores import STATUS_MAX_AGE, TAG_USES_MARGIN, first_tag_use_day

if TYPE_CHECKING:
    from roost.db.engine import Database

BATCH = 5000
MAX_BATCHES_PER_ROUND = 20

_TAG_USES_KEY = (tag_uses.c.tag_id, tag_uses.c.day, tag_uses.c.account_id)
_CANDIDATES_KEY = (trend_status_candidates.c.status_id,)
Key = tuple[Any, ...]


def oldest_kept_day(now: datetime) -> date:
    return first_tag_use_day(now) - TAG_USES_MARGIN


def _row(columns: Key, values: Key) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The key's columns and these values, as rows to compare (one column as itself)."""
    if len(columns) == 1:
        return columns[0], literal(values[0], columns[0].type)
    return tuple_(*columns), tuple_(*(literal(v, c.type)
                                      for c, v in zip(columns, values, strict=True)))


def _after(columns: Key, values: Key) -> ColumnElement[bool]:
    key, value = _row(columns, values)
    return key > value


def _up_to(columns: Key, values: Key) -> ColumnElement[bool]:
    key, value = _row(columns, values)
    return key <= value


async def _delete_in_batches(db: Database, table: Table, key: Key, old: ColumnElement[bool],
                             *, batch: int, max_batches: int | None) -> int:
    """Deletes the rows of `table` matching `old`, walked in `key` order, `batch` rows
    per write transaction, until none is left or `max_batches` were deleted."""
    removed, batches, after = 0, 0, None
    while max_batches is None or batches < max_batches:
        where = [old] if after is None else [old, _after(key, after)]
        async with db.read() as conn:
            keys = (await conn.execute(
                select(*key).where(*where).order_by(*key).limit(batch)
            )).all()
        if not keys:
            break
        after = tuple(keys[-1])
        async with db.write() as conn:
            result = await conn.execute(delete(table).where(*where, _up_to(key, after)))
        removed += result.rowcount
        batches += 1
        if len(keys) < batch:
            break
    return removed


async def prune_tag_uses(db: Database, now: datetime, *, batch: int = BATCH,
                         max_batches: int | None = None) -> int:
    """Deletes the tag_uses rows of days before oldest_kept_day(now); returns the count."""
    return await _delete_in_batches(db, tag_uses, _TAG_USES_KEY,
                                    tag_uses.c.day < oldest_kept_day(now),
                                    batch=batch, max_batches=max_batches)


def oldest_kept_candidate(now: datetime) -> int:
    """The first status id whose candidate row is kept: statuses younger than the scores
    read, and a day more."""
    moment = now - STATUS_MAX_AGE - TAG_USES_MARGIN
    return compose_id(int(moment.timestamp() * 1000), 0, 0, 0)


async def prune_status_candidates(db: Database, now: datetime, *, batch: int = BATCH,
                                  max_batches: int | None = None) -> int:
    """Deletes the candidates of statuses older than oldest_kept_candidate(now); returns
    the count."""
    old = trend_status_candidates.c.status_id < oldest_kept_candidate(now)
    return await _delete_in_batches(db, trend_status_candidates, _CANDIDATES_KEY, old,
                                    batch=batch, max_batches=max_batches)


async def prune_trend_inputs(db: Database, now: datetime, *, max_batches: int | None = None
                             ) -> tuple[int, int]:
    """Both prunes: (hashtag uses, status candidates) deleted."""
    return (await prune_tag_uses(db, now, max_batches=max_batches),
            await prune_status_candidates(db, now, max_batches=max_batches))
