"""The status search index on SQLite and PostgreSQL: the search_index consumer keeps it
up to date as statuses are posted, edited, boosted and deleted; the query finds only
what the viewer may see and survives whatever a user types; migration 0006 fills it
for statuses that were already there, and `roost search reindex` and the seeder build
it for statuses that came without events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, insert, literal, select, text
from sqlalchemy.engine import Connection

from roost.cli import main
from roost.context import Roost
from roost.db.engine import Database
from roost.db.migrate import sync_url, upgrade
from roost.db.tables import VISIBILITY_PRIVATE, VISIBILITY_PUBLIC, outbox_events
from roost.events import runner
from roost.events import types as ev
from roost.events.types import Envelope, decode
from roost.paging import Page
from roost.search import dialects
from roost.search.consumer import SEARCH_INDEX
from roost.search.index import Reindexed, build_in_bulk, index_status, reindex_all
from roost.search.queries import matching_status_ids
from tests.api.test_cli import run_main
from tests.support.api import User, follow, post_status, register_app, sign_up, unique_name
from tests.support.services import fresh_postgres_database

PAGE = Page(limit=40)


def word() -> str:
    """A word no other test's status has."""
    return unique_name("w").replace("_", "")


async def found(roost: Roost, query: str, viewer: User | None, page: Page = PAGE) -> list[int]:
    async with roost.db.read() as conn:
        return await matching_status_ids(conn, query, int(viewer.id) if viewer else None, page)


async def index_rows(roost: Roost, status_id: int) -> int:
    async with roost.db.read() as conn:
        dialect = dialects.of(conn)
        statement = select(func.count()).select_from(dialect.table).where(
            dialect.key == status_id)
        return int((await conn.execute(statement)).scalar_one())


async def users(client: httpx.AsyncClient, count: int) -> list[User]:
    app = await register_app(client)
    return [await sign_up(client, app) for _ in range(count)]


# --- the consumer ------------------------------------------------------------------------


async def test_a_posted_status_is_found_once_the_log_settles(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    [alice] = await users(client, 1)
    key, tag, warning = word(), word(), word()
    status = await post_status(client, alice, f"Hello {key.upper()} world #{tag}",
                               spoiler_text=f"cw {warning}")
    status_id = int(status["id"])
    # The client waited for the event log after the post: the consumer has run.
    assert await found(roost, key, alice) == [status_id]  # case-insensitive
    assert await found(roost, key, None) == [status_id]
    assert await found(roost, f"#{tag}", None) == [status_id]  # the hashtag
    assert await found(roost, warning, None) == [status_id]  # the content warning
    assert await found(roost, f"world {key}", None) == [status_id]  # every word, any order
    assert await found(roost, f"{key} {word()}", None) == []  # ...and every word counts


async def test_an_edit_changes_what_matches(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    [alice] = await users(client, 1)
    before, after = word(), word()
    status_id = int((await post_status(client, alice, f"first {before}"))["id"])
    assert await found(roost, before, None) == [status_id]
    edited = await client.put(f"/api/v1/statuses/{status_id}", headers=alice.headers,
                              data={"status": f"second {after}"})
    assert edited.status_code == 200, edited.text
    assert await found(roost, before, None) == []
    assert await found(roost, after, None) == [status_id]


async def test_a_deleted_status_leaves_the_index(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    [alice] = await users(client, 1)
    key = word()
    status_id = int((await post_status(client, alice, f"short-lived {key}"))["id"])
    assert await index_rows(roost, status_id) == 1
    deleted = await client.delete(f"/api/v1/statuses/{status_id}", headers=alice.headers)
    assert deleted.status_code == 200, deleted.text
    assert await found(roost, key, alice) == []
    assert await index_rows(roost, status_id) == 0  # SQLite too, where nothing cascades


async def test_a_boost_is_not_indexed(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    alice, bob = await users(client, 2)
    key = word()
    status_id = int((await post_status(client, alice, f"boost me {key}"))["id"])
    boosted = await client.post(f"/api/v1/statuses/{status_id}/reblog", headers=bob.headers)
    assert boosted.status_code == 200, boosted.text
    boost_id = int(boosted.json()["id"])
    assert await index_rows(roost, boost_id) == 0
    assert await found(roost, key, bob) == [status_id]  # the original, once
    async with roost.db.write() as conn:
        assert await index_status(conn, boost_id) is False
    assert await index_rows(roost, boost_id) == 0


# --- who may find what -------------------------------------------------------------------


async def test_a_private_status_is_found_by_those_who_may_see_it(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    author, follower, mentioned, stranger = await users(client, 4)
    await follow(client, follower, author)
    key = word()
    status = await post_status(client, author, f"for followers {key} @{mentioned.username}",
                               visibility="private")
    status_id = int(status["id"])
    assert status["visibility"] == "private"
    for viewer in (author, follower, mentioned):
        assert await found(roost, key, viewer) == [status_id], viewer.username
    assert await found(roost, key, stranger) == []
    assert await found(roost, key, None) == []


async def test_a_direct_status_is_found_only_by_its_author_and_those_mentioned(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    author, follower, mentioned, stranger = await users(client, 4)
    await follow(client, follower, author)
    key = word()
    status_id = int((await post_status(client, author, f"psst @{mentioned.username} {key}",
                                       visibility="direct"))["id"])
    assert await found(roost, key, author) == [status_id]
    assert await found(roost, key, mentioned) == [status_id]
    assert await found(roost, key, follower) == []
    assert await found(roost, key, stranger) == []
    assert await found(roost, key, None) == []


async def test_blocks_and_mutes_hide_an_author(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    author, blocker, blocked, muter, bystander = await users(client, 5)
    key = word()
    status_id = int((await post_status(client, author, f"loud {key}"))["id"])
    for who, action, target in ((blocker, "block", author), (author, "block", blocked),
                                (muter, "mute", author)):
        reply = await client.post(f"/api/v1/accounts/{target.id}/{action}",
                                  headers=who.headers)
        assert reply.status_code == 200, reply.text
    assert await found(roost, key, blocker) == []  # blocked the author
    assert await found(roost, key, blocked) == []  # blocked by the author
    assert await found(roost, key, muter) == []
    assert await found(roost, key, bystander) == [status_id]


# --- the query ---------------------------------------------------------------------------

HOSTILE = [
    "", "   ", "\t\n", '"', '""', "'", "*", "**", f"{'(' * 50}", ")", "AND", "OR", "NOT",
    "AND OR NOT", "a AND", "NOT a", "NEAR(a b)", "a NEAR b", "^a", "a:b", "document:a",
    "-a", "a -b", "a | b", "a & b", "!a", "a <-> b", "a:*", "{a b}", "[a]", "\\", "\\\"",
    "a\x00b", "\x00", "😀", "😀😀 🎉", "🇫🇷", "é", "ǅ", "ß", "İ", "\u200b", "\u202e",
    "x" * 3000, "é" * 2000, "😀" * 1000, " ".join(["word"] * 2000), "a" * 100_000,
    "%", "_", "%_%", "'; DROP TABLE statuses; --", "1 = 1", "NULL", "rowid", "*:*",
]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_queries_return_cleanly(app_roost: tuple[Any, Roost], query: str) -> None:
    _, roost = app_roost
    results = await found(roost, query, None)
    assert isinstance(results, list)


async def test_query_syntax_is_read_as_words(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    [alice] = await users(client, 1)
    key = word()
    status_id = int((await post_status(client, alice, f"plain {key} words"))["id"])
    for query in (f'"{key}"', f"{key}*", f"({key})", f"{key}!", f"'{key}'", f"{key} 😀",
                  f"“{key}”", f"{key} *", f"{key} ( ) \" '"):
        assert await found(roost, query, None) == [status_id], query
    for query in (f"{key} OR plain", f"{key} AND nothinglikethis", f"-{key} unrelated",
                  f"NOT {key}"):
        assert await found(roost, query, None) == [], query  # operators are words


async def test_pages_newest_first(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    [alice] = await users(client, 1)
    key = word()
    ids = [int((await post_status(client, alice, f"{key} number {n}"))["id"]) for n in range(5)]
    newest_first = ids[::-1]
    assert await found(roost, key, None) == newest_first
    assert await found(roost, key, None, Page(limit=2)) == newest_first[:2]
    assert await found(roost, key, None, Page(limit=2, max_id=newest_first[1])) == \
        newest_first[2:4]
    assert await found(roost, key, None, Page(limit=2, min_id=newest_first[3])) == \
        newest_first[1:3]
    assert await found(roost, key, None, Page(limit=0)) == []
    async with roost.db.read() as conn:
        assert await matching_status_ids(conn, key, None, Page(limit=2), offset=3) == \
            newest_first[3:5]
        other = await users(client, 1)
        assert await matching_status_ids(conn, key, None, PAGE,
                                         account_id=int(other[0].id)) == []


# --- delivery ----------------------------------------------------------------------------


async def _created_event(roost: Roost, status_id: int) -> Envelope:
    async with roost.db.read() as conn:
        rows = (await conn.execute(
            select(outbox_events).where(outbox_events.c.type == ev.StatusCreated.TYPE)
            .order_by(outbox_events.c.position.desc()).limit(50)
        )).all()
    for row in rows:
        envelope = Envelope(row.event_id, row.type, row.version, row.account_id, row.payload)
        event = decode(envelope)
        assert isinstance(event, ev.StatusCreated)
        if event.status_id == status_id:
            return envelope
    raise AssertionError(f"no status.created event for {status_id}")


async def test_the_same_event_twice_is_harmless(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    [alice] = await users(client, 1)
    key = word()
    status_id = int((await post_status(client, alice, f"once {key}"))["id"])
    envelope = await _created_event(roost, status_id)
    assert await runner.deliver(roost, SEARCH_INDEX, envelope) == "duplicate"
    # And the handler itself, run again (a replay that lost its processed marker):
    for _ in range(2):
        async with roost.db.write() as conn:
            await SEARCH_INDEX.handle(roost, conn, decode(envelope))
    assert await index_rows(roost, status_id) == 1
    assert await found(roost, key, None) == [status_id]


async def test_a_creation_handled_after_the_deletion_indexes_nothing(
    client: httpx.AsyncClient, app_roost: tuple[Any, Roost]
) -> None:
    _, roost = app_roost
    [alice] = await users(client, 1)
    key = word()
    status_id = int((await post_status(client, alice, f"gone {key}"))["id"])
    envelope = await _created_event(roost, status_id)
    deleted = await client.delete(f"/api/v1/statuses/{status_id}", headers=alice.headers)
    assert deleted.status_code == 200
    async with roost.db.write() as conn:  # the creation comes back late (a retry)
        await SEARCH_INDEX.handle(roost, conn, decode(envelope))
    assert await index_rows(roost, status_id) == 0
    assert await found(roost, key, alice) == []


# --- statuses that came without events ---------------------------------------------------

ACCOUNT, TAG = 7001, 7101
STATUSES = {  # id: (text, spoiler text, visibility, boost of)
    7201: ("old public apricot", "", VISIBILITY_PUBLIC, None),
    7202: ("old private banana", "cherry", VISIBILITY_PRIVATE, None),
    7203: ("", "", VISIBILITY_PUBLIC, 7201),
    7204: ("tagged #Durian", "", VISIBILITY_PUBLIC, None),
}


def _write_statuses_by_hand_to(url: str) -> None:
    """_write_statuses_by_hand on the database at `url` (async URL), in one transaction."""
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as conn:
            _write_statuses_by_hand(conn)
    finally:
        engine.dispose()


def _write_statuses_by_hand(conn: Connection) -> None:
    """Rows as the seeder or an older Roost left them: no events."""
    conn.execute(text(
        "INSERT INTO accounts (id, username, username_lower, fields, updated_at)"
        " VALUES (:id, 'old', 'old', '[]', CURRENT_TIMESTAMP)"), {"id": ACCOUNT})
    conn.execute(text("INSERT INTO tags (id, name, name_lower) VALUES (:id, 'Durian', 'durian')"),
                 {"id": TAG})
    for status_id, (body, spoiler, visibility, boost_of) in STATUSES.items():
        conn.execute(text(
            "INSERT INTO statuses (id, account_id, text, spoiler_text, visibility, reblog_of_id)"
            " VALUES (:id, :account, :text, :spoiler, :visibility, :boost)"),
            {"id": status_id, "account": ACCOUNT, "text": body, "spoiler": spoiler,
             "visibility": visibility, "boost": boost_of})
    conn.execute(text("INSERT INTO status_tags (tag_id, status_id) VALUES (:t, :s)"),
                 {"t": TAG, "s": 7204})


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An async URL of an empty database (no schema yet)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'roost.sqlite3'}"
        return
    with fresh_postgres_database() as raw:
        yield raw.replace("postgresql://", "postgresql+psycopg://", 1)


async def _expect_backfilled(url: str) -> None:
    db = Database(url)
    try:
        async with db.read() as conn:
            def ids(query: str, viewer: int | None = None) -> Any:
                return matching_status_ids(conn, query, viewer, PAGE)

            assert await ids("apricot") == [7201]  # the boost 7203 is not indexed
            assert await ids("banana") == []  # private: not for the anonymous
            assert await ids("cherry", ACCOUNT) == [7202]  # its author finds it
            assert await ids("durian") == [7204]
            dialect = dialects.of(conn)
            keys = (await conn.execute(select(dialect.key).order_by(dialect.key))).scalars()
            assert list(keys) == [7201, 7202, 7204]
    finally:
        await db.dispose()


async def test_the_migration_indexes_the_statuses_already_there(empty_url: str) -> None:
    upgrade(empty_url, "0005")
    _write_statuses_by_hand_to(empty_url)
    upgrade(empty_url)
    await _expect_backfilled(empty_url)


async def test_a_bulk_build_indexes_everything(empty_url: str) -> None:
    upgrade(empty_url)
    _write_statuses_by_hand_to(empty_url)
    db = Database(empty_url)
    try:
        async with db.write() as conn:  # a row that must go: 7203 is a boost
            dialect = dialects.of(conn)
            await conn.execute(insert(dialect.table).values(
                {dialect.key.name: 7203, "document": dialect.stored(literal("stale"))}))
        assert await build_in_bulk(db, workers=2) == 3
        if not db.is_sqlite:
            async with db.read() as conn:  # the GIN index is back
                index = (await conn.execute(text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_status_search_document'"
                ))).scalar_one()
            assert "gin" in index
        assert await reindex_all(db, batch=2) == Reindexed(statuses=3, batches=2)
    finally:
        await db.dispose()
    await _expect_backfilled(empty_url)


async def test_reindex_drops_rows_of_statuses_that_are_gone(empty_url: str) -> None:
    upgrade(empty_url)
    _write_statuses_by_hand_to(empty_url)
    db = Database(empty_url)
    try:
        assert (await reindex_all(db)).statuses == 3
        async with db.write() as conn:
            dialect = dialects.of(conn)
            await conn.execute(text("DELETE FROM statuses WHERE id = 7204"))
            stale = await conn.execute(select(func.count()).select_from(dialect.table))
            # PostgreSQL cascades; SQLite keeps the row until someone removes it.
            assert stale.scalar_one() == (2 if conn.dialect.name == "postgresql" else 3)
        done = await reindex_all(db, batch=1)
        assert (done.statuses, done.batches) == (2, 3)
        async with db.read() as conn:
            dialect = dialects.of(conn)
            keys = (await conn.execute(select(dialect.key).order_by(dialect.key))).scalars()
            assert list(keys) == [7201, 7202]
    finally:
        await db.dispose()


def test_roost_search_reindex(monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str], empty_url: str,
                              tmp_path: Path) -> None:
    env = {"ROOST_DATA_DIR": str(tmp_path / "data")}
    env["ROOST_DATABASE_URL"] = empty_url.replace("+aiosqlite", "").replace("+psycopg", "")
    assert run_main(monkeypatch, capsys, env, "migrate").code == 0
    engine = create_engine(sync_url(empty_url))
    try:
        with engine.begin() as conn:
            _write_statuses_by_hand(conn)
            conn.execute(text(  # what the migration indexed is gone: reindex rebuilds it
                "TRUNCATE status_search" if conn.dialect.name == "postgresql"
                else "DELETE FROM status_search_fts"))
    finally:
        engine.dispose()
    done = run_main(monkeypatch, capsys, env, "search", "reindex", "--batch", "3")
    assert done.code == 0, done.err
    assert done.out.startswith("Indexed 3 statuses in 2 batches of up to 3 (")
    asyncio.run(_expect_backfilled(empty_url))
    for argv in (["--batch", "0"], ["--batch", "-1"], ["--batch", "x"], ["--batch", "1.5"]):
        with pytest.raises(SystemExit) as exited:
            main(["search", "reindex", *argv])
        assert exited.value.code == 2
        assert "--batch" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["search"])
    assert exited.value.code == 2


def test_roost_seed_builds_the_index_when_asked(empty_url: str, tmp_path: Path) -> None:
    from tests.api.test_seed import seed
    from tests.support.server import server_env

    url = None if empty_url.startswith("sqlite") else empty_url.replace("+psycopg", "")
    outcome = seed(server_env(tmp_path, url), "--search-index")
    assert outcome.returncode == 0, outcome.stderr
    assert "search index: " in outcome.stderr
    database = empty_url if url else f"sqlite+aiosqlite:///{tmp_path / 'roost.sqlite3'}"

    async def check() -> None:
        db = Database(database)
        try:
            async with db.read() as conn:
                dialect = dialects.of(conn)
                indexed = (await conn.execute(
                    select(func.count()).select_from(dialect.table))).scalar_one()
                originals = (await conn.execute(text(
                    "SELECT count(*) FROM statuses WHERE reblog_of_id IS NULL"))).scalar_one()
                assert indexed == originals > 0
                newest = (await conn.execute(text(
                    "SELECT id, text FROM statuses WHERE reblog_of_id IS NULL AND visibility = 0"
                    " AND text <> '' ORDER BY id DESC LIMIT 1"))).one()
                query = " ".join(newest.text.split()[:3])
                ids = await matching_status_ids(conn, query, None, Page(limit=1))
                assert ids == [newest.id]
        finally:
            await db.dispose()

    asyncio.run(check())
