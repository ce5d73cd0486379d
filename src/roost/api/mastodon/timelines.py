"""GET /api/v1/timelines/home, /public and /tag/:hashtag."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from roost.api.auth import Viewer, optional, require, viewer_account_id
from roost.api.context import roost_of
from roost.api.mastodon.common import status_page
from roost.api.pagination import page_from
from roost.api.params import Params, read_params, validate
from roost.api.responses import JSONResponse
from roost.timelines.home import collapse_boost_views
from roost.timelines.home_read import home_timeline_page
from roost.timelines.public import public_status_ids
from roost.timelines.tag import tag_filter, tag_status_ids

router = APIRouter()


@router.get("/api/v1/timelines/home")
async def home(
    request: Request, viewer: Viewer = Depends(require("read:statuses"))
) -> JSONResponse:
    page = page_from(await read_params(request), default=20, maximum=40)
    roost = roost_of(request)
    async with roost.db.read() as conn:
        ids, first, last = await home_timeline_page(roost, conn, viewer.account_id, page)
        return await status_page(request, conn, ids, viewer.account_id, keys=(first, last),
                                 arrange=collapse_boost_views)


class PublicParams(Params):
    local: bool = False
    remote: bool = False
    only_media: bool = False


class TagParams(PublicParams):
    any_: str | list[str] = Field(default_factory=list, alias="any")
    all_: str | list[str] = Field(default_factory=list, alias="all")
    none: str | list[str] = Field(default_factory=list)


def _names(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


@router.get("/api/v1/timelines/public")
async def public(
    request: Request, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> JSONResponse:
    raw = await read_params(request)
    params = validate(PublicParams, raw)
    page = page_from(raw, default=20, maximum=40)
    viewer_id = viewer_account_id(viewer)
    async with roost_of(request).db.read() as conn:
        ids = await public_status_ids(
            conn, viewer_id, page, remote=params.remote, only_media=params.only_media
        )
        return await status_page(request, conn, ids, viewer_id)


@router.get("/api/v1/timelines/tag/{hashtag}")
async def tag(
    request: Request, hashtag: str, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> JSONResponse:
    raw = await read_params(request)
    params = validate(TagParams, raw)
    page = page_from(raw, default=20, maximum=40)
    wanted = tag_filter(hashtag, _names(params.any_), _names(params.all_), _names(params.none))
    viewer_id = viewer_account_id(viewer)
    async with roost_of(request).db.read() as conn:
        ids = await tag_status_ids(
            conn, viewer_id, page, wanted, remote=params.remote, only_media=params.only_media
        )
        return await status_page(request, conn, ids, viewer_id)
