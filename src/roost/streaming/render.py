"""A bus message rendered for one connection's viewer (docs/streaming.md, "Rendering").

The work a message needs is done once per process, however many connections hear
it (`SharedMessage`):

- the status is hydrated once (statuses.queries.hydrate, through the object cache),
  for its author, who may always see it; the author's flags are cleared;
- what every listening viewer needs to know (blocks either way, mutes, follows, their
  favourite/bookmark/boost of it) is loaded for all of them together
  (streaming.filter.ViewerBatch: one statement per 2,000 viewers), right after the
  hydration, so that a connection waits once for both;
- the entity is rendered and serialised once per distinct (base URL, flags, whether
  the viewer wrote it): nearly every viewer of a post shares one string.

So a post reaching 10,000 connections costs one hydration, five statements of facts
and a handful of renderings, not 10,000 reads. A notification has one recipient and
is rendered for it as GET /api/v1/notifications does.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson

from roost.accounts.queries import get_accounts
from roost.api.mastodon import entities
from roost.notifications.queries import get_notification
from roost.statuses.queries import StatusView, hydrate
from roost.statuses.visibility import may_see
from roost.streaming import channels as ch
from roost.streaming.filter import ViewerBatch, ViewerFacts, load_facts
from roost.streaming.messages import StreamMessage, decode
from roost.streaming.streams import StreamRequest

if TYPE_CHECKING:
    from roost.context import Roost

# Messages whose shared work is kept: enough for the messages in flight at once (a
# message is delivered to every connection within moments). Each holds its viewers'
# facts, one small entry per viewer: 10,000 viewers are about 1 MB, so the number kept
# stays small; a connection that lags further behind hydrates its message again.
KEPT_MESSAGES = 16
STATUS_EVENTS = frozenset({"update", "status.update", "conversation"})


@dataclass(frozen=True)
class Audience:
    """Who a connection renders for, and with which base URL (ROOST_DOMAIN, or the
    address the client used)."""

    viewer_id: int
    base: str


def _without_flags(view: StatusView) -> StatusView:
    reblog = _without_flags(view.reblog) if view.reblog is not None else None
    return replace(view, flags=frozenset(), reblog=reblog)


def _with_flags(view: StatusView, flags: frozenset[str]) -> StatusView:
    """The viewer's flags, on the status that carries content (a boost's original)."""
    if view.reblog is None:
        return replace(view, flags=flags)
    return replace(view, reblog=replace(view.reblog, flags=flags))


@dataclass
class Shared:
    """One message's status, hydrated once, with its participants' accounts."""

    view: StatusView
    # For `conversation`: every participant's account row (author and mentioned).
    participants: dict[int, Any] = field(default_factory=dict)

    # Computed once per message, read by every connection.
    @cached_property
    def content(self) -> StatusView:
        return self.view.reblog if self.view.reblog is not None else self.view

    @cached_property
    def authors(self) -> tuple[int, ...]:
        found = [int(self.view.account.id)]
        if self.view.reblog is not None:
            found.append(int(self.view.reblog.account.id))
        return tuple(found)

    @cached_property
    def involved(self) -> tuple[int, ...]:
        """The accounts a viewer's blocks and mutes are checked against: the author,
        a boost's original author, and everyone the status mentions (as Mastodon)."""
        mentioned = [int(m.id) for m in self.content.mentions]
        return tuple(dict.fromkeys([*self.authors, *mentioned]))

    @cached_property
    def involved_set(self) -> frozenset[int]:
        return frozenset(self.involved)

    @cached_property
    def audiences(self) -> tuple[tuple[int, int, frozenset[int]], ...]:
        """(author, visibility, mentioned) of the status and of a boost's original:
        what visibility.may_see asks."""
        return tuple(
            (int(view.account.id), int(view.status.visibility),
             frozenset(int(m.id) for m in view.mentions))
            for view in (self.view, self.view.reblog) if view is not None
        )


class SharedMessage:
    """One bus message's work, shared by every connection of the process it reaches."""

    def __init__(self, roost: Roost, message: StreamMessage) -> None:
        self._roost = roost
        self.message = message
        self._hydrated: asyncio.Task[Shared | None] | None = None
        self._batch: ViewerBatch | None = None
        self._rendered: dict[tuple[Any, ...], str] = {}

    async def shared(self) -> Shared | None:
        if self._hydrated is None:
            self._hydrated = asyncio.get_running_loop().create_task(self._hydrate())
        elif self._hydrated.done():
            return self._hydrated.result()
        # Shielded: one connection leaving must not cancel the others' hydration.
        return await asyncio.shield(self._hydrated)

    async def _hydrate(self) -> Shared | None:
        status_id = int(self.message.payload)
        author_id = self.message.facts.get("account_id")
        if author_id is None:
            return None
        async with self._roost.db.read() as conn:
            views = await hydrate(conn, [status_id], int(author_id))
            if not views:
                return None  # deleted meanwhile: its `delete` follows
            found = Shared(_without_flags(views[0]))
            if self.message.event == "conversation":
                found.participants = await get_accounts(conn, found.involved)
        return found

    async def prepared(self, viewer_id: int) -> tuple[Shared | None, ViewerFacts]:
        """The hydrated status and this viewer's facts. The viewer registers at once
        and waits once: the batch's load hydrates (shared by everyone) and then loads
        the facts of every viewer registered by then, so each connection a message
        wakes is woken one more time only, however many connections there are."""
        if self._batch is None:
            async def load(viewers: list[int]) -> dict[int, ViewerFacts]:
                shared = await self.shared()
                if shared is None:
                    return {}
                async with self._roost.db.read() as conn:
                    return await load_facts(conn, viewers, shared.involved,
                                            int(shared.content.status.id))

            self._batch = ViewerBatch(load)
        facts = await self._batch.facts(viewer_id)
        return await self.shared(), facts  # done by now: no wait

    def status_json(self, shared: Shared, audience: Audience, flags: frozenset[str]) -> str:
        """The Status entity as this viewer sees it, serialised; shared by every viewer
        with the same base URL and flags who wrote none of it."""
        # entities.status only asks whether the viewer is signed in and whether they
        # wrote the status (for `pinned`): 0 stands for "someone else".
        as_viewer = audience.viewer_id if audience.viewer_id in shared.authors else 0
        key = (audience.base, flags, as_viewer)
        found = self._rendered.get(key)
        if found is None:
            entity = entities.status(_with_flags(shared.view, flags), audience.base,
                                     viewer_id=as_viewer)
            if self.message.event == "conversation":
                entity = _conversation(shared, entity, audience)
            found = orjson.dumps(entity).decode()
            if self.message.event != "conversation":  # its accounts depend on the viewer
                self._rendered[key] = found
        return found


def _conversation(shared: Shared, status: dict[str, Any], audience: Audience) -> dict[str, Any]:
    """Mastodon's Conversation entity. Roost keeps no conversations yet: the id is the
    status's, and every direct status arrives unread."""
    others = [row for account_id, row in shared.participants.items()
              if account_id != audience.viewer_id]
    return {
        "id": status["id"],
        "unread": True,
        "accounts": [entities.account(row, audience.base) for row in others],
        "last_status": status,
    }


def _may_see(shared: Shared, viewer_id: int, facts: ViewerFacts) -> bool:
    """visibility.may_see for the status and, for a boost, its original; and nobody
    the viewer blocks, is blocked by or mutes among its accounts (one's own status
    always shows)."""
    if facts.shunned and viewer_id != shared.authors[0] and facts.shunned & shared.involved_set:
        return False
    return all(
        may_see(viewer_id, author_id=author, visibility=visibility, mentioned_ids=mentioned,
                follows_author=author in facts.follows, blocked_either_way=False)
        for author, visibility, mentioned in shared.audiences
    )


def _has_media(entity_json: str) -> bool:
    entity = orjson.loads(entity_json)
    status = entity.get("reblog") or entity
    return bool(status.get("media_attachments"))


class StreamRenderer:
    """The process's rendering of bus messages, shared by all its connections."""

    def __init__(self, roost: Roost) -> None:
        self._roost = roost
        self._messages: OrderedDict[str, SharedMessage] = OrderedDict()

    def _message(self, raw: str) -> SharedMessage:
        found = self._messages.get(raw)
        if found is None:
            found = SharedMessage(self._roost, decode(raw))
            self._messages[raw] = found
            while len(self._messages) > KEPT_MESSAGES:
                self._messages.popitem(last=False)
        return found

    async def render(self, audience: Audience, stream: StreamRequest, channel: str,
                     raw: str) -> tuple[str, str] | None:
        """(event, payload) for this connection, or None when its viewer must not
        have it."""
        message = self._message(raw)
        event = message.message.event
        if event == "delete":
            return event, message.message.payload
        if event == "notification":
            if channel != ch.notifications(audience.viewer_id):
                return None
            return await self._notification(audience, int(message.message.payload))
        if event not in STATUS_EVENTS:
            return None
        shared, facts = await message.prepared(audience.viewer_id)
        if shared is None:
            return None
        if not _may_see(shared, audience.viewer_id, facts):
            return None
        payload = message.status_json(shared, audience, facts.flags)
        if stream.only_media and not _has_media(payload):
            return None
        return event, payload

    async def _notification(self, audience: Audience, notification_id: int
                            ) -> tuple[str, str] | None:
        async with self._roost.db.read() as conn:
            view = await get_notification(conn, audience.viewer_id, notification_id)
        if view is None:
            return None  # withdrawn, or hidden by a block or mute since
        entity = entities.notification(view.notification, view.account, view.status,
                                       audience.base)
        return "notification", orjson.dumps(entity).decode()
