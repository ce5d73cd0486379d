"""Relationships and follower lists, each page in a constant number of statements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CompoundSelect, Select, false, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.cache.keys import RELATIONSHIP, relationship_key
from roost.cache.objects import Want, object_cache_of
from roost.clock import utcnow
from roost.db.tables import accounts, blocks, follow_requests, follows, mutes
from roost.paging import Page
from roost.social.listing import AccountPage, account_page


@dataclass(frozen=True)
class Relationship:
    account_id: int
    following: bool = False
    showing_reblogs: bool = False
    notifying: bool = False
    followed_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False
    muting_notifications: bool = False
    requested: bool = False
    requested_by: bool = False


def _edges(table: Any, kind: str, viewer_id: int, wanted: Sequence[int],
           first: Any, second: Any, *extra: Any) -> list[Select[Any]]:
    """(kind, other_id, first, second) for the viewer's edges out to `wanted` and in
    from them, each side served by the table's (account_id, target_account_id) index
    or its reverse."""
    outgoing = select(
        literal_column(f"'{kind}'").label("kind"),
        table.c.target_account_id.label("other_id"),
        first.label("first"),
        second.label("second"),
    ).where(table.c.account_id == viewer_id, table.c.target_account_id.in_(wanted), *extra)
    incoming = select(literal_column(f"'{kind}_by'"), table.c.account_id, first, second).where(
        table.c.target_account_id == viewer_id, table.c.account_id.in_(wanted), *extra)
    return [outgoing, incoming]


def relationships_query(viewer_id: int, wanted: Sequence[int]) -> CompoundSelect[Any]:
    """Every edge between the viewer and `wanted`, both ways, in one statement."""
    no = false()
    return union_all(
        *_edges(follows, "follow", viewer_id, wanted, follows.c.show_reblogs, follows.c.notify),
        *_edges(follow_requests, "request", viewer_id, wanted, follow_requests.c.show_reblogs,
                follow_requests.c.notify),
        *_edges(blocks, "block", viewer_id, wanted, no, no),
        select(
            literal_column("'mute'"), mutes.c.target_account_id, mutes.c.hide_notifications,
            mutes.c.expires_at.is_not(None),
        ).where(
            mutes.c.account_id == viewer_id,
            mutes.c.target_account_id.in_(wanted),
            or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > utcnow()),
        ),
    )


async def relationships(
    conn: AsyncConnection, viewer_id: int, account_ids: Sequence[int]
) -> list[Relationship]:
    """Both directions for every existing account (unknown ids are left out, as
    Mastodon does): from the object cache, or in two statements: the ids by primary
    key, then every follow, follow request, block and (unexpired) mute between the
    viewer and them."""
    wanted = list(dict.fromkeys(account_ids))
    if not wanted:
        return []
    cache = object_cache_of(conn)
    if cache is None:
        found = await _load_relationships(conn, viewer_id, wanted)
    else:
        read = cache.read()
        (found,) = await read.fetch(Want(
            RELATIONSHIP, {a: relationship_key(viewer_id, a) for a in wanted},
            lambda ids: _load_relationships(conn, viewer_id, ids),
            # A mute that expires by itself is not cached: nothing would invalidate it.
            cacheable=lambda facts: facts is None or not facts["muting_expires"],
        ))
        await read.store()
    return [
        Relationship(account_id=a, **{k: v for k, v in facts.items() if k != "muting_expires"})
        for a in wanted
        if (facts := found.get(a)) is not None
    ]


async def _load_relationships(
    conn: AsyncConnection, viewer_id: int, wanted: Sequence[int]
) -> dict[int, dict[str, bool]]:
    existing = set(
        (await conn.execute(select(accounts.c.id).where(accounts.c.id.in_(wanted)))).scalars()
    )
    wanted = [account_id for account_id in wanted if account_id in existing]
    if not wanted:
        return {}
    rows = (await conn.execute(relationships_query(viewer_id, wanted))).all()
    edges = {(row.kind, row.other_id): row for row in rows}
    result = {}
    for account_id in wanted:
        # A pending request shows the options it will follow with, as in Mastodon.
        out = edges.get(("follow", account_id)) or edges.get(("request", account_id))
        mute = edges.get(("mute", account_id))
        result[account_id] = {
            "following": ("follow", account_id) in edges,
            "showing_reblogs": bool(out.first) if out is not None else False,
            "notifying": bool(out.second) if out is not None else False,
            "followed_by": ("follow_by", account_id) in edges,
            "blocking": ("block", account_id) in edges,
            "blocked_by": ("block_by", account_id) in edges,
            "muting": mute is not None,
            "muting_notifications": bool(mute.first) if mute is not None else False,
            "muting_expires": bool(mute.second) if mute is not None else False,
            "requested": ("request", account_id) in edges,
            "requested_by": ("request_by", account_id) in edges,
        }
    return result


def follow_page_query(page: Page, mine: Any, theirs: Any, account_id: int) -> Select[Any]:
    """One page of follow rows on `mine` (= account_id), keyed by the follow's id."""
    query = select(follows.c.id, theirs.label("other_id")).where(mine == account_id)
    return page.apply(query, follows.c.id)


def followers_query(account_id: int, page: Page) -> Select[Any]:
    return follow_page_query(page, follows.c.target_account_id, follows.c.account_id, account_id)


def following_query(account_id: int, page: Page) -> Select[Any]:
    return follow_page_query(page, follows.c.account_id, follows.c.target_account_id, account_id)


async def followers_page(conn: AsyncConnection, account_id: int, page: Page) -> AccountPage:
    return await account_page(conn, page, followers_query(account_id, page))


async def following_page(conn: AsyncConnection, account_id: int, page: Page) -> AccountPage:
    return await account_page(conn, page, following_query(account_id, page))
