"""Status pages and the forms that act on statuses; docs/web.md, "Pages: timelines,
posting, status pages".

- GET /@{username}/{id}: the status and its thread, read as GET /api/v1/statuses/:id and
  /context read them (one hydration for the whole thread), so it shows exactly where the
  API would; anything else (hidden, deleted, another author's path) is the same 404 page,
  so a page never tells a hidden status from a missing one.
- GET /statuses/{id}/card: one card alone (roost.js's live updates fetch it).
- POST /statuses: the composer (multipart: text, content warning, visibility, an image
  and its alt text). The image goes through the same media operations as POST
  /api/v1/media and the status through the same statuses.operations.create_status as
  POST /api/v1/statuses, in one transaction: a refused post leaves no attachment row
  behind. A refusal is the form again (422) with the text kept and the reason shown;
  an image counts in the API's media-upload bucket, and a spent one is the 429 page.
- POST /statuses/{id}/favourite|unfavourite|reblog|unreblog|delete: the API's operations,
  then 303 back to the page the form was on (or the status page).
Every POST reads its form through session.checked_form (CSRF) first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from roost.accounts.queries import get_user
from roost.api.auth import Viewer
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon.media import MediaParams, read_file_param
from roost.api.params import validate
from roost.errors import ApiError
from roost.ids import parse_id
from roost.media import operations as media_ops
from roost.statuses import interactions as interaction_ops
from roost.statuses import operations as status_ops
from roost.statuses import queries as status_queries
from roost.statuses.visibility import VISIBILITY_VALUES
from roost.web.pages.auth import too_many_attempts
from roost.web.pages.home import status_entities
from roost.web.render import error_page, page, redirect, same_site_referer
from roost.web.session import (
    checked_form,
    current_viewer,
    form_text,
    media_upload_refused_until,
    require_viewer,
    signed_in_of,
)

router = APIRouter()

DRAFT_FIELDS = ("status", "spoiler_text", "visibility", "description", "in_reply_to_id")
NOT_FOUND_TITLE = "Post not found"
NOT_FOUND_MESSAGE = "This post does not exist, was deleted, or is not visible to you."


def not_found_page(request: Request) -> Response:
    return error_page(request, 404, NOT_FOUND_TITLE, NOT_FOUND_MESSAGE)


def refused_page(request: Request, error: ApiError) -> Response:
    if error.status == 404:
        return not_found_page(request)
    return error_page(request, error.status, "That did not work", error.message)


# --- reading ---------------------------------------------------------------------------


@router.get("/@{username}/{status_id:int}")
async def status_page(request: Request, username: str, status_id: int) -> Response:
    viewer = await current_viewer(request)
    viewer_id = viewer.account_id if viewer is not None else None
    limit = (status_queries.DESCENDANTS_LIMIT if viewer_id is not None
             else status_queries.DESCENDANTS_LIMIT_ANONYMOUS)
    async with roost_of(request).db.read() as conn:
        view = await status_queries.get_status(conn, status_id, viewer_id)
        if view is None or view.account.username.lower() != username.lower():
            return not_found_page(request)
        if view.reblog is not None:  # a boost's page is its original's
            original = view.reblog
            return redirect(f"/@{original.account.username}/{original.status.id}")
        ancestors = await status_queries.ancestor_ids(conn, view.status)
        descendants = await status_queries.descendant_ids(conn, view.status, limit)
        # One hydration for both lists, as the API's /context: constant statements.
        thread = {int(entity["id"]): entity for entity in await status_entities(
            request, conn, ancestors + descendants, viewer_id)}
    focus = entities.status(view, base_url(request), viewer_id=viewer_id)
    return page(
        request, "statuses/thread.html", focus=focus,
        ancestors=[thread[i] for i in ancestors if i in thread],
        descendants=[thread[i] for i in descendants if i in thread],
        max_chars=roost_of(request).settings.max_status_chars,
    )


@router.get("/statuses/{status_id:int}/card")
async def status_card(request: Request, status_id: int) -> Response:
    viewer = await current_viewer(request)
    viewer_id = viewer.account_id if viewer is not None else None
    async with roost_of(request).db.read() as conn:
        found = await status_entities(request, conn, [status_id], viewer_id)
    if not found:
        return not_found_page(request)
    return page(request, "statuses/card.html", status=found[0])


# --- posting ---------------------------------------------------------------------------


async def _image(request: Request, form: FormData, description: str
                 ) -> media_ops.Upload | None:
    """The composer's image as the media API reads and validates it, or None when the
    file field was left empty (or the form was not multipart: it has no file then)."""
    data = None
    if isinstance(form.get("file"), UploadFile):
        data = await read_file_param(request, "file", required=False)
    if not data:
        if description.strip():
            raise ApiError(422, "Validation failed: an image description needs an image")
        return None
    params = validate(MediaParams, {"description": description})
    return media_ops.Upload(data=data, description=params.description or None,
                            focus=(0.0, 0.0))


class UploadsRefused(Exception):
    """The account's media-upload bucket is spent: the 429 page, nothing decoded."""

    def __init__(self, until: float) -> None:
        super().__init__(until)
        self.until = until


async def _publish(request: Request, viewer: Viewer, form: FormData,
                   draft: dict[str, str]) -> int:
    """Creates the status (and its image); the new status's id, or an ApiError."""
    roost = roost_of(request)
    visibility = VISIBILITY_VALUES.get(draft["visibility"] or "public")
    if visibility is None:
        raise ApiError(422, "Validation failed: Visibility is not included in the list")
    in_reply_to = None
    if draft["in_reply_to_id"]:
        in_reply_to = parse_id(draft["in_reply_to_id"])
        if in_reply_to is None:
            raise ApiError(404, "Record not found")
    upload = await _image(request, form, draft["description"])
    if upload is not None:
        until = await media_upload_refused_until(request, viewer.account_id)
        if until is not None:
            raise UploadsRefused(until)
    # As POST /api/v1/media: the CPU work and file writes happen before the transaction.
    prepared = (await media_ops.prepare_now(roost.ids, roost.settings, viewer.account_id,
                                            upload) if upload is not None else None)
    async with roost.db.write() as conn:
        media_ids: tuple[int, ...] = ()
        if prepared is not None:
            media_ids = (await media_ops.record_upload(conn, roost.ids, viewer.account_id,
                                                       prepared),)
        user = await get_user(conn, viewer.account_id)
        status_draft = status_ops.StatusDraft(
            text=draft["status"],
            visibility=visibility,
            spoiler_text=draft["spoiler_text"],
            sensitive=bool(draft["spoiler_text"]),
            language=(user.default_language or None) if user is not None else None,
            in_reply_to_id=in_reply_to,
            application_id=viewer.token.application_id,
            media_ids=media_ids,
        )
        status_id, _created = await status_ops.create_status(
            conn, roost.ids, viewer.account_id, status_draft,
            max_chars=roost.settings.max_status_chars, base=base_url(request),
        )
    if prepared is not None:
        await media_ops.ensure_stored(roost.settings, prepared)
    return status_id


async def _reply_target(request: Request, conn: AsyncConnection, viewer: Viewer,
                        raw_id: str) -> dict[str, Any] | None:
    target = parse_id(raw_id) if raw_id else None
    if target is None:
        return None
    found = await status_entities(request, conn, [target], viewer.account_id)
    return found[0] if found else None


@router.post("/statuses")
async def compose(request: Request, viewer: Viewer = Depends(require_viewer)) -> Response:
    form = await checked_form(request)
    draft = {name: form_text(form, name) for name in DRAFT_FIELDS}
    try:
        status_id = await _publish(request, viewer, form, draft)
    except UploadsRefused as refused:
        return too_many_attempts(request, refused.until)
    except ApiError as error:
        async with roost_of(request).db.read() as conn:
            reply_to = await _reply_target(request, conn, viewer, draft["in_reply_to_id"])
        message = ("The post you replied to is not available." if error.status == 404
                   else error.message.removeprefix("Validation failed: "))
        return page(request, "statuses/compose.html", 422, error=message, draft=draft,
                    reply_to=reply_to, max_chars=roost_of(request).settings.max_status_chars)
    signed_in = signed_in_of(request)
    if draft["in_reply_to_id"] and signed_in is not None:
        return redirect(f"/@{signed_in.username}/{status_id}")
    return redirect("/home")


# --- actions ---------------------------------------------------------------------------

Action = Callable[[AsyncConnection, Viewer, int], Awaitable[int]]


async def _act(request: Request, viewer: Viewer, status_id: int, action: Action,
               *, deleting: bool = False) -> Response:
    """Checks the form, runs `action` in one transaction, and sends the browser back."""
    await checked_form(request)
    try:
        async with roost_of(request).db.write() as conn:
            result_id = await action(conn, viewer, status_id)
    except ApiError as error:
        return refused_page(request, error)
    back = same_site_referer(request, "")
    if deleting and (not back or back.split("?")[0].endswith(f"/{status_id}")):
        return redirect("/home")  # the page the form was on shows the deleted status
    if back:
        return redirect(back)
    async with roost_of(request).db.read() as conn:
        view = await status_queries.get_status(conn, result_id, viewer.account_id)
    if view is None:
        return redirect("/home")
    shown = view.reblog or view  # a boost: the page of what was boosted
    return redirect(f"/@{shown.account.username}/{shown.status.id}")


@router.post("/statuses/{status_id:int}/favourite")
async def favourite(request: Request, status_id: int,
                    viewer: Viewer = Depends(require_viewer)) -> Response:
    ids = roost_of(request).ids
    return await _act(request, viewer, status_id, lambda conn, who, target:
                      interaction_ops.favourite(conn, ids, who.account_id, target))


@router.post("/statuses/{status_id:int}/unfavourite")
async def unfavourite(request: Request, status_id: int,
                      viewer: Viewer = Depends(require_viewer)) -> Response:
    ids = roost_of(request).ids
    return await _act(request, viewer, status_id, lambda conn, who, target:
                      interaction_ops.unfavourite(conn, ids, who.account_id, target))


@router.post("/statuses/{status_id:int}/reblog")
async def reblog(request: Request, status_id: int,
                 viewer: Viewer = Depends(require_viewer)) -> Response:
    ids = roost_of(request).ids
    return await _act(request, viewer, status_id, lambda conn, who, target:
                      interaction_ops.reblog(conn, ids, who.account_id, target, None))


@router.post("/statuses/{status_id:int}/unreblog")
async def unreblog(request: Request, status_id: int,
                   viewer: Viewer = Depends(require_viewer)) -> Response:
    ids = roost_of(request).ids
    return await _act(request, viewer, status_id, lambda conn, who, target:
                      interaction_ops.unreblog(conn, ids, who.account_id, target))


@router.post("/statuses/{status_id:int}/delete")
async def delete(request: Request, status_id: int,
                 viewer: Viewer = Depends(require_viewer)) -> Response:
    ids = roost_of(request).ids

    async def delete_own(conn: AsyncConnection, who: Viewer, target: int) -> int:
        # As DELETE /api/v1/statuses/:id: one's own only, anything else is a 404.
        await status_ops.delete_status(conn, ids, who.account_id, target)
        return target

    return await _act(request, viewer, status_id, delete_own, deleting=True)
