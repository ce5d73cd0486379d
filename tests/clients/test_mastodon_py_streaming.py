"""Mastodon.py's streaming (server-sent events, in its own thread) against a real
server, on both databases (the in-process hub: the `server` fixture runs its
consumers): the user stream hears a followed account's post and a notification, the
public and hashtag streams a public post. Mastodon.py finds the streaming server
through /api/v1/instance `urls.streaming_api` (ws://, turned into http:// by it).
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import threading
from collections.abc import Iterator
from typing import Any

from mastodon import Mastodon, StreamListener

from tests.clients.test_mastodon_py import new_app, sign_up
from tests.support.server import RunningServer

WAIT_S = 10.0


class Recorder(StreamListener):  # type: ignore[misc]  # Mastodon.py is untyped
    """Everything a stream says, in order; `ready` once the server greets (its first
    comment line: the stream listens from then on)."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def handle_heartbeat(self) -> None:
        self.ready.set()

    def on_update(self, status: Any) -> None:
        self.events.put(("update", status))

    def on_notification(self, notification: Any) -> None:
        self.events.put(("notification", notification))

    def on_delete(self, status_id: Any) -> None:
        self.events.put(("delete", status_id))

    def next(self) -> tuple[str, Any]:
        return self.events.get(timeout=WAIT_S)


@contextlib.contextmanager
def streaming(open_stream: Any, *args: Any) -> Iterator[Recorder]:
    recorder = Recorder()
    handle = open_stream(*args, recorder, run_async=True)
    try:
        assert recorder.ready.wait(WAIT_S), "the stream did not open"
        yield recorder
    finally:
        # close() waits for the reading thread to get its next bytes (a heartbeat,
        # 15 s away on this server): let it finish in the background.
        threading.Thread(target=handle.close, daemon=True).start()


def test_the_instance_names_this_server_for_streaming(server: RunningServer) -> None:
    api = Mastodon(api_base_url=server.url)
    assert api.instance_v1()["urls"]["streaming_api"] == "ws" + server.url[4:]


def test_stream_user_hears_a_followed_post_and_a_notification(server: RunningServer) -> None:
    app = new_app(server)
    alice, bob = sign_up(server, app, "alice"), sign_up(server, app, "bob")
    bob.api.account_follow(alice.id)
    with streaming(bob.api.stream_user) as bobs:
        status = alice.api.status_post("hello, Mastodon.py")
        event, update = bobs.next()
        assert (event, str(update.id), str(update.account.id)) == ("update", str(status.id),
                                                                   alice.id)
        alice.api.status_favourite(status.id)  # nothing for bob...
        mine = bob.api.status_post("bob posts")  # ...his own post comes next
        event, update = bobs.next()
        assert (event, str(update.id)) == ("update", str(mine.id))
        alice.api.status_favourite(mine.id)
        event, notification = bobs.next()
        assert event == "notification"
        assert (notification.type, str(notification.account.id), str(notification.status.id)
                ) == ("favourite", alice.id, str(mine.id))


def test_stream_public_and_hashtag_hear_a_public_post(server: RunningServer) -> None:
    app = new_app(server)
    alice, bob = sign_up(server, app, "alice"), sign_up(server, app, "bob")
    tag = f"py{secrets.token_hex(3)}"
    with (
        streaming(bob.api.stream_public) as public,
        streaming(bob.api.stream_hashtag, tag) as hashtag,
    ):
        status = alice.api.status_post(f"for the stream #{tag}")
        for stream in (public, hashtag):
            event, update = stream.next()
            assert (event, str(update.id)) == ("update", str(status.id))
        alice.api.status_delete(status.id)
        event, deleted = public.next()
        assert (event, str(deleted)) == ("delete", str(status.id))
