"""Instance statistics, computed at most once a minute per process.

Counting rows is not free on a large database, and clients ask for /api/v1/instance
at every start; a later issue moves this behind the shared cache with stampede
protection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import func, select

from roost.db.engine import Database
from roost.db.tables import accounts, statuses

TTL_S = 60.0


@dataclass(frozen=True)
class InstanceStats:
    user_count: int
    status_count: int


class InstanceStatsCache:
    def __init__(self) -> None:
        self._value: InstanceStats | None = None
        self._expires = 0.0

    async def get(self, db: Database) -> InstanceStats:
        if self._value is not None and time.monotonic() < self._expires:
            return self._value
        async with db.read() as conn:
            users = (await conn.execute(select(func.count()).select_from(accounts))).scalar_one()
            posts = (await conn.execute(select(func.count()).select_from(statuses))).scalar_one()
        self._value = InstanceStats(user_count=users, status_count=posts)
        self._expires = time.monotonic() + TTL_S
        return self._value
