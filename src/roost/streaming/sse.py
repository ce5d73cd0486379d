"""Server-sent events as Mastodon writes them (docs/streaming.md):

    :)                                  once the stream listens (Mastodon's greeting)
    event: update\ndata: {...}\n\n       one event; `delete`'s data is the bare id
    :thump\n\n                          a heartbeat after a quiet interval

A plain ASGI response rather than Starlette's StreamingResponse, so that each write
can be bounded in time (a client that stopped reading is disconnected: pump.py) and
the stream ends as soon as the client leaves. Nothing buffers it: every event is one
`http.response.body` message, and `X-Accel-Buffering: no` tells nginx the same.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from roost.streaming.pump import Emit

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]
GREETING = b":)\n"
HEARTBEAT = b":thump\n\n"
# A client that stopped reading may not take even the end of the response: the
# server then drops the connection.
CLOSE_TIMEOUT_S = 1.0


def event_bytes(event: str, payload: str) -> bytes:
    # Payloads are JSON or an id: no newlines, so one `data:` line each.
    return f"event: {event}\ndata: {payload}\n\n".encode()


class EventStreamResponse(Response):
    """Runs `serve(emit)` for as long as the client stays; `serve` writes through
    `emit` and returns (or raises) to end the stream."""

    def __init__(self, serve: Callable[[Emit, Callable[[], Awaitable[None]]], Awaitable[None]]
                 ) -> None:
        super().__init__(status_code=200)
        self._serve = serve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})

        async def write(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        async def emit(event: str | None, payload: str | None) -> None:
            await write(HEARTBEAT if event is None else event_bytes(event, payload or ""))

        async def greet() -> None:
            await write(GREETING)

        async def until_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        serving = asyncio.ensure_future(self._serve(emit, greet))
        leaving = asyncio.ensure_future(until_disconnect())
        try:
            await asyncio.wait((serving, leaving), return_when=asyncio.FIRST_COMPLETED)
        finally:
            client_left = leaving.done() and not leaving.cancelled()
            for task in (serving, leaving):
                task.cancel()
            for task in (serving, leaving):
                with contextlib.suppress(BaseException):
                    await task
        if not client_left:  # the stream ended itself (a slow client): end the response
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
