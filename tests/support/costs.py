"""What a request costs: SQL statements and Redis round trips, counted in-process.

The project rule: page reads cost a constant number of both, whatever the page size
(tests/api/test_page_costs.py, test_home_timelines.py). `counting(roost)` counts, while
inside, every statement on Roost's primary and replica engines (one listener when they
are the same engine) and every command or pipeline this process sends to Redis (one
`send_packed_command` is one round trip). The event log's own work (the in-process
dispatcher and its consumers, which run beside the requests) is left out, as the
statement counter of tests/conftest.py does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from roost.context import Roost
from roost.events.context import IN_DISPATCHER


@dataclass
class Costs:
    statements: int = 0
    round_trips: int = 0
    # What was counted, for failure messages; not part of the comparison (the same
    # query renders differently for 5 ids and for 40).
    log: list[str] = field(default_factory=list, compare=False, repr=False)

    def report(self) -> str:
        return "\n".join(f"{n + 1}. {entry}" for n, entry in enumerate(self.log))


@contextmanager
def counting(roost: Roost) -> Iterator[Costs]:
    """Counts the SQL statements on Roost's engines and the Redis round trips of this
    process while inside (the event log's own work left out)."""
    from redis.asyncio import connection as redis_connection
    from sqlalchemy import event

    costs = Costs()
    connection_class = redis_connection.AbstractConnection
    original = connection_class.send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        if not IN_DISPATCHER.get():
            costs.round_trips += 1
            costs.log.append(f"redis: {_redis_command(command)}")
        await original(self, command, check_health)

    def count_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not IN_DISPATCHER.get():
            costs.statements += 1
            costs.log.append(f"sql: {' '.join(statement.split())[:300]}")

    engines = list({id(e.sync_engine): e.sync_engine
                    for e in (roost.db.primary, roost.db.replica)}.values())
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count_statement)
    connection_class.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield costs
    finally:
        connection_class.send_packed_command = original  # type: ignore[method-assign]
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count_statement)


def _redis_command(packed: Any) -> str:
    """The first command's name and key of what is sent, roughly (for reports)."""
    chunks = packed if isinstance(packed, list | tuple) else [packed]
    raw = b"".join(c if isinstance(c, bytes) else bytes(c) for c in chunks)
    words = [w for w in raw.split(b"\r\n") if w and w[:1] not in (b"*", b"$")]
    commands = raw.count(b"\r\n*") + 1 if raw.startswith(b"*") else 1
    head = " ".join(w.decode(errors="replace") for w in words[:2])
    return head + (f" (+{commands - 1} more)" if commands > 1 else "")


async def flush_object_cache(roost: Roost) -> None:
    """Empties the object cache (src/roost/cache), when the app has one, so that the
    next read is a cold one: nothing of it cached, whatever was read before."""
    cache = roost.db.object_cache
    if cache is not None:
        await cache.store.flush()
