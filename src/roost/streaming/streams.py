"""Mastodon's stream names (`user`, `public:local:media`, `hashtag`...) resolved to
what a connection listens to, and who may ask for them (docs/streaming.md).

The same rules serve the SSE paths (/api/v1/streaming/public/local is the stream
`public:local`) and the WebSocket's `stream` parameter and `subscribe` messages, so
both transports answer a bad request alike: an ApiError whose status and message
the SSE endpoint sends as its HTTP answer and the WebSocket as
`{"error": ..., "status": ...}` without closing.
"""

from __future__ import annotations

from dataclasses import dataclass

from roost.errors import ApiError
from roost.oauth.scopes import covers
from roost.streaming import channels as ch

# Every stream needs a user token since Mastodon 4.2 (public and app tokens were
# removed from the public and hashtag streams too).
STATUS_SCOPES = ("read:statuses",)
NOTIFICATION_SCOPES = ("read:notifications",)


@dataclass(frozen=True)
class StreamRequest:
    """One stream a connection listens to: its name as WebSocket messages carry it
    (`["hashtag", "cats"]`), its channels, and how to filter what they carry."""

    name: tuple[str, ...]
    channels: tuple[str, ...]
    # Only statuses with media (`public:media`, `only_media=true`).
    only_media: bool = False

    @property
    def key(self) -> tuple[str, ...]:
        return self.name


def _may(scopes: frozenset[str], wanted: tuple[str, ...]) -> bool:
    return any(covers(scopes, scope) for scope in wanted)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "t", "on", "yes")


def resolve(
    stream: str, account_id: int, scopes: frozenset[str], *,
    tag: str | None = None, list_id: str | None = None, only_media: str | None = None,
) -> StreamRequest:
    """The stream `stream` for the token's account and scopes, or an ApiError: 400 for
    an unknown stream or a missing tag, 401 for a token without the scope, 404 for a
    list (Roost has no lists)."""
    media = _truthy(only_media) or stream.endswith(":media")
    base = stream.removesuffix(":media")
    if base in ("public", "public:local", "public:remote"):
        _need(scopes, STATUS_SCOPES)
        channels: tuple[str, ...] = {
            "public": (ch.PUBLIC,), "public:local": (ch.PUBLIC_LOCAL,), "public:remote": (),
        }[base]
        return StreamRequest((stream,), channels, only_media=media)
    if stream == "user":
        _need(scopes, STATUS_SCOPES)
        notes = _may(scopes, NOTIFICATION_SCOPES)
        return StreamRequest(("user",), tuple(ch.user_stream(account_id,
                                                             with_notifications=notes)))
    if stream == "user:notification":
        _need(scopes, NOTIFICATION_SCOPES)
        return StreamRequest(("user:notification",), (ch.notifications(account_id),))
    if stream in ("hashtag", "hashtag:local"):
        _need(scopes, STATUS_SCOPES)
        name = (tag or "").strip().lstrip("#")
        if not name:
            raise ApiError(400, "No tag for stream provided")
        channel, local = ch.hashtag(name)
        return StreamRequest((stream, name), (local if stream == "hashtag:local" else channel,))
    if stream == "direct":
        _need(scopes, STATUS_SCOPES)
        return StreamRequest(("direct",), (ch.direct(account_id),))
    if stream == "list":
        _need(scopes, ("read:lists",))
        if not list_id:
            raise ApiError(400, "No list for stream provided")
        raise ApiError(404, "List not found")  # Roost has no lists yet
    raise ApiError(400, "Unknown stream type")


def _need(scopes: frozenset[str], wanted: tuple[str, ...]) -> None:
    if not _may(scopes, wanted):
        raise ApiError(401, "Access token does not have the required scopes")
