"""Statuses: post, read, delete, thread context."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from roost.accounts.queries import get_user
from roost.api.auth import Viewer, optional, require, viewer_account_id
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon.common import id_list, path_id
from roost.api.params import Params, parse
from roost.errors import ApiError, not_found
from roost.ids import parse_id
from roost.statuses import edits as status_edits
from roost.statuses import operations as status_ops
from roost.statuses import queries as status_queries
from roost.statuses.visibility import VISIBILITY_VALUES

router = APIRouter()
IDEMPOTENCY_KEY_MAX = 128


class StatusParams(Params):
    status: str = Field(default="", max_length=100_000)
    visibility: str | None = None
    spoiler_text: str = Field(default="", max_length=100_000)
    sensitive: bool = False
    language: str | None = Field(default=None, max_length=16)
    in_reply_to_id: str | None = Field(default=None, max_length=32)
    media_ids: list[str] | None = None
    poll: dict[str, Any] | None = None
    scheduled_at: str | None = None


def _media_ids(raw: list[str] | None) -> tuple[int, ...]:
    """media_ids[] as ids; one that cannot be an id is nobody's upload (a 422)."""
    ids = []
    for value in raw or ():
        media_id = parse_id(value)
        if media_id is None:
            raise ApiError(422, f"Validation failed: Media {value[:32]} was not found")
        ids.append(media_id)
    return tuple(ids)


def _unsupported(params: StatusParams) -> None:
    if params.poll:
        raise ApiError(422, "Validation failed: polls are not supported yet")
    if params.scheduled_at:
        raise ApiError(422, "Validation failed: scheduled statuses are not supported yet")


@router.post("/api/v1/statuses")
async def create_status(
    request: Request, viewer: Viewer = Depends(require("write:statuses"))
) -> dict[str, Any]:
    params = await parse(request, StatusParams)
    _unsupported(params)
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= IDEMPOTENCY_KEY_MAX and key.isprintable()):
        raise ApiError(
            422, "Validation failed: Idempotency-Key must be 1 to 128 printable characters"
        )
    in_reply_to = None
    if params.in_reply_to_id is not None:
        in_reply_to = parse_id(params.in_reply_to_id)
        if in_reply_to is None:
            raise not_found()
    roost = roost_of(request)
    async with roost.db.write() as conn:
        # Unspecified visibility and language fall back to the poster's preferences.
        visibility_name, language = params.visibility, params.language or None
        if visibility_name is None or language is None:
            user = await get_user(conn, viewer.account_id)
            if visibility_name is None:
                visibility_name = user.default_privacy if user is not None else "public"
            if language is None and user is not None:
                language = user.default_language or None
        if visibility_name not in VISIBILITY_VALUES:
            raise ApiError(422, "Validation failed: Visibility is not included in the list")
        draft = status_ops.StatusDraft(
            text=params.status,
            visibility=VISIBILITY_VALUES[visibility_name],
            spoiler_text=params.spoiler_text,
            sensitive=params.sensitive,
            language=language,
            in_reply_to_id=in_reply_to,
            application_id=viewer.token.application_id,
            media_ids=_media_ids(params.media_ids),
        )
        status_id, _created = await status_ops.create_status(
            conn,
            roost.ids,
            viewer.account_id,
            draft,
            max_chars=roost.settings.max_status_chars,
            idempotency_key=key,
            base=base_url(request),
        )
        view = await status_queries.get_status(conn, status_id, viewer.account_id)
    assert view is not None
    return entities.status(view, base_url(request), viewer_id=viewer.account_id)


@router.get("/api/v1/statuses")
async def get_statuses(
    request: Request, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> list[dict[str, Any]]:
    ids = await id_list(request, maximum=40)
    viewer_id = viewer_account_id(viewer)
    async with roost_of(request).db.read() as conn:
        views = await status_queries.hydrate(conn, ids, viewer_id)
    base = base_url(request)
    return [entities.status(view, base, viewer_id=viewer_id) for view in views]


@router.get("/api/v1/statuses/{status_id}")
async def get_status(
    request: Request, status_id: str, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> dict[str, Any]:
    viewer_id = viewer_account_id(viewer)
    async with roost_of(request).db.read() as conn:
        view = await status_queries.get_status(conn, path_id(status_id), viewer_id)
    if view is None:
        raise not_found()
    return entities.status(view, base_url(request), viewer_id=viewer_id)


class DeleteParams(Params):
    delete_media: bool = False


@router.delete("/api/v1/statuses/{status_id}")
async def delete_status(
    request: Request, status_id: str, viewer: Viewer = Depends(require("write:statuses"))
) -> dict[str, Any]:
    target = path_id(status_id)
    # Mastodon keeps the media for "delete and redraft" unless delete_media is true.
    params = await parse(request, DeleteParams)
    async with roost_of(request).db.write() as conn:
        view = await status_queries.get_status(conn, target, viewer.account_id)
        if view is None or view.account.id != viewer.account_id:
            raise not_found()
        await status_ops.delete_status(conn, roost_of(request).ids, viewer.account_id, target,
                                       keep_media_for_redraft=not params.delete_media)
    # Mastodon answers with the deleted status and its source text ("delete and redraft").
    return entities.status(view, base_url(request), viewer_id=viewer.account_id, with_source=True)


@router.get("/api/v1/statuses/{status_id}/context")
async def context(
    request: Request, status_id: str, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> dict[str, Any]:
    viewer_id = viewer_account_id(viewer)
    limit = (
        status_queries.DESCENDANTS_LIMIT
        if viewer_id is not None
        else status_queries.DESCENDANTS_LIMIT_ANONYMOUS
    )
    async with roost_of(request).db.read() as conn:
        view = await status_queries.get_status(conn, path_id(status_id), viewer_id)
        if view is None:
            raise not_found()
        ancestors = await status_queries.ancestor_ids(conn, view.status)
        descendants = await status_queries.descendant_ids(conn, view.status, limit)
        # One hydration for both lists keeps the statement count constant.
        views = {
            v.status.id: v
            for v in await status_queries.hydrate(conn, ancestors + descendants, viewer_id)
        }
    base = base_url(request)
    return {
        "ancestors": [
            entities.status(views[i], base, viewer_id=viewer_id) for i in ancestors if i in views
        ],
        "descendants": [
            entities.status(views[i], base, viewer_id=viewer_id) for i in descendants if i in views
        ],
    }


class EditParams(Params):
    status: str = Field(default="", max_length=100_000)
    spoiler_text: str = Field(default="", max_length=100_000)
    sensitive: bool = False
    language: str | None = Field(default=None, max_length=16)
    media_ids: list[str] | None = None
    poll: dict[str, Any] | None = None


@router.put("/api/v1/statuses/{status_id}")
async def edit_status(
    request: Request, status_id: str, viewer: Viewer = Depends(require("write:statuses"))
) -> dict[str, Any]:
    """Edits the viewer's own status (statuses/edits.py); anyone else's is a 404."""
    target = path_id(status_id)
    params = await parse(request, EditParams)
    if params.poll:
        raise ApiError(422, "Validation failed: polls are not supported yet")
    roost = roost_of(request)
    edit = status_edits.Edit(
        text=params.status,
        spoiler_text=params.spoiler_text,
        sensitive=params.sensitive,
        language=params.language or None,
        media_ids=None if params.media_ids is None else _media_ids(params.media_ids),
    )
    async with roost.db.write() as conn:
        await status_edits.edit_status(
            conn,
            roost.ids,
            viewer.account_id,
            target,
            edit,
            max_chars=roost.settings.max_status_chars,
            base=base_url(request),
        )
        view = await status_queries.get_status(conn, target, viewer.account_id)
    assert view is not None
    return entities.status(view, base_url(request), viewer_id=viewer.account_id)


@router.get("/api/v1/statuses/{status_id}/history")
async def status_history(
    request: Request, status_id: str, viewer: Viewer | None = Depends(optional("read:statuses"))
) -> list[dict[str, Any]]:
    viewer_id = viewer_account_id(viewer)
    async with roost_of(request).db.read() as conn:
        view = await status_queries.get_status(conn, path_id(status_id), viewer_id)
        if view is None or view.reblog is not None:
            raise not_found()
        versions = await status_edits.history(conn, view.status)
    base = base_url(request)
    return [entities.status_edit(version, view.account, base) for version in versions]


@router.get("/api/v1/statuses/{status_id}/source")
async def status_source(
    request: Request, status_id: str, viewer: Viewer = Depends(require("read:statuses"))
) -> dict[str, Any]:
    async with roost_of(request).db.read() as conn:
        view = await status_queries.get_status(conn, path_id(status_id), viewer.account_id)
    if view is None or view.reblog is not None:
        raise not_found()
    return entities.status_source(view.status)
