"""Whom to follow (GET /api/v2/suggestions and the older /api/v1/suggestions).

Mastodon blends several sources (staff picks, past interactions, friends of friends,
the most followed accounts). Roost has one: the most followed local accounts, which
Mastodon calls `global` / `most_followed`. Left out: the viewer, accounts it follows
or has asked to follow, accounts either side has blocked, accounts it muted,
accounts that opted out of discovery, and accounts whose user is disabled or not yet
approved.

One statement whatever the limit: it walks the followers-count index
(ix_account_stats_followers_count) from the top and drops excluded accounts with
anti-joins, reading the account rows with their counters as it goes.

Dismissals (DELETE /api/v1/suggestions/:id) are not stored: Mastodon answers 200
whatever the id, and so does Roost, without remembering it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, not_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.queries import with_stats
from roost.db.tables import account_stats, accounts, follow_requests, follows, users
from roost.statuses.visibility import blocked_between, muted_by

DEFAULT_LIMIT, MAX_LIMIT = 40, 80


async def popular_accounts(conn: AsyncConnection, viewer_id: int, limit: int) -> list[Row[Any]]:
    """The most followed accounts the viewer might follow, most followed first."""
    query = (
        with_stats()
        .where(
            accounts.c.id != viewer_id,
            accounts.c.discoverable.is_(True),
            exists(
                select(users.c.account_id).where(
                    users.c.account_id == accounts.c.id,
                    users.c.approved.is_(True),
                    users.c.disabled.is_(False),
                )
            ),
            not_(
                exists(
                    select(follows.c.id).where(
                        follows.c.account_id == viewer_id,
                        follows.c.target_account_id == accounts.c.id,
                    )
                )
            ),
            not_(
                exists(
                    select(follow_requests.c.id).where(
                        follow_requests.c.account_id == viewer_id,
                        follow_requests.c.target_account_id == accounts.c.id,
                    )
                )
            ),
            not_(blocked_between(viewer_id, accounts.c.id)),
            not_(muted_by(viewer_id, accounts.c.id)),
        )
        .order_by(account_stats.c.followers_count.desc(), accounts.c.id.desc())
        .limit(limit)
    )
    return list((await conn.execute(query)).all())
