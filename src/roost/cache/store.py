"""Where cached objects live: Redis shared by every process, or an in-process LRU in
the embedded mode. Both keep the same promise, leases against stale fills:

A reader that misses a key takes a lease on it (unless another reader holds one),
reads the database, and may store what it read only while its lease still stands.
Invalidation deletes the key and its lease together. So a reader that read the
database before a write committed cannot store that old row after the write's
invalidation: the invalidation took its lease (Facebook's memcache leases, without
the waiting). A miss without a lease reads the database and stores nothing.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

from roost.resilience.breaker import FAILURES, BreakerOpen, CircuitBreaker

LEASE_MS = 5_000
LEASE_SUFFIX = "~lease"
# Invalidations that failed (Redis away) are retried before this process reads the
# cache again; past this many it gives up on them and on the cache until they are
# delivered (a bounded memory for a long outage).
MAX_PENDING_INVALIDATIONS = 100_000


@dataclass
class Lookup:
    """What a multi-get found: values by key, and the missed keys this reader may fill."""

    values: dict[str, str] = field(default_factory=dict)
    leased: set[str] = field(default_factory=set)


def new_token() -> str:
    """A reader's lease token (one per page read, for all its multi-gets)."""
    return secrets.token_hex(8)


class CacheStore(Protocol):
    async def get(self, keys: list[str], token: str) -> Lookup: ...

    async def fill(self, token: str, entries: Mapping[str, tuple[str, int]]) -> None:
        """Stores (value, ttl_ms) for the keys whose lease `token` still holds."""

    async def delete(self, keys: Iterable[str]) -> None: ...

    async def flush(self) -> None: ...


# KEYS: the keys; ARGV[1]: this reader's lease token, ARGV[2]: the lease's life (ms).
# Returns per key its value, 1 (missed, leased to this reader) or 0 (missed, leased
# to another). The lease key is derived from the key inside the script: Roost does
# not run Redis Cluster, where that would need both in KEYS.
_GET_OR_LEASE = """
local out = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value then
    out[i] = value
  elseif redis.call('SET', key .. '~lease', ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

# KEYS: keys to fill; ARGV[1]: the token, then value and ttl (ms) per key.
_FILL_IF_LEASED = """
for i, key in ipairs(KEYS) do
  local lease = key .. '~lease'
  if redis.call('GET', lease) == ARGV[1] then
    redis.call('SET', key, ARGV[2 * i], 'PX', ARGV[2 * i + 1])
    redis.call('DEL', lease)
  end
end
return 0
"""


class RedisStore:
    """The shared store. Every call goes through the Redis circuit breaker; a failed
    or refused read is a miss without leases (the database answers), a failed
    invalidation is kept and retried before this process trusts the cache again."""

    def __init__(self, redis: Redis, breaker: CircuitBreaker, prefix: str) -> None:
        self.redis = redis
        self.breaker = breaker
        self.prefix = prefix + "c:"
        self._get = redis.register_script(_GET_OR_LEASE)
        self._fill = redis.register_script(_FILL_IF_LEASED)
        self._undelivered: set[str] = set()

    @property
    def undelivered_invalidations(self) -> int:
        return len(self._undelivered)

    async def get(self, keys: list[str], token: str) -> Lookup:
        if not keys or not await self._deliver_invalidations():
            return Lookup()
        full = [self.prefix + key for key in keys]
        try:
            answers = await self.breaker.call(lambda: self._get(full, [token, LEASE_MS]))
        except (BreakerOpen, *FAILURES):
            return Lookup()
        lookup = Lookup()
        for key, answer in zip(keys, answers, strict=True):
            if isinstance(answer, str):
                lookup.values[key] = answer
            elif answer == 1:
                lookup.leased.add(key)
        return lookup

    async def fill(self, token: str, entries: Mapping[str, tuple[str, int]]) -> None:
        wanted = list(entries)
        if not wanted:
            return
        args: list[str | int] = [token]
        for key in wanted:
            value, ttl_ms = entries[key]
            args += [value, ttl_ms]
        full = [self.prefix + key for key in wanted]
        try:
            await self.breaker.call(lambda: self._fill(full, args))
        except (BreakerOpen, *FAILURES):
            pass  # not stored: the next reader reads the database again

    async def delete(self, keys: Iterable[str]) -> None:
        self._undelivered.update(keys)
        await self._deliver_invalidations()

    async def _deliver_invalidations(self) -> bool:
        """True when no invalidation is outstanding (the cache may be read)."""
        if not self._undelivered:
            return True
        batch = list(self._undelivered)
        full = [self.prefix + key + suffix for key in batch for suffix in ("", LEASE_SUFFIX)]
        try:
            await self.breaker.call(lambda: self.redis.delete(*full))
        except (BreakerOpen, *FAILURES):
            if len(self._undelivered) > MAX_PENDING_INVALIDATIONS:
                # Too many to remember: keep refusing the cache until Redis is back,
                # then drop every cached object of this deployment (see `flush`).
                self._undelivered = {_FLUSH_ALL}
            return False
        self._undelivered.difference_update(batch)
        if _FLUSH_ALL in batch:
            await self.flush()
        return True

    async def flush(self) -> None:
        """Deletes every cached object of this deployment (after too many missed
        invalidations; tests empty the cache with it)."""
        batch: list[str] = []
        async for key in self.redis.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await self.redis.delete(*batch)
                batch = []
        if batch:
            await self.redis.delete(*batch)


_FLUSH_ALL = "~flush-all"


class LocalStore:
    """The embedded mode's store: an LRU in this process, with the same leases.
    Only right when every write happens in this process (the embedded server runs
    its consumers in-process), since other processes' invalidations cannot reach it."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._leases: dict[str, tuple[str, float]] = {}

    async def get(self, keys: list[str], token: str) -> Lookup:
        now = time.monotonic()
        lookup = Lookup()
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry[1] > now:
                self._entries.move_to_end(key)
                lookup.values[key] = entry[0]
                continue
            if entry is not None:
                del self._entries[key]
            lease = self._leases.get(key)
            if lease is None or lease[1] <= now:
                self._leases[key] = (token, now + LEASE_MS / 1000)
                lookup.leased.add(key)
        return lookup

    async def fill(self, token: str, entries: Mapping[str, tuple[str, int]]) -> None:
        now = time.monotonic()
        for key, (value, ttl_ms) in entries.items():
            lease = self._leases.get(key)
            if lease is None or lease[0] != token or lease[1] <= now:
                continue
            del self._leases[key]
            self._entries[key] = (value, now + ttl_ms / 1000)
            self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        if len(self._leases) > self.max_entries:  # leases of readers that failed
            self._leases = {k: v for k, v in self._leases.items() if v[1] > now}

    async def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)
            self._leases.pop(key, None)

    async def flush(self) -> None:
        self._entries.clear()
        self._leases.clear()
