"""The analytics and trend-input consumers, through the API, on both databases; and
`roost stats` on what they recorded."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from roost.analytics.queries import Day, daily
from roost.context import Roost
from roost.db.tables import activity_days, tag_uses, tags, trend_status_candidates
from roost.statuses.html import normalise_hashtag
from tests.api.test_cli import run_main
from tests.support.api import follow, post_status, register_app, sign_up, unique_name


def _delta(before: Day, after: Day) -> dict[str, int]:
    return {
        key: getattr(after, key) - getattr(before, key)
        for key in ("posts", "signups", "likes", "boosts", "follows")
    }


async def _tag_accounts(roost: Roost, name: str) -> set[int]:
    async with roost.db.read() as conn:
        rows = await conn.execute(
            select(tag_uses.c.account_id)
            .join(tags, tags.c.id == tag_uses.c.tag_id)
            .where(tags.c.name_lower == normalise_hashtag(name))
        )
        return {int(row) for row in rows.scalars()}


async def test_daily_numbers_and_trend_inputs(client: httpx.AsyncClient,
                                              app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    [before] = await daily(roost.db, 1)
    app = await register_app(client)
    alice, bob = await sign_up(client, app), await sign_up(client, app)
    tag = unique_name("tag").replace("_", "")
    public = await post_status(client, alice, f"Hello #{tag}")
    await post_status(client, bob, f"Secret #{tag}", visibility="private")
    await follow(client, bob, alice)
    liked = await client.post(f"/api/v1/statuses/{public['id']}/favourite", headers=bob.headers)
    assert liked.status_code == 200
    boosted = await client.post(f"/api/v1/statuses/{public['id']}/reblog", headers=bob.headers)
    assert boosted.status_code == 200
    [after] = await daily(roost.db, 1)

    assert _delta(before, after) == {"posts": 2, "signups": 2, "likes": 1, "boosts": 1,
                                     "follows": 1}
    async with roost.db.read() as conn:
        active = set((await conn.execute(
            select(activity_days.c.account_id).where(
                activity_days.c.day == date.fromisoformat(after.day))
        )).scalars())
        candidate = (await conn.execute(
            select(trend_status_candidates).where(
                trend_status_candidates.c.status_id == int(public["id"]))
        )).first()
    assert {int(alice.id), int(bob.id)} <= active
    assert after.active_accounts >= before.active_accounts + 2
    # Only the public status counts towards the tag: a private post never shows in a
    # trend, not even as a number.
    assert await _tag_accounts(roost, tag) == {int(alice.id)}
    assert candidate is not None


async def test_a_deleted_status_leaves_no_trend_candidate(client: httpx.AsyncClient,
                                                          app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    app = await register_app(client)
    alice, bob = await sign_up(client, app), await sign_up(client, app)
    status = await post_status(client, alice, "Short-lived")
    await client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=bob.headers)
    deleted = await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers)
    assert deleted.status_code == 200
    async with roost.db.read() as conn:
        row = (await conn.execute(select(trend_status_candidates).where(
            trend_status_candidates.c.status_id == int(status["id"])))).first()
    assert row is None


def test_roost_stats_prints_the_days(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str],
                                     tmp_path: Any) -> None:
    env = {"ROOST_DATA_DIR": str(tmp_path)}
    assert run_main(monkeypatch, capsys, env, "migrate").code == 0
    created = run_main(monkeypatch, capsys, env, "createuser", "statsy", "--email",
                       "statsy@example.test", "--password", "a long passphrase here")
    assert created.code == 0, created.err
    # Nothing has dispatched the sign-up's event yet (no server ran): zero, then the
    # table's shape.
    shown = run_main(monkeypatch, capsys, env, "stats", "--days", "3")
    assert shown.code == 0, shown.err
    lines = shown.out.strip().splitlines()
    assert lines[0].split() == ["day", "active", "posts", "signups", "likes", "boosts",
                                "follows"]
    assert len(lines) == 4
    as_json = run_main(monkeypatch, capsys, env, "stats", "--days", "2", "--json")
    assert as_json.code == 0 and '"active_accounts"' in as_json.out
    bad = run_main(monkeypatch, capsys, env, "stats", "--days", "0")
    assert bad.code == 2 and "--days" in bad.err
