"""One lock per pair of accounts, held to the end of the transaction.

Follow, follow-request authorization and block each read the pair's state and then
write on it. Under PostgreSQL's READ COMMITTED, a follow that checked "no block" can
commit after a block that found "no follow" to sever, and leave a follow across the
block. Taking the pair's lock first makes these writes on one pair run one at a time;
writes on other pairs never wait. SQLite needs nothing: its writers already run one at
a time (db/engine.py opens every write transaction with BEGIN IMMEDIATE).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection


def pair_key(first: int, second: int) -> int:
    """A signed 64-bit advisory-lock key, the same whichever account comes first. Two
    pairs sharing a key only wait for each other; nothing goes wrong."""
    low, high = sorted((first, second))
    digest = hashlib.blake2b(f"pair:{low}:{high}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_pair(conn: AsyncConnection, first: int, second: int) -> None:
    if conn.dialect.name != "postgresql":
        return
    await conn.execute(select(func.pg_advisory_xact_lock(pair_key(first, second))))
