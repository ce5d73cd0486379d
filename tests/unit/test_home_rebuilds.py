"""After Redis comes back empty every visit asks for its timeline to be rebuilt; a
process runs at most MAX_CONCURRENT_REBUILDS at once (bench/redis_outage.py: all of
them at once halved throughput), and a refused visit asks again next time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from roost.config import load_settings
from roost.context import Roost
from roost.db.engine import Database
from roost.ids import IdGenerator
from roost.timelines.home_read import MAX_CONCURRENT_REBUILDS, HomeRebuilds


@pytest.mark.asyncio
async def test_a_process_rebuilds_a_few_timelines_at_a_time(tmp_path: Path) -> None:
    settings = load_settings({"ROOST_DATA_DIR": str(tmp_path)})
    roost = Roost(settings=settings, db=Database(settings.database_url), ids=IdGenerator(0))
    rebuilds = HomeRebuilds(roost)
    release = asyncio.Event()
    started: list[int] = []

    async def rebuild(viewer_id: int) -> None:  # stands in for the database's work
        started.append(viewer_id)
        await release.wait()

    rebuilds._rebuild = rebuild  # type: ignore[method-assign]
    for viewer_id in range(10):
        rebuilds.request(viewer_id)
    await asyncio.sleep(0)
    assert started == list(range(MAX_CONCURRENT_REBUILDS))
    release.set()
    await rebuilds.wait()
    rebuilds.request(7)  # refused before: asks again, and now it runs
    await rebuilds.wait()
    assert started[-1] == 7
    await roost.db.dispose()
