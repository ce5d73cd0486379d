"""The migrations build the schema that src/roost/db/tables.py declares, on SQLite and
PostgreSQL, and the newest of them goes down and up again cleanly.

Only objects that are one dialect's own are left out of the comparison, because the
migrations make them with SQL of that dialect and tables.py does not declare them: the
status search index (migration 0006) and the byte-ordered search indexes (0009).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import SAWarning

from roost.db.migrate import _config, sync_url, upgrade
from roost.db.tables import metadata
from tests.support.services import fresh_postgres_database

DIALECT_OWN_TABLES = ("status_search",)  # and SQLite's status_search_fts shadow tables
DIALECT_OWN_INDEXES = frozenset({
    "ix_status_search_document", "ix_accounts_username_lower_bytes",
    "ix_accounts_display_name_lower_bytes", "ix_tags_name_lower_bytes",
    "ix_accounts_display_name_lower",
})


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'roost.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)


def _declared(obj: Any, name: str | None, kind: str, reflected: bool, _other: Any) -> bool:
    if kind == "table" and name is not None and name.startswith(DIALECT_OWN_TABLES):
        return False
    return not (kind == "index" and name in DIALECT_OWN_INDEXES)


def _differences(url: str) -> list[Any]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            # SQLite's expression index is one reflection cannot read: it is left out anyway.
            warnings.simplefilter("ignore", SAWarning)
            context = MigrationContext.configure(conn, opts={"include_object": _declared})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def _mutes_indexes(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return {str(index["name"]) for index in inspect(conn).get_indexes("mutes")}
    finally:
        engine.dispose()


def test_the_migrations_build_what_tables_py_declares(empty_url: str) -> None:
    upgrade(empty_url)
    assert _differences(empty_url) == []


def test_the_mutes_target_index_goes_down_and_up(empty_url: str) -> None:
    upgrade(empty_url)
    assert "ix_mutes_target_account_id_account_id" in _mutes_indexes(empty_url)
    command.downgrade(_config(empty_url), "0009")
    assert _mutes_indexes(empty_url) == {"ix_mutes_account_id_target_account_id",
                                         "ix_mutes_account_id_id"}
    upgrade(empty_url)
    assert _differences(empty_url) == []
