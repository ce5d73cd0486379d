"""Password hashing with argon2id, off the event loop.

Hashing takes tens of milliseconds of CPU on purpose; it runs in a thread so other
requests keep moving, and a semaphore bounds how many run at once so a burst of
sign-ins cannot take every core (or every thread of the pool) at once.
"""

from __future__ import annotations

import asyncio
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_MAX_CONCURRENT_HASHES = max(1, (os.cpu_count() or 2) // 2)
# argon2-cffi's defaults: RFC 9106's second recommended option (64 MiB, 3 passes,
# 4 lanes), about 100 ms on one core here. ROOST_PASSWORD_HASH_* change the first two.
DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_KIB = 65536
_hasher = PasswordHasher(time_cost=DEFAULT_TIME_COST, memory_cost=DEFAULT_MEMORY_KIB)
# A valid hash to verify against when the account does not exist, so that a wrong
# username takes as long as a wrong password and does not reveal which accounts exist.
# Made on first use, with the configured cost, so both take the same time.
_dummy_hash: str | None = None
_slots: asyncio.Semaphore | None = None


def configure(time_cost: int, memory_kib: int) -> None:
    """Sets the cost of new hashes (the process's; settings are per process). Existing
    hashes carry their own parameters and keep verifying."""
    global _hasher, _dummy_hash
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _dummy_hash = None


def _semaphore() -> asyncio.Semaphore:
    global _slots
    if _slots is None:
        _slots = asyncio.Semaphore(_MAX_CONCURRENT_HASHES)
    return _slots


async def hash_password(password: str) -> str:
    async with _semaphore():
        return await asyncio.to_thread(_hasher.hash, password)


def _matches(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify(stored_hash: str | None, password: str) -> bool:
    global _dummy_hash
    if stored_hash:
        return _matches(stored_hash, password)
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("roost-timing-equaliser")
    _matches(_dummy_hash, password)  # spends the time a real check would; always False
    return False


async def verify_password(stored_hash: str | None, password: str) -> bool:
    async with _semaphore():
        return await asyncio.to_thread(_verify, stored_hash, password)
