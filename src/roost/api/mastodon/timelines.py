"""GET /api/v1/timelines/home."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from roost.api.auth import Viewer, require
from roost.api.context import roost_of
from roost.api.mastodon.common import status_page
from roost.api.pagination import page_from
from roost.api.params import read_params
from roost.api.responses import JSONResponse
from roost.timelines.home import home_status_ids

router = APIRouter()


@router.get("/api/v1/timelines/home")
async def home(
    request: Request, viewer: Viewer = Depends(require("read:statuses"))
) -> JSONResponse:
    page = page_from(await read_params(request), default=20, maximum=40)
    async with roost_of(request).db.read() as conn:
        ids = await home_status_ids(conn, viewer.account_id, page)
        return await status_page(request, conn, ids, viewer.account_id)
