"""What `roost events` does to the event log (events.cli parses and prints).

- `gather_status`: each reader's backlog and lag, parked retries and dead letters per
  consumer, the outbox's size and age, the leases.
- dead letters: list them, run them through their consumer again, drop them.
- `rewind`: moves a reader's cursor back to just before a moment, so the events since
  are handed to the consumers again; they skip what they applied (processed_events).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, delete, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.config import Settings
from roost.context import Roost
from roost.db.engine import Database
from roost.db.tables import (
    event_cursors,
    event_dead_letters,
    event_leases,
    event_retries,
    outbox_events,
)
from roost.events import outbox, runner
from roost.events.consumer import all_consumers
from roost.events.dispatcher import CURSOR
from roost.events.types import Envelope

RELAY = "relay"  # the relay's cursor on the broker logs (events.redis_log.RELAY, nats_log.RELAY)


def main_reader(settings: Settings) -> str:
    """The reader that hands the outbox on: the dispatcher, or a broker's relay."""
    return CURSOR if settings.event_log == "outbox" else RELAY


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- status ---------------------------------------------------------------------------


async def _readers(conn: AsyncConnection, settings: Settings, now: datetime
                   ) -> list[dict[str, Any]]:
    rows = (await conn.execute(select(event_cursors).order_by(event_cursors.c.name))).all()
    found = [(str(r.name), outbox.Cursor(int(r.txid), int(r.position)), r.updated_at)
             for r in rows]
    main = main_reader(settings)
    if main not in {name for name, _, _ in found}:
        found.insert(0, (main, outbox.Cursor(), None))  # it has not read anything yet
    readers = []
    for name, cursor, updated_at in found:
        backlog = await outbox.count_after(conn, cursor)
        oldest = await outbox.oldest_after(conn, cursor) if backlog else None
        readers.append({
            "name": name,
            "txid": cursor.txid,
            "position": cursor.position,
            "updated_at": iso(updated_at),
            "backlog": backlog,
            "oldest_unprocessed_at": iso(oldest),
            "lag_seconds": max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        })
    return readers


async def _per_consumer(conn: AsyncConnection, table: Table) -> dict[str, int]:
    rows = await conn.execute(select(table.c.consumer, func.count()).group_by(table.c.consumer))
    return {str(consumer): int(count) for consumer, count in rows.all()}


async def gather_status(db: Database, settings: Settings) -> dict[str, Any]:
    """Everything `roost events status` shows, as plain JSON-ready data."""
    now = utcnow()
    async with db.read() as conn:
        readers = await _readers(conn, settings, now)
        retries = await _per_consumer(conn, event_retries)
        dead = await _per_consumer(conn, event_dead_letters)
        size, oldest = (
            await conn.execute(select(func.count(), func.min(outbox_events.c.created_at)))
        ).one()
        leases = (await conn.execute(select(event_leases).order_by(event_leases.c.name))).all()
    names = [c.name for c in all_consumers()]
    names += sorted((set(retries) | set(dead)) - set(names))  # consumers retired since
    return {
        "event_log": settings.event_log,
        "retention_hours": settings.event_retention_hours,
        "outbox": {
            "events": int(size),
            "oldest_at": iso(oldest),
            "oldest_age_seconds": (now - oldest).total_seconds() if oldest else None,
        },
        "readers": readers,
        "consumers": [
            {"name": name, "parked_retries": retries.get(name, 0),
             "dead_letters": dead.get(name, 0)}
            for name in names
        ],
        "leases": [
            {"name": str(row.name), "holder": str(row.holder),
             "expires_at": iso(row.expires_at), "live": bool(row.expires_at > now)}
            for row in leases
        ],
    }


# --- dead letters ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    consumer: str
    envelope: Envelope
    attempts: int
    failed_at: datetime
    last_error: str


def _which(consumer: str | None, event_id: int | None) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if consumer is not None:
        conditions.append(event_dead_letters.c.consumer == consumer)
    if event_id is not None:
        conditions.append(event_dead_letters.c.event_id == event_id)
    return and_(*conditions) if conditions else true()


def _dead_letter(row: Any) -> DeadLetter:
    envelope = Envelope(int(row.event_id), str(row.type), int(row.version),
                        int(row.account_id), str(row.payload))
    return DeadLetter(str(row.consumer), envelope, int(row.attempts), row.failed_at,
                      str(row.last_error))


async def dead_letters(db: Database, consumer: str | None, event_id: int | None,
                       limit: int | None = None) -> tuple[int, list[DeadLetter]]:
    """How many dead letters match, and the first `limit` of them, oldest first."""
    where = _which(consumer, event_id)
    async with db.read() as conn:
        total = int((await conn.execute(
            select(func.count()).select_from(event_dead_letters).where(where)
        )).scalar_one())
        rows = (await conn.execute(
            select(event_dead_letters).where(where)
            .order_by(event_dead_letters.c.failed_at, event_dead_letters.c.event_id)
            .limit(limit)
        )).all()
    return total, [_dead_letter(row) for row in rows]


@dataclass(frozen=True)
class Replayed:
    letter: DeadLetter
    outcome: str  # applied, duplicate, failed, no-consumer

    @property
    def succeeded(self) -> bool:
        return self.outcome in ("applied", "duplicate", "skipped")


async def _forget(db: Database, consumer: str, event_id: int) -> None:
    async with db.write() as conn:
        await conn.execute(delete(event_dead_letters).where(_which(consumer, event_id)))


async def _keep_as_dead_letter(db: Database, letter: DeadLetter) -> None:
    """A replayed dead letter that failed again stays a dead letter, one attempt more,
    with the new error; it does not start a second life as a parked retry."""
    consumer, event_id = letter.consumer, letter.envelope.event_id
    async with db.write() as conn:
        parked = (await conn.execute(select(event_retries).where(
            event_retries.c.consumer == consumer, event_retries.c.event_id == event_id
        ))).first()
        values: dict[str, Any] = {"attempts": letter.attempts + 1, "failed_at": utcnow()}
        if parked is not None:  # else the runner gave up at once and wrote the new error
            await conn.execute(delete(event_retries).where(
                event_retries.c.consumer == consumer, event_retries.c.event_id == event_id
            ))
            values["last_error"] = parked.last_error
        await conn.execute(
            update(event_dead_letters).where(_which(consumer, event_id)).values(**values)
        )


async def replay_dead_letters(roost: Roost, consumer: str | None, event_id: int | None
                              ) -> list[Replayed]:
    """Runs each selected dead letter through its consumer now (events.runner.deliver);
    a success removes the dead letter."""
    _, letters = await dead_letters(roost.db, consumer, event_id)
    by_name = {c.name: c for c in all_consumers()}
    replayed = []
    for letter in letters:
        handler = by_name.get(letter.consumer)
        if handler is None:
            replayed.append(Replayed(letter, "no-consumer"))
            continue
        outcome = await runner.deliver(roost, handler, letter.envelope, attempts_before=0)
        if outcome in ("applied", "duplicate", "skipped"):
            await _forget(roost.db, letter.consumer, letter.envelope.event_id)
            replayed.append(Replayed(letter, outcome))
        else:
            await _keep_as_dead_letter(roost.db, letter)
            replayed.append(Replayed(letter, "failed"))
    return replayed


async def drop_dead_letters(db: Database, consumer: str | None, event_id: int | None) -> int:
    async with db.write() as conn:
        result = await conn.execute(delete(event_dead_letters).where(_which(consumer, event_id)))
    return int(result.rowcount or 0)


# --- replay ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rewound:
    cursor: str
    found: bool  # the reader has a cursor (it has read something)
    moved: bool
    again: int  # events it will hand on again
    waiting: int  # events it had not handed on yet


def _before(conn: AsyncConnection, a: outbox.Cursor, b: outbox.Cursor) -> bool:
    """Whether `a` comes before `b` in the order readers read (events.outbox)."""
    if conn.dialect.name == "postgresql":
        return (a.txid, a.position) < (b.txid, b.position)
    return a.position < b.position


async def known_cursors(db: Database) -> list[str]:
    async with db.read() as conn:
        names = (await conn.execute(select(event_cursors.c.name))).scalars().all()
    return sorted(str(name) for name in names)


async def rewind(db: Database, name: str, since: datetime) -> Rewound:
    """Moves the cursor `name` back to just before the first event written at or after
    `since`. Never forward: a reader that has not yet read that far keeps its place
    (moving it would skip events)."""
    async with db.write() as conn:
        exists = (await conn.execute(
            select(event_cursors.c.name).where(event_cursors.c.name == name)
        )).first() is not None
        current = await outbox.cursor_at(conn, name)
        waiting = await outbox.count_after(conn, current)
        if not exists:
            return Rewound(name, False, False, 0, waiting)
        target = await outbox.cursor_before(conn, since)
        if not _before(conn, target, current):
            return Rewound(name, True, False, 0, waiting)
        await outbox.save_cursor(conn, name, target)
        again = await outbox.count_after(conn, target) - waiting
    return Rewound(name, True, True, again, waiting)
