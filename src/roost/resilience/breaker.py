"""A circuit breaker: after a few failures in a row, stop calling a service for a while.

Redis going away must cost Roost speed, never answers. Without a breaker every
request would wait for Redis's timeout before falling back to the database; with one,
the first few failures open it, and from then on callers fall back at once.

    closed ──(FAILURES_TO_OPEN failures in a row)──> open ──(OPEN_SECONDS)──> half-open
       ^                                               ^                          │
       └──────────── the probe succeeds ───────────────┼──── the probe fails ─────┘

In half-open one call at a time is let through as a probe; the others are refused as
in open. Each call also has a deadline, so a Redis that hangs counts as failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

import structlog
from redis.exceptions import RedisError

from roost.observability import metrics

if TYPE_CHECKING:
    from roost.context import Roost

log = structlog.get_logger(__name__)

T = TypeVar("T")

FAILURES_TO_OPEN = 3
OPEN_SECONDS = 5.0
CALL_TIMEOUT_S = 1.0
# What counts as the service failing (not a bug of ours, which should surface).
FAILURES = (RedisError, OSError, TimeoutError)


class State(Enum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class BreakerOpen(Exception):
    """The breaker refused the call: fall back without trying."""


class CircuitBreaker:
    def __init__(self, name: str, *, failures_to_open: int = FAILURES_TO_OPEN,
                 open_seconds: float = OPEN_SECONDS, call_timeout_s: float = CALL_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.failures_to_open = failures_to_open
        self.open_seconds = open_seconds
        self.call_timeout_s = call_timeout_s
        self.clock = clock
        self.state = State.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False
        metrics.breaker_state.labels(name).set(State.CLOSED.value)

    @property
    def is_closed(self) -> bool:
        return self.state is State.CLOSED

    def _allow(self) -> bool:
        if self.state is State.OPEN and self.clock() - self.opened_at >= self.open_seconds:
            self._move(State.HALF_OPEN)
        if self.state is State.CLOSED:
            return True
        if self.state is State.HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def _move(self, state: State) -> None:
        if state is self.state:
            return
        log.warning("circuit breaker", breaker=self.name, state=state.name.lower(),
                    was=self.state.name.lower())
        self.state = state
        metrics.breaker_state.labels(self.name).set(state.value)
        metrics.breaker_transitions.labels(self.name, state.name.lower()).inc()

    def _succeeded(self) -> None:
        self.failures = 0
        self.probing = False
        self._move(State.CLOSED)

    def _failed(self) -> None:
        self.failures += 1
        self.probing = False
        if self.state is State.HALF_OPEN or self.failures >= self.failures_to_open:
            self.opened_at = self.clock()
            self._move(State.OPEN)

    async def call(self, action: Callable[[], Awaitable[T]]) -> T:
        """`action()` within the deadline; raises BreakerOpen when refused, and the
        service's own error (after counting it) when it fails."""
        if not self._allow():
            raise BreakerOpen(self.name)
        try:
            result = await asyncio.wait_for(action(), self.call_timeout_s)
        except FAILURES:
            self._failed()
            raise
        except BaseException:
            self.probing = False  # cancelled, or our own bug: not the service's fault
            raise
        self._succeeded()
        return result


def redis_breaker(roost: Roost) -> CircuitBreaker:
    """The process's breaker around its shared Redis client (made on first use)."""
    if roost.redis_breaker is None:
        roost.redis_breaker = CircuitBreaker("redis")
    return roost.redis_breaker
