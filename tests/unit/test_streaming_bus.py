"""The in-process streaming hub (embedded mode, streaming/bus.py), channel names and the
message format. The Redis bus is tested against a real Redis in
tests/api/test_streaming_redis.py."""

from __future__ import annotations

import asyncio
import json

from roost.streaming import channels as ch
from roost.streaming.bus import InProcessHub, dropped_total
from roost.streaming.messages import StatusFacts, StreamMessage, decode
from roost.streaming.subscribe import open_stream


def _drain(subscription: object) -> list[tuple[str, str]]:
    queue: asyncio.Queue[tuple[str, str]] = subscription._queue  # type: ignore[attr-defined]
    found = []
    while not queue.empty():
        found.append(queue.get_nowait())
    return found


async def test_messages_reach_every_subscription_of_their_channel_only() -> None:
    hub = InProcessHub()
    async with hub.subscribe([ch.PUBLIC, ch.user(1)]) as one, hub.subscribe([ch.PUBLIC]) as two:
        await hub.publish_many([(ch.PUBLIC, "a"), (ch.user(1), "b"), (ch.user(2), "c")])
        assert _drain(one) == [(ch.PUBLIC, "a"), (ch.user(1), "b")]
        assert _drain(two) == [(ch.PUBLIC, "a")]


async def test_a_channel_is_listened_to_while_a_subscription_is_open() -> None:
    hub = InProcessHub()
    assert not hub.may_have_subscribers()
    async with hub.subscribe([ch.user(7)]):
        assert await hub.listening([ch.user(7), ch.user(8)]) == [True, False]
        assert hub.may_have_subscribers()
    assert await hub.listening([ch.user(7)]) == [False]
    assert not hub.may_have_subscribers()


async def test_a_full_queue_drops_and_counts_without_holding_up_the_others() -> None:
    hub = InProcessHub(queue_size=3)
    before = dropped_total._value.get()
    async with hub.subscribe([ch.PUBLIC]) as slow, hub.subscribe([ch.PUBLIC]) as fast:
        for n in range(5):
            await hub.publish(ch.PUBLIC, str(n))
            if n < 4:
                await fast.next()  # the fast one keeps up
        assert slow.dropped == 2 and fast.dropped == 0
        assert [message for _, message in _drain(slow)] == ["0", "1", "2"]  # oldest kept
        assert [message for _, message in _drain(fast)] == ["4"]
    assert dropped_total._value.get() == before + 2


async def test_iterating_a_subscription_yields_channel_and_message() -> None:
    hub = InProcessHub()
    async with open_stream(hub, ch.user_stream(5)) as subscription:
        assert subscription.channels == (ch.user(5), ch.notifications(5))
        await hub.publish(ch.notifications(5), "n")
        async with asyncio.timeout(1):
            async for channel, message in subscription:
                assert (channel, message) == ("timeline:5:notifications", "n")
                break


def test_channel_names_follow_mastodon() -> None:
    assert ch.user(3) == "timeline:3"
    assert ch.notifications(3) == "timeline:3:notifications"
    assert ch.direct(3) == "timeline:direct:3"
    assert ch.hashtag("Cats") == ("timeline:hashtag:cats", "timeline:hashtag:cats:local")
    assert ch.PUBLIC_CHANNELS == ("timeline:public", "timeline:public:local")
    assert ch.user_stream(3, with_notifications=False) == ["timeline:3"]
    assert ch.marker("timeline:3") == "subscribed:timeline:3"


def test_a_message_carries_an_id_and_the_facts_a_filter_needs() -> None:
    facts = StatusFacts(status_id=10, account_id=2, visibility=2, reblog_of_id=9,
                        reblog_of_account_id=4, mentioned_ids=(5, 6), tags=("cats",))
    raw = StreamMessage("update", "10", facts.as_json(), queued_at=123).encode()
    assert json.loads(raw) == {
        "event": "update", "payload": "10", "queued_at": 123,
        "facts": {"status_id": 10, "account_id": 2, "visibility": "private",
                  "reblog_of_id": 9, "reblog_of_account_id": 4,
                  "in_reply_to_account_id": None, "mentioned_ids": [5, 6], "tags": ["cats"]},
    }
    assert decode(raw) == StreamMessage("update", "10", facts.as_json(), 123)
