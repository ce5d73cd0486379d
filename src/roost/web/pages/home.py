"""Timeline pages: /home (and its live stream, /home/stream), /public and /tags/{name};
docs/web.md, "Pages: timelines, posting, status pages".

Each page reads its ids through the very functions GET /api/v1/timelines/* use (the home
timeline's Redis/hybrid path and its pull-query fallback included: there is no 206 to
pass on, a timeline being rebuilt is answered from the pull query) and hydrates them in
constant statements; the cards render the Status entities the API would send this viewer.

Older pages: a plain "Older posts" link (`?max_id=`), which roost.js follows on scroll
with `&fragment=1`, getting just the cards and the next link to append.

Live updates: /home/stream is the API's user stream (streaming.streams.resolve "user",
the same pump, filters and per-process rendering) behind the session cookie, since an
EventSource can send no Authorization header and a token must not go into a URL. Each
event carries only the status id; roost.js fetches the card from /statuses/{id}/card, so
a card is rendered by one template through one code path whether it came with the page,
with an older page or live.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import PlainTextResponse, Response

from roost.accounts.queries import get_user
from roost.api.auth import Viewer
from roost.api.context import base_url, roost_of
from roost.api.mastodon import entities
from roost.api.mastodon.streaming import renderer_of
from roost.ids import parse_id
from roost.paging import Page
from roost.statuses.queries import StatusView, hydrate
from roost.streaming.bus import bus_of, streams_can_hear
from roost.streaming.pump import Emit, SlowConsumer, pump
from roost.streaming.render import Audience
from roost.streaming.sse import EventStreamResponse
from roost.streaming.streams import resolve
from roost.streaming.subscribe import open_stream
from roost.timelines.home import collapse_boost_views
from roost.timelines.home_read import home_timeline_page
from roost.timelines.public import public_status_ids
from roost.timelines.tag import tag_filter, tag_status_ids
from roost.web.render import error_page, page
from roost.web.session import current_viewer, require_viewer

router = APIRouter()
log = structlog.get_logger(__name__)

PAGE_SIZE = 20
# What the live stream passes on: a new or edited status (its card is fetched), or a
# deletion (its card is removed). Notifications have their own page.
STREAM_EVENTS = frozenset({"update", "status.update", "delete"})


def requested_page(request: Request) -> Page | None:
    """The page asked for: the newest PAGE_SIZE, or those older than `max_id`; None
    when `max_id` is not an id (answered by `bad_page_request`)."""
    raw = request.query_params.get("max_id")
    if raw is None or raw == "":
        return Page(limit=PAGE_SIZE)
    max_id = parse_id(raw)
    return None if max_id is None else Page(limit=PAGE_SIZE, max_id=max_id)


def bad_page_request(request: Request) -> Response:
    return error_page(request, 422, "No such page", "max_id must be a status id.")


async def status_entities(
    request: Request,
    conn: AsyncConnection,
    ids: list[int],
    viewer_id: int | None,
    arrange: Callable[[list[StatusView]], list[StatusView]] | None = None,
) -> list[dict[str, Any]]:
    """The statuses as the API renders them for this viewer (api.mastodon.common.status_page
    without the JSON): hydrated in constant statements, in the order of `ids`."""
    views = await hydrate(conn, ids, viewer_id)
    if arrange is not None:
        views = arrange(views)
    base = base_url(request)
    return [entities.status(view, base, viewer_id=viewer_id) for view in views]


def older_link(request: Request, ids: list[int], last_key: int | None, limit: int) -> str | None:
    """The next page's link, when this page was full (an emptier one is the last)."""
    if last_key is None or len(ids) < limit:
        return None
    return f"{request.url.path}?max_id={last_key}"


def timeline_page(request: Request, *, title: str, statuses: list[dict[str, Any]],
                  older: str | None, status_code: int = 200, **context: Any) -> Response:
    """The whole page, or with `?fragment=1` only its cards and the next link."""
    if request.query_params.get("fragment") == "1":
        return page(request, "timelines/_page.html", statuses=statuses, older=older)
    return page(request, "timelines/timeline.html", status_code=status_code, title=title,
                statuses=statuses, older=older, **context)


async def composer_defaults(conn: AsyncConnection, account_id: int) -> dict[str, Any]:
    """What the composer starts from: the poster's default visibility (as the API's)."""
    user = await get_user(conn, account_id)
    return {"visibility": user.default_privacy if user is not None else "public"}


@router.get("/home")
async def home(request: Request, viewer: Viewer = Depends(require_viewer)) -> Response:
    wanted = requested_page(request)
    if wanted is None:
        return bad_page_request(request)
    roost = roost_of(request)
    fragment = request.query_params.get("fragment") == "1"
    async with roost.db.read() as conn:
        ids, _first, last = await home_timeline_page(roost, conn, viewer.account_id, wanted)
        statuses = await status_entities(request, conn, ids, viewer.account_id,
                                         arrange=collapse_boost_views)
        draft = {} if fragment else await composer_defaults(conn, viewer.account_id)
    return timeline_page(request, title="Home", statuses=statuses,
                         older=older_link(request, ids, last, wanted.limit),
                         composer=True, draft=draft, live=True,
                         max_chars=roost.settings.max_status_chars)


@router.get("/public")
async def public(request: Request) -> Response:
    wanted = requested_page(request)
    if wanted is None:
        return bad_page_request(request)
    viewer = await current_viewer(request)
    viewer_id = viewer.account_id if viewer is not None else None
    async with roost_of(request).db.read() as conn:
        ids = await public_status_ids(conn, viewer_id, wanted)
        statuses = await status_entities(request, conn, ids, viewer_id)
    return timeline_page(request, title="Public timeline", statuses=statuses,
                         older=older_link(request, ids, ids[-1] if ids else None,
                                          wanted.limit))


@router.get("/tags/{name}")
async def tag(request: Request, name: str) -> Response:
    wanted = requested_page(request)
    if wanted is None:
        return bad_page_request(request)
    viewer = await current_viewer(request)
    viewer_id = viewer.account_id if viewer is not None else None
    tag_wanted = tag_filter(name, [], [], [])
    async with roost_of(request).db.read() as conn:
        ids = await tag_status_ids(conn, viewer_id, wanted, tag_wanted)
        statuses = await status_entities(request, conn, ids, viewer_id)
    return timeline_page(request, title=f"#{tag_wanted.tag if tag_wanted else name}",
                         statuses=statuses,
                         older=older_link(request, ids, ids[-1] if ids else None,
                                          wanted.limit))


def _status_id_of(event: str, payload: str) -> str | None:
    """The id an event is about: a `delete` carries it bare, the others a Status entity."""
    if event == "delete":
        return payload
    entity = orjson.loads(payload)
    return str(entity["id"]) if isinstance(entity, dict) and "id" in entity else None


@router.get("/home/stream")
async def home_stream(request: Request) -> Response:
    """The signed-in person's user stream, as ids: `event: ready` once it listens, then
    `event: update` / `status.update` / `delete` with `data: <status id>` (module
    docstring)."""
    viewer = await current_viewer(request)
    if viewer is None:
        return PlainTextResponse("Sign in to follow your home timeline", status_code=401)
    roost = roost_of(request)
    if not streams_can_hear(roost):
        # As the API's stream: this process would hear nothing. The page still works.
        return PlainTextResponse("Live updates are not available", status_code=503)
    wanted = resolve("user", viewer.account_id, viewer.scopes)
    audience = Audience(viewer.account_id, base_url(request))
    renderer = renderer_of(request.app)
    heartbeat_s = roost.settings.streaming_heartbeat_ms / 1000

    async def serve(emit: Emit, greet: Callable[[], Awaitable[None]]) -> None:
        async def emit_ids(event: str | None, payload: str | None) -> None:
            if event is None:
                await emit(None, None)
                return
            if event not in STREAM_EVENTS or payload is None:
                return
            status_id = _status_id_of(event, payload)
            if status_id is not None:
                await emit(event, status_id)

        try:
            async with open_stream(bus_of(roost), wanted.channels) as subscription:
                await greet()
                await emit("ready", "listening")  # roost.js: nothing is missed from now
                await pump(subscription, wanted, audience, renderer, emit_ids, heartbeat_s)
        except SlowConsumer as error:
            log.info("home stream closed: slow client", reason=str(error))

    return EventStreamResponse(serve)
