"""Reads of accounts, always with their counters, in one statement per call."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.cache.keys import ACCOUNT_ROW, account_key
from roost.cache.objects import CachedRow, Loader, ObjectCache, Want, object_cache_of, row_values
from roost.counters.overlay import adjust_accounts
from roost.db.tables import account_stats, accounts, users

# What an Account entity is rendered from: the profile and its counters.
ACCOUNT_WITH_STATS = (
    accounts,
    account_stats.c.statuses_count,
    account_stats.c.followers_count,
    account_stats.c.following_count,
    account_stats.c.last_status_at,
)


def with_stats() -> Select[Any]:
    """Accounts joined to their counters; callers add the WHERE and ORDER BY."""
    return select(*ACCOUNT_WITH_STATS).select_from(
        accounts.join(account_stats, account_stats.c.account_id == accounts.c.id)
    )


def account_query(account_id: int) -> Select[Any]:
    return with_stats().where(accounts.c.id == account_id)


def accounts_query(account_ids: Iterable[int]) -> Select[Any]:
    return with_stats().where(accounts.c.id.in_(set(account_ids)))


def username_query(username: str) -> Select[Any]:
    return with_stats().where(accounts.c.username_lower == username.lower())


def accounts_loader(conn: AsyncConnection) -> Loader:
    """Loads missed accounts for the object cache, in one statement."""

    async def load(ids: list[Any]) -> Mapping[Any, Any]:
        return {row.id: row_values(row) for row in (await conn.execute(accounts_query(ids))).all()}

    return load


async def _cached_accounts(
    conn: AsyncConnection, cache: ObjectCache, account_ids: set[int]
) -> dict[int, Any]:
    read = cache.read()
    (found,) = await read.fetch(
        Want(ACCOUNT_ROW, {a: account_key(a) for a in account_ids}, accounts_loader(conn))
    )
    await read.store()
    return {a: CachedRow(**values) for a, values in found.items() if values is not None}


async def get_account(conn: AsyncConnection, account_id: int) -> Row[Any] | None:
    cache = object_cache_of(conn)
    if cache is not None:
        cached: Row[Any] | None = (await _cached_accounts(conn, cache, {account_id})).get(
            account_id
        )
        return cached
    row: Row[Any] | None = (await conn.execute(account_query(account_id))).first()
    if row is None:
        return None
    # Inside a writing transaction: its own pending counter changes (counters.overlay).
    adjusted: Row[Any] = adjust_accounts(conn, {row.id: row})[row.id]
    return adjusted


async def get_accounts(conn: AsyncConnection, account_ids: Iterable[int]) -> dict[int, Row[Any]]:
    wanted = set(account_ids)
    if not wanted:
        return {}
    cache = object_cache_of(conn)
    if cache is not None:
        return await _cached_accounts(conn, cache, wanted)
    rows = (await conn.execute(accounts_query(wanted))).all()
    # Inside a writing transaction: its own pending counter changes (counters.overlay).
    return adjust_accounts(conn, {row.id: row for row in rows})


async def find_by_username(conn: AsyncConnection, username: str) -> Row[Any] | None:
    row: Row[Any] | None = (await conn.execute(username_query(username))).first()
    return row


async def get_user(conn: AsyncConnection, account_id: int) -> Row[Any] | None:
    row: Row[Any] | None = (
        await conn.execute(select(users).where(users.c.account_id == account_id))
    ).first()
    return row
