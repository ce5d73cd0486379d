"""`/search?q=`: accounts, hashtags and (signed in) statuses, found by the very handler
of GET /api/v2/search (roost.api.mastodon.search.search), so the page and the API share
every rule: a signed-out search finds accounts and hashtags only, `#tag` and `@name`
are lookups, statuses are full-text searched only among those the viewer may see and
that are searchable. An input the API refuses (offset signed out, an unknown `type`) is
shown on the page with the API's status code.

`type` and `offset` page one kind of result ("More accounts"), as in the API. Statements:
the token, the signed-in account, then the API's constant set.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from roost.api.auth import optional
from roost.api.context import roost_of
from roost.api.mastodon import search as search_api
from roost.errors import ApiError
from roost.web.pages.profiles import viewer_account
from roost.web.render import page
from roost.web.session import current_viewer

router = APIRouter()


def _more(query: str, kind: str, offset: int) -> str:
    return "/search?" + urlencode({"q": query, "type": kind, "offset": offset})


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0


@router.get("/search", response_class=HTMLResponse, include_in_schema=False)
async def search(request: Request) -> HTMLResponse:
    viewer = await current_viewer(request)
    # The API's dependency reads a bearer token; a page's request has none but its cookie,
    # so the viewer found from the session is put where the dependency caches it.
    request.scope["roost.viewer"] = viewer
    query = request.query_params.get("q", "")
    found: dict[str, list[Any]] = {"accounts": [], "hashtags": [], "statuses": []}
    error = None
    status_code = 200
    if query.strip():
        try:
            checked = await optional("read:search")(request)
            found = await search_api.search(request, checked)
        except ApiError as refused:
            error, status_code = refused.message, refused.status
    async with roost_of(request).db.read() as conn:
        me = await viewer_account(conn, viewer)
    kind = request.query_params.get("type") or None
    offset = _offset(request)
    more = {
        name: _more(query, name, offset + search_api.SEARCH_LIMIT)
        for name, items in found.items()
        if viewer is not None and len(items) == search_api.SEARCH_LIMIT
    }
    return page(request, "search/results.html", status_code=status_code, viewer=me,
                query=query, found=found, error=error, kind=kind, more=more,
                searched=bool(query.strip()))
