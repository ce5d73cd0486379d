"""Who a streaming connection is: its token, looked up as every request's is
(oauth.operations.lookup_token, through the object cache), with Mastodon's answers
for streams: a user token is required (401 otherwise, as since Mastodon 4.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from roost.errors import ApiError
from roost.oauth.operations import lookup_token
from roost.oauth.scopes import expand

if TYPE_CHECKING:
    from roost.context import Roost

MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class StreamViewer:
    account_id: int
    scopes: frozenset[str]


async def stream_viewer(roost: Roost, token: str | None) -> StreamViewer:
    if not token:
        raise ApiError(401, "Missing access token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ApiError(401, "Invalid access token")
    async with roost.db.read() as conn:
        info = await lookup_token(conn, token)
    if info is None or info.account_id is None:
        raise ApiError(401, "Invalid access token")
    if info.user_disabled:
        raise ApiError(403, "Your login is currently disabled")
    if not info.user_approved:
        raise ApiError(403, "Your login is currently pending approval")
    return StreamViewer(int(info.account_id), expand(info.scopes))
