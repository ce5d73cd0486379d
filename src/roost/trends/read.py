"""Reading trends: the global ranked lists, cached, then filtered for each viewer.

The ranked status ids and tag ids are computed at most once per TTL_S across all
processes (cache.computed, names `trends_statuses` and `trends_tags`). The cached
list is the same for everyone, so nothing viewer-specific is in it; every request
then keeps, in one statement, the listed statuses that still exist, may still trend
(public, not a reply, not sensitive, author discoverable, read from the rows as they
are now), that the viewer may see (statuses.visibility.visible_to: no blocks either
way) and whose author the viewer has not muted. Hydration checks visibility once more.
Paging is Mastodon's: `offset` and `limit` over that filtered list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select

from roost.cache.computed import ComputedValue
from roost.clock import utcnow
from roost.db.tables import (
    accounts,
    statuses,
    tags,
)
from roost.statuses.queries import StatusView, hydrate
from roost.statuses.visibility import not_muted_by, visible_to
from roost.timelines.tag import TagInfo, with_histories
from roost.trends.scores import eligible, trending_statuses, trending_tags

if TYPE_CHECKING:
    from roost.context import Roost

TTL_S = 300.0  # +-10 % at random (cache.computed.TTL_JITTER)


async def _rank_statuses(roost: Roost) -> list[int]:
    async with roost.db.read() as conn:
        return [scored.id for scored in await trending_statuses(conn, utcnow())]


async def _rank_tags(roost: Roost) -> list[int]:
    async with roost.db.read() as conn:
        return [scored.id for scored in await trending_tags(conn, utcnow())]


def _ids(data: Any) -> list[int]:
    return [int(value) for value in data]


TRENDING_STATUSES: ComputedValue[list[int]] = ComputedValue(
    "trends_statuses", TTL_S, _rank_statuses, decode=_ids
)
TRENDING_TAGS: ComputedValue[list[int]] = ComputedValue(
    "trends_tags", TTL_S, _rank_tags, decode=_ids
)


@dataclass(frozen=True)
class Window:
    offset: int
    limit: int


def shown_query(status_ids: list[int], viewer_id: int | None) -> Select[Any]:
    """Which of the ranked statuses this viewer is shown now."""
    return (
        select(statuses.c.id)
        .join(accounts, accounts.c.id == statuses.c.account_id)
        .where(
            statuses.c.id.in_(status_ids),
            eligible(),
            visible_to(viewer_id),
            not_muted_by(viewer_id, statuses.c.account_id),
        )
    )


async def trending_status_page(roost: Roost, viewer_id: int | None, window: Window
                               ) -> list[StatusView]:
    """The page of trending statuses this viewer may see, best first, hydrated: one
    statement after the cached list, then hydration's. The list is read before a
    connection is taken (computing it takes one of its own)."""
    ranked = await TRENDING_STATUSES.get(roost)
    if not ranked:
        return []
    async with roost.db.read() as conn:
        shown = set((await conn.execute(shown_query(ranked, viewer_id))).scalars().all())
        kept = [status_id for status_id in ranked if status_id in shown]
        return await hydrate(conn, kept[window.offset: window.offset + window.limit],
                             viewer_id)


# --- tags ---------------------------------------------------------------------------------


async def trending_tag_infos(roost: Roost, window: Window) -> list[TagInfo]:
    """The page of trending tags with their week of history (two statements after
    the cached list)."""
    ranked = await TRENDING_TAGS.get(roost)
    page = ranked[window.offset: window.offset + window.limit]
    if not page:
        return []
    async with roost.db.read() as conn:
        rows = {row.id: row
                for row in (await conn.execute(select(tags).where(tags.c.id.in_(page))))}
        return await with_histories(conn, [rows[t] for t in page if t in rows], utcnow())
