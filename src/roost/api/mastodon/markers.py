"""GET /api/v1/markers?timeline[]=home&timeline[]=notifications, POST /api/v1/markers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from roost.api.auth import Viewer, require
from roost.api.context import roost_of
from roost.api.mastodon import entities
from roost.api.params import read_params
from roost.api.responses import JSONResponse
from roost.errors import ApiError
from roost.ids import parse_id
from roost.markers import TIMELINES, get_markers, save_markers

router = APIRouter()


@router.get("/api/v1/markers")
async def show_markers(
    request: Request, viewer: Viewer = Depends(require("read:statuses"))
) -> JSONResponse:
    raw = (await read_params(request)).get("timeline", [])
    timelines = {
        value for value in (raw if isinstance(raw, list) else [raw]) if isinstance(value, str)
    }
    async with roost_of(request).db.read() as conn:
        rows = await get_markers(conn, viewer.account_id, timelines)
    return JSONResponse({name: entities.marker(row) for name, row in rows.items()})


def _last_read_ids(params: dict[str, Any]) -> dict[str, int]:
    """{"home": {"last_read_id": "1"}} -> {"home": 1}; other timelines are ignored."""
    wanted: dict[str, int] = {}
    for timeline in TIMELINES:
        given = params.get(timeline)
        if given is None:
            continue
        raw = given.get("last_read_id") if isinstance(given, dict) else None
        value = parse_id(raw)
        if value is None:
            raise ApiError(422, f"Validation failed: {timeline}[last_read_id] must be an id")
        wanted[timeline] = value
    return wanted


@router.post("/api/v1/markers")
async def save(
    request: Request, viewer: Viewer = Depends(require("write:statuses"))
) -> JSONResponse:
    wanted = _last_read_ids(await read_params(request))
    if not wanted:
        return JSONResponse({})
    async with roost_of(request).db.write() as conn:
        rows = await save_markers(conn, viewer.account_id, wanted)
    return JSONResponse({name: entities.marker(row) for name, row in rows.items()})
