"""What each viewer listening to one message needs to know about it, for every viewer
at once (docs/streaming.md, "Rendering cost").

A status on the public channel reaches every signed-in connection of the process.
Asking, per connection, "does this viewer block, or is blocked by, or mute the
author? did they like it?" would cost a statement (or a Redis round trip of per-viewer
keys) per connection per message: 10,000 for one post on a busy process. Instead the
connections a message wakes register their viewers (`ViewerBatch`), and one statement
per `CHUNK` viewers answers all of them, from the indexes on blocks, mutes, follows,
favourites, bookmarks and statuses' reblog_of_id.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import CompoundSelect, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.tables import blocks, bookmarks, favourites, follows, mutes, statuses

# Viewers per statement: well under SQLite's bound on variables, and one index probe
# per viewer and account either way.
CHUNK = 2000
FLAGS = ("favourited", "bookmarked", "reblogged")


@dataclass(frozen=True)
class ViewerFacts:
    """One viewer's relation to one message's accounts and status."""

    # Accounts the viewer blocks, is blocked by, or mutes (unexpired), among them.
    shunned: frozenset[int] = frozenset()
    follows: frozenset[int] = frozenset()
    flags: frozenset[str] = frozenset()


NO_FACTS = ViewerFacts()


def facts_query(viewers: Sequence[int], accounts: Sequence[int], content_id: int | None,
                ) -> CompoundSelect[Any]:
    """(viewer, kind, other) rows: 'shun' (a block either way, or a mute), 'follow',
    and a flag name (other = the content status)."""
    wanted, others = list(viewers), list(accounts)
    parts = [
        select(blocks.c.account_id.label("viewer"), literal("shun").label("kind"),
               blocks.c.target_account_id.label("other"))
        .where(blocks.c.account_id.in_(wanted), blocks.c.target_account_id.in_(others)),
        select(blocks.c.target_account_id, literal("shun"), blocks.c.account_id)
        .where(blocks.c.target_account_id.in_(wanted), blocks.c.account_id.in_(others)),
        select(mutes.c.account_id, literal("shun"), mutes.c.target_account_id).where(
            mutes.c.account_id.in_(wanted), mutes.c.target_account_id.in_(others),
            or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > utcnow()),
        ),
        select(follows.c.account_id, literal("follow"), follows.c.target_account_id)
        .where(follows.c.account_id.in_(wanted), follows.c.target_account_id.in_(others)),
    ]
    if content_id is not None:
        parts += [
            select(favourites.c.account_id, literal("favourited"), favourites.c.status_id)
            .where(favourites.c.account_id.in_(wanted), favourites.c.status_id == content_id),
            select(bookmarks.c.account_id, literal("bookmarked"), bookmarks.c.status_id)
            .where(bookmarks.c.account_id.in_(wanted), bookmarks.c.status_id == content_id),
            select(statuses.c.account_id, literal("reblogged"), statuses.c.reblog_of_id)
            .where(statuses.c.account_id.in_(wanted), statuses.c.reblog_of_id == content_id),
        ]
    return union_all(*parts)


async def load_facts(conn: AsyncConnection, viewers: Iterable[int], accounts: Sequence[int],
                     content_id: int | None) -> dict[int, ViewerFacts]:
    """The facts of those of `viewers` who have any (the others: NO_FACTS), in one
    statement per CHUNK viewers."""
    everyone = sorted(set(viewers))
    shunned: dict[int, set[int]] = defaultdict(set)
    followed: dict[int, set[int]] = defaultdict(set)
    flags: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(everyone), CHUNK):
        chunk = everyone[start:start + CHUNK]
        rows = (await conn.execute(facts_query(chunk, accounts, content_id))).all()
        for viewer, kind, other in rows:
            if kind == "shun":
                shunned[viewer].add(int(other))
            elif kind == "follow":
                followed[viewer].add(int(other))
            else:
                flags[viewer].add(kind)
    # Only viewers with some fact get an entry: most have none (NO_FACTS).
    return {
        viewer: ViewerFacts(frozenset(shunned.get(viewer, ())),
                            frozenset(followed.get(viewer, ())),
                            frozenset(flags.get(viewer, ())))
        for viewer in shunned.keys() | followed.keys() | flags.keys()
    }


Loader = Callable[[list[int]], Awaitable[dict[int, ViewerFacts]]]


@dataclass
class _Round:
    """The viewers one load answers, and the event their connections wait on (an
    Event: a connection that leaves while waiting cancels nobody else's wait)."""

    viewers: list[int] = field(default_factory=list)
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    found: dict[int, ViewerFacts] = field(default_factory=dict)
    error: BaseException | None = None


@dataclass
class ViewerBatch:
    """Gathers the viewers asking about one message within one turn of the event loop
    and loads them together. A bus hands a message to every subscription at once, so
    the connections it wakes all ask before the batch's loader runs."""

    load: Loader
    _rounds: dict[int, _Round] = field(default_factory=dict)
    _open: _Round | None = None

    async def facts(self, viewer_id: int) -> ViewerFacts:
        taken = self._rounds.get(viewer_id)
        if taken is None:
            if self._open is None:
                self._open = _Round()
                asyncio.get_running_loop().create_task(self._flush(self._open))
            taken = self._open
            taken.viewers.append(viewer_id)
            self._rounds[viewer_id] = taken
        if not taken.loaded.is_set():
            await taken.loaded.wait()
        if taken.error is not None:
            raise taken.error
        return taken.found.get(viewer_id, NO_FACTS)

    async def _flush(self, batch: _Round) -> None:
        await asyncio.sleep(0)  # let the other woken connections register first
        self._open = None  # later askers start the next round
        try:
            batch.found = await self.load(batch.viewers)
        except Exception as error:
            batch.error = error
            for viewer in batch.viewers:  # the next asker tries again
                self._rounds.pop(viewer, None)
        finally:
            batch.loaded.set()
