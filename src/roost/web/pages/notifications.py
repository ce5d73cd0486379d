"""`/notifications`: the signed-in person's notifications, the same read as
GET /api/v1/notifications (notifications.queries.notification_page: blocks and
notification mutes hide, statuses the viewer can no longer see drop out), paged with
`?max_id=`, and follow requests answered from the page.

Viewing the newest page moves the notifications read marker (the same marker
GET/POST /api/v1/markers serves) to the newest notification shown, forwards only, so
another client's unread count agrees; what was new since the previous marker is
highlighted. Mastodon's web UI does the same through its markers API when the column
is read.

Statements: the token, the signed-in account, the marker, the page, its accounts,
hydration's fixed set, the follow requests' relationships (when the page shows some),
and the marker's write: a constant whatever the page size.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from roost.api.auth import Viewer
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon.common import path_id
from roost.errors import ApiError
from roost.markers import get_markers, save_markers
from roost.notifications import queries
from roost.notifications.queries import NotificationFilter
from roost.social import follow_requests
from roost.social import queries as social_queries
from roost.web.pages.profiles import paging_of, viewer_account
from roost.web.render import page, redirect
from roost.web.session import checked_form, require_viewer

router = APIRouter()

NOTIFICATIONS_PAGE, NOTIFICATIONS_PAGE_MAX = 40, 80
MARKER = "notifications"


@router.get("/notifications", response_class=HTMLResponse, include_in_schema=False)
async def notifications(request: Request, viewer: Viewer = Depends(require_viewer)
                        ) -> HTMLResponse:
    paging = paging_of(request, default=NOTIFICATIONS_PAGE, maximum=NOTIFICATIONS_PAGE_MAX)
    if isinstance(paging, HTMLResponse):
        return paging
    me = viewer.account_id
    roost = roost_of(request)
    async with roost.db.read() as conn:
        row = await viewer_account(conn, viewer)
        marker = (await get_markers(conn, me, {MARKER})).get(MARKER)
        views, page_ids = await queries.notification_page(conn, me, paging,
                                                           NotificationFilter())
        asking = [v.account.id for v in views if v.notification.type == "follow_request"]
        pending = {
            rel.account_id
            for rel in await social_queries.relationships(conn, me, asking)
            if rel.requested_by
        }
    last_read = marker.last_read_id if marker is not None else 0
    if paging.max_id is None and page_ids and page_ids[0] > last_read:
        async with roost.db.write() as conn:
            await save_markers(conn, me, {MARKER: page_ids[0]})
    base = base_url(request)
    shown = [
        {
            "entity": entities.notification(v.notification, v.account, v.status, base),
            "unread": v.notification.id > last_read,
            "pending": v.account.id in pending,
        }
        for v in views
    ]
    older = (f"/notifications?max_id={page_ids[-1]}" if len(page_ids) == paging.limit
             else None)
    return page(request, "notifications/list.html", viewer=row, notifications=shown,
                older=older)


async def _answer(request: Request, account_id: str, viewer: Viewer, authorize: bool
                  ) -> RedirectResponse | HTMLResponse:
    await checked_form(request)
    roost = roost_of(request)
    try:
        requester = path_id(account_id)
        async with roost.db.write() as conn:
            answer = follow_requests.authorize if authorize else follow_requests.reject
            await answer(conn, roost.ids, viewer.account_id, requester)
    except ApiError as error:
        async with roost.db.read() as conn:
            row = await viewer_account(conn, viewer)
        return page(request, "refused.html", status_code=error.status, viewer=row,
                    message="That follow request is no longer pending.",
                    back="/notifications", back_label="Back to notifications")
    return redirect("/notifications")


@router.post("/notifications/follow_requests/{account_id}/authorize", response_model=None,
             include_in_schema=False)
async def authorize(request: Request, account_id: str, viewer: Viewer = Depends(require_viewer)
                    ) -> RedirectResponse | HTMLResponse:
    return await _answer(request, account_id, viewer, authorize=True)


@router.post("/notifications/follow_requests/{account_id}/reject", response_model=None,
             include_in_schema=False)
async def reject(request: Request, account_id: str, viewer: Viewer = Depends(require_viewer)
                 ) -> RedirectResponse | HTMLResponse:
    return await _answer(request, account_id, viewer, authorize=False)
