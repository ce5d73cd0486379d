"""The endpoints clients call at start-up (api/mastodon/niceties.py): the empty lists
Roost answers for what it does not have, behind the scopes Mastodon asks for; weekly
activity; posting preferences; and follow suggestions, with their exclusions and a
constant statement count.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import httpx
import pytest

from roost.context import Roost
from roost.instance.activity import INSTANCE_ACTIVITY
from tests.conftest import StatementCounter
from tests.support.api import App, User, follow, post_status, register_app, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="session")

WEEK_S = 7 * 24 * 3600

EMPTY_FOR_A_USER = (
    "/api/v1/filters",
    "/api/v2/filters",
    "/api/v1/lists",
    "/api/v1/followed_tags",
    "/api/v1/conversations",
)


async def _get(
    client: httpx.AsyncClient, path: str, user: User | None = None, **params: Any
) -> Any:
    reply = await client.get(path, headers=user.headers if user else {}, params=params)
    assert reply.status_code == 200, f"{path}: {reply.status_code} {reply.text}"
    return reply.json()


async def _post(client: httpx.AsyncClient, user: User, path: str, **data: Any) -> None:
    reply = await client.post(path, headers=user.headers, data=data)
    assert reply.status_code == 200, f"{path}: {reply.text}"


# --- empty answers and their scopes ------------------------------------------------------


async def test_public_lists_answer_without_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/instance/peers", "/api/v1/instance/rules", "/api/v1/custom_emojis"):
        assert await _get(client, path) == []


async def test_user_lists_are_empty_and_need_a_user_token(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    user = await sign_up(client, app)
    for path in EMPTY_FOR_A_USER:
        assert await _get(client, path, user) == []
        anonymous = await client.get(path)
        assert anonymous.status_code == 401, path
        assert anonymous.json() == {"error": "The access token is invalid"}
        app_only = await client.get(path, headers={"Authorization": f"Bearer {app.token}"})
        assert app_only.status_code == 422, path


async def test_a_token_without_the_scope_is_refused(client: httpx.AsyncClient) -> None:
    app = await register_app(client, scopes="write profile")
    user = await sign_up(client, app)
    for path in (*EMPTY_FOR_A_USER, "/api/v1/preferences", "/api/v2/suggestions"):
        reply = await client.get(path, headers=user.headers)
        assert reply.status_code == 403, path
        assert "error" in reply.json()


# --- activity ----------------------------------------------------------------------------


async def _activity(client: httpx.AsyncClient, roost: Roost) -> list[dict[str, str]]:
    await INSTANCE_ACTIVITY.forget(roost)
    weeks: list[dict[str, str]] = await _get(client, "/api/v1/instance/activity")
    return weeks


async def test_activity_has_twelve_mondays_newest_first(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    weeks = await _activity(client, app_roost[1])
    assert len(weeks) == 12
    for week in weeks:
        assert set(week) == {"week", "statuses", "logins", "registrations"}
        assert all(isinstance(value, str) and value.isdigit() for value in week.values())
    starts = [int(week["week"]) for week in weeks]
    assert [a - b for a, b in pairwise(starts)] == [WEEK_S] * 11
    newest = datetime.fromtimestamp(starts[0], UTC)
    assert newest.weekday() == 0 and (newest.hour, newest.minute, newest.second) == (0, 0, 0)
    assert 0 <= datetime.now(UTC).timestamp() - starts[0] < WEEK_S


async def test_activity_counts_this_weeks_posts_sign_ups_and_active_accounts(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    roost = app_roost[1]
    before = (await _activity(client, roost))[0]
    app = await register_app(client)
    newcomer = await sign_up(client, app)
    await post_status(client, newcomer, "one")
    await post_status(client, newcomer, "two")
    after = (await _activity(client, roost))[0]
    assert after["week"] == before["week"]
    assert int(after["statuses"]) - int(before["statuses"]) == 2
    assert int(after["registrations"]) - int(before["registrations"]) == 1
    # logins: accounts active this week; the newcomer counts once, however much it does.
    assert int(after["logins"]) - int(before["logins"]) == 1


async def test_activity_is_cached_between_reads(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    roost = app_roost[1]
    before = (await _activity(client, roost))[0]
    app = await register_app(client)
    await post_status(client, await sign_up(client, app), "unseen until the cache expires")
    cached = (await _get(client, "/api/v1/instance/activity"))[0]
    assert cached == before


# --- preferences -------------------------------------------------------------------------


async def test_preferences_follow_the_posting_defaults(client: httpx.AsyncClient) -> None:
    user = await sign_up(client, await register_app(client))
    assert await _get(client, "/api/v1/preferences", user) == {
        "posting:default:visibility": "public",
        "posting:default:sensitive": False,
        "posting:default:language": None,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }
    reply = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=user.headers,
        data={"source[privacy]": "unlisted", "source[sensitive]": "true", "source[language]": "de"},
    )
    assert reply.status_code == 200, reply.text
    preferences = await _get(client, "/api/v1/preferences", user)
    assert preferences["posting:default:visibility"] == "unlisted"
    assert preferences["posting:default:sensitive"] is True
    assert preferences["posting:default:language"] == "de"
    assert (await client.get("/api/v1/preferences")).status_code == 401


# --- suggestions -------------------------------------------------------------------------


async def _top_followers(client: httpx.AsyncClient, app: App) -> int:
    """The followers of the most followed account a newcomer is suggested now."""
    newcomer = await sign_up(client, app)
    top = await _get(client, "/api/v1/suggestions", newcomer, limit=1)
    return int(top[0]["followers_count"]) if top else 0


async def _popular(client: httpx.AsyncClient, app: App, fans: list[User], count: int) -> User:
    account = await sign_up(client, app)
    for fan in fans[:count]:
        await follow(client, fan, account)
    return account


async def test_suggestions_are_the_most_followed_accounts_not_yet_followed(
    client: httpx.AsyncClient,
) -> None:
    app = await register_app(client)
    # Every candidate is followed more than any account the shared database holds, so
    # that each one would be among the first suggestions were it not excluded.
    floor = await _top_followers(client, app) + 1
    fans = [await sign_up(client, app) for _ in range(floor + 1)]
    viewer = await sign_up(client, app)
    first = await _popular(client, app, fans, floor + 1)
    second = await _popular(client, app, fans, floor)
    excluded = {
        name: await _popular(client, app, fans, floor)
        for name in ("followed", "requested", "blocked", "blocker", "muted", "hidden")
    }
    await follow(client, viewer, excluded["followed"])
    locked = excluded["requested"]
    reply = await client.patch(
        "/api/v1/accounts/update_credentials", headers=locked.headers, data={"locked": "true"}
    )
    assert reply.status_code == 200, reply.text
    await _post(client, viewer, f"/api/v1/accounts/{locked.id}/follow")
    await _post(client, viewer, f"/api/v1/accounts/{excluded['blocked'].id}/block")
    await _post(client, excluded["blocker"], f"/api/v1/accounts/{viewer.id}/block")
    await _post(client, viewer, f"/api/v1/accounts/{excluded['muted'].id}/mute")
    reply = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=excluded["hidden"].headers,
        data={"discoverable": "false"},
    )
    assert reply.status_code == 200, reply.text

    suggestions = await _get(client, "/api/v2/suggestions", viewer, limit=80)
    suggested = [s["account"]["id"] for s in suggestions]
    assert suggested[:2] == [first.id, second.id]
    assert suggestions[0]["source"] == "global"
    assert suggestions[0]["sources"] == ["most_followed"]
    assert suggestions[0]["account"]["followers_count"] == floor + 1
    assert viewer.id not in suggested
    for name, account in excluded.items():
        assert account.id not in suggested, name

    v1 = await _get(client, "/api/v1/suggestions", viewer, limit=2)
    assert [account["id"] for account in v1] == [first.id, second.id]
    # The one the blocker blocked is not suggested to them either way round.
    assert viewer.id not in [
        a["id"] for a in await _get(client, "/api/v1/suggestions", excluded["blocker"], limit=80)
    ]


async def test_suggestions_limit_and_errors(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    viewer = await sign_up(client, app)
    for _ in range(3):
        await sign_up(client, app)
    assert len(await _get(client, "/api/v2/suggestions", viewer, limit=2)) == 2
    assert len(await _get(client, "/api/v2/suggestions", viewer, limit=0)) == 1
    reply = await client.get(
        "/api/v2/suggestions", headers=viewer.headers, params={"limit": "many"}
    )
    assert reply.status_code == 422 and "error" in reply.json()
    assert (await client.get("/api/v2/suggestions")).status_code == 401


async def test_dismissing_a_suggestion_answers_an_empty_object(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    viewer, other = await sign_up(client, app), await sign_up(client, app)
    for target in (other.id, "not-an-id"):
        reply = await client.delete(f"/api/v1/suggestions/{target}", headers=viewer.headers)
        assert reply.status_code == 200 and reply.json() == {}
    assert (await client.delete(f"/api/v1/suggestions/{other.id}")).status_code == 401


async def test_suggestions_cost_constant_statements(
    client: httpx.AsyncClient, count_statements: StatementCounter
) -> None:
    app = await register_app(client)
    viewer = await sign_up(client, app)
    for _ in range(8):
        await sign_up(client, app)
    counts = []
    for limit in (2, 8):
        count_statements.statements.clear()
        assert len(await _get(client, "/api/v2/suggestions", viewer, limit=limit)) == limit
        counts.append(count_statements.count)
    assert counts[0] == counts[1], count_statements.report()
    # the token, then the suggestions (+ a BEGIN before each on SQLite)
    assert counts[1] <= 4, count_statements.report()
