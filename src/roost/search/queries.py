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

On top of that, the search endpoint asks for Mastodon's (4.2+) narrower scope,
`searchable_only`: what the viewer wrote, was mentioned in, liked, boosted or
bookmarked, and public statuses of authors who let themselves be found
(`accounts.discoverable`, which the API shows as `indexable`). An author who opted out
is not full-text searchable by strangers, though their public posts stay readable.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import (
    VISIBILITY_PUBLIC,
    accounts,
    bookmarks,
    favourites,
    mentions,
    statuses,
)
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


def searchable_by(viewer_id: int | None) -> ColumnElement[bool]:
    """Mastodon's search scope (see the module's docstring); visibility comes on top."""
    s = statuses.c
    findable = s.visibility == VISIBILITY_PUBLIC
    author_findable = exists(
        select(accounts.c.id).where(
            accounts.c.id == s.account_id, accounts.c.discoverable.is_(True))
    )
    if viewer_id is None:
        return findable & author_findable
    boosts = statuses.alias("viewer_boosts")
    return or_(
        findable & author_findable,
        s.account_id == viewer_id,
        exists(select(mentions.c.status_id).where(
            mentions.c.status_id == s.id, mentions.c.account_id == viewer_id)),
        exists(select(favourites.c.id).where(
            favourites.c.account_id == viewer_id, favourites.c.status_id == s.id)),
        exists(select(bookmarks.c.id).where(
            bookmarks.c.account_id == viewer_id, bookmarks.c.status_id == s.id)),
        exists(select(boosts.c.id).where(
            boosts.c.reblog_of_id == s.id, boosts.c.account_id == viewer_id)),
    )


def search_query(
    dialect: SearchDialect,
    terms: list[str],
    viewer_id: int | None,
    page: Page,
    *,
    offset: int = 0,
    account_id: int | None = None,
    searchable_only: bool = False,
    few_matches: bool = False,
) -> Select[Any]:
    """The page's statement. With `few_matches` (PostgreSQL, when a term is not among
    the words its statistics know as common: dialects.has_uncommon_term), every
    matching document is read through the GIN index first (a MATERIALIZED CTE, which
    the planner cannot turn into a walk of the primary key), then filtered and sorted;
    without, the planner picks (for common words it walks the key newest first)."""
    key: ColumnElement[Any] = dialect.key
    matching: list[ColumnElement[bool]] = [dialect.matches(terms)]
    if few_matches:
        matched = (
            select(dialect.key.label("status_id")).where(dialect.matches(terms))
            .cte("matched").prefix_with("MATERIALIZED")
        )
        key, matching = matched.c.status_id, []
    query = (
        select(key)
        .join(statuses, statuses.c.id == key)
        .where(
            *matching,
            statuses.c.reblog_of_id.is_(None),
            visible_to(viewer_id),
            not_muted_by(viewer_id, statuses.c.account_id),
        )
    )
    if account_id is not None:
        query = query.where(statuses.c.account_id == account_id)
    if searchable_only:
        query = query.where(searchable_by(viewer_id))
    query = page.apply(query, key)
    return query.offset(offset) if offset else query


async def matching_status_ids(
    conn: AsyncConnection,
    query: str,
    viewer_id: int | None,
    page: Page,
    *,
    offset: int = 0,
    account_id: int | None = None,
    searchable_only: bool = False,
) -> list[int]:
    """Ids of the statuses matching `query` that `viewer_id` (None: anonymous) may
    see, newest first, one keyset page (Page; Mastodon's search also takes an
    offset); `account_id` keeps one author's; `searchable_only` narrows to Mastodon's
    search scope (searchable_by). One statement on SQLite, two on PostgreSQL (the
    look at its statistics that picks the plan), none for a query without words."""
    terms = search_terms(query)
    if not terms or page.limit < 1:
        return []
    dialect = dialects.of(conn)
    few = await dialect.has_uncommon_term(conn, terms)
    statement = search_query(dialect, terms, viewer_id, page, offset=offset,
                             account_id=account_id, searchable_only=searchable_only,
                             few_matches=few)
    rows = (await conn.execute(statement)).scalars().all()
    return page.arrange([int(row) for row in rows])
