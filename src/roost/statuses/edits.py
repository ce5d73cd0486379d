"""Editing a status, and reading its history, as Mastodon does (PUT /api/v1/statuses/:id).

An edit keeps the version it replaces in `status_edits` (text, HTML, content warning,
sensitivity, and `created_at` = when that version was published), re-renders the
status, re-reads its mentions and hashtags (replacing the rows), and sets
`edited_at`. An edit that changes nothing is not one: the status is left alone and
nobody is notified, like Mastodon's NoChangesSubmittedError. Everyone who boosted the
status is told (an "update" notification whose activity is the edit row), and
accounts newly mentioned get a "mention" notification.

The history is every stored version, oldest first, followed by the current one; an
unedited status has a history of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.clock import utcnow
from roost.db.tables import status_edits, statuses
from roost.errors import not_found
from roost.events import types as ev
from roost.events.outbox import emit
from roost.ids import IdGenerator, datetime_of, shard_of
from roost.media import operations as media_operations
from roost.statuses import content as status_content
from roost.statuses.operations import StatusDraft, check_draft


@dataclass(frozen=True)
class Edit:
    """The new version. `language` None keeps the status's language."""

    text: str
    spoiler_text: str = ""
    sensitive: bool = False
    language: str | None = None
    # The new attachments in order; None keeps them (media_ids[] not sent).
    media_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Version:
    """One entry of a status's history."""

    content_html: str
    spoiler_text: str
    sensitive: bool
    created_at: datetime


def published_at(status: Row[Any]) -> datetime:
    """When the status's current version was published."""
    edited: datetime | None = status.edited_at
    return edited if edited is not None else datetime_of(status.id)


async def edit_status(
    conn: AsyncConnection,
    ids: IdGenerator,
    account_id: int,
    status_id: int,
    edit: Edit,
    *,
    max_chars: int,
    base: str = "",
) -> int | None:
    """Edits the account's own status (anything else, boosts included, is a 404).
    Returns the new status_edits row id, or None when nothing changed."""
    current = (
        await conn.execute(
            select(statuses)
            .where(
                statuses.c.id == status_id,
                statuses.c.account_id == account_id,
                statuses.c.reblog_of_id.is_(None),
            )
            .with_for_update()
        )
    ).first()
    if current is None:
        raise not_found()
    language = edit.language if edit.language is not None else current.language
    sensitive = edit.sensitive or bool(edit.spoiler_text)
    media_ids = edit.media_ids
    if media_ids is None and not edit.text.strip():
        media_ids = tuple(await media_operations.attached_ids(conn, status_id))
    check_draft(
        StatusDraft(
            text=edit.text,
            visibility=current.visibility,
            spoiler_text=edit.spoiler_text,
            language=language,
            media_ids=media_ids or (),
        ),
        max_chars,
    )
    media_changed = edit.media_ids is not None and await media_operations.replace(
        conn, account_id, status_id, edit.media_ids
    )
    unchanged = not media_changed and (
        edit.text == current.text
        and edit.spoiler_text == current.spoiler_text
        and sensitive == bool(current.sensitive)
        and language == current.language
    )
    if unchanged:
        return None
    now = utcnow()
    edit_id = ids.next_id(shard_of(account_id))
    await conn.execute(
        status_edits.insert().values(
            id=edit_id,
            status_id=status_id,
            account_id=account_id,
            text=current.text,
            content_html=current.content_html,
            spoiler_text=current.spoiler_text,
            sensitive=bool(current.sensitive),
            created_at=published_at(current),
        )
    )
    content = await status_content.prepare(conn, ids, edit.text, base)
    await conn.execute(
        update(statuses)
        .where(statuses.c.id == status_id)
        .values(
            text=edit.text,
            content_html=content.html,
            spoiler_text=edit.spoiler_text,
            sensitive=sensitive,
            language=language,
            edited_at=now,
        )
    )
    added = await status_content.store(conn, status_id, content, replace=True)
    await emit(conn, ids, ev.StatusUpdated, account_id, status_id=status_id, edit_id=edit_id,
               added_mention_ids=tuple(added))
    return edit_id


async def history(conn: AsyncConnection, status: Row[Any]) -> list[Version]:
    """Oldest first, ending with the current version (one statement)."""
    rows = await conn.execute(
        select(
            status_edits.c.content_html,
            status_edits.c.spoiler_text,
            status_edits.c.sensitive,
            status_edits.c.created_at,
        )
        .where(status_edits.c.status_id == status.id)
        .order_by(status_edits.c.id)
    )
    versions = [
        Version(row.content_html, row.spoiler_text, bool(row.sensitive), row.created_at)
        for row in rows.all()
    ]
    versions.append(
        Version(status.content_html, status.spoiler_text, bool(status.sensitive),
                published_at(status))
    )
    return versions
