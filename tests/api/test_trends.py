"""Trends (GET /api/v1/trends/statuses, /tags and the deprecated /trends): Mastodon's
scores from the trend inputs the event log records, eligibility and privacy decided
per request, Mastodon's paging and errors (docs/trends.md).

An in-process app per database kind, with the consumers in-process and the cached
lists in a real Redis under a key prefix of this module's own.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import create_engine, func, insert, select

from roost.app import create_app
from roost.clock import utcnow
from roost.config import load_settings
from roost.context import Roost
from roost.db.migrate import prepare_database, upgrade
from roost.db.tables import tag_uses, tags, trend_status_candidates
from roost.ids import compose_id
from roost.trends import prune, scores
from roost.trends.read import TRENDING_STATUSES, TRENDING_TAGS
from tests.api.test_cli import run_main
from tests.support.api import App, User, post_status, register_app, sign_up
from tests.support.events import in_process_client
from tests.support.server import CHEAP_PASSWORD_HASHING
from tests.support.services import fresh_postgres_database

pytestmark = pytest.mark.asyncio(loop_scope="session")

FANS = 8


@dataclass
class Stack:
    http: httpx.AsyncClient
    roost: Roost
    app: App
    fans: list[User]

    async def fresh(self) -> None:
        """Forget the cached lists, so the next read scores what was just written."""
        await TRENDING_STATUSES.forget(self.roost)
        await TRENDING_TAGS.forget(self.roost)

    async def user(self) -> User:
        return await sign_up(self.http, self.app)

    async def like(self, status_id: str, count: int) -> None:
        for fan in self.fans[:count]:
            reply = await self.http.post(f"/api/v1/statuses/{status_id}/favourite",
                                         headers=fan.headers)
            assert reply.status_code == 200, reply.text

    async def trending(self, user: User | None = None, **params: Any) -> list[str]:
        reply = await self.get("/api/v1/trends/statuses", user, **params)
        assert reply.status_code == 200, reply.text
        return [status["id"] for status in reply.json()]

    async def get(self, path: str, user: User | None = None, **params: Any) -> httpx.Response:
        headers = user.headers if user is not None else {}
        return await self.http.get(path, headers=headers, params=params)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def trends_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[Path, str]]:
    data_dir = tmp_path_factory.mktemp(f"trends-{request.param}")
    if request.param == "sqlite":
        yield data_dir, f"sqlite:///{data_dir / 'roost.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield data_dir, url


@pytest.fixture(scope="module")
async def stack(trends_database: tuple[Path, str], reachable_redis: str
                ) -> AsyncIterator[Stack]:
    data_dir, url = trends_database
    prefix = f"roost:test-trends-{secrets.token_hex(4)}:"
    settings = load_settings({
        "ROOST_DATA_DIR": str(data_dir), "ROOST_DATABASE_URL": url,
        "ROOST_REDIS_URL": reachable_redis, "ROOST_REDIS_KEY_PREFIX": prefix,
        "ROOST_EVENT_LOG": "outbox", "ROOST_RATE_LIMITS": "off", **CHEAP_PASSWORD_HASHING})
    upgrade(settings.database_url)
    prepare_database(settings)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            roost: Roost = app.state.roost

            async with in_process_client(app) as http:
                client_app = await register_app(http)
                fans = [await sign_up(http, client_app) for _ in range(FANS)]
                yield Stack(http, roost, client_app, fans)
    finally:
        with redis.Redis.from_url(reachable_redis) as client:
            for key in client.scan_iter(match=f"{prefix}*"):
                client.delete(key)


async def _trending_post(stack: Stack, author: User, likes: int, text: str = "hello",
                         **fields: Any) -> str:
    status = await post_status(stack.http, author, text, **fields)
    await stack.like(status["id"], likes)
    return str(status["id"])


# --- scores and order -----------------------------------------------------------------


async def test_statuses_trend_by_score_best_first_with_mastodon_entities(stack: Stack) -> None:
    author = await stack.user()
    five = await _trending_post(stack, author, 5, "five")
    seven = await _trending_post(stack, author, 7, "seven")
    six = await _trending_post(stack, author, 6, "six")
    four = await _trending_post(stack, author, 4, "four: below the threshold")
    await stack.fresh()
    reply = await stack.get("/api/v1/trends/statuses")  # logged out, as Mastodon allows
    assert reply.status_code == 200, reply.text
    body = reply.json()
    ids = [status["id"] for status in body]
    ours = [i for i in ids if i in {five, six, seven, four}]
    assert ours == [seven, six, five]  # (n - 1)^2: 36 > 25 > 16; 4 likes score 0
    entity = next(status for status in body if status["id"] == seven)
    assert entity["favourites_count"] == 7 and entity["account"]["id"] == author.id
    assert entity["visibility"] == "public" and entity["content"]
    # Signed in, the viewer's own flags come along.
    fan_view = await stack.get("/api/v1/trends/statuses", stack.fans[0])
    mine = next(status for status in fan_view.json() if status["id"] == seven)
    assert mine["favourited"] is True


async def test_paging_by_offset_and_limit_with_link_headers(stack: Stack) -> None:
    author = await stack.user()
    for likes in (5, 6, 7):
        await _trending_post(stack, author, likes)
    await stack.fresh()
    everything = await stack.trending(limit=40)
    assert len(everything) >= 3
    first = await stack.get("/api/v1/trends/statuses", limit=2)
    assert [s["id"] for s in first.json()] == everything[:2]
    assert 'rel="next"' in first.headers["link"] and "offset=2" in first.headers["link"]
    assert 'rel="prev"' not in first.headers["link"]
    second = await stack.get("/api/v1/trends/statuses", limit=2, offset=2)
    assert [s["id"] for s in second.json()] == everything[2:4]
    assert 'rel="prev"' in second.headers["link"]
    assert await stack.trending(offset=len(everything)) == []
    assert len(await stack.trending(limit=1000)) == min(len(everything), 40)  # clamped


async def test_decay_halves_every_hour_and_drops_below_threshold(stack: Stack) -> None:
    """Scored later by the same query: 5 likes score 16, 0.5 after five hours, and
    0.25 (< 0.3, dropped) after six."""
    author = await stack.user()
    status_id = int(await _trending_post(stack, author, 5))
    now = datetime.now(UTC)
    async with stack.roost.db.read() as conn:
        at = {hours: {s.id: s.score for s in await scores.trending_statuses(
            conn, now + timedelta(hours=hours))} for hours in (0, 1, 5, 6)}
    assert at[0][status_id] == pytest.approx(16, rel=0.01)
    assert at[1][status_id] == pytest.approx(8, rel=0.01)
    assert at[5][status_id] == pytest.approx(0.5, rel=0.01)
    assert status_id not in at[6]


async def test_a_tag_used_by_five_accounts_today_trends(stack: Stack) -> None:
    tag = f"trendy{secrets.token_hex(3)}"
    quiet = f"quiet{secrets.token_hex(3)}"
    for fan in stack.fans[:5]:
        await post_status(stack.http, fan, f"about #{tag}")
    for fan in stack.fans[:4]:
        await post_status(stack.http, fan, f"about #{quiet}")  # four: below the threshold
    await post_status(stack.http, stack.fans[5], f"#{quiet} privately", visibility="private")
    await stack.fresh()
    for path in ("/api/v1/trends/tags", "/api/v1/trends"):
        reply = await stack.get(path)
        assert reply.status_code == 200, reply.text
        names = [t["name"] for t in reply.json()]
        assert tag in names and quiet not in names
        entity = next(t for t in reply.json() if t["name"] == tag)
        assert entity["url"].endswith(f"/tags/{tag}")
        assert len(entity["history"]) == 7 and entity["history"][0]["accounts"] == "5"
        assert entity["history"][0]["uses"] == "5"
    assert len((await stack.get("/api/v1/trends/tags", limit=1)).json()) == 1


# --- eligibility and privacy ------------------------------------------------------------


async def test_only_public_original_unsensitive_posts_of_discoverable_accounts_trend(
    stack: Stack,
) -> None:
    author = await stack.user()
    for fan in stack.fans:
        reply = await stack.http.post(f"/api/v1/accounts/{author.id}/follow", headers=fan.headers)
        assert reply.status_code == 200
    mentions = " ".join(f"@{fan.username}" for fan in stack.fans)
    public = await _trending_post(stack, author, 6, "fine")
    hidden = {
        "private": await _trending_post(stack, author, 6, "followers only", visibility="private"),
        "direct": await _trending_post(stack, author, 6, f"dm {mentions}", visibility="direct"),
        "unlisted": await _trending_post(stack, author, 6, "quiet", visibility="unlisted"),
        "reply": await _trending_post(stack, author, 6, "a reply", in_reply_to_id=public),
        "sensitive": await _trending_post(stack, author, 6, "careful", sensitive="true"),
    }
    shy = await stack.user()
    reply = await stack.http.patch("/api/v1/accounts/update_credentials", headers=shy.headers,
                                   data={"discoverable": "false"})
    assert reply.status_code == 200, reply.text
    hidden["not discoverable"] = await _trending_post(stack, shy, 6, "shy")
    await stack.fresh()
    for viewer in (None, stack.fans[0], author):
        shown = await stack.trending(viewer, limit=40)
        assert public in shown
        assert not {kind for kind, sid in hidden.items() if sid in shown}, viewer
    # Decided when read: the author turning undiscoverable takes effect at once.
    reply = await stack.http.patch("/api/v1/accounts/update_credentials",
                                   headers=author.headers, data={"discoverable": "false"})
    assert reply.status_code == 200
    assert public not in await stack.trending(limit=40)  # no recomputation in between


async def test_blocked_and_muted_authors_are_left_out_for_that_viewer_only(
    stack: Stack,
) -> None:
    author = await stack.user()
    status_id = await _trending_post(stack, author, 6)
    blocker, muter, blocked, bystander = [await stack.user() for _ in range(4)]
    await stack.fresh()
    assert status_id in await stack.trending(blocker, limit=40)  # cached now
    for who, action, target in ((blocker, "block", author), (muter, "mute", author),
                                (author, "block", blocked)):
        reply = await stack.http.post(f"/api/v1/accounts/{target.id}/{action}",
                                      headers=who.headers)
        assert reply.status_code == 200, reply.text
    for viewer in (blocker, muter, blocked):
        assert status_id not in await stack.trending(viewer, limit=40)
    assert status_id in await stack.trending(bystander, limit=40)
    assert status_id in await stack.trending(None, limit=40)


async def test_a_deleted_status_never_shows(stack: Stack) -> None:
    author = await stack.user()
    status_id = await _trending_post(stack, author, 6)
    await stack.fresh()
    assert status_id in await stack.trending(limit=40)
    reply = await stack.http.delete(f"/api/v1/statuses/{status_id}", headers=author.headers)
    assert reply.status_code == 200
    assert status_id not in await stack.trending(limit=40)  # the cached list still has it
    await stack.fresh()
    assert status_id not in await stack.trending(limit=40)


@pytest.mark.parametrize("path", ["/api/v1/trends/statuses", "/api/v1/trends/tags",
                                  "/api/v1/trends", "/api/v1/trends/links"])
@pytest.mark.parametrize("params", [{"limit": "abc"}, {"offset": "-1"}, {"offset": "x"},
                                    {"limit": "1.5"}])
async def test_bad_parameters_are_refused_in_mastodon_format(
    stack: Stack, path: str, params: dict[str, str]
) -> None:
    reply = await stack.http.get(path, params=params)
    assert reply.status_code == 422, reply.text
    assert set(reply.json()) == {"error"}


async def test_links_are_an_empty_list(stack: Stack) -> None:
    """Roost makes no preview cards: apps' Explore screens get an empty list, not a 404."""
    reply = await stack.http.get("/api/v1/trends/links", params={"limit": "5"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == [] and "link" not in reply.headers


# --- the scores themselves ----------------------------------------------------------------


async def test_status_score_is_mastodons() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert scores.status_score(2, 2, now, now) == 0  # 4 < 5
    assert scores.status_score(3, 2, now, now) == 16  # (5 - 1)^2
    assert scores.status_score(0, 11, now - timedelta(hours=2), now) == 25  # 100 / 4
    base = compose_id(int(now.timestamp() * 1000), 0, 0, 0)
    old = compose_id(int((now - timedelta(hours=7)).timestamp() * 1000), 0, 0, 0)
    ranked = scores.rank_statuses([(base + 1, 5, 0), (base + 2, 0, 6), (base + 3, 1, 1),
                                   (old, 6, 0)], now)
    # 25, 16; 2 interactions score 0; 25 / 2^7 < 0.3 is dropped.
    assert [s.id for s in ranked] == [base + 2, base + 1]


async def test_tag_score_takes_the_peak_of_the_last_two_days_decaying_every_four_hours() -> None:
    today = date(2026, 11, 30)
    noon = datetime(2026, 11, 30, 12, tzinfo=UTC)
    day = timedelta(days=1)
    # Today: 9 accounts against 1 yesterday: (9 - 1)^2 / 1 = 64, reached now.
    assert scores.tag_score({today: 9, today - day: 1}, noon) == 64
    # Expected is at least 1; below 5 accounts, or fewer than yesterday: 0.
    assert scores.tag_score({today: 5}, noon) == 16
    assert scores.tag_score({today: 4}, noon) == 0
    assert scores.tag_score({today - n * day: 8 for n in range(1, 4)} | {today: 6}, noon) == 0
    # Yesterday's peak (11 vs 1 the day before: 100) at midnight, 12 h ago: 100 / 2^3.
    assert scores.tag_score({today - day: 11, today - 2 * day: 1}, noon) == 12.5
    # A bigger peak is kept over a smaller score today.
    assert scores.tag_score({today: 6, today - day: 11, today - 2 * day: 1}, noon) == 12.5
    # Past the two days' cooldown, nothing is left.
    assert scores.tag_score({today - 3 * day: 50}, noon) == 0
    ranked = scores.rank_tags([(1, today, 9), (2, today, 6), (3, today, 4), (4, today - day, 5)],
                              noon)
    # 64, 25, and yesterday's 16 twelve hours later: 2; four accounts score 0.
    assert [s.id for s in ranked] == [1, 2, 4]


# --- pruning the inputs -----------------------------------------------------------------


async def test_pruning_keeps_every_day_a_tag_score_reads() -> None:
    """The days kept cover what tag_score reads, with a day to spare; and the oldest day
    the scores are said to read (TAG_USES_DAYS_READ) is one they really do read."""
    noon = datetime(2026, 11, 30, 12, tzinfo=UTC)
    first_read = scores.first_tag_use_day(noon)
    assert prune.oldest_kept_day(noon) == first_read - timedelta(days=1)
    # A peak two days ago (60 accounts against 3 the day before): 1083, 36 h ago.
    days = {noon.date() - timedelta(days=n): 60 if n == 2 else 3 for n in range(10)}
    everything = scores.tag_score(days, noon)
    assert everything == pytest.approx(1083 / 2 ** 9)
    assert scores.tag_score({d: n for d, n in days.items() if d >= first_read}, noon) == everything
    assert scores.tag_score({d: n for d, n in days.items() if d > first_read}, noon) != everything


async def _tag_id(stack: Stack, name: str) -> int:
    async with stack.roost.db.read() as conn:
        return int((await conn.execute(
            select(tags.c.id).where(tags.c.name_lower == name))).scalar_one())


async def _uses_by_day(stack: Stack, tag_ids: list[int]) -> dict[tuple[int, date], int]:
    async with stack.roost.db.read() as conn:
        rows = (await conn.execute(
            select(tag_uses.c.tag_id, tag_uses.c.day, func.count())
            .where(tag_uses.c.tag_id.in_(tag_ids))
            .group_by(tag_uses.c.tag_id, tag_uses.c.day))).all()
    return {(int(t), scores._as_date(d)): int(n) for t, d, n in rows}


async def _add_uses(stack: Stack, tag_ids: list[int], days: list[date], accounts: int) -> None:
    # Account ids far below any real one (tag_uses.account_id has no foreign key).
    rows = [{"tag_id": t, "day": d, "account_id": a}
            for t in tag_ids for d in days for a in range(1, accounts + 1)]
    async with stack.roost.db.write() as conn:
        await conn.execute(insert(tag_uses), rows)


async def test_pruning_deletes_old_tag_uses_in_batches_and_keeps_the_window(
    stack: Stack,
) -> None:
    names = [f"pruned{secrets.token_hex(3)}", f"pruned{secrets.token_hex(3)}"]
    for fan in stack.fans[:5]:
        await post_status(stack.http, fan, f"about #{names[0]} and #{names[1]}")
    tag_ids = [await _tag_id(stack, name) for name in names]
    now = utcnow()
    kept = prune.oldest_kept_day(now)
    old_days = [kept - timedelta(days=n) for n in range(1, 31)]
    window = [kept + timedelta(days=n) for n in range(4)]  # the margin day to yesterday
    assert window[-1] == now.date() - timedelta(days=1)
    await _add_uses(stack, tag_ids, old_days + window, accounts=25)
    history = [(await stack.get(f"/api/v1/tags/{name}")).json()["history"] for name in names]
    async with stack.roost.db.read() as conn:
        ranked = await scores.trending_tags(conn, now)

    # 2 tags x 30 days x 25 accounts: 15 batches of 100, walking across days and tags.
    assert await prune.prune_tag_uses(stack.roost.db, now, batch=100) == 1500

    expected = {(t, d): 25 for t in tag_ids for d in window} | {(t, now.date()): 5
                                                               for t in tag_ids}
    assert await _uses_by_day(stack, tag_ids) == expected
    assert [(await stack.get(f"/api/v1/tags/{name}")).json()["history"]
            for name in names] == history
    assert history[0][0]["accounts"] == "5"
    async with stack.roost.db.read() as conn:
        assert await scores.trending_tags(conn, now) == ranked
    assert await prune.prune_tag_uses(stack.roost.db, now, batch=100) == 0


async def test_a_round_prunes_at_most_its_batches(stack: Stack) -> None:
    tag = f"backlog{secrets.token_hex(3)}"
    await post_status(stack.http, stack.fans[0], f"#{tag}")
    tag_id = await _tag_id(stack, tag)
    now = utcnow()
    old = prune.oldest_kept_day(now) - timedelta(days=1)
    await _add_uses(stack, [tag_id], [old], accounts=30)
    db = stack.roost.db
    assert await prune.prune_tag_uses(db, now, batch=10, max_batches=2) == 20
    assert await _uses_by_day(stack, [tag_id]) == {(tag_id, old): 10, (tag_id, now.date()): 1}
    assert await prune.prune_tag_uses(db, now, batch=10) == 10
    assert await _uses_by_day(stack, [tag_id]) == {(tag_id, now.date()): 1}


async def test_the_event_log_reader_prunes_in_its_housekeeping(stack: Stack) -> None:
    """The dispatcher (the outbox log's reader, one process at a time under its lease)
    prunes with its other housekeeping, every prune_every_seconds (made 0 here)."""
    tag = f"housekept{secrets.token_hex(3)}"
    await post_status(stack.http, stack.fans[0], f"#{tag}")
    tag_id = await _tag_id(stack, tag)
    old = prune.oldest_kept_day(utcnow()) - timedelta(days=1)
    await _add_uses(stack, [tag_id], [old], accounts=3)
    dispatcher = stack.roost.dispatcher
    assert dispatcher is not None
    dispatcher.prune_every_seconds = 0.0
    try:
        dispatcher.wake()
        for _ in range(300):  # 15 s at most
            if (tag_id, old) not in await _uses_by_day(stack, [tag_id]):
                break
            await asyncio.sleep(0.05)
    finally:
        del dispatcher.prune_every_seconds  # back to the class's ten minutes
    assert await _uses_by_day(stack, [tag_id]) == {(tag_id, utcnow().date()): 1}


async def test_candidates_of_statuses_older_than_the_scores_read_are_pruned(
    stack: Stack,
) -> None:
    """A like records its status as a candidate; once the status is older than the
    scores read (two days) and the margin, the candidate goes, in batches."""
    author = await stack.user()
    liked = [int(await _trending_post(stack, author, 1, f"liked {n}")) for n in range(3)]

    async def candidates() -> set[int]:
        async with stack.roost.db.read() as conn:
            return set((await conn.execute(
                select(trend_status_candidates.c.status_id)
                .where(trend_status_candidates.c.status_id.in_(liked)))).scalars())

    async def all_candidates() -> int:
        async with stack.roost.db.read() as conn:
            return int((await conn.execute(
                select(func.count()).select_from(trend_status_candidates))).scalar_one())

    assert await candidates() == set(liked)
    db, now = stack.roost.db, utcnow()
    assert await prune.prune_status_candidates(db, now) == 0  # the scores still read them
    later = now + scores.STATUS_MAX_AGE + timedelta(days=1, minutes=1)
    every = await all_candidates()  # earlier tests' too: every status here is that old then
    assert await prune.prune_status_candidates(db, later, batch=2, max_batches=1) == 2
    assert await all_candidates() == every - 2
    assert await prune.prune_status_candidates(db, later, batch=2) == every - 2
    assert await candidates() == set() and await all_candidates() == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, as ROOST_DATABASE_URL takes it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'roost.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield url


async def test_roost_trends_prune(scratch_database: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    env = {"ROOST_DATA_DIR": str(tmp_path / "data"), "ROOST_DATABASE_URL": scratch_database}
    assert (await asyncio.to_thread(run_main, monkeypatch, capsys, env, "migrate")).code == 0
    today = utcnow().date()
    kept = prune.oldest_kept_day(utcnow())
    engine = create_engine(scratch_database.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.begin() as conn:
            conn.execute(insert(tags), [{"id": 1, "name": "Old", "name_lower": "old"}])
            conn.execute(insert(tag_uses), [
                {"tag_id": 1, "day": day, "account_id": account}
                for day in (kept - timedelta(days=40), kept - timedelta(days=1), kept, today)
                for account in (1, 2)])
        for expected in ("Pruned 4 hashtag uses", "Pruned 0 hashtag uses"):
            done = await asyncio.to_thread(run_main, monkeypatch, capsys, env, "trends", "prune")
            assert done.code == 0, done.err
            assert done.out.splitlines() == [expected, "Pruned 0 status candidates"]
        with engine.connect() as conn:
            left = conn.execute(select(tag_uses.c.day).distinct()).scalars().all()
            assert sorted(scores._as_date(day) for day in left) == [kept, today]
    finally:
        engine.dispose()
