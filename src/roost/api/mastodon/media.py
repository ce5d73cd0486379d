"""Media attachments: upload (v1, v2), read and describe; issue 7, docs/media.md.

POST /api/v2/media processes a small upload in the request (200) and leaves a large
one (over ROOST_MEDIA_ASYNC_BYTES) to the media consumer (202, `url: null`; clients
poll GET /api/v1/media/:id, 206 until ready). POST /api/v1/media always processes in
the request. `thumbnail` (a custom preview, for audio and video in Mastodon) is
ignored: Roost takes pictures only and makes their previews itself.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.datastructures import UploadFile

from roost.api.auth import Viewer, require
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon.common import path_id
from roost.api.params import Params, read_params, validate
from roost.api.responses import JSONResponse
from roost.db.tables import MEDIA_FAILED, MEDIA_PROCESSING
from roost.errors import ApiError
from roost.media import operations as media_ops
from roost.media import queries as media_queries
from roost.media.processing import megabytes

router = APIRouter()
# Multipart framing and the other fields, on top of the file itself.
BODY_SLACK_BYTES = 64 * 1024


class MediaParams(Params):
    description: str | None = Field(default=None, max_length=media_ops.DESCRIPTION_MAX)
    focus: str | None = Field(default=None, max_length=64)


def too_large(max_bytes: int) -> ApiError:
    # 422 like Mastodon ("File file size must be less than 16 MB"), not 413.
    return ApiError(422, f"Validation failed: File size must be less than {megabytes(max_bytes)}")


async def read_file_param(
    request: Request, name: str, *, required: bool, files_in_body: int = 1
) -> bytes | None:
    """The bytes of multipart file `name`, refused (422) above the image byte limit:
    before the body is parsed when Content-Length is over what `files_in_body` files
    may take, and while reading the file otherwise."""
    max_bytes = roost_of(request).settings.media_max_image_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes * files_in_body + BODY_SLACK_BYTES:
        raise too_large(max_bytes)
    value = (await read_params(request)).get(name)
    if value is None or value == "":
        if required:
            raise ApiError(422, f"Validation failed: {name.capitalize()} is missing")
        return None
    if not isinstance(value, UploadFile):
        raise ApiError(422, f"Validation failed: {name.capitalize()} must be a file upload")
    data = await value.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large(max_bytes)
    return data


def parse_focus(raw: str | None) -> tuple[float, float] | None:
    """Mastodon's "x,y", each from -1.0 to 1.0."""
    if raw is None or raw.strip() == "":
        return None
    parts = raw.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        x = y = math.nan
    if not (len(parts) == 2 and -1.0 <= x <= 1.0 and -1.0 <= y <= 1.0):
        raise ApiError(422, "Validation failed: Focus must be two numbers from -1 to 1: x,y")
    return x, y


async def _upload(request: Request, viewer: Viewer, *, may_defer: bool) -> Response:
    data = await read_file_param(request, "file", required=True)
    assert data is not None
    params = validate(MediaParams, await read_params(request))
    upload = media_ops.Upload(
        data=data, description=params.description or None,
        focus=parse_focus(params.focus) or (0.0, 0.0),
    )
    roost = roost_of(request)
    later = may_defer and len(data) > roost.settings.media_async_bytes
    prepare = media_ops.prepare_later if later else media_ops.prepare_now
    # The CPU work and the file writes happen before the transaction, not inside it.
    prepared = await prepare(roost.ids, roost.settings, viewer.account_id, upload)
    async with roost.db.write() as conn:
        media_id = await media_ops.record_upload(conn, roost.ids, viewer.account_id, prepared)
        row = await media_queries.get_own(conn, viewer.account_id, media_id)
    assert row is not None
    await media_ops.ensure_stored(roost.settings, prepared)
    return JSONResponse(entities.media_attachment(row, base_url(request)),
                        status_code=202 if later else 200)


@router.post("/api/v2/media")
async def upload_v2(request: Request, viewer: Viewer = Depends(require("write:media"))
                    ) -> Response:
    return await _upload(request, viewer, may_defer=True)


@router.post("/api/v1/media")
async def upload_v1(request: Request, viewer: Viewer = Depends(require("write:media"))
                    ) -> Response:
    return await _upload(request, viewer, may_defer=False)


@router.get("/api/v1/media/{media_id}")
async def get_media(request: Request, media_id: str,
                    viewer: Viewer = Depends(require("write:media"))
                    ) -> Response:
    """The uploader's own attachment: 206 while processing, 422 if processing failed."""
    async with roost_of(request).db.read() as conn:
        row = await media_queries.get_own(conn, viewer.account_id, path_id(media_id))
    if row is None:
        raise ApiError(404, "Record not found")
    if row.state == MEDIA_FAILED:
        raise ApiError(422, f"Validation failed: {row.error or 'the file could not be processed'}")
    status = 206 if row.state == MEDIA_PROCESSING else 200
    return JSONResponse(entities.media_attachment(row, base_url(request)), status_code=status)


@router.put("/api/v1/media/{media_id}")
async def update_media(request: Request, media_id: str,
                       viewer: Viewer = Depends(require("write:media"))) -> dict[str, Any]:
    """Description and focus of one's own upload, until it is attached to a status."""
    target = path_id(media_id)
    params = validate(MediaParams, await read_params(request))
    focus = parse_focus(params.focus)
    async with roost_of(request).db.write() as conn:
        row = await media_ops.describe(conn, viewer.account_id, target,
                                       params.description, focus)
    return entities.media_attachment(row, base_url(request))
