"""Shared fixtures. Every backend-dependent fixture is parametrised over the embedded
default (SQLite) and PostgreSQL, so each test runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from roost.app import create_app
from roost.config import load_settings
from roost.context import Roost
from roost.db.migrate import prepare_database
from roost.events.context import IN_DISPATCHER
from tests.support.events import in_process_client
from tests.support.server import CHEAP_PASSWORD_HASHING, RunningServer, start_server
from tests.support.services import migrated_database, reachable_redis_url

BACKENDS = ["sqlite", "postgresql"]

# The session's in-process apps and `roost serve` subprocesses, by database URL. While a
# server shares an in-process app's database, the app's event dispatcher stands by and
# the server dispatches everyone's events: the test process's event loop pauses between
# tests and in every blocking client call (Mastodon.py, httpx.Client, Playwright), and
# a paused lease holder held up the server's events until its lease expired (15 s, as
# long as the tests wait), or kept SQLite's write lock meanwhile.
_IN_PROCESS: dict[str, list[Roost]] = {}
_SERVED: set[str] = set()


async def _stand_by(roost: Roost) -> None:
    if roost.dispatcher is not None:
        await roost.dispatcher.stand_by()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """A migrated, empty database of each kind, shared by the session."""
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
async def server(database_url: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[RunningServer]:
    """A real `roost serve` subprocess on that database (it dispatches the events of
    every process on it from then on: see _IN_PROCESS)."""
    running = start_server(tmp_path_factory.mktemp("server"), database_url, migrate=False,
                           ROOST_LOG_LEVEL="warning")
    _SERVED.add(database_url)
    for roost in _IN_PROCESS.get(database_url, []):
        await _stand_by(roost)
    yield running
    _SERVED.discard(database_url)
    running.stop()


@asynccontextmanager
async def in_process_app(database_url: str, data_dir: Path) -> AsyncIterator[Any]:
    """The ASGI app on `database_url`, started with its lifespan."""
    # Rate limits off, as in every server the suite starts (tests/support/server.py).
    settings = load_settings({"ROOST_DATA_DIR": str(data_dir),
                              "ROOST_DATABASE_URL": database_url,
                              "ROOST_RATE_LIMITS": "off", **CHEAP_PASSWORD_HASHING})
    prepare_database(settings)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def app_roost(database_url: str, tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[tuple[Any, Roost]]:
    """The ASGI app in-process (for counting statements), started with its lifespan."""
    async with in_process_app(database_url, tmp_path_factory.mktemp("inprocess")) as app:
        roost: Roost = app.state.roost
        _IN_PROCESS.setdefault(database_url, []).append(roost)
        if database_url in _SERVED:
            await _stand_by(roost)
        try:
            yield app, roost
        finally:
            _IN_PROCESS[database_url].remove(roost)


@pytest.fixture
async def client(app_roost: tuple[Any, Roost]) -> AsyncIterator[httpx.AsyncClient]:
    app, _roost = app_roost
    async with in_process_client(app) as http:
        yield http


class StatementCounter:
    """Counts SQL statements on an engine while active (Zulip's query-count idea)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if IN_DISPATCHER.get():
            return  # the event dispatcher's work, not the request's
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    def report(self) -> str:
        return "\n".join(f"{i + 1}. {s}" for i, s in enumerate(self.statements))


@pytest.fixture
def count_statements(app_roost: tuple[Any, Roost]) -> Iterator[StatementCounter]:
    """Counts the database path's statements: the object cache is off meanwhile, so
    a count does not depend on what earlier reads cached (tests/api/test_page_costs.py
    counts the cached path, cold and warm)."""
    _, roost = app_roost
    counter = StatementCounter()
    engines = {roost.db.primary.sync_engine, roost.db.replica.sync_engine}
    roost.db.reads_use_cache = False  # writes still invalidate it
    for engine in engines:
        event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", counter)
        roost.db.reads_use_cache = True


@pytest.fixture(scope="session")
def reachable_redis() -> str:
    """The test Redis's URL (tests/support/services.py: skipped when it is down)."""
    return reachable_redis_url()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
