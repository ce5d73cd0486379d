"""Computed values (trends, instance statistics) cached with stampede protection:
at most one recomputation per expiry across all processes (docs/caching.md).

A value lives in Redis under `{ROOST_REDIS_KEY_PREFIX}cv:{name}` as JSON with its
*soft* expiry and the time its computation took inside; the key's own (hard) TTL is
a few lifetimes longer, so an expired value is still there to be served while it is
being recomputed:

- fresh: served (a hit);
- soft-expired: the first reader to win `SET cv:{name}:lock NX PX <jittered>`
  re-reads the value (another process may have just written it), recomputes it,
  writes it and drops its lock; every other reader is served the previous value at
  once;
- absent (first read, or unread for longer than the hard TTL): the lock's winner
  computes; the others poll for its result for up to WAIT_S and only then compute
  themselves.

Within a process, concurrent readers of one value share one read of Redis (a
single flight), so 200 coroutines cost one GET. When Redis fails or its circuit
breaker is open, and in the embedded mode (no ROOST_REDIS_URL), the value is kept
in the process instead, computed by one coroutine at a time (an asyncio lock): no
request fails because Redis did.

The alternative strategy, probabilistic early recomputation (XFetch: Vattani, Chierichetti
and Lowenstein, "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015), and no
protection at all are kept for bench/stampede.py only: ROOST_CACHE_STAMPEDE=xfetch|off
(bench-only; the default, `lock`, is what bench/stampede.py measured best).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import orjson
import structlog

from roost.observability import metrics
from roost.resilience.breaker import FAILURES, BreakerOpen, redis_breaker

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Bench-only switch (bench/stampede.py): lock (the default), xfetch or off.
STRATEGY_ENV = "ROOST_CACHE_STAMPEDE"
LOCK = "lock"
XFETCH = "xfetch"
OFF = "off"
STRATEGIES = (LOCK, XFETCH, OFF)

# Soft lifetimes get +-10 % at random, so values written together do not expire together.
TTL_JITTER = 0.1
# The key outlives its soft expiry by this many lifetimes: time to recompute while
# the previous value is served.
HARD_TTL_FACTOR = 3
# The recompute lock lasts a few computations (at least LOCK_MIN_MS), +0-25 % at random,
# and is dropped as soon as the new value is written: its length only matters when
# its holder dies, or computes far slower than usual (an overloaded server: measured,
# a 0.1 s computation took over 2 s under 200 readers, and a 2 s lock let a second
# process recompute).
LOCK_MIN_MS = 15_000
LOCK_COMPUTE_FACTOR = 4
LOCK_JITTER = 0.25
# With no previous value, the lock's losers wait this long for the winner's result.
WAIT_S = 2.0
POLL_S = 0.02
XFETCH_BETA = 1.0

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def strategy() -> str:
    """The stampede strategy in force (ROOST_CACHE_STAMPEDE, bench-only)."""
    chosen = os.environ.get(STRATEGY_ENV, LOCK).strip().lower() or LOCK
    return chosen if chosen in STRATEGIES else LOCK


@dataclass(frozen=True)
class Entry:
    value: Any  # encoded (JSON-ready)
    expires_at: float  # soft expiry, wall-clock seconds (comparable across processes)
    delta_s: float  # what computing it took

    def fresh(self, now: float) -> bool:
        return now < self.expires_at

    def dump(self) -> bytes:
        return orjson.dumps({"v": self.value, "x": self.expires_at, "d": self.delta_s})

    @staticmethod
    def load(raw: str | bytes | None) -> Entry | None:
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
            return Entry(data["v"], float(data["x"]), float(data["d"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None  # unreadable (another version wrote it): as if absent


@dataclass
class ComputedState:
    """One process's state of the computed values (kept on its Roost)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    flights: dict[str, asyncio.Future[tuple[Any, bool]]] = field(default_factory=dict)


def _local_of(roost: Roost) -> ComputedState:
    if roost.computed_values is None:
        roost.computed_values = ComputedState()
    return roost.computed_values


def _identity(value: Any) -> Any:
    return value


class _Unavailable(Exception):
    """Redis failed or its breaker is open: use the process's own copy."""


@dataclass(frozen=True)
class ComputedValue(Generic[T]):
    """A value computed from the database, shared by every process for `ttl_s`.

    `encode` turns the value into JSON-ready data and `decode` back (identity by
    default, for lists and dicts of numbers and strings)."""

    name: str
    ttl_s: float
    compute: Callable[[Roost], Awaitable[T]]
    encode: Callable[[T], Any] = _identity
    decode: Callable[[Any], T] = _identity

    def redis_key(self, roost: Roost) -> str:
        return f"{roost.settings.redis_key_prefix}cv:{self.name}"

    async def get(self, roost: Roost) -> T:
        if roost.redis is None:
            return await self._get_local(roost)
        chosen = strategy()
        if chosen == OFF:
            encoded, hit = await self._read_shared(roost, chosen)
        else:
            encoded, hit = await self._shared_flight(roost, chosen)
        (metrics.cache_hits if hit else metrics.cache_misses).labels(self.name).inc()
        return self.decode(encoded)

    # --- test and bench helpers --------------------------------------------------------

    async def expire(self, roost: Roost) -> None:
        """Soft-expires the value now (kept, to be served while recomputed)."""
        local = _local_of(roost)
        if self.name in local.entries:
            old = local.entries[self.name]
            local.entries[self.name] = Entry(old.value, time.time(), old.delta_s)
        if roost.redis is not None:
            key = self.redis_key(roost)
            entry = Entry.load(await roost.redis.get(key))
            if entry is not None:
                ttl = await roost.redis.pttl(key)
                await roost.redis.set(key, Entry(entry.value, time.time(), entry.delta_s).dump(),
                                      px=max(int(ttl), 1000))

    async def forget(self, roost: Roost) -> None:
        """Drops the value everywhere (the next read computes it)."""
        _local_of(roost).entries.pop(self.name, None)
        if roost.redis is not None:
            key = self.redis_key(roost)
            await roost.redis.delete(key, f"{key}:lock")

    # --- computing ---------------------------------------------------------------------

    async def _compute(self, roost: Roost) -> Entry:
        started = time.perf_counter()
        value = self.encode(await self.compute(roost))
        delta = time.perf_counter() - started
        metrics.cache_recomputes.labels(self.name).inc()
        soft = self.ttl_s * random.uniform(1 - TTL_JITTER, 1 + TTL_JITTER)  # noqa: S311
        entry = Entry(value, time.time() + soft, delta)
        _local_of(roost).entries[self.name] = entry  # the fallback's copy too
        return entry

    # --- in the process: embedded mode, or Redis away -----------------------------------

    async def _get_local(self, roost: Roost) -> T:
        encoded, hit = await self._read_local(roost)
        (metrics.cache_hits if hit else metrics.cache_misses).labels(self.name).inc()
        return self.decode(encoded)

    async def _read_local(self, roost: Roost) -> tuple[Any, bool]:
        local = _local_of(roost)
        entry = local.entries.get(self.name)
        if entry is not None and entry.fresh(time.time()):
            return entry.value, True
        lock = local.locks.setdefault(self.name, asyncio.Lock())
        async with lock:  # one computation per process at a time; the others wait for it
            entry = local.entries.get(self.name)
            if entry is not None and entry.fresh(time.time()):
                return entry.value, False
            return (await self._compute(roost)).value, False

    # --- shared through Redis --------------------------------------------------------------

    async def _shared_flight(self, roost: Roost, chosen: str) -> tuple[Any, bool]:
        """Concurrent readers in this process share one read (and what follows it)."""
        local = _local_of(roost)
        flight = local.flights.get(self.name)
        if flight is None:
            flight = asyncio.ensure_future(self._read_shared(roost, chosen))
            local.flights[self.name] = flight
            flight.add_done_callback(lambda _done: local.flights.pop(self.name, None))
        return await asyncio.shield(flight)

    async def _redis(self, roost: Roost, action: Callable[[], Awaitable[R]]) -> R:
        try:
            return await redis_breaker(roost).call(action)
        except BreakerOpen as error:
            raise _Unavailable from error
        except FAILURES as error:
            log.warning("computed value: Redis failed", cache=self.name, error=str(error))
            raise _Unavailable from error

    async def _load(self, roost: Roost) -> Entry | None:
        redis = roost.redis
        assert redis is not None
        key = self.redis_key(roost)
        return Entry.load(await self._redis(roost, lambda: redis.get(key)))

    async def _store(self, roost: Roost, entry: Entry) -> None:
        redis = roost.redis
        assert redis is not None
        hard_ms = max(int(self.ttl_s * HARD_TTL_FACTOR * 1000), 1000)
        key, payload = self.redis_key(roost), entry.dump()
        # On failure: served from this computation, and kept in the process meanwhile.
        with contextlib.suppress(_Unavailable):
            await self._redis(roost, lambda: redis.set(key, payload, px=hard_ms))

    async def _lock(self, roost: Roost, entry: Entry | None) -> str | None:
        """This reader's token when it won the recompute lock, else None."""
        redis = roost.redis
        assert redis is not None
        delta_ms = (entry.delta_s if entry is not None else 0.0) * 1000
        lock_ms = max(LOCK_MIN_MS, LOCK_COMPUTE_FACTOR * delta_ms)
        lock_ms *= random.uniform(1, 1 + LOCK_JITTER)  # noqa: S311
        token = secrets.token_hex(8)
        key = f"{self.redis_key(roost)}:lock"
        won = await self._redis(roost, lambda: redis.set(key, token, nx=True, px=int(lock_ms)))
        return token if won else None

    async def _unlock(self, roost: Roost, token: str) -> None:
        redis = roost.redis
        assert redis is not None
        key = f"{self.redis_key(roost)}:lock"
        with contextlib.suppress(_Unavailable):  # else it expires by itself
            await self._redis(roost, lambda: redis.eval(_RELEASE, 1, key, token))

    async def _recompute(self, roost: Roost) -> Entry:
        entry = await self._compute(roost)
        await self._store(roost, entry)
        return entry

    async def _read_shared(self, roost: Roost, chosen: str) -> tuple[Any, bool]:
        try:
            return await self._shared(roost, chosen)
        except _Unavailable:
            return await self._read_local(roost)

    async def _shared(self, roost: Roost, chosen: str) -> tuple[Any, bool]:
        entry = await self._load(roost)
        now = time.time()
        if chosen == XFETCH:
            return await self._xfetch(roost, entry, now)
        if entry is not None and entry.fresh(now):
            return entry.value, True
        if chosen == OFF:
            return (await self._recompute(roost)).value, False
        token = await self._lock(roost, entry)
        if token is not None:
            try:
                # Another process may have written it between our read and our lock.
                current = await self._load(roost)
                if current is not None and current.fresh(time.time()):
                    return current.value, False
                return (await self._recompute(roost)).value, False
            finally:
                await self._unlock(roost, token)
        if entry is not None:
            return entry.value, False  # stale, while the lock's winner recomputes
        return (await self._wait_for_winner(roost)).value, False

    async def _wait_for_winner(self, roost: Roost) -> Entry:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_S * random.uniform(0.5, 1.5))  # noqa: S311
            entry = await self._load(roost)
            if entry is not None:
                return entry
        log.warning("computed value: no result from the lock's winner", cache=self.name)
        return await self._recompute(roost)

    async def _xfetch(self, roost: Roost, entry: Entry | None, now: float) -> tuple[Any, bool]:
        """Recompute early with a probability that grows as the expiry nears:
        when now - delta * beta * ln(U(0, 1]) >= expiry."""
        if entry is not None:
            early = -entry.delta_s * XFETCH_BETA * math.log(1.0 - random.random())  # noqa: S311
            if now + early < entry.expires_at:
                return entry.value, True
        return (await self._recompute(roost)).value, False
