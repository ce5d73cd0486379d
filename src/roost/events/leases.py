"""Singleton jobs (the in-process dispatcher, the relay): one holder at a time.

A holder takes the lease row with a conditional UPDATE (its own, or an expired one)
and renews it on every round of its work; a process that dies stops renewing and its
lease expires after `ttl`. Two holders overlapping for a moment (a slow renewal) is
harmless: consumers skip events they already applied.
"""

from __future__ import annotations

import os
import random
import socket
from datetime import timedelta

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from roost.clock import utcnow
from roost.db.engine import Database
from roost.db.tables import event_leases


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"


async def hold(db: Database, name: str, holder: str, ttl: timedelta) -> bool:
    """Takes or renews the lease `name` for `holder`; False when someone else holds it."""
    now = utcnow()
    # Looked at first: a process that does not hold the lease asks on every round (each
    # second), and on SQLite each write takes the one write lock, for nothing while the
    # holder is alive.
    async with db.read() as conn:
        current = (await conn.execute(
            select(event_leases.c.holder, event_leases.c.expires_at)
            .where(event_leases.c.name == name)
        )).first()
    if current is not None and current.holder != holder and current.expires_at >= now:
        return False
    async with db.write() as conn:
        taken = await conn.execute(
            update(event_leases)
            .where(
                event_leases.c.name == name,
                or_(event_leases.c.holder == holder, event_leases.c.expires_at < now),
            )
            .values(holder=holder, expires_at=now + ttl)
        )
        if taken.rowcount:
            return True
    try:
        async with db.write() as conn:
            await conn.execute(
                insert(event_leases).values(name=name, holder=holder, expires_at=now + ttl)
            )
    except IntegrityError:
        return False  # someone else's, and not expired
    return True


async def release(db: Database, name: str, holder: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            update(event_leases)
            .where(event_leases.c.name == name, event_leases.c.holder == holder)
            .values(expires_at=utcnow())
        )
