"""Likes, boosts and bookmarks: the actions on a status, who did them, and the
viewer's own favourites and bookmarks lists (statuses/interactions.py has the rules)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.api.auth import Viewer, optional, require, viewer_account_id
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon.common import paged, path_id
from roost.api.pagination import page_from
from roost.api.params import Params, parse, read_params
from roost.api.responses import JSONResponse
from roost.errors import not_found
from roost.statuses import interaction_queries
from roost.statuses import interactions as ops
from roost.statuses.queries import get_status

router = APIRouter()


async def _act(
    request: Request,
    viewer: Viewer,
    status_id: str,
    action: Callable[[AsyncConnection, int], Awaitable[int]],
) -> dict[str, Any]:
    """Runs one action in one transaction and answers the status it returns."""
    target = path_id(status_id)
    async with roost_of(request).db.write() as conn:
        result_id = await action(conn, target)
        view = await get_status(conn, result_id, viewer.account_id)
    if view is None:
        raise not_found()
    return entities.status(view, base_url(request), viewer_id=viewer.account_id)


@router.post("/api/v1/statuses/{status_id}/favourite")
async def favourite(
    request: Request, status_id: str, viewer: Viewer = Depends(require("write:favourites"))
) -> dict[str, Any]:
    ids = roost_of(request).ids
    return await _act(
        request,
        viewer,
        status_id,
        lambda conn, target: ops.favourite(conn, ids, viewer.account_id, target),
    )


@router.post("/api/v1/statuses/{status_id}/unfavourite")
async def unfavourite(
    request: Request, status_id: str, viewer: Viewer = Depends(require("write:favourites"))
) -> dict[str, Any]:
    ids = roost_of(request).ids
    return await _act(
        request,
        viewer,
        status_id,
        lambda conn, target: ops.unfavourite(conn, ids, viewer.account_id, target),
    )


@router.post("/api/v1/statuses/{status_id}/bookmark")
async def bookmark(
    request: Request, status_id: str, viewer: Viewer = Depends(require("write:bookmarks"))
) -> dict[str, Any]:
    ids = roost_of(request).ids
    return await _act(
        request,
        viewer,
        status_id,
        lambda conn, target: ops.bookmark(conn, ids, viewer.account_id, target),
    )


@router.post("/api/v1/statuses/{status_id}/unbookmark")
async def unbookmark(
    request: Request, status_id: str, viewer: Viewer = Depends(require("write:bookmarks"))
) -> dict[str, Any]:
    return await _act(
        request,
        viewer,
        status_id,
        lambda conn, target: ops.unbookmark(conn, viewer.account_id, target),
    )


class ReblogParams(Params):
    visibility: str | None = None


@router.post("/api/v1/statuses/{status_id}/reblog")
async def reblog(
    request: Request, status_id: str, viewer: Viewer = Depends(require("write:statuses"))
) -> dict[str, Any]:
    params = await parse(request, ReblogParams)
    visibility = ops.check_boost_visibility(params.visibility or None)
    ids = roost_of(request).ids
    return await _act(
        request,
        viewer,
        status_id,
        lambda conn, target: ops.reblog(conn, ids, viewer.account_id, target, visibility),
    )


@router.post("/api/v1/statuses/{status_id}/unreblog")
async def unreblog(
    request: Request, status_id: str, viewer: Viewer = Depends(require("write:statuses"))
) -> dict[str, Any]:
    return await _act(
        request,
        viewer,
        status_id,
        lambda conn, target: ops.unreblog(conn, roost_of(request).ids, viewer.account_id, target),
    )


async def _who(
    request: Request, status_id: str, viewer: Viewer | None, boosts: bool
) -> JSONResponse:
    target = path_id(status_id)
    page = page_from(await read_params(request), default=40, maximum=80)
    viewer_id = viewer_account_id(viewer)
    async with roost_of(request).db.read() as conn:
        listing = interaction_queries.reblogged_by if boosts else interaction_queries.favourited_by
        result = await listing(conn, target, viewer_id, page)
    if result is None:
        raise not_found()
    base = base_url(request)
    return paged(
        request,
        [entities.account(row, base) for row in result.items],
        result.first_key,
        result.last_key,
    )


@router.get("/api/v1/statuses/{status_id}/favourited_by")
async def favourited_by(
    request: Request, status_id: str, viewer: Viewer | None = Depends(optional("read:accounts"))
) -> JSONResponse:
    return await _who(request, status_id, viewer, boosts=False)


@router.get("/api/v1/statuses/{status_id}/reblogged_by")
async def reblogged_by(
    request: Request, status_id: str, viewer: Viewer | None = Depends(optional("read:accounts"))
) -> JSONResponse:
    return await _who(request, status_id, viewer, boosts=True)


async def _saved(request: Request, viewer: Viewer, bookmarked: bool) -> JSONResponse:
    page = page_from(await read_params(request), default=20, maximum=40)
    async with roost_of(request).db.read() as conn:
        listing = (
            interaction_queries.bookmarks_page
            if bookmarked
            else interaction_queries.favourites_page
        )
        result = await listing(conn, viewer.account_id, page)
    base = base_url(request)
    body = [entities.status(view, base, viewer_id=viewer.account_id) for view in result.items]
    return paged(request, body, result.first_key, result.last_key)


@router.get("/api/v1/favourites")
async def favourites(
    request: Request, viewer: Viewer = Depends(require("read:favourites"))
) -> JSONResponse:
    return await _saved(request, viewer, bookmarked=False)


@router.get("/api/v1/bookmarks")
async def bookmarks(
    request: Request, viewer: Viewer = Depends(require("read:bookmarks"))
) -> JSONResponse:
    return await _saved(request, viewer, bookmarked=True)
