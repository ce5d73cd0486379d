"""The naive feed query of the classic seed story, and how bench/lessons.py picks viewers.

The naive developer's feed: every post of everyone the viewer follows, with its author
and every comment (reply) on it, as an implicit join of four tables, newest first, all
rows (no LIMIT, no paging), no visibility rule, and no index on follows. Roost's answer
is roost.timelines.home.home_page_query: one keyset page, per followed account at most
one page of its newest visible statuses, read from indexes (docs/schema.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.sql import ClauseElement

from roost.paging import Page
from roost.timelines.home import home_page_query

# Written as the naive developer writes it, against Roost's tables. Comments are the
# replies (statuses c with c.in_reply_to_id = s.id); "time" is the id (ids are
# time-ordered, docs/identifiers.md). A post nobody replied to drops out of the inner
# join, a direct message to someone else comes in: the naive query is wrong as well as slow.
NAIVE_FEED_SQL = (
    "SELECT s.id, s.text, a.username, a.display_name, c.id AS comment_id, c.text AS comment_text"
    " FROM statuses s, accounts a, follows f, statuses c"
    " WHERE f.account_id = {viewer} AND s.account_id = f.target_account_id"
    " AND a.id = s.account_id AND c.in_reply_to_id = s.id"
    " ORDER BY s.id DESC"
)

# Making the follows index unusable for the naive query: inside its transaction (rolled
# back after the query, so nothing changes), every secondary index of follows is dropped.
FOLLOWS_INDEXES_SQL = (
    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    " AND tablename = 'follows' AND indexname LIKE 'ix_follows_%' ORDER BY indexname"
)


def naive_feed_sql(viewer_id: int) -> str:
    return NAIVE_FEED_SQL.format(viewer=int(viewer_id))


def compile_sql(statement: ClauseElement, dialect_name: str = "postgresql") -> str:
    """The statement as SQL text with literal binds, as the application issues it."""
    url = "postgresql+psycopg://" if dialect_name == "postgresql" else "sqlite://"
    dialect = create_engine(url).dialect
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def roost_home_sql(viewer_id: int, limit: int = 20, dialect_name: str = "postgresql") -> str:
    """Roost's home timeline statement (home_page_query: the page's ids with their
    reblog_of_id) for the first page of `limit`."""
    return compile_sql(home_page_query(int(viewer_id), Page(limit=limit), dialect_name),
                       dialect_name)


# ------------------------------------------------------------------- viewers (PostgreSQL)

HEAVY_SQL = (
    "SELECT account_id, following_count FROM account_stats"
    " ORDER BY following_count DESC, account_id LIMIT 1"
)
# Typical: the median number of follows among accounts that follow someone and post.
TYPICAL_SQL = (
    "WITH m AS (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY following_count) AS n"
    " FROM account_stats WHERE following_count > 0 AND statuses_count > 0)"
    " SELECT st.account_id, st.following_count FROM account_stats st, m"
    " WHERE st.statuses_count > 0 ORDER BY abs(st.following_count - m.n),"
    " st.account_id LIMIT 1"
)
# Sparse: follows 3 to 30 accounts that, together, posted the least (but something):
# the worst case of walking statuses newest first until a page is full.
SPARSE_SQL = (
    "SELECT f.account_id, count(*) AS following, sum(st.statuses_count) AS their_statuses"
    " FROM follows f JOIN account_stats me ON me.account_id = f.account_id"
    " JOIN account_stats st ON st.account_id = f.target_account_id"
    " WHERE me.following_count BETWEEN 3 AND 30"
    " GROUP BY f.account_id HAVING sum(st.statuses_count) > 0"
    " ORDER BY sum(st.statuses_count), f.account_id LIMIT 1"
)
HISTORY_SQL = (
    "SELECT count(*), coalesce(sum(st.statuses_count), 0) FROM follows f"
    " JOIN account_stats st ON st.account_id = f.target_account_id WHERE f.account_id = %s"
)


def pick_viewers(conn: Any) -> dict[str, dict[str, int]]:
    """viewer kind -> {account_id, following, their_statuses} on a seeded database."""
    picked: dict[str, int] = {}
    with conn.cursor() as cur:
        for kind, query in (("typical", TYPICAL_SQL), ("sparse", SPARSE_SQL),
                            ("heavy", HEAVY_SQL)):
            cur.execute(query)
            row = cur.fetchone()
            if row is not None:
                picked[kind] = int(row[0])
        viewers: dict[str, dict[str, int]] = {}
        for kind, account_id in picked.items():
            cur.execute(HISTORY_SQL, (account_id,))
            following, their_statuses = cur.fetchone()
            viewers[kind] = {"account_id": account_id, "following": int(following),
                             "their_statuses": int(their_statuses)}
    return viewers
