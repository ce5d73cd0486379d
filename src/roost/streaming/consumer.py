"""The streaming push consumer: what the event log says happened, published to the
channels of the streams that should hear it (docs/streaming.md).

- a status (StatusCreated), an edit (StatusUpdated, as `status.update`) and a boost
  (Reblogged, the boost as an `update`): the public and hashtag channels when it is a
  public original (replies only to oneself on the public ones, as Mastodon); the
  author's own channel; and the channels of the followers whose home timeline shows
  it (the home fan-out's own query, timelines.fanout.followers_shown: visibility,
  blocks, mutes, show_reblogs). A direct status also goes, as `conversation`, to
  the direct channels of its author and the mentioned accounts not blocked either way.
- a deletion (StatusDeleted, Unreblogged): `delete` with the id to the author's
  channel, every follower's unless the status was direct, and the public ones for a
  public status (a boost never was on them).
- a notification (NotificationCreated): `notification` to the recipient's
  notifications channel.

Followers' channels are only published to when someone listens there: followers are
read a page at a time (timelines.fanout.follower_pages) from the follows index, each
page costs one check of all its markers (one MGET), and only when some of them listen, one query
of which of those the status's visibility rules let see it and one pipeline of
PUBLISHes: two Redis round trips and two statements a page at most, whatever its size.

Publishing happens inside the handler's transaction, before it commits: a handler
that fails after publishing is retried and publishes again. Streams therefore get
at-least-once delivery; clients already drop a second copy of a status they show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.db.tables import (
    VISIBILITY_DIRECT,
    VISIBILITY_PUBLIC,
    VISIBILITY_UNLISTED,
    mentions,
    notifications,
    status_tags,
    statuses,
    tags,
)
from roost.events import types as ev
from roost.events.consumer import Consumer
from roost.observability import metrics
from roost.resilience.breaker import FAILURES
from roost.statuses.visibility import blocked_between
from roost.streaming import channels as ch
from roost.streaming.bus import Bus, bus_of
from roost.streaming.messages import EventName, StatusFacts, StreamMessage
from roost.timelines.fanout import all_followers, follower_pages, followers_shown

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from roost.context import Roost


async def status_facts(
    conn: AsyncConnection, status_id: int
) -> tuple[StatusFacts, list[int]] | None:
    """The status's facts, and the mentioned accounts it may reach (no block between
    them and the author); None when it is gone. Three statements."""
    boosted = statuses.alias("boosted")
    s = statuses.c
    row = (
        await conn.execute(
            select(s.id, s.account_id, s.visibility, s.reblog_of_id, s.in_reply_to_account_id,
                   boosted.c.account_id.label("reblog_of_account_id"))
            .select_from(statuses.outerjoin(boosted, boosted.c.id == s.reblog_of_id))
            .where(s.id == status_id)
        )
    ).first()
    if row is None:
        return None
    content_id = row.reblog_of_id or row.id
    author = literal(int(row.account_id))
    mentioned = (
        await conn.execute(
            select(mentions.c.account_id, blocked_between(mentions.c.account_id, author))
            .where(mentions.c.status_id == content_id)
            .order_by(mentions.c.account_id)
        )
    ).all()
    names = (
        await conn.execute(
            select(tags.c.name_lower)
            .join(status_tags, status_tags.c.tag_id == tags.c.id)
            .where(status_tags.c.status_id == content_id)
            .order_by(tags.c.name_lower)
        )
    ).scalars().all()
    facts = StatusFacts(
        status_id=int(row.id), account_id=int(row.account_id), visibility=int(row.visibility),
        reblog_of_id=row.reblog_of_id, reblog_of_account_id=row.reblog_of_account_id,
        in_reply_to_account_id=row.in_reply_to_account_id,
        mentioned_ids=tuple(int(m.account_id) for m in mentioned), tags=tuple(names),
    )
    return facts, [int(m.account_id) for m in mentioned if not m[1]]


def broadcast_channels(facts: StatusFacts) -> list[str]:
    """The channels published to whoever listens: a public original's."""
    if facts.visibility != VISIBILITY_PUBLIC or facts.reblog_of_id is not None:
        return []
    found: list[str] = []
    to_others = facts.in_reply_to_account_id not in (None, facts.account_id)
    if not to_others:
        found.extend(ch.PUBLIC_CHANNELS)
    for name in facts.tags:
        found.extend(ch.hashtag(name))
    return found


async def publish_where_listened(
    bus: Bus, message: str, always: Sequence[str], if_listened: Sequence[str]
) -> int:
    """Publishes to `always`, and to those of `if_listened` whose marker is set: at
    most two round trips (the markers, then the publishes). Returns the channels."""
    listened = await bus.listening(if_listened) if if_listened else []
    targets = [*always, *(c for c, on in zip(if_listened, listened, strict=True) if on)]
    if targets:
        await bus.publish_many([(channel, message) for channel in targets])
    return len(targets)


async def push_status(
    conn: AsyncConnection, bus: Bus, status_id: int, event: EventName, *,
    conversation: bool = False,
) -> None:
    found = await status_facts(conn, status_id)
    if found is None:
        return  # deleted before this event came: its delete says the rest
    facts, reachable = found
    message = StreamMessage(event, str(status_id), facts.as_json()).encode()
    await publish_where_listened(bus, message, broadcast_channels(facts),
                                 [ch.user(facts.account_id)])
    if conversation and facts.visibility == VISIBILITY_DIRECT:
        talk = StreamMessage("conversation", str(status_id), facts.as_json()).encode()
        await publish_where_listened(
            bus, talk, [], [ch.direct(a) for a in dict.fromkeys([facts.account_id, *reachable])]
        )
    async for followers in follower_pages(
        conn, lambda after, limit: all_followers(facts.account_id, after, limit)
    ):
        listened = await bus.listening([ch.user(f) for f in followers])
        listeners = [f for f, on in zip(followers, listened, strict=True) if on]
        if listeners:
            shown = await _shown_to(conn, status_id, facts.account_id, listeners)
            if shown:
                await bus.publish_many([(ch.user(f), message) for f in shown])


async def _shown_to(conn: AsyncConnection, status_id: int, author_id: int,
                   followers: list[int]) -> list[int]:
    """Those of `followers` whose home timeline shows the status: the home fan-out's own
    query, asked only about the followers listening (the cheap index-only page of
    follows comes first, and most followers have no stream open)."""
    query = followers_shown(status_id, author_id, 0, len(followers))
    query = query.where(query.selected_columns.account_id.in_(followers))
    return [int(row.account_id) for row in (await conn.execute(query)).all()]


async def push_delete(
    conn: AsyncConnection, bus: Bus, author_id: int, status_id: int, *,
    visibility: int | None,
) -> None:
    """`delete` to whoever could have been shown the status: the public channels for a
    public one, the author's followers unless it was direct, and the author. (The row
    is gone: the event says what it was. A direct status's mentioned accounts are not
    told yet; an event from before `visibility` existed is treated as direct.)"""
    message = StreamMessage("delete", str(status_id), {"account_id": author_id}).encode()
    always = list(ch.PUBLIC_CHANNELS) if visibility == VISIBILITY_PUBLIC else []
    await publish_where_listened(bus, message, always, [ch.user(author_id)])
    if visibility is None or visibility == VISIBILITY_DIRECT:
        return
    async for followers in follower_pages(
        conn, lambda after, limit: all_followers(author_id, after, limit)
    ):
        await publish_where_listened(bus, message, [], [ch.user(f) for f in followers])


async def push_notification(
    conn: AsyncConnection, bus: Bus, event: ev.NotificationCreated
) -> None:
    recipient = event.recipient_id
    # Either of the recipient's streams listens on the notifications channel.
    listened = await bus.listening([ch.user(recipient), ch.notifications(recipient)])
    if not any(listened):
        return
    row = (
        await conn.execute(select(notifications).where(notifications.c.id == event.notification_id))
    ).first()
    if row is None:
        return  # withdrawn meanwhile (an unlike right after the like)
    facts = {
        "recipient_id": recipient, "type": row.type, "account_id": row.from_account_id,
        "status_id": row.status_id,
    }
    message = StreamMessage("notification", str(row.id), facts).encode()
    await bus.publish(ch.notifications(recipient), message)


async def handle(roost: Roost, conn: AsyncConnection, event: ev.Event) -> None:
    bus = bus_of(roost)
    if not bus.may_have_subscribers():
        return
    try:
        await _push(conn, bus, event)
    except FAILURES as error:
        # Redis is away: this push is dropped, not retried. A stream hears of a post as
        # it happens or not at all (its client reloads the timeline when it reconnects),
        # and pushes queued for minutes would only arrive stale.
        log.warning("streaming push dropped: Redis failed", type=event.TYPE,
                    error=f"{type(error).__name__}: {error}")
        metrics.stream_pushes_dropped.inc()


async def _push(conn: AsyncConnection, bus: Bus, event: ev.Event) -> None:
    match event:
        case ev.StatusCreated():
            await push_status(conn, bus, event.status_id, "update", conversation=True)
        case ev.StatusUpdated():
            await push_status(conn, bus, event.status_id, "status.update")
        case ev.Reblogged():
            await push_status(conn, bus, event.boost_id, "update")
        case ev.StatusDeleted():
            await push_delete(conn, bus, event.account_id, event.status_id,
                              visibility=event.visibility)
        case ev.Unreblogged():
            # A boost is public or unlisted (a private status is only boosted by its
            # author): its followers heard of it, the public channels never did.
            await push_delete(conn, bus, event.account_id, event.boost_id,
                              visibility=VISIBILITY_UNLISTED)
        case ev.NotificationCreated():
            await push_notification(conn, bus, event)


STREAMING_PUSH = Consumer(
    "streaming_push",
    frozenset(
        cls.TYPE
        for cls in (
            ev.StatusCreated, ev.StatusUpdated, ev.Reblogged, ev.StatusDeleted,
            ev.Unreblogged, ev.NotificationCreated,
        )
    ),
    handle,
)
