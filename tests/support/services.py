"""The real services tests use, and what happens when one is missing: a visible skip
on a developer's machine, a failure under CI (where .ci/run starts them)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def admin_database_url() -> str:
    return os.environ.get("ROOST_TEST_DATABASE_URL") or DEFAULT_DATABASE_URL


def redis_url() -> str:
    return os.environ.get("ROOST_TEST_REDIS_URL") or DEFAULT_REDIS_URL


def reachable_redis_url() -> str:
    """The test Redis's URL, once it answers a PING (else skipped, or failed under CI)."""
    import redis

    url = redis_url()
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2) as client:
            client.ping()
    except Exception as exc:  # any failure to reach it
        unavailable("Redis", f"{type(exc).__name__}: {exc}")
    return url


def unavailable(service: str, reason: str) -> None:
    message = f"{service} is unreachable ({reason})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must have it running (.ci/run starts it)")
    pytest.skip(message)


def _with_database(url: str, database: str) -> str:
    base, _, _old = url.rpartition("/")
    return f"{base}/{database}"


@contextmanager
def migrated_database(kind: str, scratch_dir: Path) -> Iterator[str]:
    """An empty database of `kind` ("sqlite" or "postgresql") at the newest schema,
    as an async SQLAlchemy URL; a PostgreSQL one is dropped afterwards."""
    from roost.db.migrate import upgrade

    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{scratch_dir / 'roost.sqlite3'}"
        upgrade(url)
        yield url
        return
    with fresh_postgres_database() as raw_url:
        url = raw_url.replace("postgresql://", "postgresql+psycopg://", 1)
        upgrade(url)
        yield url


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the test PostgreSQL server, dropped afterwards."""
    admin_url = admin_database_url()
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", str(exc).strip().splitlines()[0])
        raise  # unreachable: unavailable() skips or fails
    name = f"roost_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
