"""GET /api/v1/instance and /api/v2/instance (with and without a trailing slash:
Mastodon.py asks with one, and a 404 there sends it into a recursion error)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from roost import MASTODON_API_VERSION, MASTODON_COMPAT_VERSION, __version__
from roost.api.context import base_url, host_of, roost_of
from roost.instance.stats import instance_stats

router = APIRouter()

VERSION = f"{MASTODON_COMPAT_VERSION} (compatible; Roost {__version__})"
TITLE = "Roost"
DESCRIPTION = "A Roost social network server."


def _limits(request: Request) -> dict[str, Any]:
    return {
        "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
        "statuses": {
            "max_characters": roost_of(request).settings.max_status_chars,
            "max_media_attachments": 4,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
            "image_size_limit": 16 * 1024 * 1024,
            "image_matrix_limit": 33_177_600,
            "video_size_limit": 0,
            "video_frame_rate_limit": 0,
            "video_matrix_limit": 0,
            "description_limit": 1500,
        },
        "polls": {
            "max_options": 4,
            "max_characters_per_option": 50,
            "min_expiration": 300,
            "max_expiration": 2_629_746,
        },
    }


def _streaming_url(request: Request) -> str:
    base = base_url(request)
    return base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


@router.get("/api/v1/instance")
@router.get("/api/v1/instance/")
async def instance_v1(request: Request) -> dict[str, Any]:
    roost = roost_of(request)
    stats = await instance_stats(roost)
    registrations = roost.settings.registrations
    return {
        "uri": host_of(request),
        "title": TITLE,
        "short_description": DESCRIPTION,
        "description": DESCRIPTION,
        "email": "",
        "version": VERSION,
        "urls": {"streaming_api": _streaming_url(request)},
        "stats": {
            "user_count": stats.user_count,
            "status_count": stats.status_count,
            "domain_count": 0,
        },
        "thumbnail": None,
        "languages": ["en"],
        "registrations": registrations != "closed",
        "approval_required": registrations == "approval",
        "invites_enabled": False,
        "configuration": _limits(request),
        "contact_account": None,
        "rules": [],
    }


@router.get("/api/v2/instance")
@router.get("/api/v2/instance/")
async def instance_v2(request: Request) -> dict[str, Any]:
    roost = roost_of(request)
    stats = await instance_stats(roost)
    registrations = roost.settings.registrations
    base = base_url(request)
    return {
        "domain": host_of(request),
        "title": TITLE,
        "version": VERSION,
        "source_url": roost.settings.source_url,
        "description": DESCRIPTION,
        "usage": {"users": {"active_month": stats.user_count}},
        "thumbnail": {"url": f"{base}/static/avatar-missing.png"},
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": _streaming_url(request), "status": None},
            "vapid": {"public_key": ""},
            **_limits(request),
            "translation": {"enabled": False},
        },
        "registrations": {
            "enabled": registrations != "closed",
            "approval_required": registrations == "approval",
            "message": None,
            "url": None,
        },
        "api_versions": {"mastodon": MASTODON_API_VERSION},
        "contact": {"email": "", "account": None},
        "rules": [],
    }
