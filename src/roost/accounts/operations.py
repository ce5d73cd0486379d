"""Writes to accounts. Each function runs inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.validation import Problems
from roost.clock import utcnow
from roost.db.tables import account_stats, accounts, users
from roost.events import types as ev
from roost.events.outbox import emit
from roost.ids import IdGenerator, random_shard
from roost.security.passwords import verify_password


@dataclass(frozen=True)
class NewAccount:
    username: str
    email: str
    password_hash: str
    locale: str = "en"
    reason: str | None = None
    approved: bool = True
    admin: bool = False


def availability_query(username: str, email: str) -> Select[Any]:
    """The accounts holding this username or this email. Each side of the OR is a
    unique-index lookup on one table (the email's account id comes from a scalar
    subquery), so PostgreSQL ORs two index scans instead of joining both tables whole."""
    email_owner = select(users.c.account_id).where(users.c.email_lower == email.lower())
    return (
        select(users.c.email_lower, accounts.c.username_lower)
        .select_from(accounts.outerjoin(users, users.c.account_id == accounts.c.id))
        .where(
            or_(
                accounts.c.username_lower == username.lower(),
                accounts.c.id == email_owner.scalar_subquery(),
            )
        )
    )


async def check_available(
    conn: AsyncConnection, username: str, email: str, problems: Problems
) -> None:
    taken = (await conn.execute(availability_query(username, email))).all()
    if any(row.username_lower == username.lower() for row in taken):
        problems.add("username", "ERR_TAKEN", "has already been taken")
    if any(row.email_lower == email.lower() for row in taken):
        problems.add("email", "ERR_TAKEN", "has already been taken")


async def create_account(conn: AsyncConnection, ids: IdGenerator, new: NewAccount) -> int:
    """Creates the account, its user and its counters. A concurrent sign-up with the
    same name loses on the unique index and gets ERR_TAKEN, never a 500."""
    problems = Problems()
    await check_available(conn, new.username, new.email, problems)
    problems.raise_if_any()
    account_id = ids.next_id(random_shard())
    now = utcnow()
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(accounts).values(
                    id=account_id,
                    username=new.username,
                    username_lower=new.username.lower(),
                    fields=[],
                    updated_at=now,
                )
            )
            await conn.execute(insert(account_stats).values(account_id=account_id))
            await conn.execute(
                insert(users).values(
                    account_id=account_id,
                    email=new.email,
                    email_lower=new.email.lower(),
                    password_hash=new.password_hash,
                    admin=new.admin,
                    approved=new.approved,
                    locale=new.locale,
                    signup_reason=new.reason,
                    created_at=now,
                )
            )
    except IntegrityError:
        problems.add("username", "ERR_TAKEN", "has already been taken")
        problems.raise_if_any()
    await emit(conn, ids, ev.AccountCreated, account_id)
    return account_id


def login_query(login: str) -> Select[Any]:
    """The user whose email or username is `login`: two unique-index lookups ORed (the
    username's account id comes from a scalar subquery), never a join of both tables."""
    lowered = login.strip().lower()
    named = select(accounts.c.id).where(accounts.c.username_lower == lowered)
    return select(users).where(
        or_(users.c.email_lower == lowered, users.c.account_id == named.scalar_subquery())
    )


async def authenticate(conn: AsyncConnection, login: str, password: str) -> Any | None:
    """The user row for an email (or username) and password, or None. Takes the same
    time whether or not the account exists."""
    row = (await conn.execute(login_query(login))).first()
    ok = await verify_password(row.password_hash if row is not None else None, password)
    return row if ok else None


PROFILE_COLUMNS = frozenset({"display_name", "note", "locked", "bot", "discoverable", "fields"})
USER_COLUMNS = frozenset({"default_privacy", "default_sensitive", "default_language"})


async def update_profile(
    conn: AsyncConnection, ids: IdGenerator, account_id: int, changes: dict[str, Any]
) -> None:
    profile = {k: v for k, v in changes.items() if k in PROFILE_COLUMNS}
    preferences = {k: v for k, v in changes.items() if k in USER_COLUMNS}
    if profile:
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(**profile, updated_at=utcnow())
        )
        await emit(conn, ids, ev.AccountUpdated, account_id)
    if preferences:
        await conn.execute(
            update(users).where(users.c.account_id == account_id).values(**preferences)
        )
