"""Streaming pushes over Redis, end to end (docs/streaming.md): a real server with
ROOST_REDIS_URL (the Redis Streams event log, consumers in the server), and this test
listening with redis-py to the prefixed pub/sub channels as a streaming endpoint would,
setting the `subscribed:` markers for the streams it pretends to have open.

The module has its own key and stream prefixes, so it shares Redis with anything.
"""

from __future__ import annotations

import json
import secrets
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from roost.streaming import channels as ch
from tests.support.events import settle_redis
from tests.support.server import RunningServer, start_server
from tests.support.services import fresh_postgres_database, reachable_redis_url

Messages = dict[str, list[dict[str, Any]]]


@dataclass
class Account:
    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Listener:
    """One pub/sub connection on the channels a few streams would listen to."""

    def __init__(self, client: redis.Redis, prefix: str, channels: list[str]) -> None:
        self.prefix = prefix
        self.pubsub = client.pubsub()
        self.pubsub.subscribe(*(prefix + c for c in channels))
        confirmed = 0
        while confirmed < len(channels):
            message = self.pubsub.get_message(timeout=5)
            assert message is not None, "Redis did not confirm the subscriptions"
            confirmed += message["type"] == "subscribe"

    def take(self) -> Messages:
        """Everything published since the last take, by unprefixed channel. Called after
        the log has settled: every handler has published and returned by then."""
        found: Messages = defaultdict(list)
        while (message := self.pubsub.get_message(timeout=0.3)) is not None:
            if message["type"] == "message":
                found[message["channel"][len(self.prefix):]].append(json.loads(message["data"]))
        return dict(found)


@dataclass
class Stack:
    server: RunningServer
    http: httpx.Client
    settle: Any
    listener: Listener
    alice: Account  # the author
    bob: Account  # follows alice, has a stream open
    carol: Account  # follows alice, no stream open (channel heard here, no marker)
    dave: Account  # follows bob only, has a stream open
    tag: str
    redis: redis.Redis


def _sign_up(http: httpx.Client, app_token: str) -> Account:
    name = f"s_{secrets.token_hex(4)}"
    reply = http.post("/api/v1/accounts", headers={"Authorization": f"Bearer {app_token}"},
                      data={"username": name, "email": f"{name}@example.test",
                            "password": "correct horse battery", "agreement": "true",
                            "locale": "en"})
    assert reply.status_code == 200, reply.text
    token = reply.json()["access_token"]
    me = http.get("/api/v1/accounts/verify_credentials",
                  headers={"Authorization": f"Bearer {token}"}).json()
    return Account(int(me["id"]), name, token)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = reachable_redis_url()
    client = redis.Redis.from_url(url, decode_responses=True)
    token = secrets.token_hex(4)
    key_prefix, stream_prefix = f"roost:test-push-{token}:", f"roost:test-push-log-{token}:"
    data_dir: Path = tmp_path_factory.mktemp("streaming")
    with fresh_postgres_database() as database_url:
        server = start_server(data_dir, database_url, ROOST_REDIS_URL=url,
                              ROOST_REDIS_KEY_PREFIX=key_prefix,
                              ROOST_EVENT_STREAM_PREFIX=stream_prefix,
                              ROOST_LOG_LEVEL="warning")

        def settle(response: httpx.Response | None = None) -> None:
            if response is None or response.request.method != "GET":
                settle_redis(database_url, url, stream_prefix)

        try:
            with httpx.Client(base_url=server.url, timeout=30,
                              event_hooks={"response": [settle]}) as http:
                app = http.post("/api/v1/apps", data={
                    "client_name": "streaming", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                    "scopes": "read write follow"}).json()
                app_token = http.post("/oauth/token", data={
                    "grant_type": "client_credentials", "client_id": app["client_id"],
                    "client_secret": app["client_secret"], "scope": "read write follow"},
                ).json()["access_token"]
                alice, bob, carol, dave = (_sign_up(http, app_token) for _ in range(4))
                for follower, target in ((bob, alice), (carol, alice), (dave, bob)):
                    reply = http.post(f"/api/v1/accounts/{target.id}/follow",
                                      headers=follower.headers)
                    assert reply.status_code == 200, reply.text
                tag = f"Stream{token}"
                channels = [
                    *ch.PUBLIC_CHANNELS, *ch.hashtag(tag),
                    ch.user(alice.id), ch.notifications(alice.id), ch.direct(alice.id),
                    ch.user(bob.id), ch.direct(bob.id),
                    ch.user(carol.id), ch.notifications(carol.id),
                    ch.user(dave.id), ch.direct(dave.id),
                ]
                listener = Listener(client, key_prefix, channels)
                # The streams this test pretends to have open; carol has none (her
                # channels are heard here all the same, to see nothing comes).
                for channel in channels:
                    if channel not in (ch.user(carol.id), ch.notifications(carol.id)):
                        client.set(key_prefix + ch.marker(channel), "1", ex=600)
                listener.take()  # what the sign-ups and follows published
                yield Stack(server, http, settle, listener, alice, bob, carol, dave, tag,
                            client)
        finally:
            server.stop()
            for key in client.scan_iter(match=f"{key_prefix}*"):
                client.delete(key)
            client.close()


def _post(stack: Stack, author: Account, text: str, **fields: str) -> dict[str, Any]:
    reply = stack.http.post("/api/v1/statuses", headers=author.headers,
                            data={"status": text, **fields})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def _events(messages: Messages) -> dict[str, list[tuple[str, str]]]:
    return {channel: [(m["event"], m["payload"]) for m in found]
            for channel, found in messages.items()}


def test_a_public_post_reaches_public_hashtag_author_and_listening_followers(
    stack: Stack,
) -> None:
    status = _post(stack, stack.alice, f"hello #{stack.tag}")
    got = stack.listener.take()
    update = [("update", status["id"])]
    tag, tag_local = ch.hashtag(stack.tag)
    assert _events(got) == {
        "timeline:public": update, "timeline:public:local": update,
        tag: update, tag_local: update,
        ch.user(stack.alice.id): update, ch.user(stack.bob.id): update,
    }  # carol follows but has no stream open; dave does not follow alice
    facts = got["timeline:public"][0]["facts"]
    assert facts == {
        "status_id": int(status["id"]), "account_id": stack.alice.id, "visibility": "public",
        "reblog_of_id": None, "reblog_of_account_id": None, "in_reply_to_account_id": None,
        "mentioned_ids": [], "tags": [stack.tag.lower()],
    }
    assert got["timeline:public"][0]["queued_at"] <= time.time() * 1000


def test_a_private_post_reaches_followers_only(stack: Stack) -> None:
    status = _post(stack, stack.alice, f"friends only #{stack.tag}", visibility="private")
    update = [("update", status["id"])]
    assert _events(stack.listener.take()) == {
        ch.user(stack.alice.id): update, ch.user(stack.bob.id): update,
    }


def test_a_direct_post_reaches_the_mentioned_only(stack: Stack) -> None:
    status = _post(stack, stack.alice, f"@{stack.dave.username} psst", visibility="direct")
    got = stack.listener.take()
    # bob follows alice but is not mentioned; dave is mentioned but does not follow
    # alice, so his home timeline does not show it: his direct stream does.
    assert _events(got) == {
        ch.user(stack.alice.id): [("update", status["id"])],
        ch.direct(stack.alice.id): [("conversation", status["id"])],
        ch.direct(stack.dave.id): [("conversation", status["id"])],
    }
    facts = got[ch.direct(stack.dave.id)][0]["facts"]
    assert (facts["visibility"], facts["mentioned_ids"]) == ("direct", [stack.dave.id])


def test_an_edit_is_a_status_update_where_the_post_went(stack: Stack) -> None:
    status = _post(stack, stack.alice, "first words")
    stack.listener.take()
    reply = stack.http.put(f"/api/v1/statuses/{status['id']}", headers=stack.alice.headers,
                           data={"status": "second words"})
    assert reply.status_code == 200, reply.text
    edited = [("status.update", status["id"])]
    assert _events(stack.listener.take()) == {
        "timeline:public": edited, "timeline:public:local": edited,
        ch.user(stack.alice.id): edited, ch.user(stack.bob.id): edited,
    }


def test_a_deletion_is_a_delete_with_the_bare_id(stack: Stack) -> None:
    status = _post(stack, stack.alice, "soon gone")
    stack.listener.take()
    reply = stack.http.delete(f"/api/v1/statuses/{status['id']}", headers=stack.alice.headers)
    assert reply.status_code == 200, reply.text
    gone = [("delete", status["id"])]
    assert _events(stack.listener.take()) == {
        "timeline:public": gone, "timeline:public:local": gone,
        ch.user(stack.alice.id): gone, ch.user(stack.bob.id): gone,
    }


def test_the_deletion_of_a_private_or_direct_post_stays_where_the_post_went(
    stack: Stack,
) -> None:
    for visibility, told in (("private", [stack.alice.id, stack.bob.id]),
                             ("direct", [stack.alice.id])):
        status = _post(stack, stack.alice, f"@{stack.dave.username} not for all",
                       visibility=visibility)
        stack.listener.take()
        reply = stack.http.delete(f"/api/v1/statuses/{status['id']}",
                                  headers=stack.alice.headers)
        assert reply.status_code == 200, reply.text
        gone = [("delete", status["id"])]
        assert _events(stack.listener.take()) == {ch.user(a): gone for a in told}, visibility


def test_a_boost_reaches_the_boosters_followers_and_an_unboost_deletes_it(stack: Stack) -> None:
    status = _post(stack, stack.alice, "worth sharing")
    stack.listener.take()
    reply = stack.http.post(f"/api/v1/statuses/{status['id']}/reblog", headers=stack.bob.headers)
    assert reply.status_code == 200, reply.text
    boost_id = reply.json()["id"]
    got = stack.listener.take()
    boosted = [("update", boost_id)]
    notified = got.pop(ch.notifications(stack.alice.id))
    assert [(m["event"], m["facts"]["type"]) for m in notified] == [("notification", "reblog")]
    assert _events(got) == {ch.user(stack.bob.id): boosted, ch.user(stack.dave.id): boosted}
    facts = got[ch.user(stack.dave.id)][0]["facts"]
    assert (facts["reblog_of_id"], facts["reblog_of_account_id"]) == (
        int(status["id"]), stack.alice.id)
    reply = stack.http.post(f"/api/v1/statuses/{status['id']}/unreblog",
                            headers=stack.bob.headers)
    assert reply.status_code == 200, reply.text
    gone = [("delete", boost_id)]
    assert _events(stack.listener.take()) == {
        ch.user(stack.bob.id): gone, ch.user(stack.dave.id): gone,
    }


def test_a_like_is_a_notification_on_the_recipients_notifications_channel(
    stack: Stack,
) -> None:
    status = _post(stack, stack.alice, "like me")
    stack.listener.take()
    reply = stack.http.post(f"/api/v1/statuses/{status['id']}/favourite",
                            headers=stack.dave.headers)
    assert reply.status_code == 200, reply.text
    got = stack.listener.take()
    assert list(got) == [ch.notifications(stack.alice.id)]  # not twice on the user stream
    [message] = got[ch.notifications(stack.alice.id)]
    notifications = stack.http.get("/api/v1/notifications", headers=stack.alice.headers).json()
    assert message["event"] == "notification"
    assert message["payload"] == notifications[0]["id"]
    assert message["facts"] == {"recipient_id": stack.alice.id, "type": "favourite",
                                "account_id": stack.dave.id, "status_id": int(status["id"])}


def test_nothing_is_published_to_a_recipient_without_a_stream(stack: Stack) -> None:
    status = _post(stack, stack.carol, "carol speaks")
    stack.listener.take()
    reply = stack.http.post(f"/api/v1/statuses/{status['id']}/favourite",
                            headers=stack.alice.headers)
    assert reply.status_code == 200, reply.text
    assert stack.listener.take() == {}
    # Carol opens a notifications-only stream (/api/v1/streaming/user/notification).
    stack.redis.set(stack.listener.prefix + ch.marker(ch.notifications(stack.carol.id)), "1",
                    ex=600)
    reply = stack.http.post(f"/api/v1/statuses/{status['id']}/reblog",
                            headers=stack.alice.headers)
    assert reply.status_code == 200, reply.text
    got = stack.listener.take()  # the notifications stream alone is enough
    assert [m["facts"]["type"] for m in got.pop(ch.notifications(stack.carol.id))] == ["reblog"]
    assert ch.user(stack.carol.id) not in got


def test_a_follower_who_muted_the_author_hears_nothing_of_it(stack: Stack) -> None:
    reply = stack.http.post(f"/api/v1/accounts/{stack.alice.id}/mute", headers=stack.bob.headers)
    assert reply.status_code == 200, reply.text
    try:
        status = _post(stack, stack.alice, "bob will not hear this", visibility="private")
        assert _events(stack.listener.take()) == {
            ch.user(stack.alice.id): [("update", status["id"])],
        }
    finally:
        reply = stack.http.post(f"/api/v1/accounts/{stack.alice.id}/unmute",
                                headers=stack.bob.headers)
        assert reply.status_code == 200, reply.text
