"""Bearer-token authentication and scope checks, as FastAPI dependencies.

    viewer: Viewer = Depends(require("write:statuses"))        # a signed-in user
    viewer: Viewer = Depends(require("profile", "read:accounts"))  # either scope will do
    viewer: Viewer = Depends(require_app("write:accounts"))    # any token of the app
    viewer: Viewer | None = Depends(optional("read:statuses")) # public read

A missing or bad token is 401, a token without the scope 403, an app-only token
where a user is needed 422 — Mastodon's answers. A token given to a public endpoint
must still be valid: a wrong token is never silently treated as anonymous.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from roost.api.context import roost_of
from roost.errors import ApiError
from roost.oauth.operations import TokenInfo, lookup_token
from roost.oauth.scopes import covers, expand


@dataclass(frozen=True)
class Viewer:
    token: TokenInfo
    scopes: frozenset[str]

    @property
    def account_id(self) -> int:
        assert self.token.account_id is not None, "require() guarantees a user token"
        return self.token.account_id

    @property
    def maybe_account_id(self) -> int | None:
        return self.token.account_id


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("access_token") or None


async def _viewer(request: Request) -> Viewer | None:
    cached = request.scope.get("roost.viewer", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    token = bearer_token(request)
    viewer = None
    if token is not None:
        if len(token) > 512:
            raise ApiError(401, "The access token is invalid")
        async with roost_of(request).db.read() as conn:
            info = await lookup_token(conn, token)
        if info is None:
            raise ApiError(401, "The access token is invalid")
        if info.user_disabled:
            raise ApiError(403, "Your login is currently disabled")
        if not info.user_approved:
            raise ApiError(403, "Your login is currently pending approval")
        viewer = Viewer(token=info, scopes=expand(info.scopes))
    request.scope["roost.viewer"] = viewer
    return viewer


def _check_scope(viewer: Viewer, scopes: tuple[str, ...]) -> None:
    if not any(covers(viewer.scopes, scope) for scope in scopes):
        raise ApiError(403, "This action is outside the authorized scopes")


def require(*scopes: str) -> Callable[[Request], Awaitable[Viewer]]:
    async def dependency(request: Request) -> Viewer:
        viewer = await _viewer(request)
        if viewer is None:
            raise ApiError(401, "The access token is invalid")
        _check_scope(viewer, scopes)
        if viewer.token.account_id is None:
            raise ApiError(422, "This method requires an authenticated user")
        return viewer

    return dependency


def require_app(*scopes: str) -> Callable[[Request], Awaitable[Viewer]]:
    async def dependency(request: Request) -> Viewer:
        viewer = await _viewer(request)
        if viewer is None:
            raise ApiError(401, "The access token is invalid")
        _check_scope(viewer, scopes)
        return viewer

    return dependency


def optional(*scopes: str) -> Callable[[Request], Awaitable[Viewer | None]]:
    async def dependency(request: Request) -> Viewer | None:
        viewer = await _viewer(request)
        if viewer is not None:
            _check_scope(viewer, scopes)
        return viewer

    return dependency


def viewer_account_id(viewer: Viewer | None) -> int | None:
    return viewer.maybe_account_id if viewer is not None else None
