"""Media attachments (docs/media.md), in-process on SQLite and PostgreSQL: the upload
pipeline (orientation, metadata stripped, resize, preview, blurhash, limits, bombs,
garbage), the 202 path through the media consumer, descriptions, attaching to
statuses with their privacy, freeing on delete, the prune, and avatars and headers.
Every picture is made here with Pillow, in memory."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import struct
import time
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, update

from roost.clock import utcnow
from roost.context import Roost
from roost.db.tables import media_attachments
from roost.media import processing, storage
from roost.media.prune import prune_all
from tests.api.test_cli import run_main
from tests.support.api import User, follow, register_app, sign_up


def jpeg(size: tuple[int, int], *, exif: Image.Exif | None = None,
         color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    # A second colour on the left edge: where it ends up tells the rotation.
    image.paste((0, 0, 255), (0, 0, max(1, size[0] // 10), size[1]))
    image.save(out, "JPEG", quality=90, exif=exif.tobytes() if exif is not None else b"")
    return out.getvalue()


def png(size: tuple[int, int], mode: str = "RGBA", noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes(mode, size, os.urandom(size[0] * size[1] * len(mode)))
    else:
        image = Image.new(mode, size, (10, 120, 10, 100) if mode == "RGBA" else (10, 120, 10))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG declaring width x height grey pixels; its data (zeros) compresses ~1000:1."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    data = b"".join(packer.compress(row) for _ in range(2000)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data)
            + chunk(b"IEND", b""))


def rotated_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.0)
    gps[3], gps[4] = "E", (2.0, 17.0, 40.0)
    return jpeg((400, 200), exif=exif)


def file_of(roost: Roost, url: str) -> Path:
    return storage.path_of(roost.settings, url.split("/media/", 1)[1])


def media_files(roost: Roost) -> set[Path]:
    root = roost.settings.data_dir / "media"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


async def upload(client: httpx.AsyncClient, user: User, data: bytes, *,
                 name: str = "picture.jpg", version: str = "v2",
                 **fields: str) -> httpx.Response:
    return await client.post(f"/api/{version}/media", headers=user.headers,
                             files={"file": (name, data, "application/octet-stream")},
                             data=fields)


async def uploaded(client: httpx.AsyncClient, user: User, data: bytes, **fields: str
                   ) -> dict[str, Any]:
    reply = await upload(client, user, data, **fields)
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


@pytest.fixture
def roost(app_roost: tuple[Any, Roost]) -> Iterator[Roost]:
    _, running = app_roost
    settings = running.settings
    yield running
    running.settings = settings  # a test may have changed a limit


async def two_users(client: httpx.AsyncClient) -> tuple[User, User]:
    app = await register_app(client)
    return await sign_up(client, app), await sign_up(client, app)


# --- the pipeline -------------------------------------------------------------------


async def test_jpeg_is_turned_upright_and_loses_exif_and_gps(
    client: httpx.AsyncClient, roost: Roost
) -> None:
    alice, _ = await two_users(client)
    body = await uploaded(client, alice, rotated_with_gps(), description="a red field")
    assert body["type"] == "image" and body["description"] == "a red field"
    assert body["meta"]["original"]["width"] == 200 and body["meta"]["original"]["height"] == 400
    stored = file_of(roost, body["url"]).read_bytes()
    assert b"Exif" not in stored and b"GPS" not in stored
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and image.size == (200, 400)
    assert len(image.getexif()) == 0
    # The blue edge was on the left; rotated 90° clockwise it is at the top.
    top = image.convert("RGB").getpixel((100, 5))
    bottom = image.convert("RGB").getpixel((100, 395))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[2] > 200 and top[0] < 60 and bottom[0] > 150
    # The stored name is the sha256 of the stored bytes.
    assert body["url"].endswith(storage.stored_name_of(stored, ".jpg"))
    preview = file_of(roost, body["preview_url"])
    assert Image.open(preview).size == (body["meta"]["small"]["width"],
                                        body["meta"]["small"]["height"])
    assert body["blurhash"] and len(body["blurhash"]) >= 6


async def test_png_with_transparency_stays_png_with_alpha(
    client: httpx.AsyncClient, roost: Roost
) -> None:
    alice, _ = await two_users(client)
    body = await uploaded(client, alice, png((300, 200)))
    assert body["url"].endswith(".png") and body["preview_url"].endswith(".png")
    image = Image.open(file_of(roost, body["url"]))
    assert image.mode == "RGBA" and image.getpixel((5, 5)) == (10, 120, 10, 100)
    opaque = await uploaded(client, alice, png((300, 200), mode="RGB"))
    assert opaque["url"].endswith(".jpg")  # no transparent pixel: a photo format


async def test_big_picture_is_shrunk_and_previewed(client: httpx.AsyncClient,
                                                   roost: Roost) -> None:
    alice, _ = await two_users(client)
    body = await uploaded(client, alice, jpeg((5000, 2500)))
    original, small = body["meta"]["original"], body["meta"]["small"]
    assert original["width"] * original["height"] <= processing.MAX_ORIGINAL_PIXELS
    assert abs(original["aspect"] - 2.0) < 0.01 and original["size"] == "4072x2036"
    assert (small["width"], small["height"]) == (640, 320)
    assert Image.open(file_of(roost, body["url"])).size == (4072, 2036)
    assert body["meta"]["focus"] == {"x": 0.0, "y": 0.0}


async def test_gif_and_webp_are_accepted_as_still_pictures(client: httpx.AsyncClient) -> None:
    alice, _ = await two_users(client)
    frames = [Image.new("RGB", (64, 48), color) for color in ("red", "green", "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert (await uploaded(client, alice, gif.getvalue()))["url"].endswith(".jpg")
    webp = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(webp, "WEBP")
    assert (await uploaded(client, alice, webp.getvalue()))["meta"]["original"]["width"] == 64


async def test_a_decompression_bomb_is_refused_from_its_header(
    client: httpx.AsyncClient, roost: Roost
) -> None:
    alice, _ = await two_users(client)
    bomb = png_bomb()
    assert len(bomb) < 2 * 1024 * 1024  # small: under the byte limit and the 202 threshold
    before = media_files(roost)
    started = time.perf_counter()
    with pytest.raises(processing.MediaRejected, match="too many pixels"):
        processing.process_image(bomb, max_bytes=1 << 24, max_pixels=50_000_000)
    elapsed = time.perf_counter() - started
    reply = await upload(client, alice, bomb, name="bomb.png")
    assert reply.status_code == 422, reply.text
    assert "too many pixels" in reply.json()["error"]
    # The 202 path checks the header in the request too: a bomb never waits in uploads/.
    roost.settings = dataclasses.replace(roost.settings, media_async_bytes=1000)
    deferred = await upload(client, alice, bomb, name="bomb.png")
    assert deferred.status_code == 422, deferred.text
    assert media_files(roost) == before
    assert not list((roost.settings.data_dir / "uploads").glob("*"))
    # Not a timing assertion on speed (bench/ measures it): a bound that only a decode
    # of 900 MB of pixels could break.
    assert elapsed < 5


@pytest.mark.parametrize("data", [
    b"",
    b"hello, this is not a picture\n" * 10,
    b"%PDF-1.4\n" + os.urandom(2000),
    jpeg((800, 600))[:700],  # truncated
    png((200, 200), mode="RGB", noise=True)[:3000],  # truncated PNG
])
async def test_garbage_is_422_and_writes_nothing(client: httpx.AsyncClient, roost: Roost,
                                                 data: bytes) -> None:
    alice, _ = await two_users(client)
    async with roost.db.read() as conn:
        rows_before = (await conn.execute(select(func.count()).select_from(
            media_attachments))).scalar_one()
    before = media_files(roost)
    reply = await upload(client, alice, data, name="x.txt")
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"].startswith("Validation failed")
    assert media_files(roost) == before
    async with roost.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(
            media_attachments))).scalar_one() == rows_before


async def test_missing_file_bad_focus_and_long_description_are_422(
    client: httpx.AsyncClient
) -> None:
    alice, _ = await two_users(client)
    reply = await client.post("/api/v2/media", headers=alice.headers, data={"description": "x"})
    assert reply.status_code == 422
    for focus in ("2,0", "a,b", "0.5", "nan,0"):
        assert (await upload(client, alice, jpeg((10, 10)), focus=focus)).status_code == 422
    reply = await upload(client, alice, jpeg((10, 10)), description="x" * 1501)
    assert reply.status_code == 422
    ok = await uploaded(client, alice, jpeg((10, 10)), description="x" * 1500, focus="-0.5,1")
    assert ok["meta"]["focus"] == {"x": -0.5, "y": 1.0}


async def test_too_many_bytes_is_422(client: httpx.AsyncClient, roost: Roost) -> None:
    alice, _ = await two_users(client)
    roost.settings = dataclasses.replace(roost.settings, media_max_image_bytes=100_000)
    reply = await upload(client, alice, png((400, 400), mode="RGB", noise=True))
    assert reply.status_code == 422
    assert "must be less than" in reply.json()["error"]


async def test_no_token_or_scope_cannot_upload(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v2/media", files={"file": ("a", b"x")})).status_code == 401
    app = await register_app(client)
    user = await sign_up(client, app)
    token = await client.post("/oauth/token", data={
        "grant_type": "password", "username": user.email, "password": user.password,
        "client_id": app.client_id, "client_secret": app.client_secret, "scope": "read"})
    assert token.status_code == 200, token.text
    reader = dataclasses.replace(user, token=token.json()["access_token"])
    assert (await upload(client, reader, jpeg((10, 10)))).status_code == 403


# --- the 202 path, reading and describing ----------------------------------------------


async def test_large_upload_is_processed_off_the_request(client: httpx.AsyncClient,
                                                         roost: Roost) -> None:
    alice, bob = await two_users(client)
    roost.settings = dataclasses.replace(roost.settings, media_async_bytes=50_000)
    reply = await upload(client, alice, rotated_with_gps() + b"", version="v2")
    assert reply.status_code == 200  # under the threshold
    big = png((300, 300), mode="RGB", noise=True)
    reply = await upload(client, alice, big, version="v2", description="noise")
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["url"] is None and body["preview_url"] is None
    # v1 never defers.
    assert (await upload(client, alice, big, version="v1")).status_code == 200
    # The in-process client settles the event log after each write: the media consumer
    # has processed it by now.
    ready = await client.get(f"/api/v1/media/{body['id']}", headers=alice.headers)
    assert ready.status_code == 200, ready.text
    assert ready.json()["url"].endswith(".jpg") and ready.json()["description"] == "noise"
    assert ready.json()["blurhash"]
    assert file_of(roost, ready.json()["url"]).exists()
    assert not list((roost.settings.data_dir / "uploads").glob("*"))
    # Someone else's upload is not found.
    other = await client.get(f"/api/v1/media/{body['id']}", headers=bob.headers)
    assert other.status_code == 404


async def test_processing_and_failed_states_read_206_and_422(client: httpx.AsyncClient,
                                                            roost: Roost) -> None:
    alice, _ = await two_users(client)
    body = await uploaded(client, alice, jpeg((20, 20)))
    media_id = int(body["id"])
    async with roost.db.write() as conn:
        await conn.execute(update(media_attachments).where(media_attachments.c.id == media_id)
                           .values(state=0))
    reply = await client.get(f"/api/v1/media/{media_id}", headers=alice.headers)
    assert reply.status_code == 206 and reply.json()["url"] is None
    # Not ready: cannot be attached.
    reply = await client.post("/api/v1/statuses", headers=alice.headers,
                              data={"status": "x", "media_ids[]": str(media_id)})
    assert reply.status_code == 422
    assert "not finished processing" in reply.json()["error"]
    async with roost.db.write() as conn:
        await conn.execute(update(media_attachments).where(media_attachments.c.id == media_id)
                           .values(state=2, error="File is not a valid image"))
    reply = await client.get(f"/api/v1/media/{media_id}", headers=alice.headers)
    assert reply.status_code == 422 and "not a valid image" in reply.json()["error"]


async def test_a_deferred_upload_that_cannot_be_decoded_fails(client: httpx.AsyncClient,
                                                             roost: Roost) -> None:
    alice, _ = await two_users(client)
    roost.settings = dataclasses.replace(roost.settings, media_async_bytes=1000)
    truncated = png((300, 300), mode="RGB", noise=True)[:20_000]  # a good header
    reply = await upload(client, alice, truncated)
    assert reply.status_code == 202, reply.text
    later = await client.get(f"/api/v1/media/{reply.json()['id']}", headers=alice.headers)
    assert later.status_code == 422
    assert "truncated" in later.json()["error"]


async def test_description_and_focus_change_until_attached(client: httpx.AsyncClient) -> None:
    alice, bob = await two_users(client)
    body = await uploaded(client, alice, jpeg((30, 30)))
    reply = await client.put(f"/api/v1/media/{body['id']}", headers=alice.headers,
                             data={"description": "now described", "focus": "0.25,-0.75"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["description"] == "now described"
    assert reply.json()["meta"]["focus"] == {"x": 0.25, "y": -0.75}
    assert reply.json()["meta"]["original"]["width"] == 30
    stranger = await client.put(f"/api/v1/media/{body['id']}", headers=bob.headers,
                                data={"description": "mine now"})
    assert stranger.status_code == 404
    await client.post("/api/v1/statuses", headers=alice.headers,
                      data={"status": "with it", "media_ids[]": body["id"]})
    late = await client.put(f"/api/v1/media/{body['id']}", headers=alice.headers,
                            data={"description": "too late"})
    assert late.status_code == 404


# --- statuses ----------------------------------------------------------------------------


async def test_attached_media_show_where_the_status_shows(client: httpx.AsyncClient) -> None:
    alice, bob = await two_users(client)
    carol = await sign_up(client, await register_app(client))
    await follow(client, bob, alice)
    first = await uploaded(client, alice, jpeg((40, 30)), description="first")
    second = await uploaded(client, alice, png((30, 40)))
    reply = await client.post("/api/v1/statuses", headers=alice.headers, data={
        "status": "", "visibility": "private",
        "media_ids[]": [second["id"], first["id"]]})
    assert reply.status_code == 200, reply.text
    status = reply.json()
    assert [m["id"] for m in status["media_attachments"]] == [second["id"], first["id"]]
    assert status["media_attachments"][1]["description"] == "first"
    assert status["media_attachments"][1]["url"] == first["url"]
    # A follower sees it (twice: a cache miss, then a hit), with its media.
    for _ in range(2):
        seen = await client.get(f"/api/v1/statuses/{status['id']}", headers=bob.headers)
        assert seen.status_code == 200
        assert [m["id"] for m in seen.json()["media_attachments"]] == [second["id"], first["id"]]
    home = await client.get("/api/v1/timelines/home", headers=bob.headers)
    assert any(s["id"] == status["id"] and len(s["media_attachments"]) == 2
               for s in home.json())
    # Someone who may not see the status sees neither it nor its media.
    assert (await client.get(f"/api/v1/statuses/{status['id']}",
                             headers=carol.headers)).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{status['id']}")).status_code == 404
    listed = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=carol.headers)
    assert all(s["id"] != status["id"] for s in listed.json())


async def test_attaching_refuses_too_many_others_and_used_media(
    client: httpx.AsyncClient
) -> None:
    alice, bob = await two_users(client)
    five = [(await uploaded(client, alice, jpeg((10, 10 + n))))["id"] for n in range(5)]
    too_many = await client.post("/api/v1/statuses", headers=alice.headers,
                                 data={"status": "x", "media_ids[]": five})
    assert too_many.status_code == 422 and "more than 4" in too_many.json()["error"]
    bobs = await client.post("/api/v1/statuses", headers=bob.headers,
                             data={"status": "x", "media_ids[]": five[0]})
    assert bobs.status_code == 422
    bad = await client.post("/api/v1/statuses", headers=alice.headers,
                            data={"status": "x", "media_ids[]": "not-an-id"})
    assert bad.status_code == 422
    ok = await client.post("/api/v1/statuses", headers=alice.headers,
                           data={"status": "x", "media_ids[]": five[:4]})
    assert ok.status_code == 200 and len(ok.json()["media_attachments"]) == 4
    again = await client.post("/api/v1/statuses", headers=alice.headers,
                              data={"status": "y", "media_ids[]": five[0]})
    assert again.status_code == 422 and "already attached" in again.json()["error"]
    # A failed post attached nothing: the fifth is still free.
    last = await client.post("/api/v1/statuses", headers=alice.headers,
                             data={"status": "", "media_ids[]": five[4]})
    assert last.status_code == 200
    empty = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": ""})
    assert empty.status_code == 422  # no text and no media


async def test_edit_changes_the_attachments(client: httpx.AsyncClient) -> None:
    alice, _ = await two_users(client)
    one = await uploaded(client, alice, jpeg((10, 11)))
    two = await uploaded(client, alice, jpeg((10, 12)))
    status = (await client.post("/api/v1/statuses", headers=alice.headers,
                                data={"status": "a", "media_ids[]": one["id"]})).json()
    edited = await client.put(f"/api/v1/statuses/{status['id']}", headers=alice.headers,
                              json={"status": "a", "media_ids": [two["id"], one["id"]]})
    assert edited.status_code == 200, edited.text
    assert [m["id"] for m in edited.json()["media_attachments"]] == [two["id"], one["id"]]
    assert edited.json()["edited_at"] is not None
    read = await client.get(f"/api/v1/statuses/{status['id']}", headers=alice.headers)
    assert [m["id"] for m in read.json()["media_attachments"]] == [two["id"], one["id"]]
    # Text only: the media stay.
    kept = await client.put(f"/api/v1/statuses/{status['id']}", headers=alice.headers,
                            data={"status": "b"})
    assert len(kept.json()["media_attachments"]) == 2
    dropped = await client.put(f"/api/v1/statuses/{status['id']}", headers=alice.headers,
                               json={"status": "b", "media_ids": [two["id"]]})
    assert [m["id"] for m in dropped.json()["media_attachments"]] == [two["id"]]
    # The one left out is free again (and may be described again).
    free = await client.put(f"/api/v1/media/{one['id']}", headers=alice.headers,
                            data={"description": "free"})
    assert free.status_code == 200


async def test_deleting_a_status_frees_its_rows_and_unshared_files(
    client: httpx.AsyncClient, roost: Roost
) -> None:
    alice, bob = await two_users(client)
    picture = jpeg((50, 60), color=(1, 2, 3))
    mine = await uploaded(client, alice, picture)
    shared = await uploaded(client, bob, picture)  # the same bytes: the same files
    assert shared["url"] == mine["url"]
    lonely = await uploaded(client, alice, jpeg((50, 61), color=(3, 2, 1)))
    status = (await client.post("/api/v1/statuses", headers=alice.headers, data={
        "status": "x", "media_ids[]": [mine["id"], lonely["id"]]})).json()
    reply = await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers,
                                params={"delete_media": "true"})
    assert reply.status_code == 200
    assert len(reply.json()["media_attachments"]) == 2
    async with roost.db.read() as conn:
        left = (await conn.execute(select(media_attachments.c.id).where(
            media_attachments.c.id.in_([int(mine["id"]), int(lonely["id"])])))).all()
    assert left == []
    assert not file_of(roost, lonely["url"]).exists()
    assert not file_of(roost, lonely["preview_url"]).exists()
    assert file_of(roost, mine["url"]).exists()  # bob's upload still uses it


async def test_delete_and_redraft_keeps_the_media(client: httpx.AsyncClient,
                                                  roost: Roost) -> None:
    alice, _ = await two_users(client)
    media = await uploaded(client, alice, jpeg((50, 62), color=(4, 5, 6)))
    status = (await client.post("/api/v1/statuses", headers=alice.headers, data={
        "status": "first draft", "media_ids[]": media["id"]})).json()
    deleted = await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers)
    assert deleted.status_code == 200
    # Without delete_media, Mastodon keeps them for the redraft: post them again.
    redraft = await client.post("/api/v1/statuses", headers=alice.headers, data={
        "status": "second draft",
        "media_ids[]": [m["id"] for m in deleted.json()["media_attachments"]]})
    assert redraft.status_code == 200, redraft.text
    assert redraft.json()["media_attachments"][0]["url"] == media["url"]
    assert file_of(roost, media["url"]).exists()


async def test_prune_removes_day_old_unattached_uploads(
    client: httpx.AsyncClient, roost: Roost
) -> None:
    alice, _ = await two_users(client)
    old = await uploaded(client, alice, jpeg((70, 71), color=(9, 9, 9)))
    fresh = await uploaded(client, alice, jpeg((70, 72), color=(8, 8, 8)))
    used = await uploaded(client, alice, jpeg((70, 73), color=(7, 7, 7)))
    await client.post("/api/v1/statuses", headers=alice.headers,
                      data={"status": "x", "media_ids[]": used["id"]})
    day_ago = utcnow() - timedelta(days=1, minutes=1)
    async with roost.db.write() as conn:
        await conn.execute(update(media_attachments).where(media_attachments.c.id.in_(
            [int(old["id"]), int(used["id"])])).values(created_at=day_ago))
    for url in (old["url"], old["preview_url"]):  # past the grace for fresh files
        stamp = time.time() - 2 * 86400
        os.utime(file_of(roost, url), (stamp, stamp))
    assert await prune_all(roost.db, roost.settings) >= 1
    async with roost.db.read() as conn:
        ids = set((await conn.execute(select(media_attachments.c.id))).scalars())
    assert int(old["id"]) not in ids
    assert {int(fresh["id"]), int(used["id"])} <= ids
    assert not file_of(roost, old["url"]).exists()
    assert file_of(roost, fresh["url"]).exists() and file_of(roost, used["url"]).exists()


async def test_roost_media_prune_command(client: httpx.AsyncClient, roost: Roost,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    alice, _ = await two_users(client)
    old = await uploaded(client, alice, jpeg((80, 81), color=(5, 6, 7)))
    async with roost.db.write() as conn:
        await conn.execute(update(media_attachments).where(
            media_attachments.c.id == int(old["id"])).values(
                created_at=utcnow() - timedelta(days=2)))
    stamp = time.time() - 2 * 86400
    for url in (old["url"], old["preview_url"]):
        os.utime(file_of(roost, url), (stamp, stamp))
    env = {"ROOST_DATA_DIR": str(roost.settings.data_dir),
           "ROOST_DATABASE_URL": roost.settings.database_url}
    # In a thread (run_main): the command runs its own event loop.
    outcome = await asyncio.to_thread(run_main, monkeypatch, capsys, env, "media", "prune")
    assert outcome.code == 0, outcome.err
    assert "\nPruned " in "\n" + outcome.out
    assert not file_of(roost, old["url"]).exists()


# --- avatars and headers ---------------------------------------------------------------


async def test_avatar_and_header_are_cropped_stored_and_shown(
    client: httpx.AsyncClient, roost: Roost
) -> None:
    alice, bob = await two_users(client)
    reply = await client.patch(
        "/api/v1/accounts/update_credentials", headers=alice.headers,
        files={"avatar": ("a.jpg", rotated_with_gps(), "image/jpeg"),
               "header": ("h.png", png((3000, 600)), "image/png")},
        data={"display_name": "Alice"})
    assert reply.status_code == 200, reply.text
    me = reply.json()
    assert me["display_name"] == "Alice"
    assert me["avatar"] == me["avatar_static"] and "/media/" in me["avatar"]
    avatar = Image.open(file_of(roost, me["avatar"]))
    assert avatar.size == (400, 400) and len(avatar.getexif()) == 0
    assert Image.open(file_of(roost, me["header"])).size == (1500, 500)
    # Everyone sees the new picture at once (the cached profile was invalidated).
    seen = await client.get(f"/api/v1/accounts/{alice.id}", headers=bob.headers)
    assert seen.json()["avatar"] == me["avatar"] and seen.json()["header"] == me["header"]
    bad = await client.patch("/api/v1/accounts/update_credentials", headers=alice.headers,
                             files={"avatar": ("a.txt", b"not a picture", "text/plain")})
    assert bad.status_code == 422
    still = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert still.json()["avatar"] == me["avatar"]


def test_public_url_follows_roost_media_url(roost: Roost) -> None:
    name = "ab/cd/abcd.jpg"
    assert storage.public_url(roost.settings, "https://x.test", name) == (
        "https://x.test/media/ab/cd/abcd.jpg")
    cdn = dataclasses.replace(roost.settings, media_url="https://cdn.test/m")
    assert storage.public_url(cdn, "https://x.test", name) == "https://cdn.test/m/ab/cd/abcd.jpg"
    # Entities render without the settings: what configure() was given at start.
    try:
        storage.configure(cdn)
        assert storage.rendered_url("https://x.test", name) == (
            "https://cdn.test/m/ab/cd/abcd.jpg")
    finally:
        storage.configure(roost.settings)
    assert storage.rendered_url("https://x.test", name) == "https://x.test/media/ab/cd/abcd.jpg"


def test_media_settings_are_read_and_checked(tmp_path: Path) -> None:
    from roost.config import ConfigError, load_settings

    base = {"ROOST_DATA_DIR": str(tmp_path), "ROOST_SECRET_KEY": "k"}
    assert load_settings(base).media_url is None
    settings = load_settings({**base, "ROOST_MEDIA_URL": "https://cdn.test/m/",
                              "ROOST_MEDIA_ASYNC_BYTES": "1000"})
    assert settings.media_url == "https://cdn.test/m" and settings.media_async_bytes == 1000
    for name, value in (("ROOST_MEDIA_URL", "ftp://cdn.test"),
                        ("ROOST_MEDIA_MAX_IMAGE_PIXELS", "200000000"),
                        ("ROOST_MEDIA_MAX_IMAGE_BYTES", "0")):
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, name: value})
