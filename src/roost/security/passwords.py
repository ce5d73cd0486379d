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
_hasher = PasswordHasher()
_slots: asyncio.Semaphore | None = None


def _semaphore() -> asyncio.Semaphore:
    global _slots
    if _slots is None:
        _slots = asyncio.Semaphore(_MAX_CONCURRENT_HASHES)
    return _slots


async def hash_password(password: str) -> str:
    async with _semaphore():
        return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A valid hash to verify against when the account does not exist, so that a wrong
# username takes as long as a wrong password and does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("roost-timing-equaliser")


async def verify_password(stored_hash: str | None, password: str) -> bool:
    async with _semaphore():
        return await asyncio.to_thread(_verify, stored_hash or _DUMMY_HASH, password) and (
            stored_hash is not None
        )
