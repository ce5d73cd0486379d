"""Posting and deleting statuses. Each function runs inside the caller's transaction
and emits its event there (StatusCreated, StatusDeleted); counters, mention
notifications and the rest follow from the event log (docs/events.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.tables import idempotency_keys, status_stats, statuses
from roost.errors import ApiError, not_found
from roost.events import types as ev
from roost.events.outbox import emit
from roost.ids import IdGenerator, shard_of
from roost.media import operations as media_operations
from roost.statuses import content as status_content
from roost.statuses import interactions
from roost.statuses.visibility import visible_to

IDEMPOTENCY_WINDOW = timedelta(hours=1)
# ISO 639 with an optional region or script ("pt-BR", "zh-Hant"): at most 8 characters,
# the width of the language columns.
LANGUAGE_PATTERN = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,4})?")


@dataclass(frozen=True)
class StatusDraft:
    text: str
    visibility: int
    spoiler_text: str = ""
    sensitive: bool = False
    language: str | None = None
    in_reply_to_id: int | None = None
    application_id: int | None = None
    # The poster's uploads to attach, in order (media.operations.attach checks them).
    media_ids: tuple[int, ...] = ()


def check_draft(draft: StatusDraft, max_chars: int) -> None:
    # A status with media may have no text, as in Mastodon.
    if not draft.text.strip() and not draft.media_ids:
        raise ApiError(422, "Validation failed: Text can't be blank")
    # Mastodon counts the content warning against the same limit as the text.
    if len(draft.text) + len(draft.spoiler_text) > max_chars:
        raise ApiError(422, f"Validation failed: Text character limit of {max_chars} exceeded")
    if draft.language is not None and not LANGUAGE_PATTERN.fullmatch(draft.language):
        raise ApiError(422, "Validation failed: Language is not a valid ISO 639 code")


async def _reserve_idempotency_key(
    conn: AsyncConnection, account_id: int, key: str, status_id: int
) -> int | None:
    """Claims `key` for `status_id`; returns the id of the status already posted with
    it within the window, if any. A concurrent request with the same key blocks on the
    primary key until the first commits, then sees its status."""
    now = utcnow()
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(idempotency_keys).values(
                    account_id=account_id, key=key, status_id=status_id, created_at=now
                )
            )
        return None
    except IntegrityError:
        pass
    where = and_(idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key)
    existing = (await conn.execute(select(idempotency_keys).where(where))).one()
    still_there = (
        await conn.execute(select(statuses.c.id).where(statuses.c.id == existing.status_id))
    ).first()
    if existing.created_at > now - IDEMPOTENCY_WINDOW and still_there is not None:
        return int(existing.status_id)
    await conn.execute(
        update(idempotency_keys).where(where).values(status_id=status_id, created_at=now)
    )
    return None


async def create_status(
    conn: AsyncConnection,
    ids: IdGenerator,
    author_id: int,
    draft: StatusDraft,
    *,
    max_chars: int,
    idempotency_key: str | None = None,
    base: str = "",
) -> tuple[int, bool]:
    """Returns (status id, created). `created` is False when the idempotency key
    matched an earlier post, whose id is returned instead. `base` is the public base
    URL that mention and hashtag links are rendered with (statuses.content)."""
    check_draft(draft, max_chars)
    status_id = ids.next_id(shard_of(author_id))
    if idempotency_key is not None:
        earlier = await _reserve_idempotency_key(conn, author_id, idempotency_key, status_id)
        if earlier is not None:
            return earlier, False
    in_reply_to_account_id = None
    if draft.in_reply_to_id is not None:
        parent = (
            await conn.execute(
                select(statuses.c.account_id).where(
                    statuses.c.id == draft.in_reply_to_id, visible_to(author_id)
                )
            )
        ).first()
        if parent is None:
            raise not_found()
        in_reply_to_account_id = parent.account_id
    content = await status_content.prepare(conn, ids, draft.text, base)
    await conn.execute(
        insert(statuses).values(
            id=status_id,
            account_id=author_id,
            in_reply_to_id=draft.in_reply_to_id,
            in_reply_to_account_id=in_reply_to_account_id,
            text=draft.text,
            content_html=content.html,
            spoiler_text=draft.spoiler_text,
            visibility=draft.visibility,
            sensitive=draft.sensitive or bool(draft.spoiler_text),
            language=draft.language,
            application_id=draft.application_id,
        )
    )
    await conn.execute(insert(status_stats).values(status_id=status_id))
    if draft.media_ids:
        await media_operations.attach(conn, author_id, status_id, draft.media_ids)
    # Mentioned accounts can see the status (visible_to); notify() skips blocks.
    mentioned = await status_content.store(conn, status_id, content)
    await emit(
        conn, ids, ev.StatusCreated, author_id, status_id=status_id,
        visibility=draft.visibility, in_reply_to_id=draft.in_reply_to_id,
        in_reply_to_account_id=in_reply_to_account_id, mentioned_account_ids=tuple(mentioned),
        tag_ids=content.tag_ids,
    )
    return status_id, True


async def delete_status(
    conn: AsyncConnection, ids: IdGenerator, account_id: int, status_id: int,
    *, keep_media_for_redraft: bool = False,
) -> Row[Any]:
    """Deletes the viewer's own status; anything else is a 404. Its media are freed by
    the media consumer, or with `keep_media_for_redraft` detached here, to be attached
    again by the redrafted post (or pruned a day later), as Mastodon does."""
    row = (
        await conn.execute(
            delete(statuses)
            .where(statuses.c.id == status_id, statuses.c.account_id == account_id)
            .returning(*statuses.c)
        )
    ).first()
    if row is None:
        raise not_found()
    if keep_media_for_redraft:
        await media_operations.detach_for_redraft(conn, row.id)
    if row.reblog_of_id is not None:  # deleting a boost is unreblogging
        await interactions.boost_removed(conn, ids, account_id, row.id, row.reblog_of_id)
    else:
        await interactions.delete_boosts_of(conn, ids, row.id)
        await emit(conn, ids, ev.StatusDeleted, account_id, status_id=row.id,
                   in_reply_to_id=row.in_reply_to_id, visibility=row.visibility)
    return row
