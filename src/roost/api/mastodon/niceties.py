"""What clients ask for at start-up: peers, activity, rules, custom emojis, preferences,
filters, lists, followed tags, conversations, suggestions.

Roost does not federate and has no filters, lists, followed tags, custom emojis or
direct-message conversations (yet), so most of these are Mastodon's answer for "none":
an empty list, behind the scope Mastodon asks for, so that a client that shows them
gets a 200 and a bad token still gets its 401. Real data: weekly activity
(roost.instance.activity), posting preferences (the user's row) and follow
suggestions (roost.social.suggestions).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from roost.accounts import queries as account_queries
from roost.api.auth import Viewer, require
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.pagination import page_from
from roost.api.params import read_params
from roost.errors import not_found
from roost.instance.activity import INSTANCE_ACTIVITY
from roost.social.suggestions import DEFAULT_LIMIT, MAX_LIMIT, popular_accounts

router = APIRouter()

# --- the instance: public ---------------------------------------------------------------


@router.get("/api/v1/instance/peers")
async def peers() -> list[str]:
    """The domains this server federates with: none."""
    return []


@router.get("/api/v1/instance/activity")
async def activity(request: Request) -> list[dict[str, str]]:
    weeks = await INSTANCE_ACTIVITY.get(roost_of(request))
    return [week.entity() for week in weeks]


@router.get("/api/v1/instance/rules")
async def rules() -> list[dict[str, str]]:
    return []


@router.get("/api/v1/custom_emojis")
async def custom_emojis() -> list[dict[str, Any]]:
    return []


# --- the signed-in user ----------------------------------------------------------------


@router.get("/api/v1/preferences")
async def preferences(
    request: Request, viewer: Viewer = Depends(require("read:accounts"))
) -> dict[str, Any]:
    """The defaults a client applies when composing and reading, as set through
    update_credentials' `source[...]`."""
    async with roost_of(request).db.read() as conn:
        user = await account_queries.get_user(conn, viewer.account_id)
    if user is None:
        raise not_found()
    return {
        "posting:default:visibility": user.default_privacy,
        "posting:default:sensitive": bool(user.default_sensitive),
        "posting:default:language": user.default_language or None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }


@router.get("/api/v1/filters")
@router.get("/api/v2/filters")
async def filters(viewer: Viewer = Depends(require("read:filters"))) -> list[dict[str, Any]]:
    return []


@router.get("/api/v1/lists")
async def lists(viewer: Viewer = Depends(require("read:lists"))) -> list[dict[str, Any]]:
    return []


@router.get("/api/v1/followed_tags")
async def followed_tags(viewer: Viewer = Depends(require("read:follows"))) -> list[dict[str, Any]]:
    return []


@router.get("/api/v1/conversations")
async def conversations(
    viewer: Viewer = Depends(require("read:statuses")),
) -> list[dict[str, Any]]:
    return []


# --- follow suggestions -----------------------------------------------------------------


async def _suggested(request: Request, viewer: Viewer) -> list[dict[str, Any]]:
    params = await read_params(request)
    limit = page_from(
        {"limit": params.get("limit")}, default=DEFAULT_LIMIT, maximum=MAX_LIMIT
    ).limit
    async with roost_of(request).db.read() as conn:
        rows = await popular_accounts(conn, viewer.account_id, limit)
    base = base_url(request)
    return [entities.account(row, base) for row in rows]


@router.get("/api/v2/suggestions")
async def suggestions_v2(
    request: Request, viewer: Viewer = Depends(require("read:accounts"))
) -> list[dict[str, Any]]:
    return [
        {"source": "global", "sources": ["most_followed"], "account": account}
        for account in await _suggested(request, viewer)
    ]


@router.get("/api/v1/suggestions")
async def suggestions_v1(
    request: Request, viewer: Viewer = Depends(require("read:accounts"))
) -> list[dict[str, Any]]:
    """Deprecated since Mastodon 3.4: the same accounts, without their reason."""
    return await _suggested(request, viewer)


@router.delete("/api/v1/suggestions/{account_id}")
async def dismiss_suggestion(
    account_id: str, viewer: Viewer = Depends(require("read:accounts"))
) -> dict[str, Any]:
    """Mastodon answers 200 whatever the id; Roost does not remember the dismissal
    (its suggestions are the most followed accounts, the same for everyone)."""
    return {}
