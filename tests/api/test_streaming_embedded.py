"""Streaming pushes in embedded mode (no Redis): the in-process hub, fed by the
consumers the server runs in its own process, heard by streams opened in that process
(the app in-process, on SQLite and PostgreSQL, alone on a database of its own: with
another process on it, that one might be the one running the consumers)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from roost.context import Roost
from roost.streaming import channels as ch
from roost.streaming.bus import InProcessHub, Subscription, bus_of
from roost.streaming.subscribe import open_stream, open_user_stream
from tests.conftest import BACKENDS, in_process_app
from tests.support.api import follow, post_status, register_app, sign_up
from tests.support.events import in_process_client
from tests.support.services import migrated_database


def _taken(subscription: Subscription) -> list[tuple[str, str, str]]:
    """(channel, event, payload) of everything queued (the client settled the log)."""
    found = []
    while subscription.pending():
        channel, raw = subscription._queue.get_nowait()
        message = json.loads(raw)
        found.append((channel, message["event"], message["payload"]))
    return found


@pytest.fixture(params=BACKENDS)
async def embedded(request: pytest.FixtureRequest, tmp_path: Path
                   ) -> AsyncIterator[tuple[httpx.AsyncClient, Roost]]:
    (tmp_path / "db").mkdir()
    with migrated_database(request.param, tmp_path / "db") as url:
        async with in_process_app(url, tmp_path / "data") as app, \
                in_process_client(app) as http:
            yield http, app.state.roost


async def test_pushes_reach_streams_opened_in_the_same_process(
    embedded: tuple[httpx.AsyncClient, Roost]
) -> None:
    client, roost = embedded
    bus = bus_of(roost)
    assert isinstance(bus, InProcessHub)
    app = await register_app(client)
    alice, bob = await sign_up(client, app), await sign_up(client, app)
    await follow(client, bob, alice)
    async with (
        open_user_stream(roost, int(alice.id)) as alice_stream,
        open_user_stream(roost, int(bob.id)) as bob_stream,
        open_stream(bus, [ch.PUBLIC]) as public,
    ):
        status = await post_status(client, alice, "hello from the embedded hub")
        update = ("update", status["id"])
        assert _taken(public) == [(ch.PUBLIC, *update)]
        assert _taken(alice_stream) == [(ch.user(int(alice.id)), *update)]
        assert _taken(bob_stream) == [(ch.user(int(bob.id)), *update)]

        private = await post_status(client, alice, "followers only", visibility="private")
        assert _taken(public) == []
        assert _taken(bob_stream) == [(ch.user(int(bob.id)), "update", private["id"])]
        _taken(alice_stream)

        reply = await client.post(f"/api/v1/statuses/{status['id']}/favourite",
                                  headers=bob.headers)
        assert reply.status_code == 200, reply.text
        [(channel, event, _)] = _taken(alice_stream)
        assert (channel, event) == (ch.notifications(int(alice.id)), "notification")
    assert not bus.may_have_subscribers()  # every stream closed: the consumer rests
