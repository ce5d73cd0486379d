"""Engines and transactions, with primary/replica routing from the first commit.

Operations take a connection from `db.write()` (the primary, one transaction) or
`db.read()` (a replica when one is configured; today the primary). SQLite gets two
engines on one file: writers start with BEGIN IMMEDIATE so two writers queue on the
lock instead of failing to upgrade a read lock, and readers start deferred.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from roost.observability import metrics

if TYPE_CHECKING:
    from roost.cache.objects import ObjectCache

# Set on a connection while its transaction has appended events (events.outbox).
PENDING_EVENTS_KEY = "roost_pending_events"
# Cache keys a writing transaction made stale (cache.keys.invalidate_after_commit).
INVALIDATE_AFTER_COMMIT = "roost.cache.invalidate_after_commit"
# The object cache, on connections from `read()` only (cache.objects.object_cache_of).
OBJECT_CACHE_KEY = "roost.cache.object_cache"


def _install_sqlite_pragmas(engine: AsyncEngine, begin_statement: str) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that our BEGIN is the one used.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin_statement)


def _instrument(engine: Engine, role: str) -> None:
    """Counts and times every statement, for /metrics and the query-count tests."""

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        conn.info.setdefault("roost_query_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        started = conn.info["roost_query_started"].pop()
        metrics.observe_query(role, statement, time.perf_counter() - started)


def make_engine(url: str, role: str, *, begin_statement: str = "BEGIN") -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, poolclass=NullPool if ":memory:" in url else None)
        _install_sqlite_pragmas(engine, begin_statement)
    else:
        engine = create_async_engine(
            url,
            pool_size=10,
            max_overflow=10,
            pool_pre_ping=True,
            pool_recycle=1800,
            # prepare_threshold=None: no server-side prepared statements, which a
            # PgBouncer in transaction mode would hand to the wrong backend.
            connect_args={"prepare_threshold": None, "connect_timeout": 5},
        )
    _instrument(engine.sync_engine, role)
    return engine


OUTBOX_CHANNEL = "roost_outbox"  # LISTEN/NOTIFY is scoped to the database already
OUTBOX_NOTIFY = text(f"NOTIFY {OUTBOX_CHANNEL}")


class Database:
    """The primary and (later) its replicas; the only place engines are made."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.primary = make_engine(url, "primary", begin_statement="BEGIN IMMEDIATE")
        self.replica = make_engine(url, "replica") if self.is_sqlite else self.primary
        # SQLite has one writer at a time. Left to its busy handler, waiting writers
        # poll with growing sleeps, unfairly: under load some waited past busy_timeout
        # and failed ("database is locked") while others kept winning. Queueing this
        # process's writers here first is first come, first served, and only one of them
        # at a time touches the file lock (other processes still meet busy_timeout).
        self._sqlite_writers = asyncio.Lock() if self.is_sqlite else None
        # Called after a transaction that appended events commits (the in-process
        # dispatcher's wake-up, so events are handled at once rather than at its next poll).
        self.after_events_commit: list[Callable[[], None]] = []
        # Reads go through it; writes invalidate it after commit (cache/objects.py).
        self.object_cache: ObjectCache | None = None
        self.reads_use_cache = True  # tests that count the database path turn it off

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction on the primary: committed on success, rolled back on error."""
        events: list[Any] = []
        stale: set[str] = set()
        async with self._sqlite_writers or nullcontext(), self.primary.begin() as conn:
            try:
                yield conn
                if not self.is_sqlite and conn.info.get(PENDING_EVENTS_KEY):
                    # Delivered at commit, and only if it commits: readers of the outbox
                    # in other processes wake at once instead of at their next poll.
                    await conn.execute(OUTBOX_NOTIFY)
            finally:
                # The connection goes back to the pool: its info must not carry the
                # events or stale keys on to the next transaction.
                events = conn.info.pop(PENDING_EVENTS_KEY, None) or []
                stale = conn.info.pop(INVALIDATE_AFTER_COMMIT, None) or set()
        # Committed from here on: an exception would have left the block above.
        if self.object_cache is not None and (events or stale):
            await self.object_cache.invalidate(events, stale)
        if events:
            for callback in self.after_events_commit:
                callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction, on a replica when one is configured."""
        async with self.replica.connect() as conn:
            if self.object_cache is None or not self.reads_use_cache:
                yield conn
                return
            conn.info[OBJECT_CACHE_KEY] = self.object_cache
            try:
                yield conn
            finally:
                conn.info.pop(OBJECT_CACHE_KEY, None)

    async def dispose(self) -> None:
        await self.primary.dispose()
        if self.replica is not self.primary:
            await self.replica.dispose()
