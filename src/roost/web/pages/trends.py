"""`/explore`: trending posts and hashtags, read as GET /api/v1/trends/statuses and
/api/v1/trends/tags read them (roost.trends.read: the cached ranking, then what this
viewer may see: visibility, blocks and mutes applied per viewer). Readable signed out.
Paged by `offset` like the API ("More trending posts").
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon import trends as trends_api
from roost.api.params import read_params
from roost.errors import ApiError
from roost.trends.read import Window, trending_status_page, trending_tag_infos
from roost.web.pages.profiles import viewer_account
from roost.web.render import error_page, page
from roost.web.session import current_viewer

router = APIRouter()


@router.get("/explore", response_class=HTMLResponse, include_in_schema=False)
async def explore(request: Request) -> HTMLResponse:
    viewer = await current_viewer(request)
    viewer_id = viewer.account_id if viewer is not None else None
    params = {k: v for k, v in (await read_params(request)).items() if k == "offset"}
    try:
        window = trends_api.window_from(params, default=trends_api.STATUSES_LIMIT,
                                        maximum=trends_api.STATUSES_MAX)
    except ApiError as error:
        return error_page(request, error.status, "This address does not work", error.message)
    roost = roost_of(request)
    views = await trending_status_page(roost, viewer_id, window)
    tags = await trending_tag_infos(
        roost, Window(offset=0, limit=trends_api.TAGS_LIMIT)) if window.offset == 0 else []
    async with roost.db.read() as conn:
        me = await viewer_account(conn, viewer)
    base = base_url(request)
    more = (f"/explore?offset={window.offset + window.limit}" if len(views) == window.limit
            else None)
    return page(
        request, "explore/trends.html", viewer=me,
        statuses=[entities.status(v, base, viewer_id=viewer_id) for v in views],
        tags=[entities.tag(info, base) for info in tags], more=more,
    )
