"""The media-upload rate limit (docs/ratelimits.md, "Media uploads"): 30 uploads per 30
minutes per account, v1 and v2 together, as Mastodon's throttle_api_media; the 31st is
Mastodon's 429 and writes nothing; the web composer's pictures count in the same bucket.

Against a real `roost serve` with rate limits on (the suite's other servers run with
them off). Windows are fixed and aligned to the clock (every 30 minutes): a run that
straddles a boundary is tried again with fresh accounts.
"""

from __future__ import annotations

import io
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from roost.media import storage
from roost.resilience.ratelimit import MEDIA_UPLOAD_PERIOD, MEDIA_UPLOADS, iso_reset
from tests.support.api import App, User, register_app, sign_up
from tests.support.server import RunningServer, start_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # Sign-ups are limited to 5 per IP in 30 minutes: raised, as each try signs up anew.
    running = start_server(tmp_path_factory.mktemp("media-limits"), None,
                           ROOST_LOG_LEVEL="warning", ROOST_RATE_LIMITS="on",
                           ROOST_RATE_LIMIT_SIGNUPS="100")
    yield running
    running.stop()


@pytest.fixture
async def api(limited_server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited_server.url, timeout=30) as http:
        yield http


@pytest.fixture
async def app(api: httpx.AsyncClient) -> App:
    return await register_app(api)


def tiny_png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(out, "PNG")
    return out.getvalue()


async def upload(api: httpx.AsyncClient, user: User, data: bytes, version: str = "v2"
                 ) -> httpx.Response:
    return await api.post(f"/api/{version}/media", headers=user.headers,
                          files={"file": ("tiny.png", data, "image/png")})


def window() -> int:
    return int(time.time()) // MEDIA_UPLOAD_PERIOD


def media_rows(server: RunningServer, user: User) -> int:
    with sqlite3.connect(server.data_dir / "roost.sqlite3") as db:
        (count,) = db.execute("SELECT count(*) FROM media_attachments WHERE account_id = ?",
                              (int(user.id),)).fetchone()
    return int(count)


def media_files(server: RunningServer) -> set[Path]:
    return {p for p in (server.data_dir / "media").rglob("*") if p.is_file()}


def stored_png(server: RunningServer, data: bytes) -> Path:
    """Where an upload of `data` would be stored (a PNG this small is kept as PNG)."""
    return server.data_dir / "media" / storage.stored_name_of(data, ".png")


def assert_spent(answer: httpx.Response, spent_in: int) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.json() == {"error": "Too many requests"}
    assert answer.headers["x-ratelimit-limit"] == str(MEDIA_UPLOADS)
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert answer.headers["x-ratelimit-reset"] == iso_reset(
        (spent_in + 1) * MEDIA_UPLOAD_PERIOD)


async def test_the_31st_upload_in_30_minutes_is_refused_and_writes_nothing(
    limited_server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    for _attempt in range(2):
        started = window()
        alice, bob = await sign_up(api, app), await sign_up(api, app)
        data = tiny_png((200, 10, 10))
        answers = [await upload(api, alice, data, "v1" if i % 2 else "v2")
                   for i in range(MEDIA_UPLOADS)]
        files_before = media_files(limited_server)
        refused_data = tiny_png((10, 200, 10))
        refused = await upload(api, alice, refused_data)
        if window() != started:
            continue
        assert [a.status_code for a in answers] == [200] * MEDIA_UPLOADS
        # Each answer describes the bucket closest to running out: the media one.
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == [
            str(MEDIA_UPLOADS - n) for n in range(1, MEDIA_UPLOADS + 1)]
        assert {a.headers["x-ratelimit-limit"] for a in answers} == {str(MEDIA_UPLOADS)}
        assert_spent(refused, started)
        # Refused before the body was read: no row, no file.
        assert media_rows(limited_server, alice) == MEDIA_UPLOADS
        assert media_files(limited_server) == files_before
        assert not stored_png(limited_server, refused_data).exists()
        # v1 is refused as well, and reading one's upload is not an upload.
        assert_spent(await upload(api, alice, refused_data, "v1"), started)
        first = answers[0].json()["id"]
        seen = await api.get(f"/api/v1/media/{first}", headers=alice.headers)
        assert seen.status_code == 200
        assert int(seen.headers["x-ratelimit-remaining"]) > 0  # the API bucket's
        # Another account has its own bucket.
        other = await upload(api, bob, refused_data)
        assert other.status_code == 200, other.text
        assert other.headers["x-ratelimit-remaining"] == str(MEDIA_UPLOADS - 1)
        return
    pytest.fail("two 30-minute windows went by during the test")


async def web_post(server: RunningServer, user: User, text: str,
                   picture: bytes | None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=30,
                                 cookies={"roost_session": user.token}) as browser:
        home = await browser.get("/home")
        found = CSRF.search(home.text)
        assert found is not None, home.text
        files: Any = {"file": ("tiny.png", picture, "image/png")} if picture else None
        return await browser.post("/statuses", data={"csrf_token": found.group(1),
                                                     "status": text}, files=files)


async def statuses_of(api: httpx.AsyncClient, user: User) -> list[str]:
    reply = await api.get(f"/api/v1/accounts/{user.id}/statuses", headers=user.headers)
    assert reply.status_code == 200, reply.text
    return [status["content"] for status in reply.json()]


async def test_the_composer_counts_its_pictures_in_the_same_bucket(
    limited_server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    for _attempt in range(2):
        started = window()
        carol = await sign_up(api, app)
        data = tiny_png((10, 10, 200))
        through_api = [await upload(api, carol, data) for _ in range(MEDIA_UPLOADS - 1)]
        thirtieth = await web_post(limited_server, carol, "the thirtieth", data)
        files_before = media_files(limited_server)
        refused_data = tiny_png((10, 200, 200))
        refused = await web_post(limited_server, carol, "the thirty-first", refused_data)
        without_picture = await web_post(limited_server, carol, "words only", None)
        after_web = await upload(api, carol, refused_data)
        if window() != started:
            continue
        assert [a.status_code for a in through_api] == [200] * (MEDIA_UPLOADS - 1)
        assert thirtieth.status_code == 303, thirtieth.text
        assert refused.status_code == 429
        assert "Too many attempts" in refused.text and "Try again in" in refused.text
        assert 0 < int(refused.headers["retry-after"]) <= MEDIA_UPLOAD_PERIOD
        assert without_picture.status_code == 303, without_picture.text  # not an upload
        assert_spent(after_web, started)  # the pages spent the API's bucket too
        posted = await statuses_of(api, carol)
        assert len(posted) == 2 and not any("thirty-first" in p for p in posted), posted
        assert media_rows(limited_server, carol) == MEDIA_UPLOADS
        assert media_files(limited_server) == files_before
        assert not stored_png(limited_server, refused_data).exists()
        return
    pytest.fail("two 30-minute windows went by during the test")
