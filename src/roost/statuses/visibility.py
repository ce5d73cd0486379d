"""Who may see a status: the one rule every read path uses (docs/privacy.md).

- public, unlisted: anyone (unlisted only stays off public listings, which the
  listing queries handle themselves);
- private: the author, the author's followers, and accounts mentioned in it;
- direct: the author and the accounts mentioned in it.

`visible_to` is a SQL predicate, so every list filters in the database with its
indexes; a single status is fetched through the same predicate, so "not visible"
and "does not exist" are the same empty result and the same 404.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, and_, exists, false, or_, select
from sqlalchemy.sql.selectable import Alias

from roost.db.tables import (
    VISIBILITY_DIRECT,
    VISIBILITY_PRIVATE,
    VISIBILITY_PUBLIC,
    VISIBILITY_UNLISTED,
    follows,
    mentions,
    statuses,
)

VISIBILITY_NAMES = {
    VISIBILITY_PUBLIC: "public",
    VISIBILITY_UNLISTED: "unlisted",
    VISIBILITY_PRIVATE: "private",
    VISIBILITY_DIRECT: "direct",
}
VISIBILITY_VALUES = {name: value for value, name in VISIBILITY_NAMES.items()}


def visible_to(viewer_id: int | None, status: Table | Alias = statuses) -> ColumnElement[bool]:
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
    return or_(
        open_to_all,
        s.account_id == viewer_id,
        and_(s.visibility == VISIBILITY_PRIVATE, or_(follows_author, mentioned)),
        and_(s.visibility == VISIBILITY_DIRECT, mentioned),
    )


def nothing() -> ColumnElement[bool]:
    return false()
