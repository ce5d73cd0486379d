"""`roost seed` end to end, on SQLite and PostgreSQL: the real command (a subprocess)
fills a fresh database, then SQL checks that every counter equals the COUNT(*) of what
it counts and that mentions, tags, content and notifications are what the application
itself would have written; a token from the tokens file signs in, the home timeline
has statuses, `roost bench` runs against a server on it, and a second seed of the same
database is refused."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from roost.app import create_app
from roost.config import load_settings, normalise_database_url
from roost.db.migrate import sync_url
from roost.db.tables import VISIBILITY_PUBLIC, VISIBILITY_UNLISTED
from roost.ids import IdGenerator, node_of, unix_ms_of
from roost.statuses.html import extract, normalise_hashtag
from tests.api.test_loadtest import bench_command, check_report
from tests.support.server import CHEAP_PASSWORD_HASHING, roost_command, server_env, start_server
from tests.support.services import fresh_postgres_database

USERS = 300
BASE = "https://seed.example"


@dataclass
class Seeded:
    url: str  # async SQLAlchemy URL
    data_dir: Path
    tokens: Path
    env: dict[str, str]
    outcome: subprocess.CompletedProcess[str]


def seed(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    command = roost_command(
        "seed", "--users", str(USERS), "--seed", "7", "--base-url", BASE, "--workers", "1",
        "--follows-mean", "15", "--posts-mean", "8", *extra,
    )
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Seeded]:
    data_dir = tmp_path_factory.mktemp(f"seed-{request.param}")
    tokens = data_dir / "tokens.tsv"

    def run(database_url: str | None) -> Iterator[Seeded]:
        env = server_env(data_dir, database_url)  # hashes cheaply, like every test server
        outcome = seed(env, "--tokens", str(tokens))
        assert outcome.returncode == 0, outcome.stderr
        url = normalise_database_url(
            database_url or f"sqlite:///{data_dir / 'roost.sqlite3'}"
        )
        yield Seeded(url, data_dir, tokens, env, outcome)

    if request.param == "sqlite":
        yield from run(None)
    else:
        with fresh_postgres_database() as raw_url:
            yield from run(raw_url)


@pytest.fixture(scope="module")
def db(seeded: Seeded) -> Iterator[Connection]:
    engine = create_engine(sync_url(seeded.url))
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def scalar(conn: Connection, sql: str) -> Any:
    return conn.execute(text(sql)).scalar()


def test_seed_reports_its_shape(seeded: Seeded) -> None:
    assert f"Seeded {USERS:,} users" in seeded.outcome.stdout
    assert "Shape: top 1% hold" in seeded.outcome.stdout
    assert "statuses" in seeded.outcome.stderr  # the per-table progress lines


def test_row_counts_are_sensible(db: Connection) -> None:
    assert scalar(db, "SELECT COUNT(*) FROM accounts") == USERS
    assert scalar(db, "SELECT COUNT(*) FROM users") == USERS
    assert scalar(db, "SELECT COUNT(*) FROM account_stats") == USERS
    assert scalar(db, "SELECT COUNT(*) FROM access_tokens") == USERS
    for table in ("statuses", "follows", "favourites", "notifications", "mentions",
                  "status_tags", "tags"):
        assert scalar(db, f"SELECT COUNT(*) FROM {table}") > 0, table  # noqa: S608
    assert scalar(db, "SELECT COUNT(*) FROM statuses WHERE reblog_of_id IS NOT NULL") > 0
    assert scalar(db, "SELECT COUNT(*) FROM statuses WHERE in_reply_to_id IS NOT NULL") > 0
    assert scalar(db, "SELECT COUNT(DISTINCT password_hash) FROM users") == 1


def test_account_counters_equal_counts(db: Connection) -> None:
    wrong = scalar(db, """
        SELECT COUNT(*) FROM account_stats s WHERE
          s.statuses_count <> (SELECT COUNT(*) FROM statuses t WHERE t.account_id = s.account_id)
          OR s.followers_count <> (SELECT COUNT(*) FROM follows f
                                   WHERE f.target_account_id = s.account_id)
          OR s.following_count <> (SELECT COUNT(*) FROM follows f
                                   WHERE f.account_id = s.account_id)""")
    assert wrong == 0
    rows = db.execute(text("""
        SELECT s.last_status_at, (SELECT MAX(t.id) FROM statuses t
                                  WHERE t.account_id = s.account_id) AS latest
        FROM account_stats s""")).all()
    for last_status_at, latest in rows:
        if latest is None:
            assert last_status_at is None
        else:
            stamp = last_status_at if not isinstance(last_status_at, str) else None
            if stamp is None:  # SQLite hands back the stored text
                from datetime import UTC, datetime
                stamp = datetime.fromisoformat(last_status_at).replace(tzinfo=UTC)
            assert round(stamp.timestamp() * 1000) == unix_ms_of(latest)


def test_status_counters_equal_counts(db: Connection) -> None:
    assert scalar(db, "SELECT COUNT(*) FROM statuses") == scalar(
        db, "SELECT COUNT(*) FROM status_stats"
    )
    wrong = scalar(db, """
        SELECT COUNT(*) FROM status_stats s WHERE
          s.replies_count <> (SELECT COUNT(*) FROM statuses r WHERE r.in_reply_to_id = s.status_id)
          OR s.reblogs_count <> (SELECT COUNT(*) FROM statuses b WHERE b.reblog_of_id = s.status_id)
          OR s.favourites_count <> (SELECT COUNT(*) FROM favourites f
                                    WHERE f.status_id = s.status_id)""")
    assert wrong == 0


def test_rows_follow_the_applications_rules(db: Connection) -> None:
    across_block = """
        SELECT COUNT(*) FROM {table} x JOIN blocks b ON
          (b.account_id = x.account_id AND b.target_account_id = x.target_account_id)
          OR (b.account_id = x.target_account_id AND b.target_account_id = x.account_id)"""
    for table in ("follows", "follow_requests"):
        assert scalar(db, across_block.format(table=table)) == 0
    assert scalar(db, "SELECT COUNT(*) FROM follows WHERE account_id = target_account_id") == 0
    assert scalar(db, """SELECT COUNT(*) FROM follow_requests r JOIN follows f
        ON f.account_id = r.account_id AND f.target_account_id = r.target_account_id""") == 0
    assert scalar(db, """SELECT COUNT(*) FROM follow_requests r JOIN accounts a
        ON a.id = r.target_account_id WHERE NOT a.locked""") == 0
    # Boosts: public originals, never one's own, no text; replies point at real parents.
    assert scalar(db, """SELECT COUNT(*) FROM statuses b JOIN statuses o ON o.id = b.reblog_of_id
        WHERE o.reblog_of_id IS NOT NULL OR o.visibility > 1 OR o.account_id = b.account_id
        OR b.text <> '' OR b.content_html <> '' OR b.id <= o.id""") == 0
    assert scalar(db, """SELECT COUNT(*) FROM statuses r LEFT JOIN statuses p
        ON p.id = r.in_reply_to_id WHERE r.in_reply_to_id IS NOT NULL
        AND (p.id IS NULL OR p.account_id <> r.in_reply_to_account_id OR r.id <= p.id)""") == 0
    assert scalar(db, "SELECT COUNT(*) FROM favourites f JOIN statuses s ON s.id = f.status_id"
                      " WHERE s.account_id = f.account_id OR f.id <= s.id") == 0
    # Every id is in the past, carries the seed's node and its owner's shard.
    now_ms = __import__("time").time_ns() // 1_000_000
    ids = [row[0] for row in db.execute(text(
        "SELECT id FROM statuses UNION ALL SELECT id FROM follows UNION ALL"
        " SELECT id FROM notifications UNION ALL SELECT id FROM accounts")).all()]
    assert max(unix_ms_of(i) for i in ids) < now_ms
    assert {node_of(i) for i in ids} == {255}
    assert scalar(db, "SELECT COUNT(*) FROM statuses s WHERE ((s.id >> 12) & 1023)"
                      " <> ((s.account_id >> 12) & 1023)") == 0
    assert scalar(db, "SELECT COUNT(*) FROM notifications n WHERE ((n.id >> 12) & 1023)"
                      " <> ((n.account_id >> 12) & 1023)") == 0


def test_mentions_and_tags_are_what_the_text_says(db: Connection) -> None:
    usernames = {row[0]: row[1] for row in db.execute(
        text("SELECT username_lower, id FROM accounts")).all()}
    tags = {row[0]: row[1] for row in db.execute(text("SELECT name_lower, id FROM tags")).all()}
    mentioned: dict[int, set[int]] = {}
    for status_id, account_id in db.execute(text("SELECT status_id, account_id FROM mentions")):
        mentioned.setdefault(status_id, set()).add(account_id)
    tagged: dict[int, set[int]] = {}
    for tag_id, status_id in db.execute(text("SELECT tag_id, status_id FROM status_tags")):
        tagged.setdefault(status_id, set()).add(tag_id)
    rows = db.execute(text("SELECT id, text FROM statuses WHERE reblog_of_id IS NULL")).all()
    for status_id, body in rows:
        found = extract(body)
        assert {usernames[name.lower()] for name, _ in found.mentions} == mentioned.get(
            status_id, set()), body
        assert {tags[normalise_hashtag(name)] for name in found.hashtags} == tagged.get(
            status_id, set()), body
        assert len(body) <= 500


async def test_content_is_rendered_by_the_application(seeded: Seeded) -> None:
    """content.prepare, the function posting uses, renders the stored text the same."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from roost.statuses import content

    engine = create_async_engine(seeded.url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT text, content_html FROM statuses WHERE reblog_of_id IS NULL"
                " ORDER BY id LIMIT 150"))).all()
            assert rows
            for body, html in rows:
                prepared = await content.prepare(conn, IdGenerator(0), body, BASE)
                assert prepared.html == html
            await conn.rollback()
    finally:
        await engine.dispose()


def test_notifications_are_what_notify_would_write(db: Connection) -> None:
    assert scalar(db, "SELECT COUNT(*) FROM notifications"
                      " WHERE account_id = from_account_id") == 0
    assert scalar(db, """SELECT COUNT(*) FROM notifications n JOIN blocks b ON
        (b.account_id = n.account_id AND b.target_account_id = n.from_account_id)
        OR (b.account_id = n.from_account_id AND b.target_account_id = n.account_id)""") == 0
    muted = """EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = {rcpt}
        AND m.target_account_id = {sender} AND m.hide_notifications)"""
    checks = {
        # type: (activity table join, recipient, sender, status expected)
        "follow": ("follows a ON a.id = n.activity_id", "a.target_account_id", "a.account_id",
                   "n.status_id IS NULL"),
        "follow_request": ("follow_requests a ON a.id = n.activity_id", "a.target_account_id",
                           "a.account_id", "n.status_id IS NULL"),
        "favourite": ("favourites a ON a.id = n.activity_id JOIN statuses s"
                      " ON s.id = a.status_id", "s.account_id", "a.account_id",
                      "n.status_id = a.status_id"),
        "reblog": ("statuses a ON a.id = n.activity_id JOIN statuses s ON s.id = a.reblog_of_id",
                   "s.account_id", "a.account_id", "n.status_id = s.id"),
        "mention": ("mentions a ON a.status_id = n.activity_id AND a.account_id = n.account_id"
                    " JOIN statuses s ON s.id = a.status_id", "a.account_id", "s.account_id",
                    "n.status_id = s.id"),
    }
    for kind, (join, recipient, sender, status_ok) in checks.items():
        total = scalar(db, f"SELECT COUNT(*) FROM notifications WHERE type = '{kind}'")  # noqa: S608
        matching = scalar(db, f"""SELECT COUNT(*) FROM notifications n JOIN {join}
            WHERE n.type = '{kind}' AND n.account_id = {recipient}
            AND n.from_account_id = {sender} AND {status_ok}""")  # noqa: S608
        assert total == matching > 0, kind
    # Every activity notifies unless notify() would refuse (self, block, muted).
    refused = (
        "{rcpt} = {sender} OR EXISTS (SELECT 1 FROM blocks b WHERE"  # noqa: S608
        " (b.account_id = {rcpt} AND b.target_account_id = {sender}) OR"
        " (b.account_id = {sender} AND b.target_account_id = {rcpt})) OR " + muted
    )
    missing = {
        "follows": ("follows a", "a.target_account_id", "a.account_id", "a.id"),
        "favourites": ("favourites a JOIN statuses s ON s.id = a.status_id", "s.account_id",
                       "a.account_id", "a.id"),
        "mentions": ("mentions a JOIN statuses s ON s.id = a.status_id", "a.account_id",
                     "s.account_id", "a.status_id"),
    }
    for name, (source, rcpt, sender, activity) in missing.items():
        silent = scalar(db, f"""SELECT COUNT(*) FROM {source} WHERE NOT EXISTS
            (SELECT 1 FROM notifications n WHERE n.activity_id = {activity}
             AND n.account_id = {rcpt})
            AND NOT ({refused.format(rcpt=rcpt, sender=sender)})""")  # noqa: S608
        assert silent == 0, name


def test_visibility_mix(db: Connection) -> None:
    counts = dict(db.execute(text(
        "SELECT visibility, COUNT(*) FROM statuses GROUP BY visibility")).all())
    assert counts[VISIBILITY_PUBLIC] > counts.get(VISIBILITY_UNLISTED, 0) > 0
    assert counts.get(2, 0) > 0
    # A direct status always mentions someone (or nobody could read it).
    assert scalar(db, "SELECT COUNT(*) FROM statuses s WHERE s.visibility = 3 AND NOT EXISTS"
                      " (SELECT 1 FROM mentions m WHERE m.status_id = s.id)") == 0
    assert scalar(db, "SELECT COUNT(*) FROM accounts WHERE locked") > 0


async def test_a_seeded_token_signs_in_and_reads_home(seeded: Seeded, db: Connection) -> None:
    lines = seeded.tokens.read_text().splitlines()
    assert len(lines) == USERS
    fields = [line.split("\t") for line in lines]
    assert all(len(f) == 4 for f in fields)
    assert abs(sum(float(f[3]) for f in fields) - 1.0) < 1e-6
    # The most active user who follows someone with public posts.
    busiest = max(fields, key=lambda f: float(f[3]))
    username, token, account_id, _ = busiest
    settings = load_settings({"ROOST_DATA_DIR": str(seeded.data_dir / "app"),
                              "ROOST_DATABASE_URL": seeded.url,
                              "ROOST_RATE_LIMITS": "off", **CHEAP_PASSWORD_HASHING})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
            headers = {"Authorization": f"Bearer {token}"}
            me = await http.get("/api/v1/accounts/verify_credentials", headers=headers)
            assert me.status_code == 200, me.text
            assert me.json()["username"] == username
            assert me.json()["id"] == account_id
            home = await http.get("/api/v1/timelines/home", headers=headers)
            assert home.status_code == 200, home.text
            assert len(home.json()) > 0
            bad = await http.get("/api/v1/accounts/verify_credentials",
                                 headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401


def test_roost_bench_runs_on_the_seeded_network(seeded: Seeded) -> None:
    """The load lab end to end: a real server on the seeded database, `roost bench`'s
    mixed scenario for a few seconds with the seeded tokens, and its report files."""
    server = start_server(seeded.data_dir, seeded.env.get("ROOST_DATABASE_URL"),
                          migrate=False, ROOST_LOG_LEVEL="warning")
    try:
        out = seeded.data_dir / "bench-mixed"
        run = subprocess.run(bench_command(server.url, seeded.tokens, out, "mixed",
                                           duration=3, warmup=0.5),
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr + server.log()
        report = check_report(out, "mixed")
        assert report["parameters"]["users"] == USERS
    finally:
        server.stop()


def test_seeding_a_database_with_accounts_is_refused(seeded: Seeded) -> None:
    again = seed(seeded.env)
    assert again.returncode == 2
    assert "already has accounts" in again.stderr
