"""GET /api/v1/tags/:name: a hashtag with its last week of use."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from roost.api.auth import Viewer, optional
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.errors import not_found
from roost.timelines.tag import get_tag

router = APIRouter()


@router.get("/api/v1/tags/{name}")
async def show_tag(
    request: Request, name: str, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> dict[str, Any]:
    async with roost_of(request).db.read() as conn:
        info = await get_tag(conn, name)
    if info is None:
        raise not_found()
    return entities.tag(info, base_url(request))
