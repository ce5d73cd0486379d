"""Statuses matching a full-text query, newest first, that the viewer may see.

What a user types is never handed to a query parser as syntax: it is split on white
space into terms, terms without a letter or digit are dropped (they could match
nothing: the index keeps only words), and a status matches when it has every term
(dialects.matches quotes them for SQLite, and PostgreSQL's plainto_tsquery reads no
operators). So quotes, `*`, `AND`, `OR`, `NOT`, brackets and emoji are just text, and
a query with no words finds nothing rather than failing.

The visibility rules are the timelines' (statuses.visibility): a private status only
for its author, followers and mentioned accounts, a direct one only for its author
and those mentioned, nothing across a block either way, and nothing by an account the
viewer muted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import statuses
from roost.paging import Page
from roost.search import dialects
from roost.search.dialects import SearchDialect
from roost.statuses.visibility import not_muted_by, visible_to

# A longer query is cut: no status is longer (500 characters), and 500 characters stay
# under PostgreSQL's 2,047-byte limit on a single word.
MAX_QUERY_CHARS = 500
MAX_TERMS = 16


def search_terms(query: str) -> list[str]:
    """The distinct words of a user's query, in order, at most MAX_TERMS."""
    words = query[:MAX_QUERY_CHARS].replace("\x00", " ").split()
    found = [w for w in words if any(char.isalnum() for char in w)]
    return list(dict.fromkeys(found))[:MAX_TERMS]


def search_query(
    dialect: SearchDialect,
    terms: list[str],
    viewer_id: int | None,
    page: Page,
    *,
    offset: int = 0,
    account_id: int | None = None,
) -> Select[Any]:
    query = (
        select(dialect.key)
        .join(statuses, statuses.c.id == dialect.key)
        .where(
            dialect.matches(terms),
            statuses.c.reblog_of_id.is_(None),
            visible_to(viewer_id),
            not_muted_by(viewer_id, statuses.c.account_id),
        )
    )
    if account_id is not None:
        query = query.where(statuses.c.account_id == account_id)
    query = page.apply(query, dialect.key)
    return query.offset(offset) if offset else query


async def matching_status_ids(
    conn: AsyncConnection,
    query: str,
    viewer_id: int | None,
    page: Page,
    *,
    offset: int = 0,
    account_id: int | None = None,
) -> list[int]:
    """Ids of the statuses matching `query` that `viewer_id` (None: anonymous) may
    see, newest first, one keyset page (Page; Mastodon's search also takes an
    offset); `account_id` keeps one author's. One statement, none for a query
    without words."""
    terms = search_terms(query)
    if not terms or page.limit < 1:
        return []
    statement = search_query(dialects.of(conn), terms, viewer_id, page, offset=offset,
                             account_id=account_id)
    rows = (await conn.execute(statement)).scalars().all()
    return page.arrange([int(row) for row in rows])
