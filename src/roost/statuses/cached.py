"""`hydrate` through the object cache: three multi-gets whatever the page size (the
statuses; the statuses they boost; then authors, viewer flags and what decides
visibility), the misses of each kind from the database in one statement, stored
back in one round trip at the end.

The statuses are cached as written, for everyone; who may see them is decided here
for this viewer with `visibility.may_see` from cached follows and blocks, the same
rule `visible_to` applies in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts.queries import accounts_loader
from roost.cache import keys
from roost.cache.objects import CachedRow, CacheRead, Loader, Want, as_row, row_values
from roost.db.tables import blocks, follows, status_stats, statuses
from roost.media.queries import attachments_by_status
from roost.statuses.queries import StatusView, mentions_query, tags_query, viewer_flags_query
from roost.statuses.visibility import may_see

COUNT_COLUMNS = ("replies_count", "reblogs_count", "favourites_count")


def _by_status(rows: Iterable[Any]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.status_id].append(row)
    return grouped


def _status_loader(conn: AsyncConnection) -> Loader:
    async def load(ids: list[Any]) -> Mapping[Any, Any]:
        rows = (await conn.execute(select(statuses).where(statuses.c.id.in_(ids)))).all()
        found = [row.id for row in rows if row.reblog_of_id is None]
        mention_rows, tag_rows = {}, {}
        media: dict[int, list[dict[str, Any]]] = {}
        if found:
            mention_rows = _by_status((await conn.execute(mentions_query(found))).all())
            tag_rows = _by_status((await conn.execute(tags_query(found))).all())
            media = await attachments_by_status(conn, found)
        return {
            row.id: {
                **row_values(row),
                "mentions": [[m.id, m.username] for m in mention_rows.get(row.id, ())],
                "tags": [t.name for t in tag_rows.get(row.id, ())],
                "media": media.get(row.id, []),
            }
            for row in rows
        }

    return load


def _counts_loader(conn: AsyncConnection) -> Loader:
    async def load(ids: list[Any]) -> Mapping[Any, Any]:
        query = select(status_stats).where(status_stats.c.status_id.in_(ids))
        return {
            row.status_id: [getattr(row, column) for column in COUNT_COLUMNS]
            for row in (await conn.execute(query)).all()
        }

    return load


def _flags_loader(conn: AsyncConnection, viewer_id: int) -> Loader:
    async def load(ids: list[Any]) -> Mapping[Any, Any]:
        flags: dict[int, list[str]] = {sid: [] for sid in ids}
        for status_id, flag in (await conn.execute(viewer_flags_query(viewer_id, ids))).all():
            flags[status_id].append(flag)
        return flags

    return load


def _visibility_loader(conn: AsyncConnection, viewer_id: int) -> Loader:
    """[follows the author, blocked either way] for each author, in one statement."""

    async def load(ids: list[Any]) -> Mapping[Any, Any]:
        query = union_all(
            select(follows.c.target_account_id.label("other"), literal("follows").label("fact"))
            .where(follows.c.account_id == viewer_id, follows.c.target_account_id.in_(ids)),
            select(blocks.c.target_account_id, literal("blocked")).where(
                blocks.c.account_id == viewer_id, blocks.c.target_account_id.in_(ids)
            ),
            select(blocks.c.account_id, literal("blocked")).where(
                blocks.c.target_account_id == viewer_id, blocks.c.account_id.in_(ids)
            ),
        )
        facts: dict[int, list[bool]] = {author: [False, False] for author in ids}
        for other, fact in (await conn.execute(query)).all():
            facts[other][0 if fact == "follows" else 1] = True
        return facts

    return load


async def _statuses(
    conn: AsyncConnection, read: CacheRead, ids: Iterable[int]
) -> dict[int, CachedRow]:
    """Statuses with their counters by id (absent ones left out)."""
    wanted = set(ids)
    if not wanted:
        return {}
    cores, counts = await read.fetch(
        Want(keys.STATUS, {sid: keys.status_key(sid) for sid in wanted}, _status_loader(conn)),
        Want(keys.STATUS_COUNTS, {sid: keys.status_counts_key(sid) for sid in wanted},
             _counts_loader(conn)),
    )
    rows = {}
    for sid in wanted:
        core, numbers = cores.get(sid), counts.get(sid)
        if core is None or numbers is None:
            continue
        rows[sid] = CachedRow(**core, **dict(zip(COUNT_COLUMNS, numbers, strict=True)))
    return rows


async def hydrate_cached(
    conn: AsyncConnection, read: CacheRead, status_ids: Sequence[int], viewer_id: int | None
) -> list[StatusView]:
    rows = await _statuses(conn, read, status_ids)
    boosted = {row.reblog_of_id for row in rows.values() if row.reblog_of_id is not None}
    everything = {**rows, **await _statuses(conn, read, boosted - rows.keys())}
    author_ids = {row.account_id for row in everything.values()}
    content_ids = [sid for sid, row in everything.items() if row.reblog_of_id is None]
    others = author_ids - {viewer_id} if viewer_id is not None else set()
    wants = [Want(keys.ACCOUNT_ROW, {a: keys.account_key(a) for a in author_ids},
                  accounts_loader(conn))]
    if viewer_id is not None:
        wants += [
            Want(keys.VIEWER_FLAGS, {s: keys.viewer_flags_key(viewer_id, s) for s in content_ids},
                 _flags_loader(conn, viewer_id)),
            Want(keys.VISIBILITY, {a: keys.visibility_key(viewer_id, a) for a in others},
                 _visibility_loader(conn, viewer_id)),
        ]
    found = await read.fetch(*wants)
    authors = {a: as_row(values) for a, values in found[0].items() if values is not None}
    flags = found[1] if viewer_id is not None else {}
    facts = found[2] if viewer_id is not None else {}

    def visible(row: CachedRow) -> bool:
        follows_author, blocked = facts.get(row.account_id) or (False, False)
        return row.account_id in authors and may_see(
            viewer_id,
            author_id=row.account_id,
            visibility=row.visibility,
            mentioned_ids=frozenset(m[0] for m in (getattr(row, "mentions", None) or ())),
            follows_author=bool(follows_author),
            blocked_either_way=bool(blocked),
        )

    def view(row: CachedRow, reblog: StatusView | None = None) -> StatusView:
        return StatusView(
            status=row,
            account=authors[row.account_id],
            reblog=reblog,
            mentions=tuple(CachedRow(id=m[0], username=m[1]) for m in row.mentions),
            tags=tuple(CachedRow(name=name) for name in row.tags),
            flags=frozenset(flags.get(row.id) or ()),
            media=tuple(getattr(row, "media", None) or ()),
        )

    result = []
    for sid in status_ids:
        row = rows.get(sid)
        if row is None or not visible(row):
            continue
        if row.reblog_of_id is None:
            result.append(view(row))
            continue
        original = everything.get(row.reblog_of_id)
        if original is not None and visible(original):
            result.append(view(row, reblog=view(original)))
    await read.store()
    return result
