"""A page of accounts keyed by the ids of the rows that list them (blocks, mutes,
follow requests), loaded in two statements: the rows, then the accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.queries import get_accounts
from roost.db.tables import accounts
from roost.errors import not_found
from roost.paging import Page


async def require_account(conn: AsyncConnection, account_id: int) -> None:
    """404 unless the account exists (by primary key)."""
    found = await conn.scalar(select(accounts.c.id).where(accounts.c.id == account_id))
    if found is None:
        raise not_found()


@dataclass(frozen=True)
class AccountPage:
    accounts: list[Row[Any]]
    first_key: int | None
    last_key: int | None
    # The listing rows by account id, for entities that show more (a mute's expiry).
    rows: dict[int, Row[Any]] = field(default_factory=dict)


async def account_page(conn: AsyncConnection, page: Page, query: Select[Any]) -> AccountPage:
    """`query` selects `id` (the paging key) and `other_id` (the account listed)."""
    rows = page.arrange(list((await conn.execute(query)).all()))
    found = await get_accounts(conn, {row.other_id for row in rows})
    return AccountPage(
        accounts=[found[row.other_id] for row in rows if row.other_id in found],
        first_key=rows[0].id if rows else None,
        last_key=rows[-1].id if rows else None,
        rows={row.other_id: row for row in rows},
    )
