"""The circuit breaker's states (src/roost/resilience/breaker.py), on a fake clock."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from roost.resilience.breaker import BreakerOpen, CircuitBreaker, State

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _ok() -> str:
    return "ok"


async def _down() -> str:
    raise RedisConnectionError("refused")


async def _hangs() -> str:
    await asyncio.sleep(10)
    return "late"


def _breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("test", failures_to_open=3, open_seconds=5, call_timeout_s=0.05,
                          clock=clock)


async def test_failures_in_a_row_open_it_and_a_probe_closes_it() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    assert await breaker.call(_ok) == "ok"
    for _ in range(2):
        with pytest.raises(RedisConnectionError):
            await breaker.call(_down)
    assert breaker.state is State.CLOSED  # two are not enough
    with pytest.raises(RedisConnectionError):
        await breaker.call(_down)
    assert breaker.state is State.OPEN
    with pytest.raises(BreakerOpen):  # refused at once, without calling
        await breaker.call(_ok)
    clock.now += 5
    assert await breaker.call(_ok) == "ok"  # the probe
    assert breaker.state is State.CLOSED


async def test_a_failed_probe_opens_it_again_and_a_success_resets_the_count() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(2):
        with pytest.raises(RedisConnectionError):
            await breaker.call(_down)
    await breaker.call(_ok)  # the count starts over
    for _ in range(2):
        with pytest.raises(RedisConnectionError):
            await breaker.call(_down)
    assert breaker.state is State.CLOSED
    with pytest.raises(RedisConnectionError):
        await breaker.call(_down)
    clock.now += 5
    with pytest.raises(RedisConnectionError):
        await breaker.call(_down)  # the probe fails: open for another while
    assert breaker.state is State.OPEN
    clock.now += 4.9
    with pytest.raises(BreakerOpen):
        await breaker.call(_ok)


async def test_a_hanging_call_counts_as_a_failure_and_one_probe_at_a_time() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):
        with pytest.raises(TimeoutError):
            await breaker.call(_hangs)
    assert breaker.state is State.OPEN
    clock.now += 5
    probe = asyncio.create_task(breaker.call(_hangs))
    await asyncio.sleep(0)
    assert breaker.state is State.HALF_OPEN
    with pytest.raises(BreakerOpen):  # the probe is out: others still fall back
        await breaker.call(_ok)
    with pytest.raises(TimeoutError):
        await probe
    assert breaker.state is State.OPEN
