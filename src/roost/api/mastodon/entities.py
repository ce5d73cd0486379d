"""Mastodon entities as JSON-ready dicts. Field lists follow the entity pages of
mastodon/documentation (content/en/entities/*.md); ids always go out as strings.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row

from roost.clock import iso, iso_date
from roost.db.tables import MEDIA_READY
from roost.ids import datetime_of
from roost.media import storage as media_storage
from roost.social.queries import Relationship
from roost.statuses.edits import Version
from roost.statuses.html import hashtag_url, render_plain_text
from roost.statuses.queries import StatusView
from roost.statuses.visibility import VISIBILITY_NAMES
from roost.timelines.tag import TagInfo
from roost.web.assets import static_url

# Hashed, immutable URLs of the shipped defaults (roost.web.assets).
MISSING_AVATAR = static_url("avatar-missing.png")
MISSING_HEADER = static_url("header-missing.png")


def _day_of_creation(account_id: int) -> str:
    # Mastodon rounds an account's created_at to the day.
    day = datetime_of(account_id).replace(hour=0, minute=0, second=0, microsecond=0)
    return iso(day) or ""


def _fields(raw: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": field.get("name", ""),
            "value": render_plain_text(field.get("value", "")),
            "verified_at": None,
        }
        for field in (raw or [])
        if isinstance(field, dict)
    ]


def account(row: Row[Any], base: str) -> dict[str, Any]:
    avatar = (
        media_storage.rendered_url(base, row.avatar_path) if row.avatar_path
        else base + MISSING_AVATAR
    )
    header = (
        media_storage.rendered_url(base, row.header_path) if row.header_path
        else base + MISSING_HEADER
    )
    return {
        "id": str(row.id),
        "username": row.username,
        "acct": row.username,
        "display_name": row.display_name,
        "locked": bool(row.locked),
        "bot": bool(row.bot),
        "discoverable": bool(row.discoverable),
        "indexable": bool(row.discoverable),
        "group": bool(row.is_group),
        "hide_collections": False,
        "noindex": False,
        "created_at": _day_of_creation(row.id),
        "note": render_plain_text(row.note),
        "url": f"{base}/@{row.username}",
        "uri": f"{base}/users/{row.username}",
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": row.followers_count,
        "following_count": row.following_count,
        "statuses_count": row.statuses_count,
        "last_status_at": iso_date(row.last_status_at),
        "emojis": [],
        "fields": _fields(row.fields),
        "roles": [],
    }


def credential_account(
    row: Row[Any], user: Row[Any], base: str, *, follow_requests_count: int = 0
) -> dict[str, Any]:
    entity = account(row, base)
    entity["source"] = {
        "privacy": user.default_privacy,
        "sensitive": bool(user.default_sensitive),
        "language": user.default_language or "",
        "note": row.note,
        "fields": [
            {"name": f.get("name", ""), "value": f.get("value", ""), "verified_at": None}
            for f in (row.fields or [])
        ],
        "follow_requests_count": follow_requests_count,
        "hide_collections": False,
        "discoverable": bool(row.discoverable),
        "indexable": bool(row.discoverable),
    }
    entity["role"] = {
        "id": "3" if user.admin else "-99",
        "name": "Admin" if user.admin else "",
        "permissions": "1" if user.admin else "0",
        "color": "",
        "highlighted": bool(user.admin),
    }
    return entity


def status(
    view: StatusView, base: str, *, viewer_id: int | None, with_source: bool = False
) -> dict[str, Any]:
    row = view.status
    author = view.account
    url = f"{base}/@{author.username}/{row.id}"
    entity: dict[str, Any] = {
        "id": str(row.id),
        "created_at": iso(datetime_of(row.id)),
        "in_reply_to_id": str(row.in_reply_to_id) if row.in_reply_to_id else None,
        "in_reply_to_account_id": (
            str(row.in_reply_to_account_id) if row.in_reply_to_account_id else None
        ),
        "sensitive": bool(row.sensitive),
        "spoiler_text": row.spoiler_text,
        "visibility": VISIBILITY_NAMES[row.visibility],
        "language": row.language,
        "uri": f"{base}/users/{author.username}/statuses/{row.id}",
        "url": url,
        "replies_count": row.replies_count,
        "reblogs_count": row.reblogs_count,
        "favourites_count": row.favourites_count,
        "quotes_count": 0,
        "edited_at": iso(row.edited_at),
        "content": row.content_html,
        "reblog": (
            status(view.reblog, base, viewer_id=viewer_id) if view.reblog is not None else None
        ),
        "application": None,
        "account": account(author, base),
        "media_attachments": [media_attachment(values, base) for values in view.media],
        "mentions": [mention(m, base) for m in view.mentions],
        "tags": [
            {"name": t.name, "url": hashtag_url(base, t.name)} for t in view.tags
        ],
        "emojis": [],
        "card": None,
        "poll": None,
        "filtered": [],
    }
    if viewer_id is not None:
        entity.update(
            favourited="favourited" in view.flags,
            reblogged="reblogged" in view.flags,
            muted=False,
            bookmarked="bookmarked" in view.flags,
        )
        if viewer_id == author.id:
            entity["pinned"] = False
    if with_source:
        entity["text"] = row.text
    return entity


def media_attachment(values: Any, base: str) -> dict[str, Any]:
    """MediaAttachment from a media_attachments row or media.queries' dict of one; a
    file still processing has no URLs yet (url null, as Mastodon's 202)."""
    get = values.get if isinstance(values, dict) else lambda name: getattr(values, name)
    ready = get("state") == MEDIA_READY
    url = media_storage.rendered_url(base, str(get("file_name"))) if ready else None
    preview = get("preview_file_name")
    return {
        "id": str(get("id")),
        "type": get("type"),
        "url": url,
        "preview_url": media_storage.rendered_url(base, preview) if ready and preview else None,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": get("meta") or {"focus": {"x": get("focus_x"), "y": get("focus_y")}},
        "description": get("description"),
        "blurhash": get("blurhash"),
    }


def relationship(rel: Relationship) -> dict[str, Any]:
    return {
        "id": str(rel.account_id),
        "following": rel.following,
        "showing_reblogs": rel.showing_reblogs,
        "notifying": rel.notifying,
        "languages": None,
        "followed_by": rel.followed_by,
        "blocking": rel.blocking,
        "blocked_by": rel.blocked_by,
        "muting": rel.muting,
        "muting_notifications": rel.muting_notifications,
        "requested": rel.requested,
        "requested_by": rel.requested_by,
        "domain_blocking": False,
        "endorsed": False,
        "note": "",
    }


def token(access_token: str, scopes: str, created_at: int) -> dict[str, Any]:
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "scope": scopes,
        "created_at": created_at,
    }


def application(row: Row[Any], *, client_secret: str | None = None) -> dict[str, Any]:
    redirect_uris = row.redirect_uris.split("\n") if row.redirect_uris else []
    entity: dict[str, Any] = {
        "id": str(row.id),
        "name": row.name,
        "website": row.website,
        "scopes": row.scopes.split(),
        "redirect_uri": "\n".join(redirect_uris),
        "redirect_uris": redirect_uris,
        "client_id": row.client_id,
    }
    if client_secret is not None:
        entity["client_secret"] = client_secret
        entity["client_secret_expires_at"] = 0
    return entity


def notification(
    row: Row[Any], from_account: Row[Any], status_view: StatusView | None, base: str
) -> dict[str, Any]:
    """A Notification; created_at comes from its time-ordered id."""
    entity: dict[str, Any] = {
        "id": str(row.id),
        "type": row.type,
        "group_key": f"ungrouped-{row.id}",
        "created_at": iso(datetime_of(row.id)),
        "account": account(from_account, base),
    }
    if status_view is not None:
        entity["status"] = status(status_view, base, viewer_id=row.account_id)
    return entity


def marker(row: Row[Any]) -> dict[str, Any]:
    return {
        "last_read_id": str(row.last_read_id),
        "version": row.version,
        "updated_at": iso(row.updated_at),
    }


# --- mentions, hashtags, edits (statuses/content.py, statuses/edits.py) ---


def mention(row: Row[Any], base: str) -> dict[str, Any]:
    """Status.mentions[]: a row of statuses.queries.mentions_query."""
    return {
        "id": str(row.id),
        "username": row.username,
        "url": f"{base}/@{row.username}",
        "acct": row.username,
    }


def tag(info: TagInfo, base: str) -> dict[str, Any]:
    """Tag, with seven days of history (today first; values are strings, as Mastodon)."""
    return {
        "id": str(info.tag.id),
        "name": info.tag.name,
        "url": hashtag_url(base, info.tag.name),
        "history": [
            {
                "day": str(int(day.day.timestamp())),
                "uses": str(day.uses),
                "accounts": str(day.accounts),
            }
            for day in info.history
        ],
        "following": False,
    }


def status_edit(version: Version, author: Row[Any], base: str) -> dict[str, Any]:
    return {
        "content": version.content_html,
        "spoiler_text": version.spoiler_text,
        "sensitive": version.sensitive,
        "created_at": iso(version.created_at),
        "account": account(author, base),
        "media_attachments": [],
        "emojis": [],
    }


def status_source(row: Row[Any]) -> dict[str, Any]:
    return {"id": str(row.id), "text": row.text, "spoiler_text": row.spoiler_text}
