"""The WebSocket at /api/v1/streaming, as Mastodon's streaming server speaks it
(docs/streaming.md):

- the token comes as `?access_token=`, an `Authorization: Bearer` header, or the
  `Sec-WebSocket-Protocol` header (echoed back when the connection is accepted);
  without a valid user token the handshake is refused with 401;
- `?stream=user` (with `tag=`/`list=` as needed) opens a first stream; then
  `{"type": "subscribe", "stream": "hashtag", "tag": "cats"}` and `unsubscribe` open
  and close more, each at most once;
- the server sends `{"stream": ["hashtag", "cats"], "event": "update", "payload":
  "<the entity as a JSON string>"}` (`delete`'s payload is the id), and answers a bad
  subscribe with `{"error": "...", "status": 400}` without closing;
- heartbeats are the WebSocket's own ping frames (uvicorn sends one every 20 s);
- a client that cannot keep up is closed with 1013 (try again later).

Messages are handled in order, so a client that sends a subscribe and then anything
that answers (a bad subscribe) knows the first one listens once the answer comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from starlette.websockets import WebSocket, WebSocketDisconnect

from roost.context import Roost
from roost.errors import ApiError
from roost.streaming.auth import StreamViewer
from roost.streaming.bus import bus_of
from roost.streaming.pump import SlowConsumer, pump
from roost.streaming.render import Audience, StreamRenderer
from roost.streaming.streams import StreamRequest, resolve
from roost.streaming.subscribe import open_stream

log = structlog.get_logger(__name__)

TRY_AGAIN_LATER = 1013


class WebSocketSession:
    def __init__(self, websocket: WebSocket, roost: Roost, viewer: StreamViewer,
                 audience: Audience, renderer: StreamRenderer, heartbeat_s: float) -> None:
        self._ws = websocket
        self._roost = roost
        self._viewer = viewer
        self._audience = audience
        self._renderer = renderer
        self._heartbeat_s = heartbeat_s
        self._streams: dict[tuple[str, ...], asyncio.Task[None]] = {}
        self._send_lock = asyncio.Lock()
        self._too_slow = asyncio.Event()
        # Set once the handshake is accepted: a stream opened before (the query
        # string's) listens at once but sends nothing until then.
        self.accepted = asyncio.Event()

    def request(self, params: dict[str, Any]) -> StreamRequest:
        """The stream a `subscribe` (or the query string) asks for; ApiError if bad."""
        stream = params.get("stream")
        if not isinstance(stream, str) or not stream:
            raise ApiError(400, "Unknown stream type")
        text = {k: str(v) if v is not None else None
                for k, v in params.items() if k in ("tag", "list", "only_media")}
        return resolve(stream, self._viewer.account_id, self._viewer.scopes,
                       tag=text.get("tag"), list_id=text.get("list"),
                       only_media=text.get("only_media"))

    async def subscribe(self, wanted: StreamRequest) -> None:
        """Opens the stream and returns once it listens (a second subscribe to the
        same stream does nothing, as in Mastodon)."""
        if wanted.key in self._streams:
            return
        ready = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._listen(wanted, ready))
        self._streams[wanted.key] = task
        await asyncio.wait((ready, task), return_when=asyncio.FIRST_COMPLETED)

    async def unsubscribe(self, wanted: StreamRequest) -> None:
        task = self._streams.pop(wanted.key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self, wanted: StreamRequest, ready: asyncio.Future[None]) -> None:
        async def emit(event: str | None, payload: str | None) -> None:
            if event is None:
                return  # uvicorn's ping frames are the heartbeat
            await self.send({"stream": list(wanted.name), "event": event, "payload": payload})

        try:
            async with open_stream(bus_of(self._roost), wanted.channels) as subscription:
                ready.set_result(None)
                await pump(subscription, wanted, self._audience, self._renderer, emit,
                           self._heartbeat_s)
        except SlowConsumer as error:
            log.info("websocket stream closed: slow client", reason=str(error))
            self._too_slow.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.accepted.wait()
        async with self._send_lock:
            await self._ws.send_text(json.dumps(message, separators=(",", ":")))

    async def handle(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            await self.send({"error": "Invalid JSON", "status": 400})
            return
        if not isinstance(message, dict) or message.get("type") not in ("subscribe",
                                                                         "unsubscribe"):
            return  # Mastodon ignores what it does not know
        try:
            wanted = self.request(message)
        except ApiError as error:
            await self.send({"error": error.message, "status": error.status})
            return
        if message["type"] == "subscribe":
            await self.subscribe(wanted)
        else:
            await self.unsubscribe(wanted)

    async def run(self) -> None:
        """Reads the client's messages until it leaves or is too slow."""
        slow = asyncio.create_task(self._too_slow.wait())
        try:
            while True:
                receiving = asyncio.create_task(self._ws.receive())
                await asyncio.wait((receiving, slow), return_when=asyncio.FIRST_COMPLETED)
                if slow.done():
                    receiving.cancel()
                    await self._ws.close(TRY_AGAIN_LATER)
                    return
                try:
                    message = receiving.result()
                except (WebSocketDisconnect, RuntimeError):
                    return
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text")
                if raw is None:  # a binary frame: read as UTF-8 text, as Mastodon does
                    raw = (message.get("bytes") or b"").decode(errors="replace")
                await self.handle(raw)
        finally:
            slow.cancel()
            await self.close()

    async def close(self) -> None:
        """Ends every stream of the connection."""
        streams, self._streams = list(self._streams.values()), {}
        for task in streams:
            task.cancel()
        for task in streams:
            with contextlib.suppress(BaseException):
                await task
