"""The orphan sweep (media/orphans.py, docs/media.md "Clean-up"), on SQLite and
PostgreSQL: files no row names and older than the grace period go; young files,
referenced files (original, preview, avatar, header, a waiting upload) and anything
outside storage's layout stay; one statement per batch; `roost media prune` says how
many it removed.

Each test sweeps a data directory of its own (the session's database is shared, the
files are not), so the counts are exact."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update

from roost.clock import utcnow
from roost.config import Settings
from roost.context import Roost
from roost.db.tables import MEDIA_PROCESSING, MEDIA_READY, accounts, media_attachments
from roost.ids import shard_of
from roost.media import storage
from roost.media.orphans import ORPHAN_GRACE_SECONDS, sweep_orphans
from tests.api.test_cli import run_main
from tests.conftest import StatementCounter
from tests.support.api import register_app, sign_up

OLD = time.time() - ORPHAN_GRACE_SECONDS - 600  # past the grace period


def stored_name(extension: str = ".jpg") -> str:
    digest = secrets.token_hex(32)
    return f"{digest[0:2]}/{digest[2:4]}/{digest}{extension}"


def plant(settings: Settings, name: str, *, mtime: float | None = OLD) -> Path:
    """A file at `name` (relative to the data dir's media/, or the data dir for
    `uploads/...`), last written at `mtime` (None: now)."""
    path = (settings.data_dir / name if name.startswith("uploads/")
            else storage.path_of(settings, name))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(secrets.token_bytes(16))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def roost(app_roost: tuple[Any, Roost]) -> Roost:
    return app_roost[1]


@pytest.fixture
def settings(roost: Roost, tmp_path: Path) -> Settings:
    """The app's settings with a data directory of this test's own."""
    return dataclasses.replace(roost.settings, data_dir=tmp_path / "data")


async def account_id(client: httpx.AsyncClient) -> int:
    return int((await sign_up(client, await register_app(client))).id)


async def test_sweep_removes_old_orphans_and_keeps_everything_referenced_or_young(
    client: httpx.AsyncClient, roost: Roost, settings: Settings
) -> None:
    owner = await account_id(client)
    original, preview = stored_name(), stored_name()
    avatar, header = stored_name(".png"), stored_name(".png")
    waiting_id = roost.ids.next_id(shard_of(owner))
    async with roost.db.write() as conn:
        await conn.execute(insert(media_attachments).values(
            id=roost.ids.next_id(shard_of(owner)), account_id=owner, file_name=original,
            preview_file_name=preview, state=MEDIA_READY, created_at=utcnow()))
        await conn.execute(insert(media_attachments).values(
            id=waiting_id, account_id=owner, file_name=f"uploads/{waiting_id}",
            state=MEDIA_PROCESSING, created_at=utcnow()))
        await conn.execute(update(accounts).where(accounts.c.id == owner).values(
            avatar_path=avatar, header_path=header))
    kept = [plant(settings, name) for name in
            (original, preview, avatar, header, f"uploads/{waiting_id}")]
    young = plant(settings, stored_name(), mtime=None)  # an upload in flight
    outside = [plant(settings, "README"), plant(settings, "xyz/ab/stray.jpg")]
    orphan = plant(settings, stored_name())
    digest = secrets.token_hex(2)
    dead_write = plant(settings, f"{digest[0:2]}/{digest[2:4]}/.upload-k3j2h1")
    lost_upload = plant(settings, f"uploads/{roost.ids.next_id(shard_of(owner))}")

    assert await sweep_orphans(roost.db, settings) == 3

    assert not orphan.exists() and not dead_write.exists() and not lost_upload.exists()
    assert all(path.exists() for path in kept), [p for p in kept if not p.exists()]
    assert young.exists()
    assert all(path.exists() for path in outside)
    # Nothing left to do: a second sweep removes nothing.
    assert await sweep_orphans(roost.db, settings) == 0


async def test_a_file_written_again_after_the_walk_is_kept(
    roost: Roost, settings: Settings
) -> None:
    """The age is checked again just before removal: an upload of the same bytes may
    have rewritten the file (and be about to commit its row) since the walk saw it."""
    from roost.media.orphans import remove_if_older

    name = stored_name()
    path = plant(settings, name, mtime=None)
    assert remove_if_older(settings, [name], cutoff=time.time() - ORPHAN_GRACE_SECONDS) == 0
    assert path.exists()
    assert remove_if_older(settings, [name], cutoff=time.time() + 1) == 1
    assert not path.exists()


async def test_sweep_costs_one_statement_per_batch(
    roost: Roost, settings: Settings, count_statements: StatementCounter
) -> None:
    for _ in range(5):
        plant(settings, stored_name())
    for _ in range(3):
        plant(settings, stored_name(), mtime=None)  # young: never asked about
    assert await sweep_orphans(roost.db, settings, batch=2) == 5
    selects = [s for s in count_statements.statements if s.lstrip().upper().startswith(
        ("SELECT", "(SELECT", "WITH"))]
    assert len(selects) == 3, count_statements.report()  # ceil(5 / 2)
    others = [s for s in count_statements.statements if s not in selects]
    assert all(s.strip() == "BEGIN" for s in others), count_statements.report()  # SQLite's


async def test_an_empty_or_missing_media_directory_is_fine(
    roost: Roost, settings: Settings, count_statements: StatementCounter
) -> None:
    assert await sweep_orphans(roost.db, settings) == 0
    assert count_statements.count == 0


async def test_roost_media_prune_reports_the_orphans(
    client: httpx.AsyncClient, roost: Roost, settings: Settings,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    owner = await account_id(client)
    avatar = stored_name(".png")
    async with roost.db.write() as conn:
        await conn.execute(update(accounts).where(accounts.c.id == owner).values(
            avatar_path=avatar))
    referenced = plant(settings, avatar)
    orphans = [plant(settings, stored_name()), plant(settings, stored_name(".png"))]
    young = plant(settings, stored_name(), mtime=None)
    env = {"ROOST_DATA_DIR": str(settings.data_dir),
           "ROOST_DATABASE_URL": roost.settings.database_url}
    # In a thread (run_main): the command runs its own event loop.
    outcome = await asyncio.to_thread(run_main, monkeypatch, capsys, env, "media", "prune")
    assert outcome.code == 0, outcome.err
    assert "\nPruned " in "\n" + outcome.out, outcome.out
    assert "; removed 2 orphaned files\n" in outcome.out, outcome.out
    assert not any(path.exists() for path in orphans)
    assert referenced.exists() and young.exists()
