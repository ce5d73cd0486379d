"""POST /api/v1/apps, GET /api/v1/apps/verify_credentials."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from roost.api.auth import Viewer, require_app
from roost.api.context import roost_of
from roost.api.mastodon import entities
from roost.api.params import Params, parse
from roost.errors import ApiError
from roost.oauth.operations import OOB_REDIRECT, get_app, register_app
from roost.oauth.scopes import ALL_SCOPES, InvalidScope, parse_scopes

router = APIRouter()


class AppParams(Params):
    client_name: str | None = Field(default=None, max_length=60)
    redirect_uris: str | list[str] | None = None
    scopes: str | None = Field(default=None, max_length=2000)
    website: str | None = Field(default=None, max_length=2000)


def _redirect_uris(raw: str | list[str] | None) -> list[str]:
    uris = raw.split() if isinstance(raw, str) else list(raw or [])
    if not uris:
        raise ApiError(422, "Validation failed: Redirect URI can't be blank")
    for uri in uris:
        if uri == OOB_REDIRECT:
            continue
        try:
            parts = urlsplit(uri)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = urlsplit("")
        if (
            not parts.scheme
            or not (parts.netloc or parts.path)
            or parts.fragment
            or len(uri) > 2000
        ):
            raise ApiError(422, "Validation failed: Redirect URI must be an absolute URI")
    return uris


def _website(raw: str | None) -> str | None:
    """Blank, or an http(s) URL with a host, as Mastodon's URL validator requires."""
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ApiError(422, "Validation failed: Website is invalid")
    return raw


@router.post("/api/v1/apps")
async def create_app(request: Request) -> dict[str, Any]:
    params = await parse(request, AppParams)
    if not params.client_name or not params.client_name.strip():
        raise ApiError(422, "Validation failed: Name can't be blank")
    uris = _redirect_uris(params.redirect_uris)
    website = _website(params.website)
    try:
        scopes = parse_scopes(params.scopes)
    except InvalidScope as exc:
        raise ApiError(422, f"Validation failed: Scopes are invalid ({exc})") from exc
    roost = roost_of(request)
    async with roost.db.write() as conn:
        row, secret = await register_app(
            conn,
            roost.ids,
            name=params.client_name.strip(),
            redirect_uris=uris,
            scopes=scopes,
            website=website,
        )
    return entities.application(row, client_secret=secret)


@router.get("/api/v1/apps/verify_credentials")
async def verify_app(
    request: Request, viewer: Viewer = Depends(require_app(*ALL_SCOPES))
) -> dict[str, Any]:
    async with roost_of(request).db.read() as conn:
        row = await get_app(conn, viewer.token.application_id)
    entity = entities.application(row)
    entity.pop("client_id")
    return entity
