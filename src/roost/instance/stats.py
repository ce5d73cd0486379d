"""Instance statistics, shared by every process through a computed value
(cache.computed: at most one recount per minute across all of them).

Counting rows is not free on a large database, and clients ask for /api/v1/instance
at every start.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from roost.cache.computed import ComputedValue
from roost.db.tables import accounts, statuses

if TYPE_CHECKING:
    from roost.context import Roost

TTL_S = 60.0


@dataclass(frozen=True)
class InstanceStats:
    user_count: int
    status_count: int


async def count(roost: Roost) -> InstanceStats:
    async with roost.db.read() as conn:
        users = (await conn.execute(select(func.count()).select_from(accounts))).scalar_one()
        posts = (await conn.execute(select(func.count()).select_from(statuses))).scalar_one()
    return InstanceStats(user_count=int(users), status_count=int(posts))


def _decode(data: Any) -> InstanceStats:
    return InstanceStats(user_count=int(data["user_count"]),
                         status_count=int(data["status_count"]))


INSTANCE_STATS: ComputedValue[InstanceStats] = ComputedValue(
    "instance_stats", TTL_S, count, encode=asdict, decode=_decode
)


async def instance_stats(roost: Roost) -> InstanceStats:
    return await INSTANCE_STATS.get(roost)
