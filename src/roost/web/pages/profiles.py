"""Profile pages: `/@{username}` with the account's statuses, and the follow / block /
mute buttons as plain forms.

The statuses are the same read as GET /api/v1/accounts/:id/statuses
(statuses.queries.account_status_ids, which applies `visible_to`: a locked account's
private posts only to its followers, nothing across a block) hydrated the same way;
the buttons call the same operations as the API routers (social.operations, blocks,
mutes), so no rule exists twice. Every POST answers 303 back to the profile, so the
page works without JavaScript.

Statements per page: the viewer's token, the account, the page's ids, hydration's fixed
set and (signed in) the relationship: a constant whatever the page size.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.accounts import queries as account_queries
from roost.api.auth import Viewer
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.pagination import page_from
from roost.errors import ApiError
from roost.ids import IdGenerator
from roost.paging import Page
from roost.social import blocks, mutes
from roost.social import operations as social_ops
from roost.social import queries as social_queries
from roost.statuses import queries as status_queries
from roost.statuses.queries import hydrate
from roost.web.render import error_page, page, redirect
from roost.web.session import checked_form, current_viewer, require_viewer

router = APIRouter()

PROFILE_PAGE, PROFILE_PAGE_MAX = 20, 40


def paging_of(request: Request, *, default: int, maximum: int) -> Page | HTMLResponse:
    """The page a list's URL asks for (`max_id`, `limit`, checked as the API checks
    them), or the error page a bad one gets (422, as the API answers)."""
    params = {k: v for k, v in request.query_params.items() if k in ("max_id", "limit")}
    try:
        return page_from(params, default=default, maximum=maximum)
    except ApiError as error:
        return error_page(request, error.status, "This address does not work", error.message)


async def viewer_account(conn: AsyncConnection, viewer: Viewer | None) -> Any:
    """The signed-in account's row for the layout (None when signed out)."""
    if viewer is None:
        return None
    return await account_queries.get_account(conn, viewer.account_id)


def not_found_page(request: Request, viewer_row: Any, what: str = "Page") -> HTMLResponse:
    return page(request, "profiles/not_found.html", status_code=404, viewer=viewer_row,
                what=what)


def status_entities(request: Request, views: list[Any], viewer_id: int | None
                    ) -> list[dict[str, Any]]:
    base = base_url(request)
    return [entities.status(view, base, viewer_id=viewer_id) for view in views]


@router.get("/@{username}", response_class=HTMLResponse, include_in_schema=False)
async def profile(request: Request, username: str) -> HTMLResponse:
    viewer = await current_viewer(request)
    viewer_id = viewer.account_id if viewer is not None else None
    paging = paging_of(request, default=PROFILE_PAGE, maximum=PROFILE_PAGE_MAX)
    if isinstance(paging, HTMLResponse):
        return paging
    async with roost_of(request).db.read() as conn:
        me = await viewer_account(conn, viewer)
        row = await account_queries.find_by_username(conn, username)
        if row is None:
            return not_found_page(request, me, "Account")
        ids = await status_queries.account_status_ids(conn, row.id, viewer_id, paging)
        views = await hydrate(conn, ids, viewer_id)
        relationship = None
        if viewer_id is not None and viewer_id != row.id:
            (found,) = await social_queries.relationships(conn, viewer_id, [row.id])
            relationship = entities.relationship(found)
    account = entities.account(row, base_url(request))
    older = f"/@{row.username}?max_id={ids[-1]}" if len(ids) == paging.limit else None
    return page(
        request, "profiles/profile.html", viewer=me, account=account,
        relationship=relationship, statuses=status_entities(request, views, viewer_id),
        older=older, is_self=viewer_id == row.id,
    )


FOLLOWS_PAGE, FOLLOWS_PAGE_MAX = 40, 80


async def _follow_list(request: Request, username: str, followers: bool) -> HTMLResponse:
    """`/@{username}/followers` and `/following`: GET /api/v1/accounts/:id/followers and
    /following's read (the follow rows' page, then their accounts), paged by the
    follow rows' ids with `?max_id=` as the API's Link header pages them."""
    viewer = await current_viewer(request)
    paging = paging_of(request, default=FOLLOWS_PAGE, maximum=FOLLOWS_PAGE_MAX)
    if isinstance(paging, HTMLResponse):
        return paging
    async with roost_of(request).db.read() as conn:
        me = await viewer_account(conn, viewer)
        row = await account_queries.find_by_username(conn, username)
        if row is None:
            return not_found_page(request, me, "Account")
        listing = social_queries.followers_page if followers else social_queries.following_page
        found = await listing(conn, row.id, paging)
    base = base_url(request)
    kind = "followers" if followers else "following"
    older = (f"/@{row.username}/{kind}?max_id={found.last_key}"
             if len(found.rows) == paging.limit and found.last_key is not None else None)
    return page(request, "profiles/follows.html", viewer=me,
                account=entities.account(row, base), kind=kind, older=older,
                accounts=[entities.account(other, base) for other in found.accounts])


@router.get("/@{username}/followers", response_class=HTMLResponse, include_in_schema=False)
async def followers(request: Request, username: str) -> HTMLResponse:
    return await _follow_list(request, username, followers=True)


@router.get("/@{username}/following", response_class=HTMLResponse, include_in_schema=False)
async def following(request: Request, username: str) -> HTMLResponse:
    return await _follow_list(request, username, followers=False)


Action = Callable[[AsyncConnection, IdGenerator, int, int], Awaitable[None]]


async def _follow(conn: AsyncConnection, ids: IdGenerator, me: int, target: int) -> None:
    await social_ops.follow(conn, ids, me, target)


async def _mute(conn: AsyncConnection, ids: IdGenerator, me: int, target: int) -> None:
    # The API's defaults: notifications hidden too, no expiry.
    await mutes.mute(conn, ids, me, target, hide_notifications=True, duration_seconds=0)


ACTIONS: dict[str, Action] = {
    "follow": _follow,
    # Unfollowing a locked account also withdraws a pending request (social.operations).
    "unfollow": social_ops.unfollow,
    "block": blocks.block,
    "unblock": blocks.unblock,
    "mute": _mute,
    "unmute": mutes.unmute,
}


async def _act(request: Request, username: str, action: str, viewer: Viewer
               ) -> RedirectResponse | HTMLResponse:
    await checked_form(request)
    roost = roost_of(request)
    try:
        async with roost.db.write() as conn:
            row = await account_queries.find_by_username(conn, username)
            if row is None:
                return not_found_page(request, await viewer_account(conn, viewer), "Account")
            await ACTIONS[action](conn, roost.ids, viewer.account_id, row.id)
    except ApiError as error:
        # Following yourself or someone who blocks you: rolled back, nothing written.
        async with roost.db.read() as conn:
            me = await viewer_account(conn, viewer)
        return page(request, "refused.html", status_code=error.status, viewer=me,
                    message=error.message, back=f"/@{username}",
                    back_label="Back to the profile")
    return redirect(f"/@{row.username}")


def _register(action: str) -> None:
    async def handler(request: Request, username: str,
                      viewer: Viewer = Depends(require_viewer)
                      ) -> RedirectResponse | HTMLResponse:
        return await _act(request, username, action, viewer)

    handler.__name__ = f"profile_{action}"
    router.add_api_route(f"/@{{username}}/{action}", handler, methods=["POST"],
                         response_model=None, include_in_schema=False)


for _action in ACTIONS:
    _register(_action)
