"""Who may see a status: the one rule every read path uses (docs/privacy.md).

- public, unlisted: anyone (unlisted only stays off public listings, which the
  listing queries handle themselves);
- private: the author, the author's followers, and accounts mentioned in it;
- direct: the author and the accounts mentioned in it;
- and never across a block, in either direction: someone who blocked you, or whom
  you blocked, is invisible to you and you to them.

`visible_to` is a SQL predicate, so every list filters in the database with its
indexes; a single status is fetched through the same predicate, so "not visible"
and "does not exist" are the same empty result and the same 404. A boost is visible
when both the boost and the boosted status are (statuses.queries.hydrate checks the
second).

Mutes are not privacy: a muted account's posts stay reachable by link, but drop out
of the muter's home, public and tag timelines and notifications (`not_muted_by`).
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    exists,
    false,
    not_,
    or_,
    select,
)
from sqlalchemy.sql.selectable import Alias

from roost.clock import utcnow
from roost.db.tables import (
    VISIBILITY_DIRECT,
    VISIBILITY_PRIVATE,
    VISIBILITY_PUBLIC,
    VISIBILITY_UNLISTED,
    blocks,
    follows,
    mentions,
    mutes,
    statuses,
)

VISIBILITY_NAMES = {
    VISIBILITY_PUBLIC: "public",
    VISIBILITY_UNLISTED: "unlisted",
    VISIBILITY_PRIVATE: "private",
    VISIBILITY_DIRECT: "direct",
}
VISIBILITY_VALUES = {name: value for value, name in VISIBILITY_NAMES.items()}

AccountColumn = ColumnElement[int]
# The viewer: an account id, or a column of them (the fan-out asks "which of these
# followers may see this status" with the very predicates the home query uses).
Viewer = int | ColumnElement[int]


def blocked_between(viewer_id: Viewer, account_id: AccountColumn) -> ColumnElement[bool]:
    """True when either side has blocked the other (both directions use an index)."""
    return or_(
        exists(select(blocks.c.id).where(blocks.c.account_id == viewer_id,
                                         blocks.c.target_account_id == account_id)),
        exists(select(blocks.c.id).where(blocks.c.account_id == account_id,
                                         blocks.c.target_account_id == viewer_id)),
    )


def muted_by(viewer_id: Viewer, account_id: AccountColumn) -> ColumnElement[bool]:
    """True when the viewer has a mute on the account that has not expired. "Now" is
    taken when the statement runs, so a statement built once and run many times
    (timelines.home_read's hybrid) stays right."""
    now = bindparam("mute_now", callable_=utcnow, type_=mutes.c.expires_at.type, unique=True)
    return exists(
        select(mutes.c.id).where(
            mutes.c.account_id == viewer_id,
            mutes.c.target_account_id == account_id,
            or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > now),
        )
    )


def not_muted_by(viewer_id: Viewer | None, account_id: AccountColumn) -> ColumnElement[bool]:
    if viewer_id is None:
        return not_(false())
    return not_(muted_by(viewer_id, account_id))


def boost_of_muted(viewer_id: Viewer, status: Table | Alias = statuses) -> ColumnElement[bool]:
    """True for a boost of a status whose author the viewer has muted (unexpired).

    The `reblog_of_id IS NOT NULL` guard looks redundant but is not: without it
    PostgreSQL turns the NOT EXISTS around this into an anti join under the home
    timeline's per-author scan, and the per-author LIMIT stops stopping it (every
    status of every followed account was read; docs/schema.md)."""
    boosted = statuses.alias("boosted")
    return and_(
        status.c.reblog_of_id.is_not(None),
        exists(
            select(boosted.c.id).where(
                boosted.c.id == status.c.reblog_of_id, muted_by(viewer_id, boosted.c.account_id)
            )
        ),
    )


def visible_to(viewer_id: Viewer | None, status: Table | Alias = statuses) -> ColumnElement[bool]:
    s = status.c
    open_to_all = s.visibility.in_((VISIBILITY_PUBLIC, VISIBILITY_UNLISTED))
    if viewer_id is None:
        return open_to_all
    follows_author = exists(
        select(follows.c.id).where(
            follows.c.account_id == viewer_id, follows.c.target_account_id == s.account_id
        )
    )
    mentioned = exists(
        select(mentions.c.status_id).where(
            mentions.c.status_id == s.id, mentions.c.account_id == viewer_id
        )
    )
    readable = or_(
        open_to_all,
        s.account_id == viewer_id,
        and_(s.visibility == VISIBILITY_PRIVATE, or_(follows_author, mentioned)),
        and_(s.visibility == VISIBILITY_DIRECT, mentioned),
    )
    return and_(readable, not_(blocked_between(viewer_id, s.account_id)))


def nothing() -> ColumnElement[bool]:
    return false()


def may_see(
    viewer_id: int | None,
    *,
    author_id: int,
    visibility: int,
    mentioned_ids: frozenset[int],
    follows_author: bool,
    blocked_either_way: bool,
) -> bool:
    """`visible_to` for one status whose facts came from the object cache
    (statuses.cached). The two must agree: tests/api/test_privacy_property.py drives
    both (the embedded mode reads through the in-process cache)."""
    if viewer_id is None:
        return visibility in (VISIBILITY_PUBLIC, VISIBILITY_UNLISTED)
    if blocked_either_way:
        return False
    if visibility in (VISIBILITY_PUBLIC, VISIBILITY_UNLISTED) or author_id == viewer_id:
        return True
    mentioned = viewer_id in mentioned_ids
    if visibility == VISIBILITY_PRIVATE:
        return follows_author or mentioned
    return visibility == VISIBILITY_DIRECT and mentioned
