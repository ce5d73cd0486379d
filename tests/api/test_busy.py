"""Load is not a bug: a database too busy to take a write answers 503 with Retry-After
in Mastodon's format (nothing was written: the transaction rolled back), and SQLite's
writers in one process queue in order instead of racing for the file lock."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from psycopg.errors import DeadlockDetected
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from roost.api.errors import install_error_handlers
from roost.context import Roost

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/write")
    async def write() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    "original",
    [sqlite3.OperationalError("database is locked"), DeadlockDetected("deadlock detected")],
)
async def test_a_busy_database_is_a_503(original: Exception) -> None:
    error = OperationalError("INSERT ...", {}, original)
    transport = httpx.ASGITransport(app=_app_raising(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
        reply = await http.post("/write")
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "1"
    assert reply.json() == {"error": "The server is busy, try again in a moment"}


async def test_other_database_errors_stay_500s() -> None:
    error = OperationalError("SELECT ...", {}, sqlite3.OperationalError("no such table: x"))
    transport = httpx.ASGITransport(app=_app_raising(error), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://roost.test") as http:
        reply = await http.post("/write")
    assert reply.status_code == 500
    assert reply.json() == {"error": "Internal server error"}


async def test_writers_queue_in_order(app_roost: tuple[Any, Roost]) -> None:
    """Many writers at once, each holding its transaction across an await: on SQLite
    every one gets in, in the order it asked (on PostgreSQL they simply run)."""
    _, roost = app_roost
    entered: list[int] = []

    async def writer(n: int) -> None:
        async with roost.db.write() as conn:
            entered.append(n)
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.005)

    await asyncio.gather(*(writer(n) for n in range(40)))
    assert sorted(entered) == list(range(40))
    if roost.db.is_sqlite:
        assert entered == list(range(40))
