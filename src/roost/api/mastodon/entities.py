"""Mastodon entities as JSON-ready dicts. Field lists follow the entity pages of
mastodon/documentation (content/en/entities/*.md); ids always go out as strings.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row

from roost.clock import iso, iso_date
from roost.ids import datetime_of
from roost.social.queries import Relationship
from roost.statuses.html import render_plain_text
from roost.statuses.queries import StatusView
from roost.statuses.visibility import VISIBILITY_NAMES

MISSING_AVATAR = "/static/avatar-missing.png"
MISSING_HEADER = "/static/header-missing.png"


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
    avatar = base + (f"/media/{row.avatar_path}" if row.avatar_path else MISSING_AVATAR)
    header = base + (f"/media/{row.header_path}" if row.header_path else MISSING_HEADER)
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


def credential_account(row: Row[Any], user: Row[Any], base: str) -> dict[str, Any]:
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
        "follow_requests_count": 0,
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
        "reblog": None,
        "application": None,
        "account": account(author, base),
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
        "filtered": [],
    }
    if viewer_id is not None:
        entity.update(
            favourited=False,
            reblogged=False,
            muted=False,
            bookmarked=False,
        )
        if viewer_id == author.id:
            entity["pinned"] = False
    if with_source:
        entity["text"] = row.text
    return entity


def relationship(rel: Relationship) -> dict[str, Any]:
    return {
        "id": str(rel.account_id),
        "following": rel.following,
        "showing_reblogs": rel.showing_reblogs,
        "notifying": rel.notifying,
        "languages": None,
        "followed_by": rel.followed_by,
        "blocking": False,
        "blocked_by": False,
        "muting": False,
        "muting_notifications": False,
        "requested": False,
        "requested_by": False,
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
