"""The outbox: events appended in the transaction of the change, read back in order.

`append` is the only way a domain operation emits an event. It inserts the event in
the caller's transaction, so the event exists if and only if the change committed.

Reading in commit order. On SQLite one transaction writes at a time, so insertion
order (`position`) is commit order and a reader keeps the last position it read. On
PostgreSQL two transactions can commit in the other order than they inserted: a
reader that kept only a position could pass over an event a slower transaction was
still about to commit. So each event carries the id of its transaction (`txid`), and
a reader only takes events of transactions older than the oldest one still running
in this database (`PG_HORIZON`): those can never gain another event. It reads them in
(txid, position) order, which keeps every account's causally ordered writes in order,
and remembers the (txid, position) it reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.engine import PENDING_EVENTS_KEY
from roost.db.tables import event_cursors, outbox_events
from roost.events.types import Envelope, Event, encode
from roost.ids import IdGenerator, shard_of

# Set on the connection while its transaction has appended events: Database.write()
# wakes the in-process dispatcher after commit, and reads inside the transaction add
# the counter changes the events will make (counters.pending_deltas).
PENDING_KEY = PENDING_EVENTS_KEY
# The oldest transaction still running that could be writing this database's outbox:
# pg_snapshot_xmin would do, but it is the oldest in the whole cluster, so a long
# transaction in another database on the same server (a bulk load, a report) would hold
# every reader back. Transactions pg_stat_activity places in another database are left
# out (their xid's low 32 bits, as xid8 carries an epoch above them). One that ended
# between the snapshot and that look is not left out, which only holds back.
PG_HORIZON = text("""coalesce(
    (SELECT min(running::text::bigint)
       FROM pg_snapshot_xip(pg_current_snapshot()) AS running
      WHERE running::text::bigint % 4294967296 NOT IN (
            SELECT backend_xid::text::bigint FROM pg_stat_activity
             WHERE backend_xid IS NOT NULL AND datname IS NOT NULL
               AND datname <> current_database())),
    pg_snapshot_xmax(pg_current_snapshot())::text::bigint)""")


@dataclass(frozen=True)
class Cursor:
    txid: int = 0
    position: int = 0


@dataclass(frozen=True)
class StoredEvent:
    envelope: Envelope
    txid: int
    position: int
    created_at: datetime

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.txid, self.position)


def new_event_id(ids: IdGenerator, account_id: int) -> int:
    return ids.next_id(shard_of(account_id))


async def append(conn: AsyncConnection, event: Event) -> None:
    """Adds `event` to the outbox, in the caller's transaction."""
    envelope = encode(event)
    await conn.execute(
        insert(outbox_events).values(
            event_id=envelope.event_id,
            type=envelope.type,
            version=envelope.version,
            account_id=envelope.account_id,
            payload=envelope.payload,
            created_at=utcnow(),
        )
    )
    conn.info.setdefault(PENDING_KEY, []).append(event)


def pending(conn: AsyncConnection) -> list[Event]:
    """The events this connection's open transaction has appended."""
    events: list[Event] = conn.info.get(PENDING_KEY, [])
    return events


def _stored(row: Any) -> StoredEvent:
    envelope = Envelope(row.event_id, row.type, row.version, row.account_id, row.payload)
    return StoredEvent(envelope, int(row.txid or 0), int(row.position), row.created_at)


async def read_after(conn: AsyncConnection, after: Cursor, limit: int) -> list[StoredEvent]:
    """Up to `limit` committed events after `after`, in order (see the module doc)."""
    query = select(outbox_events)
    if conn.dialect.name == "postgresql":
        query = query.where(
            or_(
                outbox_events.c.txid > after.txid,
                and_(outbox_events.c.txid == after.txid, outbox_events.c.position > after.position),
            ),
            outbox_events.c.txid < PG_HORIZON,
        ).order_by(outbox_events.c.txid, outbox_events.c.position)
    else:
        query = query.where(outbox_events.c.position > after.position).order_by(
            outbox_events.c.position
        )
    rows = (await conn.execute(query.limit(limit))).all()
    return [_stored(row) for row in rows]


async def count_after(conn: AsyncConnection, after: Cursor) -> int:
    """Events after the cursor, committed or about to be: a reader's backlog."""
    query = select(func.count()).select_from(outbox_events)
    if conn.dialect.name == "postgresql":
        query = query.where(
            tuple_(outbox_events.c.txid, outbox_events.c.position)
            > tuple_(after.txid, after.position)
        )
    else:
        query = query.where(outbox_events.c.position > after.position)
    return int((await conn.execute(query)).scalar_one())


async def unread(conn: AsyncConnection, reader: str) -> int:
    """The backlog of the reader (cursor) named `reader`."""
    return await count_after(conn, await cursor_at(conn, reader))


async def oldest_after(conn: AsyncConnection, after: Cursor) -> datetime | None:
    """When the oldest event after the cursor was written (the age of the lag)."""
    events = await read_after(conn, after, 1)
    return events[0].created_at if events else None


async def by_ids(conn: AsyncConnection, event_ids: list[int]) -> dict[int, StoredEvent]:
    rows = (
        await conn.execute(select(outbox_events).where(outbox_events.c.event_id.in_(event_ids)))
    ).all()
    return {int(row.event_id): _stored(row) for row in rows}


async def cursor_at(conn: AsyncConnection, name: str) -> Cursor:
    row = (
        await conn.execute(select(event_cursors).where(event_cursors.c.name == name))
    ).first()
    return Cursor(int(row.txid), int(row.position)) if row is not None else Cursor()


async def save_cursor(conn: AsyncConnection, name: str, cursor: Cursor) -> None:
    values = {"txid": cursor.txid, "position": cursor.position, "updated_at": utcnow()}
    updated = await conn.execute(
        event_cursors.update().where(event_cursors.c.name == name).values(**values)
    )
    if updated.rowcount == 0:
        await conn.execute(insert(event_cursors).values(name=name, **values))


async def advance_cursor(
    conn: AsyncConnection, name: str, start: Cursor, reached: Cursor
) -> bool:
    """Moves reader `name` from `start` (where it read from) to `reached`, unless
    someone moved it meanwhile (`roost events replay`): then their position stands and
    this returns False."""
    moved = await conn.execute(
        event_cursors.update()
        .where(
            event_cursors.c.name == name,
            event_cursors.c.txid == start.txid,
            event_cursors.c.position == start.position,
        )
        .values(txid=reached.txid, position=reached.position, updated_at=utcnow())
    )
    if moved.rowcount:
        return True
    exists = (
        await conn.execute(select(event_cursors.c.name).where(event_cursors.c.name == name))
    ).first()
    if exists is None:  # the reader's first batch: no row yet
        await save_cursor(conn, name, reached)
        return True
    return False


async def cursor_before(conn: AsyncConnection, moment: datetime) -> Cursor:
    """The cursor just before the first event written at or after `moment` (replay)."""
    row = (
        await conn.execute(
            select(outbox_events.c.txid, outbox_events.c.position)
            .where(outbox_events.c.created_at >= moment)
            .order_by(outbox_events.c.txid, outbox_events.c.position)
            .limit(1)
        )
    ).first()
    if row is None:
        return Cursor(2**62, 2**62)  # nothing to replay: past every event
    # Later events written before `moment` come again too: consumers skip them.
    return Cursor(int(row.txid or 0), int(row.position) - 1)


async def prune(conn: AsyncConnection, retention: timedelta) -> int:
    """Forgets events older than the retention window (kept for replays until then)."""
    result = await conn.execute(
        delete(outbox_events).where(outbox_events.c.created_at < utcnow() - retention)
    )
    return int(result.rowcount or 0)


async def emit(
    conn: AsyncConnection, ids: IdGenerator, event_type: type[Event], account_id: int,
    **fields: Any,
) -> None:
    """Appends a new event of `event_type` by `account_id` (its id made here)."""
    event_id = new_event_id(ids, account_id)
    await append(conn, event_type(event_id=event_id, account_id=account_id, **fields))
