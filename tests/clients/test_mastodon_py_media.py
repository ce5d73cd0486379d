"""Mastodon.py against a running server, on both databases: uploading pictures
(media_post, its synchronous mode through the 202 path), describing them
(media_update), posting them (status_post(media_ids=...)), and avatars and headers
(account_update_credentials). Pictures are made with Pillow in memory."""

from __future__ import annotations

import io
import os

import httpx
import pytest
from mastodon import MastodonAPIError
from PIL import Image

from tests.clients.test_mastodon_py import (
    AppCredentials,
    app,  # noqa: F401  (fixture)
    error_status,
    sign_up,
)
from tests.support.server import RunningServer


def jpeg_with_gps() -> io.BytesIO:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.0)})
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 40, 40)).save(out, "JPEG", exif=exif.tobytes())
    out.seek(0)
    return out


def noisy_png(side: int) -> io.BytesIO:
    """Incompressible: side * side * 3 bytes, over the 202 threshold from side 900 on."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "PNG")
    out.seek(0)
    return out


def stored(server: RunningServer, url: str) -> Image.Image:
    return Image.open(server.data_dir / "media" / url.split("/media/", 1)[1])


def test_media_post_update_and_attach(server: RunningServer, app: AppCredentials) -> None:  # noqa: F811
    alice, bob = sign_up(server, app, "alice"), sign_up(server, app, "bob")
    media = alice.api.media_post(jpeg_with_gps(), mime_type="image/jpeg",
                                 description="a red square", focus=(0.5, -0.5))
    assert media.type == "image" and media.url and media.preview_url and media.blurhash
    assert media.description == "a red square"
    assert (media.meta.original.width, media.meta.original.height) == (80, 120)
    picture = stored(server, media.url)
    assert picture.size == (80, 120) and len(picture.getexif()) == 0
    # The URL serves the stored bytes (the storage contract with api/files.py).
    fetched = httpx.get(media.url)
    assert fetched.status_code == 200
    assert fetched.content == (server.data_dir / "media" / media.url.split("/media/")[1]
                               ).read_bytes()

    described = alice.api.media_update(media, description="described again", focus=(0, 0))
    assert described.description == "described again"

    status = alice.api.status_post("with a picture", media_ids=[media])
    assert [str(m.id) for m in status.media_attachments] == [str(media.id)]
    seen = bob.api.status(status.id)
    assert seen.media_attachments[0].url == media.url
    assert seen.media_attachments[0].description == "described again"
    with pytest.raises(MastodonAPIError) as refused:
        bob.api.status_post("not mine", media_ids=[media])
    assert error_status(refused) == 422


def test_large_upload_synchronous(server: RunningServer, app: AppCredentials) -> None:  # noqa: F811
    alice = sign_up(server, app, "alice")
    big = noisy_png(1000)
    assert len(big.getvalue()) > 2 * 1024 * 1024
    # synchronous=True polls GET /api/v1/media/:id until the url is there.
    media = alice.api.media_post(big, mime_type="image/png", synchronous=True)
    assert media.url and media.url.endswith(".jpg")
    assert stored(server, media.url).size == (1000, 1000)
    status = alice.api.status_post("", media_ids=[media.id])
    assert status.media_attachments[0].preview_url == media.preview_url
    with pytest.raises(MastodonAPIError) as garbage:
        alice.api.media_post(io.BytesIO(b"not a picture"), mime_type="image/png")
    assert error_status(garbage) == 422


def test_avatar_and_header(server: RunningServer, app: AppCredentials) -> None:  # noqa: F811
    alice, bob = sign_up(server, app, "alice"), sign_up(server, app, "bob")
    me = alice.api.account_update_credentials(
        avatar=jpeg_with_gps(), avatar_mime_type="image/jpeg",
        header=noisy_png(300), header_mime_type="image/png",
    )
    assert "/media/" in me.avatar and me.avatar_static == me.avatar
    assert stored(server, me.avatar).size == (400, 400)
    assert stored(server, me.header).size == (1500, 500)
    assert bob.api.account(alice.id).avatar == me.avatar
