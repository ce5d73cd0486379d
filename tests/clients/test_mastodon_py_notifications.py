"""Mastodon.py against a real server: notifications (listing, filters, paging through
the Link header, one, dismiss, clear, unread count) and read markers.

The listing and paging tests make many notifications quickly with notify(), as the
features do, on the server's own database through the in-process app of the same
session (the two share `database_url`); one test drives every feature that notifies
(follow, like, boost, mention, reply, edit, follow request) through Mastodon.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from mastodon import Mastodon, MastodonNotFoundError, MastodonRatelimitError

from roost.context import Roost
from roost.db.engine import Database
from roost.events import outbox
from roost.events.dispatcher import CURSOR
from roost.ids import shard_of
from roost.notifications.operations import NotificationType, notify
from tests.clients.test_mastodon_py import Person, error_status, ids, new_app, sign_up
from tests.support.server import RunningServer, start_server

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
]


async def _notify(
    roost: Roost,
    recipient: Person,
    sender: Person,
    type: NotificationType,
    status_id: int | None = None,
) -> int:
    # An engine of its own: notify() appends a NotificationCreated event, and a write
    # through the in-process app's engine wakes that app's event dispatcher at once. Its
    # round could then still hold SQLite's write lock when this test blocks the event
    # loop in a Mastodon.py call, and the server's writes failed ("database is locked").
    db = Database(roost.db.url)
    try:
        async with db.write() as conn:
            made = await notify(
                conn,
                roost.ids,
                recipient_id=int(recipient.id),
                from_account_id=int(sender.id),
                type=type,
                activity_id=roost.ids.next_id(shard_of(int(sender.id))),
                status_id=status_id,
            )
    finally:
        await db.dispose()
    # Its NotificationCreated event is dispatched by the server's dispatcher or this
    # app's, whichever holds the lease: waited for here with the event loop free (a
    # dispatcher in this process cannot run while Mastodon.py's calls block the loop),
    # and without waking this app's dispatcher, whose round could then still hold
    # SQLite's write lock when the next blocking call begins.
    async with asyncio.timeout(15):
        while True:
            async with roost.db.read() as conn:
                if await outbox.unread(conn, CURSOR) == 0:
                    break
            await asyncio.sleep(0.01)
    assert made is not None
    return made


@pytest.fixture
def people(server: RunningServer) -> tuple[Person, Person]:
    app = new_app(server)
    return sign_up(server, app, "noticed"), sign_up(server, app, "noticer")


async def test_notifications_through_mastodon_py(
    server: RunningServer, app_roost: tuple[Any, Roost], people: tuple[Person, Person]
) -> None:
    _, roost = app_roost
    me, fan = people
    post = me.api.status_post("like me")
    liked = await _notify(roost, me, fan, "favourite", int(post.id))
    followed = await _notify(roost, me, fan, "follow")
    mentioned = await _notify(roost, me, fan, "mention", int(post.id))

    page = me.api.notifications()
    assert ids(page) == [mentioned, followed, liked]
    like = page[2]
    assert like.type == "favourite" and isinstance(like.created_at, datetime)
    assert str(like.account.id) == fan.id and str(like.status.id) == str(post.id)
    assert like.group_key == f"ungrouped-{liked}"

    assert ids(me.api.notifications(types=["follow"])) == [followed]
    assert ids(me.api.notifications(exclude_types=["follow"])) == [mentioned, liked]
    assert ids(me.api.notifications(account_id=fan.id, types=["mention"])) == [mentioned]
    assert ids(me.api.notifications(mentions_only=True)) == [mentioned]
    one = me.api.notifications(id=followed)
    assert int(one.id) == followed and one.type == "follow"

    me.api.notifications_dismiss(followed)
    with pytest.raises(MastodonNotFoundError) as missing:
        me.api.notifications(id=followed)
    assert error_status(missing) == 404
    assert ids(me.api.notifications()) == [mentioned, liked]
    me.api.notifications_clear()
    assert me.api.notifications() == []


async def test_paging_markers_and_unread_count(
    server: RunningServer, app_roost: tuple[Any, Roost], people: tuple[Person, Person]
) -> None:
    _, roost = app_roost
    me, fan = people
    made = [await _notify(roost, me, fan, "follow") for _ in range(7)]
    newest_first = list(reversed(made))
    first = me.api.notifications(limit=3)
    assert ids(first) == newest_first[:3]
    second = me.api.fetch_next(first)
    assert second is not None and ids(second) == newest_first[3:6]
    back = me.api.fetch_previous(second)
    assert back is not None and ids(back) == newest_first[:3]
    assert ids(me.api.notifications(min_id=made[3], limit=2)) == [made[5], made[4]]

    assert me.api.notifications_unread_count().count == 7
    saved = me.api.markers_set(["notifications", "home"], [made[4], 12345])
    assert str(saved.notifications.last_read_id) == str(made[4])
    assert saved.notifications.version == 0
    assert me.api.notifications_unread_count().count == 2
    again = me.api.markers_set("notifications", made[6])
    assert again.notifications.version == 1 and "home" not in again
    markers = me.api.markers_get(["home", "notifications"])
    assert str(markers.home.last_read_id) == "12345"
    assert str(markers.notifications.last_read_id) == str(made[6])
    assert isinstance(markers.notifications.updated_at, datetime)
    assert me.api.notifications_unread_count().count == 0


async def test_every_notification_type_comes_from_its_feature(server: RunningServer) -> None:
    """Each feature, used through Mastodon.py, notifies as Mastodon does; undoing it
    withdraws the notification; a mute with notifications hides the muted's."""
    app = new_app(server)
    me, fan, other = (sign_up(server, app, name) for name in ("author", "fan", "other"))
    post = me.api.status_post("something worth liking")

    fan.api.account_follow(me.id)
    fan.api.status_favourite(post.id)
    fan.api.status_reblog(post.id)
    mention = fan.api.status_post(f"hello @{me.username}")
    reply = fan.api.status_reply(post, "a reply")
    got = me.api.notifications()
    assert [n.type for n in got] == ["mention", "mention", "reblog", "favourite", "follow"]
    assert all(str(n.account.id) == fan.id for n in got)
    assert [str(n.status.id) for n in got[:2]] == [str(reply.id), str(mention.id)]
    # A reblog notification shows the boosted status, as Mastodon's does.
    assert str(got[2].status.id) == str(post.id) and str(got[3].status.id) == str(post.id)

    # Editing a status someone boosted tells the booster.
    me.api.status_update(post.id, "something worth liking, edited")
    (update,) = fan.api.notifications(types=["update"])
    assert str(update.status.id) == str(post.id) and str(update.account.id) == me.id

    # Undoing withdraws.
    fan.api.status_unfavourite(post.id)
    fan.api.status_unreblog(post.id)
    fan.api.account_unfollow(me.id)
    assert [n.type for n in me.api.notifications()] == ["mention", "mention"]

    # A locked account is asked, not followed.
    me.api.account_update_credentials(locked=True)
    other.api.account_follow(me.id)
    (asked,) = me.api.notifications(types=["follow_request"])
    assert str(asked.account.id) == other.id
    me.api.follow_request_authorize(other.id)
    assert [n.type for n in me.api.notifications(account_id=other.id)] == ["follow"]

    # Muting with notifications hides the muted account's; without, keeps them.
    me.api.account_mute(fan.id, notifications=False)
    assert len(me.api.notifications(account_id=fan.id)) == 2
    me.api.account_mute(fan.id, notifications=True)
    assert me.api.notifications(account_id=fan.id) == []
    me.api.account_unmute(fan.id)
    assert len(me.api.notifications(account_id=fan.id)) == 2


async def test_other_peoples_notifications_stay_theirs(server: RunningServer) -> None:
    app = new_app(server)
    someone = sign_up(server, app, "lonely")
    with pytest.raises(MastodonNotFoundError):
        someone.api.notifications_dismiss(1)
    assert someone.api.notifications() == []


# --- Mastodon.py reads Roost's rate-limit headers -----------------------------------------


@pytest.fixture
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("limited"),
        None,
        ROOST_RATE_LIMITS="on",
        ROOST_RATE_LIMIT_REQUESTS="3",
        ROOST_RATE_LIMIT_PERIOD="1000000000",
        ROOST_LOG_LEVEL="warning",
    )
    yield running
    running.stop()


async def test_mastodon_py_sees_the_rate_limit(limited_server: RunningServer) -> None:
    api = Mastodon(
        api_base_url=limited_server.url, ratelimit_method="throw", version_check_mode="none"
    )
    api.instance_v1()
    assert api.ratelimit_limit == 3 and api.ratelimit_remaining == 2
    # Mastodon.py parses X-RateLimit-Reset (ISO 8601) into epoch seconds, shifted by
    # the clock difference it reads from the Date header (under a second here).
    assert abs(api.ratelimit_reset - 2_000_000_000) < 5
    api.instance_v1()
    api.instance_v1()
    with pytest.raises(MastodonRatelimitError):
        api.instance_v1()
