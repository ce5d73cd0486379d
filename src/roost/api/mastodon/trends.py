"""GET /api/v1/trends/statuses, /api/v1/trends/tags and the deprecated /api/v1/trends
(= tags), as Mastodon serves them: public (a token is optional), paged by `offset`
and `limit`, with Link headers (docs/trends.md). /api/v1/trends/links is always an empty
list: Roost makes no preview cards (it fetches nothing from other sites), and apps ask
for it on their Explore screen, where a 404 shows as an error."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request

from roost.api.auth import Viewer, optional, viewer_account_id
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.params import read_params
from roost.api.responses import JSONResponse
from roost.errors import ApiError
from roost.trends.read import Window, trending_status_page, trending_tag_infos

router = APIRouter()

STATUSES_LIMIT, STATUSES_MAX = 20, 40
TAGS_LIMIT, TAGS_MAX = 10, 20
LINKS_LIMIT, LINKS_MAX = 10, 20
_NUMBER = re.compile(r"-?[0-9]{1,10}")


def _integer(params: dict[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    if isinstance(raw, bool) or not _NUMBER.fullmatch(text):
        raise ApiError(422, f"Validation failed: {name} must be a number")
    return int(text)


def window_from(params: dict[str, Any], *, default: int, maximum: int) -> Window:
    limit = _integer(params, "limit")
    offset = _integer(params, "offset")
    if offset is not None and offset < 0:
        raise ApiError(422, "Validation failed: offset must be 0 or more")
    return Window(
        offset=offset or 0,
        limit=default if limit is None else min(max(limit, 1), maximum),
    )


def _paged(request: Request, items: list[Any], window: Window) -> JSONResponse:
    """Mastodon's offset Link headers: next while a page comes back full, prev past
    the first page."""
    response = JSONResponse(items)
    url = base_url(request) + request.url.path
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
    links = []
    if len(items) == window.limit:
        links.append(f'<{url}?{urlencode([*kept, ("offset", window.offset + window.limit)])}>; '
                     'rel="next"')
    if window.offset > 0:
        previous = max(window.offset - window.limit, 0)
        links.append(f'<{url}?{urlencode([*kept, ("offset", previous)])}>; rel="prev"')
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


@router.get("/api/v1/trends/statuses")
async def trending_statuses(
    request: Request, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> JSONResponse:
    window = window_from(await read_params(request), default=STATUSES_LIMIT,
                         maximum=STATUSES_MAX)
    viewer_id = viewer_account_id(viewer)
    views = await trending_status_page(roost_of(request), viewer_id, window)
    base = base_url(request)
    return _paged(request, [entities.status(v, base, viewer_id=viewer_id) for v in views], window)


async def _tags(request: Request) -> JSONResponse:
    window = window_from(await read_params(request), default=TAGS_LIMIT, maximum=TAGS_MAX)
    infos = await trending_tag_infos(roost_of(request), window)
    base = base_url(request)
    return _paged(request, [entities.tag(info, base) for info in infos], window)


@router.get("/api/v1/trends/tags")
async def trending_tags(
    request: Request, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> JSONResponse:
    return await _tags(request)


@router.get("/api/v1/trends")
async def trends(
    request: Request, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> JSONResponse:
    """Deprecated since Mastodon 3.5: the trending tags."""
    return await _tags(request)


@router.get("/api/v1/trends/links")
async def trending_links(
    request: Request, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> JSONResponse:
    # Checked as Mastodon checks them, so a bad offset is the same 422 as elsewhere.
    window = window_from(await read_params(request), default=LINKS_LIMIT, maximum=LINKS_MAX)
    return _paged(request, [], window)
