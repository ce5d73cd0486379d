"""Alembic migrations, run programmatically with a synchronous engine.

The embedded SQLite database migrates itself when the server starts; PostgreSQL is
migrated explicitly (`roost migrate`), and `roost serve` refuses a schema that is
behind, because several servers starting at once must not race to alter tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

if TYPE_CHECKING:
    from roost.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaBehind(RuntimeError):
    pass


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (psycopg 3 does both)."""
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url[len("sqlite+aiosqlite://") :]
    return url


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(_config(url), revision)


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def is_up_to_date(url: str) -> bool:
    return current_revision(url) == head_revision()


def prepare_database(settings: Settings) -> None:
    """SQLite (the embedded default) migrates itself; PostgreSQL must be migrated
    explicitly, so that many servers starting together never race on DDL."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
    elif not is_up_to_date(settings.database_url):
        raise SchemaBehind(
            "The database schema is behind this version of Roost: run `roost migrate` first."
        )
