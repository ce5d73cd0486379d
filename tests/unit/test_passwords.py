"""Password hashing: argon2id at the configured cost, old hashes still verify after the
cost changes, and an unknown account costs a real verification."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roost.security import passwords


@pytest.fixture(autouse=True)
def restore_cost() -> Iterator[None]:
    # The cost is process-wide; leave it as the suite set it (tests/support/server.py).
    before = (passwords._hasher.time_cost, passwords._hasher.memory_cost)
    yield
    passwords.configure(*before)


def test_defaults_are_rfc_9106s_second_option() -> None:
    assert (passwords.DEFAULT_TIME_COST, passwords.DEFAULT_MEMORY_KIB) == (3, 65536)


@pytest.mark.asyncio(loop_scope="session")
async def test_hashes_carry_their_cost_and_verify_after_it_changes() -> None:
    passwords.configure(1, 1024)
    cheap = await passwords.hash_password("hunter2 hunter2")
    assert cheap.startswith("$argon2id$") and "m=1024,t=1,p=4" in cheap
    passwords.configure(2, 2048)
    dearer = await passwords.hash_password("hunter2 hunter2")
    assert "m=2048,t=2,p=4" in dearer
    assert await passwords.verify_password(cheap, "hunter2 hunter2")
    assert await passwords.verify_password(dearer, "hunter2 hunter2")
    assert not await passwords.verify_password(cheap, "hunter3 hunter3")


@pytest.mark.asyncio(loop_scope="session")
async def test_no_account_and_broken_hashes_never_match() -> None:
    passwords.configure(1, 1024)
    assert not await passwords.verify_password(None, "anything at all")
    assert passwords._dummy_hash is not None and "m=1024,t=1" in passwords._dummy_hash
    assert not await passwords.verify_password("not-a-hash", "anything at all")
