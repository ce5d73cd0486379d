"""The home timeline as an indexed pull query.

Statuses by the viewer and by everyone the viewer follows, newest first, keyset
paged. The follow list comes from the (account_id, target_account_id) index and each
author's statuses from (account_id, id, visibility), so the cost grows with the page
and the follow list, never with the size of the statuses table.
A later issue puts Redis timelines in front of this; this query stays as the fallback.

PostgreSQL gets the LATERAL form: each followed account contributes at most one page
of its newest visible statuses, read backwards from the (account_id, id, visibility)
index, and only those (at most follows x limit ids) are merged. Given the plain
`account_id IN (...) ORDER BY id DESC LIMIT n`, PostgreSQL walks the primary key
backwards testing every status against the follow list until it has n: fast for a busy
timeline, but for a viewer who follows a few quiet accounts it reads most of the table.
SQLite has no LATERAL and runs the IN form, which its planner serves with one covering
index search per followed account and a sort of those ids (fine at the embedded size).
Both forms return the same ids; docs/schema.md shows the plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    literal,
    not_,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import account_stats, follows, statuses
from roost.db.types import IdType
from roost.paging import Page
from roost.statuses.visibility import Viewer, boost_of_muted, not_muted_by, visible_to


def boosts_not_shown(viewer_id: Viewer) -> ColumnElement[bool]:
    """True for a boost by an account the viewer follows with show_reblogs off
    (POST /accounts/:id/follow with reblogs=false). The lookup is the unique
    (account_id, target_account_id) index, made only for boosts."""
    return and_(
        statuses.c.reblog_of_id.is_not(None),
        exists(
            select(follows.c.id).where(
                follows.c.account_id == viewer_id,
                follows.c.target_account_id == statuses.c.account_id,
                follows.c.show_reblogs.is_(False),
            )
        ),
    )


@dataclass(frozen=True)
class Authors:
    """Which followed accounts a home query reads (the hybrid fan-out splits them by
    follower count, timelines.fanout): all of them, only those with more than `over`
    followers (without the viewer), or only those with at most `up_to`."""

    over: int | None = None
    up_to: int | None = None


EVERYONE = Authors()


def _value(viewer_id: int | ColumnElement[Any]) -> ColumnElement[Any]:
    """The viewer as a column: a literal, or the bound parameter of a reused statement
    (home_statement)."""
    return viewer_id if isinstance(viewer_id, ColumnElement) else literal(viewer_id)


def home_query(viewer_id: int, page: Page, dialect: str = "sqlite",
               authors_wanted: Authors = EVERYONE) -> Select[Any]:
    """The page's status ids as issued on `dialect` (a SQLAlchemy dialect name)."""
    # Muted accounts leave the author list (their posts and their boosts), and boosts
    # of their posts by others are dropped per row (docs/privacy.md).
    followed = select(follows.c.target_account_id.label("account_id")).where(
        follows.c.account_id == viewer_id, not_muted_by(viewer_id, follows.c.target_account_id)
    )
    if authors_wanted.over is not None:
        # The few accounts above the line, from the followers_count index, each probed
        # for the viewer's follow: not every followed account joined to its counters.
        followed = select(account_stats.c.account_id.label("account_id")).where(
            account_stats.c.followers_count > authors_wanted.over,
            select(follows.c.id).where(
                follows.c.account_id == viewer_id,
                follows.c.target_account_id == account_stats.c.account_id).exists(),
            not_muted_by(viewer_id, account_stats.c.account_id),
        )
    elif authors_wanted.up_to is not None:
        followed = followed.join(
            account_stats, account_stats.c.account_id == follows.c.target_account_id
        ).where(account_stats.c.followers_count <= authors_wanted.up_to)
    with_viewer = authors_wanted.over is None
    if dialect != "postgresql":
        authors = union_all(followed, select(_value(viewer_id))) if with_viewer else followed
        query = select(statuses.c.id).where(
            statuses.c.account_id.in_(authors.scalar_subquery()),
            visible_to(viewer_id),
            not_(boost_of_muted(viewer_id)),
            not_(boosts_not_shown(viewer_id)),
        )
        return page.apply(query, statuses.c.id)
    # UNION, not UNION ALL: an author listed twice must not give its statuses twice.
    author_list = (
        union(followed, select(_value(viewer_id).label("account_id"))) if with_viewer
        else followed
    ).subquery("authors")
    newest = page.apply(
        select(statuses.c.id).where(
            statuses.c.account_id == author_list.c.account_id,
            visible_to(viewer_id),
            not_(boost_of_muted(viewer_id)),
            not_(boosts_not_shown(viewer_id)),
        ),
        statuses.c.id,
    ).lateral("newest")
    merged = select(newest.c.id).select_from(author_list.join(newest, true()))
    order = newest.c.id.asc() if page.ascending else newest.c.id.desc()
    return merged.order_by(order).limit(page.limit)


def collapse_boosts(rows: Sequence[Any]) -> list[int]:
    """The rule for boosts within one page (rows newest first, with reblog_of_id): a
    status shows once. When the original is on the page, its boosts are left out; else
    only the newest boost of it stays. (Mastodon instead skips inserting a boost whose
    original is among the feed's recent items; a pull query has no feed to remember,
    so the rule holds per page: a status boosted again later can show on two pages.)"""
    originals_here = {row.id for row in rows if row.reblog_of_id is None}
    boosted: set[int] = set()
    kept = []
    for row in rows:
        if row.reblog_of_id is not None:
            if row.reblog_of_id in originals_here or row.reblog_of_id in boosted:
                continue
            boosted.add(row.reblog_of_id)
        kept.append(row.id)
    return kept


def collapse_boost_views(views: Sequence[Any]) -> list[Any]:
    """`collapse_boosts` on hydrated StatusViews (newest first). Collapsing is
    idempotent, so a page the pull query collapsed already comes through unchanged."""
    kept = set(collapse_boosts([view.status for view in views]))
    return [view for view in views if view.status.id in kept]


def home_page_query(viewer_id: int, page: Page, dialect: str = "sqlite") -> Select[Any]:
    """The statement home_page issues: the page's ids (`home_query`) with their
    reblog_of_id, read for the page's rows only, by primary key."""
    return _with_reblog_of(home_query(viewer_id, page, dialect))


def _with_reblog_of(ids_query: Select[Any]) -> Select[Any]:
    ids = ids_query.subquery("page")
    return select(statuses.c.id, statuses.c.reblog_of_id).join(ids, ids.c.id == statuses.c.id)


# Home statements by shape, built once with bound parameters: building one and its cache
# key anew took about 2 ms of a warm page's 7 ms of CPU (docs/performance.md), and
# 12% of the embedded server's time on the web home page (bench/web_home.py under py-spy).
_STATEMENTS: dict[tuple[str, bool, bool, bool, Authors, bool], Select[Any]] = {}


def home_statement(viewer_id: int, page: Page, dialect: str, authors: Authors = EVERYONE,
                   *, with_reblog_of: bool = False) -> tuple[Select[Any], dict[str, Any]]:
    """`home_query` (or, `with_reblog_of`, `home_page_query`) as a statement made once
    per page shape, and the parameters of this page."""
    bounds = {"max_id": page.max_id, "since_id": page.since_id, "min_id": page.min_id}
    shape = (dialect, page.max_id is None, page.since_id is None, page.min_id is None,
             authors, with_reblog_of)
    statement = _STATEMENTS.get(shape)
    if statement is None:
        def bound(name: str, value: int | None) -> Any:
            return None if value is None else bindparam(f"page_{name}", type_=IdType)

        template = Page(limit=bindparam("page_limit", type_=Integer),  # type: ignore[arg-type]
                        **{name: bound(name, value) for name, value in bounds.items()})
        viewer = bindparam("viewer_id", type_=IdType)
        statement = home_query(viewer, template, dialect, authors)  # type: ignore[arg-type]
        if with_reblog_of:
            statement = _with_reblog_of(statement)
        _STATEMENTS[shape] = statement
    parameters: dict[str, Any] = {"viewer_id": viewer_id, "page_limit": page.limit}
    parameters.update({f"page_{name}": value for name, value in bounds.items()
                       if value is not None})
    return statement, parameters


async def home_page(
    conn: AsyncConnection, viewer_id: int, page: Page
) -> tuple[list[int], int | None, int | None]:
    """(status ids to show, first and last page keys): the keys are those of the whole
    page, so that the Link header moves past boosts that collapse_boosts left out."""
    query, parameters = home_statement(viewer_id, page, conn.dialect.name, with_reblog_of=True)
    rows = sorted((await conn.execute(query, parameters)).all(), key=lambda row: int(row.id),
                  reverse=True)
    if not rows:
        return [], None, None
    return collapse_boosts(rows), rows[0].id, rows[-1].id


async def home_status_ids(conn: AsyncConnection, viewer_id: int, page: Page) -> list[int]:
    ids, _first, _last = await home_page(conn, viewer_id, page)
    return ids
