"""Streaming: server-sent events under /api/v1/streaming/* and the WebSocket at
/api/v1/streaming; docs/streaming.md.

Each route only authenticates, resolves the stream (streaming.streams) and hands the
connection to the serving code in roost.streaming (sse, websocket, pump, render).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from fastapi import APIRouter, FastAPI, Request, WebSocket
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, Response

from roost.api.auth import bearer_token
from roost.api.context import roost_of
from roost.api.responses import JSONResponse
from roost.context import Roost
from roost.errors import ApiError
from roost.streaming.auth import StreamViewer, stream_viewer
from roost.streaming.bus import bus_of, streams_can_hear
from roost.streaming.pump import Emit, SlowConsumer, pump
from roost.streaming.render import Audience, StreamRenderer
from roost.streaming.sse import EventStreamResponse
from roost.streaming.streams import StreamRequest, resolve
from roost.streaming.subscribe import open_stream
from roost.streaming.websocket import WebSocketSession

router = APIRouter()
log = structlog.get_logger(__name__)

# The SSE paths and the stream each one is (Mastodon's names).
SSE_STREAMS = {
    "user": "user",
    "user/notification": "user:notification",
    "public": "public",
    "public/local": "public:local",
    "public/remote": "public:remote",
    "hashtag": "hashtag",
    "hashtag/local": "hashtag:local",
    "direct": "direct",
    "list": "list",
}


def renderer_of(app: FastAPI) -> StreamRenderer:
    """The process's renderer (one per app, made on first use)."""
    renderer: StreamRenderer | None = getattr(app.state, "stream_renderer", None)
    if renderer is None:
        renderer = StreamRenderer(app.state.roost)
        app.state.stream_renderer = renderer
    return renderer


def _base_url(connection: HTTPConnection, roost: Roost) -> str:
    """api.context.base_url for either kind of connection (a WebSocket's own address
    is ws:// or wss://; the entities want http:// or https://)."""
    domain = roost.settings.domain
    if domain:
        return domain.rstrip("/") if "://" in domain else f"https://{domain}"
    base = str(connection.base_url).rstrip("/")
    return "http" + base[2:] if base.startswith("ws") else base


def _heartbeat_s(roost: Roost) -> float:
    return roost.settings.streaming_heartbeat_ms / 1000


def _check_bus(roost: Roost) -> None:
    """The in-process hub only hears what this process's consumers publish."""
    if not streams_can_hear(roost):
        raise ApiError(503, "Streaming needs ROOST_REDIS_URL when the consumers run "
                            "in another process")


def _resolve(viewer: StreamViewer, stream: str, params: dict[str, str]) -> StreamRequest:
    return resolve(stream, viewer.account_id, viewer.scopes, tag=params.get("tag"),
                   list_id=params.get("list"), only_media=params.get("only_media"))


@router.get("/api/v1/streaming/health")
async def health() -> PlainTextResponse:
    return PlainTextResponse("OK")


async def _sse(request: Request, stream: str) -> Response:
    roost = roost_of(request)
    viewer = await stream_viewer(roost, bearer_token(request))
    wanted = _resolve(viewer, stream, dict(request.query_params))
    _check_bus(roost)
    audience = Audience(viewer.account_id, _base_url(request, roost))
    renderer = renderer_of(request.app)

    async def serve(emit: Emit, greet: Callable[[], Awaitable[None]]) -> None:
        try:
            async with open_stream(bus_of(roost), wanted.channels) as subscription:
                await greet()
                await pump(subscription, wanted, audience, renderer, emit,
                           _heartbeat_s(roost))
        except SlowConsumer as error:
            log.info("event stream closed: slow client", reason=str(error))

    return EventStreamResponse(serve)


def _sse_route(path: str, stream: str) -> None:
    async def endpoint(request: Request) -> Response:
        return await _sse(request, stream)

    endpoint.__name__ = f"stream_{stream.replace(':', '_')}"
    router.add_api_route(f"/api/v1/streaming/{path}", endpoint, methods=["GET"])


for _path, _stream in SSE_STREAMS.items():
    _sse_route(_path, _stream)


def _websocket_token(websocket: WebSocket) -> tuple[str | None, str | None]:
    """(token, subprotocol to echo): the query string, the Authorization header, or
    Sec-WebSocket-Protocol (browsers cannot set headers on a WebSocket)."""
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), None
    if websocket.query_params.get("access_token"):
        return websocket.query_params["access_token"], None
    protocol = websocket.headers.get("sec-websocket-protocol", "").split(",")[0].strip()
    return (protocol, protocol) if protocol else (None, None)


@router.websocket("/api/v1/streaming")
@router.websocket("/api/v1/streaming/")
async def websocket_stream(websocket: WebSocket) -> None:
    roost: Roost = websocket.app.state.roost
    token, subprotocol = _websocket_token(websocket)
    try:
        viewer = await stream_viewer(roost, token)
        _check_bus(roost)
    except ApiError as error:
        await websocket.send_denial_response(JSONResponse(error.body(), error.status))
        return
    session = WebSocketSession(websocket, roost, viewer,
                               Audience(viewer.account_id, _base_url(websocket, roost)),
                               renderer_of(websocket.app), _heartbeat_s(roost))
    first: StreamRequest | ApiError | None = None
    params = dict(websocket.query_params)
    if params.get("stream"):
        try:
            first = session.request(params)
        except ApiError as error:
            first = error
    if isinstance(first, StreamRequest):
        await session.subscribe(first)  # listening before the client can post
    try:
        await websocket.accept(subprotocol=subprotocol)
        session.accepted.set()
        if isinstance(first, ApiError):
            await session.send({"error": first.message, "status": first.status})
    except BaseException:
        await session.close()
        raise
    await session.run()
