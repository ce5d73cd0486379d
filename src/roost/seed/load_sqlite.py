"""Bulk loading into SQLite: batched executemany in one transaction, with the
secondary indexes dropped during the load and built once at the end.

The rollback journal is kept in memory and syncing is off while loading (a crash
leaves a half-seeded file to delete, which is acceptable for a fresh database); the
file goes back to WAL mode, which is how Roost runs it, once the data is in.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from roost.seed.progress import Progress, Step
from roost.seed.rows import TableRows


def path_of(url: str) -> str:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("roost seed needs an SQLite file, not an in-memory database")
    return database


def moment(ms: int) -> str:
    """How SQLAlchemy's SQLite DateTime stores a UTC moment (naive, microseconds)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def has_accounts(url: str) -> bool:
    with sqlite3.connect(path_of(url)) as conn:
        return conn.execute("SELECT 1 FROM accounts LIMIT 1").fetchone() is not None


def existing_ids(url: str) -> set[int]:
    with sqlite3.connect(path_of(url)) as conn:
        rows = conn.execute("SELECT id FROM applications UNION ALL SELECT id FROM access_tokens")
        return {int(row[0]) for row in rows.fetchall()}


def load(url: str, tables: list[TableRows]) -> dict[str, float]:
    timings: dict[str, float] = {}
    conn = sqlite3.connect(path_of(url), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=MEMORY")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA cache_size=-1048576")  # 1 GiB
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA threads={min(os.cpu_count() or 1, 8)}")  # sorts for CREATE INDEX
        names = [t.name for t in tables]
        marks = ",".join("?" * len(names))
        indexes = conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"  # noqa: S608
            f" AND tbl_name IN ({marks})",
            names,
        ).fetchall()
        conn.execute("BEGIN")
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for table in tables:
            progress = Progress(table.name, table.count)
            statement = (
                f'INSERT INTO "{table.name}" ({", ".join(table.columns)})'  # noqa: S608
                f" VALUES ({', '.join('?' * len(table.columns))})"
            )
            for batch in table.batches():
                conn.executemany(statement, batch)
                progress.advance(len(batch))
            timings[table.name] = progress.finish()
        step = Step(f"{len(indexes)} indexes")
        for _, definition in indexes:
            conn.execute(definition)
        timings["indexes"] = step.finish()
        step = Step("commit")
        conn.execute("COMMIT")
        timings["commit"] = step.finish()
        step = Step("analyze")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=WAL")
        timings["analyze"] = step.finish()
    finally:
        conn.close()
    return timings
