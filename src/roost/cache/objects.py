"""The object cache: cache-aside reads of rows, many kinds in one multi-get, misses
from the database in one statement per kind, invalidation after commit
(docs/caching.md).

Database.read attaches the process's ObjectCache to the connection it yields
(`object_cache_of`); Database.write does not, so a writing transaction always reads
the database (its own uncommitted rows included) and never fills the cache, and
after it commits Database.write deletes what it changed (`ObjectCache.invalidate`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from roost.cache import keys as cache_keys
from roost.cache.keys import Kind
from roost.cache.store import CacheStore, LocalStore, RedisStore, new_token
from roost.db.engine import OBJECT_CACHE_KEY
from roost.events.types import Event
from roost.observability.metrics import cache_hits, cache_misses
from roost.resilience.breaker import redis_breaker

if TYPE_CHECKING:
    from roost.context import Roost


class CachedRow(SimpleNamespace):
    """A row as read back from the cache: attribute access, like a SQLAlchemy Row."""


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"~dt": value.isoformat()}
    if isinstance(value, date):
        return {"~d": value.isoformat()}
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _revive(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "~dt" in obj:
            return datetime.fromisoformat(obj["~dt"])
        if "~d" in obj:
            return date.fromisoformat(obj["~d"])
    return obj


def encode(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def decode(raw: str) -> Any:
    return json.loads(raw, object_hook=_revive)


def row_values(row: Any) -> dict[str, Any]:
    """A database row as the plain dict the cache stores."""
    return dict(row._mapping)


Loader = Callable[[list[Any]], Awaitable[Mapping[Any, Any]]]


@dataclass
class Want:
    """One kind of object a read needs: cache key by id, and how to load missed ids
    (one statement for all of them; ids absent from its answer are cached as absent)."""

    kind: Kind
    keys: dict[Hashable, str]
    load: Loader
    # Whether a loaded value may be stored (one nothing would invalidate may not).
    cacheable: Callable[[Any], bool] = lambda _value: True


@dataclass
class CacheRead:
    """One page read's conversation with the cache: a lease token shared by its
    multi-gets, and the misses it loaded, stored in one round trip at the end."""

    cache: ObjectCache
    token: str = field(default_factory=new_token)
    leased: set[str] = field(default_factory=set)
    staged: dict[str, tuple[str, int]] = field(default_factory=dict)

    async def fetch(self, *wants: Want) -> list[dict[Any, Any]]:
        """For each want, its objects by id (None for absent), in one multi-get."""
        lookup = await self.cache.store.get(
            [key for want in wants for key in want.keys.values()], self.token
        )
        self.leased |= lookup.leased
        results = []
        for want in wants:
            found: dict[Any, Any] = {}
            missed: list[Any] = []
            for ident, key in want.keys.items():
                raw = lookup.values.get(key)
                if raw is None:
                    missed.append(ident)
                else:
                    found[ident] = decode(raw)
            if want.keys:
                cache_hits.labels(want.kind.name).inc(len(want.keys) - len(missed))
            if missed:
                cache_misses.labels(want.kind.name).inc(len(missed))
                loaded = await want.load(missed)
                for ident in missed:
                    value = loaded.get(ident)
                    found[ident] = value
                    key = want.keys[ident]
                    if key in lookup.leased and want.cacheable(value):
                        self.staged[key] = (encode(value), want.kind.ttl_ms())
            results.append(found)
        return results

    async def store(self) -> None:
        if self.staged:
            staged, self.staged = self.staged, {}
            await self.cache.store.fill(self.token, staged)


class ObjectCache:
    def __init__(self, store: CacheStore) -> None:
        self.store = store

    def read(self) -> CacheRead:
        return CacheRead(self)

    async def invalidate(self, events: Iterable[Event], keys: Iterable[str]) -> None:
        """After a commit: deletes what its events and explicit keys name."""
        stale = set(keys)
        for event in events:
            stale.update(cache_keys.keys_for_event(event))
        if stale:
            await self.store.delete(stale)


def object_cache_of(conn: AsyncConnection) -> ObjectCache | None:
    """The cache to read through on this connection: set by Database.read only."""
    cache: ObjectCache | None = conn.info.get(OBJECT_CACHE_KEY)
    return cache


def as_row(values: dict[str, Any] | None) -> CachedRow | None:
    return None if values is None else CachedRow(**values)


def object_cache_for(roost: Roost, *, serves_reads: bool) -> ObjectCache | None:
    """The object cache ROOST_OBJECT_CACHE asks for. A process that serves no reads
    (a worker) still needs the shared one: its commits invalidate it."""
    settings = roost.settings
    mode = settings.object_cache
    if mode == "auto":
        if roost.redis is not None:
            mode = "redis"
        elif settings.is_sqlite and settings.serve_consumers and settings.serve_processes == 1:
            mode = "local"  # the embedded server: every write happens in this process
        else:
            mode = "off"
    if mode == "redis" and roost.redis is not None:
        return ObjectCache(RedisStore(roost.redis, redis_breaker(roost), settings.redis_key_prefix))
    if mode == "local" and serves_reads:
        return ObjectCache(LocalStore())
    return None
