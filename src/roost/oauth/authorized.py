"""The applications a person has authorized (their unrevoked user tokens grouped by
application) and revoking them: the web page /settings/apps, and a password change
ending the person's other web sessions.

Revoking updates the rows and drops each token from the object cache after commit
(roost.cache.keys.token_key), exactly as oauth.operations.revoke_token does for one
token, so the very next API request with one of them is a 401.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.cache.keys import invalidate_after_commit, token_key
from roost.clock import utcnow
from roost.db.tables import access_tokens, applications


def authorized_apps_query(account_id: int) -> Any:
    live = access_tokens.c.revoked_at.is_(None)
    return (
        select(
            applications.c.id,
            applications.c.name,
            applications.c.website,
            func.count(access_tokens.c.id).label("tokens"),
            func.min(access_tokens.c.created_at).label("first_authorized_at"),
            func.max(access_tokens.c.created_at).label("last_authorized_at"),
        )
        .select_from(access_tokens.join(applications,
                                        applications.c.id == access_tokens.c.application_id))
        .where(access_tokens.c.account_id == account_id, live)
        .group_by(applications.c.id, applications.c.name, applications.c.website)
        .order_by(func.max(access_tokens.c.created_at).desc(), applications.c.id)
    )


async def authorized_apps(conn: AsyncConnection, account_id: int) -> list[Row[Any]]:
    """Each application holding a live token for the account, most recently
    authorized first; one statement."""
    return list((await conn.execute(authorized_apps_query(account_id))).all())


async def revoke_app_tokens(
    conn: AsyncConnection, account_id: int, application_id: int,
    *, keep_token_id: int | None = None,
) -> int:
    """Revokes every live token of `application_id` held for `account_id` (but
    `keep_token_id`); returns how many."""
    conditions = [
        access_tokens.c.account_id == account_id,
        access_tokens.c.application_id == application_id,
        access_tokens.c.revoked_at.is_(None),
    ]
    if keep_token_id is not None:
        conditions.append(access_tokens.c.id != keep_token_id)
    revoked = (
        await conn.execute(
            update(access_tokens)
            .where(*conditions)
            .values(revoked_at=utcnow())
            .returning(access_tokens.c.token_hash)
        )
    ).scalars().all()
    invalidate_after_commit(conn, [token_key(token_hash) for token_hash in revoked])
    return len(revoked)
