"""The streaming endpoints against a real `roost serve` (docs/streaming.md): server-sent
events under /api/v1/streaming/* and the WebSocket at /api/v1/streaming, on the
embedded server (SQLite, the in-process hub) and at scale (PostgreSQL, the Redis event
log and Redis pub/sub).

Nothing here sleeps to see that something did not come: a test that expects silence
settles the event log (every handler has published), then makes something that does
come, and checks that it is the next thing the stream says.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from tests.support.events import settle, settle_redis
from tests.support.server import RunningServer, start_server
from tests.support.services import fresh_postgres_database, reachable_redis_url

HEARTBEAT_MS = 200
WAIT_S = 10.0  # for what must come; it comes in milliseconds


@dataclass
class Stack:
    server: RunningServer
    settle: Callable[[], None]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return "ws" + self.server.url[4:] + "/api/v1/streaming"


@pytest.fixture(scope="module", params=["sqlite", "postgresql+redis"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Stack]:
    data_dir: Path = tmp_path_factory.mktemp("streams")
    common = {"ROOST_LOG_LEVEL": "warning", "ROOST_STREAMING_HEARTBEAT_MS": str(HEARTBEAT_MS)}
    if request.param == "sqlite":
        server = start_server(data_dir, None, **common)
        try:
            yield Stack(server, lambda: settle(server.effective_database_url))
        finally:
            server.stop()
        return
    url = reachable_redis_url()
    token = secrets.token_hex(4)
    key_prefix, stream_prefix = f"roost:test-sse-{token}:", f"roost:test-sse-log-{token}:"
    with fresh_postgres_database() as database_url:
        server = start_server(data_dir, database_url, ROOST_REDIS_URL=url,
                              ROOST_REDIS_KEY_PREFIX=key_prefix,
                              ROOST_EVENT_STREAM_PREFIX=stream_prefix, **common)
        try:
            yield Stack(server, lambda: settle_redis(database_url, url, stream_prefix))
        finally:
            server.stop()
            with redis.Redis.from_url(url) as client:
                for key in client.scan_iter(match=f"{key_prefix}*"):
                    client.delete(key)
                for key in client.scan_iter(match=f"{stream_prefix}*"):
                    client.delete(key)


@dataclass
class Person:
    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """The REST side of a test, on the stack's server."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient) -> None:
        self.stack = stack
        self.http = http
        self._app_token: str | None = None

    async def app_token(self, scopes: str = "read write follow") -> str:
        app = (await self.http.post("/api/v1/apps", data={
            "client_name": "streams", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": scopes})).json()
        reply = await self.http.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": app["client_id"],
            "client_secret": app["client_secret"], "scope": scopes})
        assert reply.status_code == 200, reply.text
        token: str = reply.json()["access_token"]
        return token

    async def person(self) -> Person:
        if self._app_token is None:
            self._app_token = await self.app_token()
        name = f"st_{secrets.token_hex(4)}"
        reply = await self.http.post(
            "/api/v1/accounts", headers={"Authorization": f"Bearer {self._app_token}"},
            data={"username": name, "email": f"{name}@example.test",
                  "password": "correct horse battery", "agreement": "true", "locale": "en"})
        assert reply.status_code == 200, reply.text
        token = reply.json()["access_token"]
        me = await self.http.get("/api/v1/accounts/verify_credentials",
                                 headers={"Authorization": f"Bearer {token}"})
        return Person(me.json()["id"], name, token)

    async def call(self, method: str, path: str, who: Person, **data: str) -> dict[str, Any]:
        reply = await self.http.request(method, path, headers=who.headers, data=data or None)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    async def post(self, who: Person, text: str, **fields: str) -> dict[str, Any]:
        return await self.call("POST", "/api/v1/statuses", who, status=text, **fields)

    async def settle(self) -> None:
        await asyncio.to_thread(self.stack.settle)


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        yield Api(stack, http)


class EventStream:
    """An open SSE stream: its events in order, and its heartbeats."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.heartbeat = asyncio.Event()  # set at each heartbeat
        self.greeted = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        event = None
        async for line in self.response.aiter_lines():
            if line == ":)":
                self.greeted.set()
            elif line == ":thump":
                self.heartbeat.set()
            elif line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event is not None:
                await self.events.put((event, line[len("data: "):]))
                event = None

    async def next(self) -> tuple[str, Any]:
        """The next event: (name, the entity decoded, or delete's id)."""
        async with asyncio.timeout(WAIT_S):
            event, data = await self.events.get()
        return event, data if event == "delete" else json.loads(data)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


@contextlib.asynccontextmanager
async def sse(api: Api, path: str, who: Person | None) -> AsyncIterator[EventStream]:
    headers = who.headers if who is not None else {}
    async with (
        httpx.AsyncClient(base_url=api.stack.url, timeout=WAIT_S) as http,
        http.stream("GET", path, headers=headers) as response,
    ):
        assert response.status_code == 200, (await response.aread()).decode()
        stream = EventStream(response)
        try:
            async with asyncio.timeout(WAIT_S):
                await stream.greeted.wait()  # it listens from here on
            yield stream
        finally:
            await stream.close()


# --- server-sent events ------------------------------------------------------------------


async def test_health_is_plain_ok(api: Api) -> None:
    reply = await api.http.get("/api/v1/streaming/health")
    assert (reply.status_code, reply.text) == (200, "OK")


async def test_a_stream_is_an_unbuffered_event_stream_with_heartbeats(api: Api) -> None:
    alice = await api.person()
    async with sse(api, "/api/v1/streaming/public", alice) as stream:
        headers = stream.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-store"
        assert headers["x-accel-buffering"] == "no"
        async with asyncio.timeout(WAIT_S):
            await stream.heartbeat.wait()
            stream.heartbeat.clear()
            await stream.heartbeat.wait()  # a second one, a heartbeat interval later


async def test_the_user_stream_hears_followed_posts_edits_deletes_and_notifications(
    api: Api,
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.call("POST", f"/api/v1/accounts/{alice.id}/follow", bob)
    async with sse(api, "/api/v1/streaming/user", bob) as bobs:
        status = await api.post(alice, "hello followers")
        event, entity = await bobs.next()
        assert (event, entity["id"], entity["account"]["id"]) == ("update", status["id"], alice.id)
        assert entity["favourited"] is False and entity["content"] == status["content"]
        assert entity["url"].startswith(api.stack.url)

        await api.call("POST", f"/api/v1/statuses/{status['id']}/favourite", bob)
        await api.call("PUT", f"/api/v1/statuses/{status['id']}", alice, status="edited words")
        event, entity = await bobs.next()
        assert (event, entity["id"]) == ("status.update", status["id"])
        assert "edited words" in entity["content"]
        assert entity["favourited"] is True  # bob's own flag, not the author's

        await api.call("DELETE", f"/api/v1/statuses/{status['id']}", alice)
        assert await bobs.next() == ("delete", status["id"])

        mention = await api.post(alice, f"@{bob.username} hi there")
        seen = dict([await bobs.next(), await bobs.next()])  # the post and its mention
        assert seen["update"]["id"] == mention["id"]
        note = seen["notification"]
        assert (note["type"], note["account"]["id"], note["status"]["id"]) == (
            "mention", alice.id, mention["id"])
        listed = (await api.http.get("/api/v1/notifications", headers=bob.headers)).json()
        assert note == listed[0]  # the entity GET /api/v1/notifications renders

    async with sse(api, "/api/v1/streaming/user/notification", alice) as alices:
        await api.call("POST", f"/api/v1/statuses/{mention['id']}/favourite", bob)
        event, note = await alices.next()
        assert (event, note["type"], note["account"]["id"]) == ("notification", "favourite",
                                                                 bob.id)


async def test_public_and_hashtag_streams_hear_public_posts_only(api: Api) -> None:
    alice, bob, carol = await api.person(), await api.person(), await api.person()
    tag = f"Tag{secrets.token_hex(3)}"
    async with (
        sse(api, "/api/v1/streaming/public", bob) as public,
        sse(api, "/api/v1/streaming/public/local", bob) as local,
        sse(api, f"/api/v1/streaming/hashtag?tag={tag}", bob) as hashtag,
        sse(api, f"/api/v1/streaming/hashtag/local?tag={tag.lower()}", bob) as hashtag_local,
        sse(api, "/api/v1/streaming/user", carol) as carols,  # carol follows nobody
    ):
        await api.post(alice, f"friends only #{tag}", visibility="private")
        await api.post(alice, f"quietly #{tag}", visibility="unlisted")
        await api.settle()
        status = await api.post(alice, f"for everyone #{tag}")
        for stream in (public, local, hashtag, hashtag_local):
            event, entity = await stream.next()
            assert (event, entity["id"], entity["visibility"]) == ("update", status["id"],
                                                                   "public")
        mine = await api.post(carol, "carol's own")
        assert (await carols.next())[1]["id"] == mine["id"]  # nothing of alice's before


async def test_blocked_and_muted_authors_are_not_delivered(api: Api) -> None:
    viewer, blocked, blocker, muted, fine = [await api.person() for _ in range(5)]
    await api.call("POST", f"/api/v1/accounts/{blocked.id}/block", viewer)
    await api.call("POST", f"/api/v1/accounts/{viewer.id}/block", blocker)
    await api.call("POST", f"/api/v1/accounts/{muted.id}/mute", viewer)
    async with sse(api, "/api/v1/streaming/public", viewer) as public:
        for author in (blocked, blocker, muted):
            await api.post(author, "you should not see this")
        await api.post(fine, f"mentioning @{blocked.username}")  # Mastodon hides these too
        await api.settle()
        status = await api.post(fine, "but this")
        assert (await public.next())[1]["id"] == status["id"]


async def test_a_boost_on_the_user_stream_carries_the_viewers_flags(api: Api) -> None:
    alice, bob, carol = await api.person(), await api.person(), await api.person()
    await api.call("POST", f"/api/v1/accounts/{bob.id}/follow", carol)
    status = await api.post(alice, "boost me")
    await api.call("POST", f"/api/v1/statuses/{status['id']}/bookmark", carol)
    async with sse(api, "/api/v1/streaming/user", carol) as carols:
        boost = await api.call("POST", f"/api/v1/statuses/{status['id']}/reblog", bob)
        event, entity = await carols.next()
        assert (event, entity["id"], entity["reblog"]["id"]) == ("update", boost["id"],
                                                                status["id"])
        assert entity["reblog"]["bookmarked"] is True and entity["reblog"]["reblogged"] is False


async def test_direct_statuses_reach_the_direct_stream_as_conversations(api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    async with sse(api, "/api/v1/streaming/direct", bob) as direct:
        status = await api.post(alice, f"@{bob.username} psst", visibility="direct")
        event, conversation = await direct.next()
        assert event == "conversation"
        assert conversation["last_status"]["id"] == status["id"]
        assert [a["id"] for a in conversation["accounts"]] == [alice.id]


async def test_who_may_open_which_stream(api: Api) -> None:
    alice = await api.person()
    for path in ("user", "public", "hashtag?tag=x", "direct"):
        reply = await api.http.get(f"/api/v1/streaming/{path}")
        assert (reply.status_code, reply.json()) == (401, {"error": "Missing access token"})
        reply = await api.http.get(f"/api/v1/streaming/{path}",
                                   headers={"Authorization": "Bearer not-a-token"})
        assert (reply.status_code, reply.json()) == (401, {"error": "Invalid access token"})
    app_only = await api.app_token()
    reply = await api.http.get("/api/v1/streaming/public",
                               headers={"Authorization": f"Bearer {app_only}"})
    assert reply.status_code == 401  # a user token, as since Mastodon 4.2
    async with api.http.stream("GET", f"/api/v1/streaming/public?access_token={alice.token}"
                               ) as reply:
        assert reply.status_code == 200  # the token may come in the query string


async def test_bad_streams_are_refused(api: Api) -> None:
    alice = await api.person()
    cases = {
        "/api/v1/streaming/nonsense": 404,
        "/api/v1/streaming/hashtag": 400,
        "/api/v1/streaming/hashtag/local?tag=": 400,
        "/api/v1/streaming/list": 400,
        "/api/v1/streaming/list?list=1": 404,
    }
    for path, status in cases.items():
        reply = await api.http.get(path, headers=alice.headers)
        assert reply.status_code == status, (path, reply.text)
        assert "error" in reply.json()


# --- WebSocket ---------------------------------------------------------------------------


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_S):
        message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def _listening(ws: ClientConnection) -> None:
    """Messages are handled in order: the error for this bad subscribe comes once
    everything sent before it is done (a subscribe listens)."""
    await ws.send(json.dumps({"type": "subscribe", "stream": "hashtag"}))
    assert await _receive(ws) == {"error": "No tag for stream provided", "status": 400}


async def test_websocket_with_the_token_in_the_query(api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    await api.call("POST", f"/api/v1/accounts/{alice.id}/follow", bob)
    async with connect(f"{api.stack.ws_url}?stream=user&access_token={bob.token}") as ws:
        status = await api.post(alice, "over the socket")
        message = await _receive(ws)
        assert (message["stream"], message["event"]) == (["user"], "update")
        assert json.loads(message["payload"])["id"] == status["id"]  # a JSON string
        await api.call("DELETE", f"/api/v1/statuses/{status['id']}", alice)
        assert await _receive(ws) == {"stream": ["user"], "event": "delete",
                                      "payload": status["id"]}


async def test_websocket_with_the_token_as_subprotocol_and_subscriptions(api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    tag = f"ws{secrets.token_hex(3)}"
    async with connect(api.stack.ws_url + "/", subprotocols=[Subprotocol(bob.token)]) as ws:
        assert ws.subprotocol == bob.token  # echoed, as Mastodon does
        await ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": tag}))
        await ws.send(json.dumps({"type": "subscribe", "stream": "public:local"}))
        await _listening(ws)
        status = await api.post(alice, f"tagged #{tag}")
        got = {tuple(m["stream"]): m for m in [await _receive(ws), await _receive(ws)]}
        assert set(got) == {("hashtag", tag), ("public:local",)}
        assert json.loads(got[("hashtag", tag)]["payload"])["id"] == status["id"]

        await ws.send(json.dumps({"type": "unsubscribe", "stream": "public:local"}))
        await ws.send(json.dumps({"type": "subscribe", "stream": "nonsense"}))
        assert await _receive(ws) == {"error": "Unknown stream type", "status": 400}
        second = await api.post(alice, f"again #{tag}")
        message = await _receive(ws)  # from the hashtag only: public:local is gone
        assert message["stream"] == ["hashtag", tag]
        assert json.loads(message["payload"])["id"] == second["id"]
        await _listening(ws)  # and the socket is still open after errors


async def test_websocket_with_an_authorization_header_and_refusals(api: Api) -> None:
    bob = await api.person()
    async with connect(f"{api.stack.ws_url}?stream=public", additional_headers=bob.headers
                       ) as ws:
        await _listening(ws)
        status = await api.post(bob, "hello")
        assert json.loads((await _receive(ws))["payload"])["id"] == status["id"]
    for url in (api.stack.ws_url, f"{api.stack.ws_url}?access_token=nope"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url):
                pass
        assert refused.value.response.status_code == 401


# --- slow consumers ----------------------------------------------------------------------


async def test_a_stream_that_dropped_messages_or_cannot_send_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bounded queue drops what a slow client has no room for; the stream then
    ends (the client reconnects and reloads), and so does one whose client stopped
    reading. `delete` messages need no database, so the renderer has no Roost here."""
    from roost.streaming import pump as pump_module
    from roost.streaming.bus import Subscription
    from roost.streaming.messages import StreamMessage
    from roost.streaming.render import Audience, StreamRenderer
    from roost.streaming.streams import StreamRequest

    wanted = StreamRequest(("public",), ("timeline:public",))
    renderer = StreamRenderer(None)  # type: ignore[arg-type]
    sent: list[tuple[str | None, str | None]] = []

    async def emit(event: str | None, payload: str | None) -> None:
        sent.append((event, payload))

    subscription = Subscription(wanted.channels, maxsize=2)
    for n in range(3):
        subscription.offer("timeline:public", StreamMessage("delete", str(n)).encode())
    assert subscription.dropped == 1
    with pytest.raises(pump_module.SlowConsumer):
        await pump_module.pump(subscription, wanted, Audience(1, "http://x"), renderer, emit, 5)
    assert sent == []  # nothing more goes to a client that lost messages

    async def stuck(event: str | None, payload: str | None) -> None:
        await asyncio.Event().wait()  # a client that stopped reading

    monkeypatch.setattr(pump_module, "SEND_TIMEOUT_S", 0.05)
    subscription = Subscription(wanted.channels)
    subscription.offer("timeline:public", StreamMessage("delete", "1").encode())
    with pytest.raises(pump_module.SlowConsumer):
        await pump_module.pump(subscription, wanted, Audience(1, "http://x"), renderer, stuck, 5)


# --- what one message costs, whatever the number of connections --------------------------

IN_STREAMS: contextvars.ContextVar[bool] = contextvars.ContextVar("in_streams", default=False)


@contextlib.contextmanager
def statements_of_streams(roost: Any) -> Iterator[list[str]]:
    """The statements run by the streams' tasks (and the tasks they start), not by the
    request that posts, the event log or anything else beside."""
    from sqlalchemy import event

    found: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if IN_STREAMS.get():
            found.append(statement)

    engines = {roost.db.primary.sync_engine, roost.db.replica.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def _statements_to_deliver(client: httpx.AsyncClient, roost: Any, author: Any,
                                 viewers: int) -> list[str]:
    """What `viewers` public-stream connections (each a different viewer) run between
    a post and the moment all of them have its update."""
    from roost.streaming import channels as ch
    from roost.streaming.bus import bus_of
    from roost.streaming.consumer import status_facts
    from roost.streaming.messages import StreamMessage
    from roost.streaming.pump import pump
    from roost.streaming.render import Audience, StreamRenderer
    from roost.streaming.streams import StreamRequest
    from roost.streaming.subscribe import open_stream
    from tests.support.api import post_status

    wanted = StreamRequest(("public",), (ch.PUBLIC,))
    renderer = StreamRenderer(roost)
    delivered: list[str] = []
    everyone = asyncio.Event()

    async def emit(event: str | None, payload: str | None) -> None:
        delivered.append(event or "")
        if len(delivered) == viewers:
            everyone.set()

    async def connection(viewer_id: int, listening: asyncio.Event) -> None:
        async with open_stream(bus_of(roost), wanted.channels) as subscription:
            listening.set()
            await pump(subscription, wanted, Audience(viewer_id, "http://roost.test"),
                       renderer, emit, 60)

    # Posted before the streams open, and published here as the streaming_push consumer
    # would: whichever process of the session's database holds the event log's lease
    # runs the consumers, and it need not be this one.
    status = await post_status(client, author, "one post, many viewers")
    async with roost.db.read() as conn:
        found = await status_facts(conn, int(status["id"]))
    assert found is not None
    message = StreamMessage("update", status["id"], found[0].as_json()).encode()
    opened = [asyncio.Event() for _ in range(viewers)]
    token = IN_STREAMS.set(True)  # the connections' tasks inherit it
    tasks = [asyncio.create_task(connection(10**15 + n, opened[n])) for n in range(viewers)]
    IN_STREAMS.reset(token)
    try:
        for listening in opened:
            await listening.wait()
        with statements_of_streams(roost) as statements:
            await bus_of(roost).publish(ch.PUBLIC, message)
            async with asyncio.timeout(WAIT_S):
                await everyone.wait()
        assert delivered == ["update"] * viewers
        return statements
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_post_costs_the_same_statements_for_3_viewers_as_for_60(
    client: httpx.AsyncClient, app_roost: tuple[Any, Any], count_statements: Any,
) -> None:
    """Hydrated once per message and the viewers' facts in one statement: the number of
    connections a post reaches does not change the statements it costs (the object
    cache is off here, as `count_statements` turns it off: every read is a statement)."""
    from tests.support.api import register_app, sign_up

    _, roost = app_roost
    author = await sign_up(client, await register_app(client))
    few = await _statements_to_deliver(client, roost, author, 3)
    many = await _statements_to_deliver(client, roost, author, 60)
    assert len(few) == len(many), "\n".join(many)
    assert 1 < len(many) <= 10, "\n".join(many)  # the hydration, then one for the facts


# --- through the middlewares -------------------------------------------------------------


async def test_streams_pass_the_rate_limiter_and_the_observability_middleware(
    tmp_path: Path,
) -> None:
    """With rate limits on (every other server here has them off): the limiter counts
    an SSE request like any other and passes its events on unbuffered, and lets
    WebSocket connections through untouched."""
    server = start_server(tmp_path, None, ROOST_RATE_LIMITS="on", ROOST_LOG_LEVEL="warning",
                          ROOST_STREAMING_HEARTBEAT_MS=str(HEARTBEAT_MS))
    try:
        stack = Stack(server, lambda: settle(server.effective_database_url))
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
            api = Api(stack, http)
            alice = await api.person()
            async with (
                sse(api, "/api/v1/streaming/public", alice) as stream,
                connect(f"{stack.ws_url}?stream=public&access_token={alice.token}") as ws,
            ):
                assert "x-ratelimit-remaining" in stream.response.headers
                assert "x-request-id" in stream.response.headers
                status = await api.post(alice, "through every middleware")
                assert (await stream.next())[1]["id"] == status["id"]
                assert json.loads((await _receive(ws))["payload"])["id"] == status["id"]
    finally:
        server.stop()
