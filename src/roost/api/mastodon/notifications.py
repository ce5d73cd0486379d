"""GET /api/v1/notifications, GET /api/v1/notifications/unread_count,
GET /api/v1/notifications/:id, POST /api/v1/notifications/:id/dismiss,
POST /api/v1/notifications/clear."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from roost.api.auth import Viewer, require
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon.common import paged, path_id
from roost.api.pagination import page_from
from roost.api.params import read_params
from roost.api.responses import JSONResponse
from roost.errors import ApiError, not_found
from roost.ids import parse_id
from roost.notifications import queries
from roost.notifications.queries import NotificationFilter, NotificationView

router = APIRouter()

UNREAD_COUNT_DEFAULT = 100
UNREAD_COUNT_MAX = 1000


def _strings(params: dict[str, Any], name: str) -> frozenset[str] | None:
    raw = params.get(name)
    if raw is None or raw == "" or raw == []:
        return None
    values = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(value, str) for value in values):
        raise ApiError(422, f"Validation failed: {name} must be a list of types")
    return frozenset(values)


def _filter(params: dict[str, Any]) -> NotificationFilter:
    from_account_id = None
    if params.get("account_id") not in (None, ""):
        from_account_id = parse_id(params["account_id"])
        if from_account_id is None:
            raise ApiError(422, "Validation failed: account_id must be an id")
    return NotificationFilter(
        types=_strings(params, "types"),
        exclude_types=_strings(params, "exclude_types") or frozenset(),
        from_account_id=from_account_id,
    )


def _render(request: Request, views: list[NotificationView]) -> list[dict[str, Any]]:
    base = base_url(request)
    return [
        entities.notification(view.notification, view.account, view.status, base) for view in views
    ]


@router.get("/api/v1/notifications")
async def list_notifications(
    request: Request, viewer: Viewer = Depends(require("read:notifications"))
) -> JSONResponse:
    params = await read_params(request)
    page = page_from(params, default=40, maximum=80)
    wanted = _filter(params)
    async with roost_of(request).db.read() as conn:
        views, page_ids = await queries.notification_page(conn, viewer.account_id, page, wanted)
    first = page_ids[0] if page_ids else None
    last = page_ids[-1] if page_ids else None
    return paged(request, _render(request, views), first, last)


@router.get("/api/v1/notifications/unread_count")
async def unread_count(
    request: Request, viewer: Viewer = Depends(require("read:notifications"))
) -> JSONResponse:
    params = await read_params(request)
    cap = page_from(params, default=UNREAD_COUNT_DEFAULT, maximum=UNREAD_COUNT_MAX).limit
    async with roost_of(request).db.read() as conn:
        count = await queries.unread_count(conn, viewer.account_id, _filter(params), cap)
    return JSONResponse({"count": count})


@router.post("/api/v1/notifications/clear")
async def clear(
    request: Request, viewer: Viewer = Depends(require("write:notifications"))
) -> JSONResponse:
    async with roost_of(request).db.write() as conn:
        await queries.clear(conn, viewer.account_id)
    return JSONResponse({})


@router.get("/api/v1/notifications/{notification_id}")
async def get_notification(
    request: Request,
    notification_id: str,
    viewer: Viewer = Depends(require("read:notifications")),
) -> JSONResponse:
    wanted = path_id(notification_id)
    async with roost_of(request).db.read() as conn:
        view = await queries.get_notification(conn, viewer.account_id, wanted)
    if view is None:
        raise not_found()
    return JSONResponse(_render(request, [view])[0])


@router.post("/api/v1/notifications/{notification_id}/dismiss")
async def dismiss(
    request: Request,
    notification_id: str,
    viewer: Viewer = Depends(require("write:notifications")),
) -> JSONResponse:
    wanted = path_id(notification_id)
    async with roost_of(request).db.write() as conn:
        dismissed = await queries.dismiss(conn, viewer.account_id, wanted)
    if not dismissed:
        raise not_found()
    return JSONResponse({})
