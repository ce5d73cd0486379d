"""Writing the search index: one status at a time (the consumer) or all of them in
batches (`roost search reindex`, the seeder).

Every write reads the status as it is now: a status that is gone, or is a boost, ends
up with no index row, whatever order the events that led there came in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.engine import Database
from roost.db.tables import statuses
from roost.search import dialects
from roost.search.documents import documents

REINDEX_BATCH = 5000


async def index_status(conn: AsyncConnection, status_id: int) -> bool:
    """Indexes the status as it is now, or removes it when it is gone (or a boost);
    says whether it is indexed. Two statements."""
    return await _replace(conn, status_id, status_id) == 1


async def unindex_status(conn: AsyncConnection, status_id: int) -> None:
    dialect = dialects.of(conn)
    await conn.execute(delete(dialect.table).where(dialect.key == status_id))


async def _replace(conn: AsyncConnection, first: int, last: int) -> int:
    """Rebuilds the index rows of the status ids first..last (inclusive)."""
    dialect = dialects.of(conn)
    await conn.execute(delete(dialect.table).where(dialect.key.between(first, last)))
    return await dialect.write(conn, documents(dialect, first, last))


@dataclass(frozen=True)
class Reindexed:
    statuses: int  # indexed (boosts are not)
    batches: int


async def reindex_all(db: Database, batch: int = REINDEX_BATCH) -> Reindexed:
    """Rebuilds the whole index, `batch` statuses (boosts included) per transaction, in
    id order: live writes go on in between, and the consumer's updates meanwhile are
    kept (each batch reads the statuses as they are when it runs). Index rows of
    statuses that no longer exist are dropped on the way."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    indexed = batches = 0
    after = 0  # ids are positive
    while True:
        async with db.write() as conn:
            ids = (
                select(statuses.c.id).where(statuses.c.id > after)
                .order_by(statuses.c.id).limit(batch).subquery()
            )
            last = (await conn.execute(select(func.max(ids.c.id)))).scalar()
            if last is None:
                dialect = dialects.of(conn)
                await conn.execute(delete(dialect.table).where(dialect.key > after))
                await dialect.analyze(conn)
                return Reindexed(indexed, batches)
            indexed += await _replace(conn, after + 1, int(last))
            batches += 1
        after = int(last)


async def build_in_bulk(db: Database, workers: int = 2) -> int:
    """Fills the index from scratch, for a database nobody else writes to meanwhile
    (one just seeded): emptied, then filled by `workers` transactions at once, each
    over an equal share of the statuses (PostgreSQL; SQLite has one writer), the GIN
    index built at the end. Returns how many statuses were indexed. A failure part way
    leaves the index incomplete: `roost search reindex` mends it."""
    async with db.write() as conn:
        dialect = dialects.of(conn)
        await dialect.empty_for_bulk(conn)
        total = int((await conn.execute(select(func.count()).select_from(statuses))).scalar_one())
        shares = 1 if db.is_sqlite else max(1, min(workers, total // REINDEX_BATCH))
        # The first id of each share after the first.
        starts = [
            int((await conn.execute(
                select(statuses.c.id).order_by(statuses.c.id).offset(total * n // shares).limit(1)
            )).scalar_one())
            for n in range(1, shares)
        ]
    bounds = list(zip([0, *starts], [*(start - 1 for start in starts), 2**63 - 1], strict=True))

    async def fill(first: int, last: int) -> int:
        async with db.write() as conn:
            await dialect.skip_key_checks(conn)
            return await dialect.write(conn, documents(dialect, first, last))

    indexed = sum(await asyncio.gather(*(fill(first, last) for first, last in bounds)))
    async with db.write() as conn:
        await dialect.finish_bulk(conn)
    return indexed
