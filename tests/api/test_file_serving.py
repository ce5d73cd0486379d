"""Stored media and static assets as a real `roost serve` answers them: immutable caching,
strong ETags, 304s, byte ranges, and a 404 for every name outside the storage contract
(roost.api.files, roost.web.assets)."""

from __future__ import annotations

import hashlib
import socket
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from roost.api.files import SMALL_FILE_BYTES
from roost.web.assets import asset_table, static_url
from tests.support.api import register_app, sign_up
from tests.support.server import RunningServer

IMMUTABLE = "public, max-age=31536000, immutable"


def store_media(data_dir: Path, data: bytes, extension: str = ".png") -> tuple[str, str]:
    """Writes `data` where roost.media would store it; returns (URL path, sha256 hex)."""
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{digest[0:2]}/{digest[2:4]}/{digest}{extension}"
    path = data_dir / "media" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"/media/{relative}", digest


@pytest.fixture
def media(server: RunningServer) -> tuple[str, str, bytes]:
    """A 1000-byte stored 'PNG' (the server serves bytes, it does not decode them)."""
    data = bytes(range(256)) * 3 + b"roost-file-serving" + bytes(214)
    assert len(data) == 1000
    path, digest = store_media(server.data_dir, data)
    return f"{server.url}{path}", digest, data


def test_media_answer_carries_every_caching_header(media: tuple[str, str, bytes]) -> None:
    url, digest, data = media
    reply = httpx.get(url)
    assert reply.status_code == 200
    assert reply.content == data
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["content-length"] == "1000"
    assert reply.headers["cache-control"] == IMMUTABLE
    assert reply.headers["etag"] == f'"{digest}"'
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["last-modified"].endswith(" GMT")
    assert reply.headers["access-control-allow-origin"] == "*"

    head = httpx.head(url)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "cache-control", "etag", "last-modified"):
        assert head.headers[name] == reply.headers[name], name


@pytest.mark.parametrize("extension, media_type", [
    (".jpg", "image/jpeg"), (".webp", "image/webp"), (".gif", "image/gif")])
def test_each_stored_extension_has_its_content_type(
    server: RunningServer, extension: str, media_type: str
) -> None:
    path, _digest = store_media(server.data_dir, f"bytes for {extension}".encode(), extension)
    reply = httpx.get(f"{server.url}{path}")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == media_type


def test_if_none_match_answers_304(media: tuple[str, str, bytes]) -> None:
    url, digest, _data = media
    etag = f'"{digest}"'
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*", f'"x" ,W/{etag}'):
        reply = httpx.get(url, headers={"if-none-match": header})
        assert reply.status_code == 304, header
        assert reply.content == b""
        assert reply.headers["etag"] == etag
        assert reply.headers["cache-control"] == IMMUTABLE
    head = httpx.head(url, headers={"if-none-match": etag})
    assert head.status_code == 304
    for header in ('"other"', f'"{digest[:-1]}"', ""):
        assert httpx.get(url, headers={"if-none-match": header}).status_code == 200, header


def test_if_modified_since_answers_304_unless_if_none_match_says_otherwise(
    media: tuple[str, str, bytes],
) -> None:
    url, _digest, _data = media
    last_modified = httpx.head(url).headers["last-modified"]
    assert httpx.get(url, headers={"if-modified-since": last_modified}).status_code == 304
    assert httpx.get(url, headers={"if-modified-since": formatdate(usegmt=True)}
                     ).status_code == 304
    earlier = formatdate(0, usegmt=True)
    assert httpx.get(url, headers={"if-modified-since": earlier}).status_code == 200
    assert httpx.get(url, headers={"if-modified-since": "not a date"}).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110 13.2.2).
    both = {"if-modified-since": last_modified, "if-none-match": '"other"'}
    assert httpx.get(url, headers=both).status_code == 200


@pytest.mark.parametrize("header, start, end", [
    ("bytes=0-9", 0, 9),
    ("bytes=990-", 990, 999),
    ("bytes=-5", 995, 999),
    ("bytes=500-500", 500, 500),
    ("bytes=998-5000", 998, 999),  # an end past the file is clamped
    ("bytes=-5000", 0, 999),  # a suffix longer than the file is all of it
    ("Bytes = 10 - 19", 10, 19),
])
def test_single_ranges_answer_206(
    media: tuple[str, str, bytes], header: str, start: int, end: int
) -> None:
    url, digest, data = media
    reply = httpx.get(url, headers={"range": header})
    assert reply.status_code == 206, header
    assert reply.headers["content-range"] == f"bytes {start}-{end}/1000"
    assert reply.headers["content-length"] == str(end - start + 1)
    assert reply.content == data[start:end + 1]
    assert reply.headers["etag"] == f'"{digest}"'
    assert reply.headers["cache-control"] == IMMUTABLE
    head = httpx.head(url, headers={"range": header})
    assert (head.status_code, head.content) == (206, b"")
    assert head.headers["content-range"] == reply.headers["content-range"]


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_ranges_answer_416(media: tuple[str, str, bytes], header: str) -> None:
    url, _digest, _data = media
    reply = httpx.get(url, headers={"range": header})
    assert reply.status_code == 416, header
    assert reply.headers["content-range"] == "bytes */1000"


@pytest.mark.parametrize("header", [
    "bytes=0-1,5-6",  # several ranges: the whole file (RFC 9110 14.2 allows ignoring Range)
    "bytes=0-1, -3",
    "bytes=abc",
    "bytes=9-3",
    "items=0-1",
    "bytes=-",
    "bytes 0-1",
])
def test_multiple_or_malformed_ranges_serve_the_whole_file(
    media: tuple[str, str, bytes], header: str
) -> None:
    url, _digest, data = media
    reply = httpx.get(url, headers={"range": header})
    assert reply.status_code == 200, header
    assert reply.content == data
    assert "content-range" not in reply.headers


def test_if_range_honours_the_range_only_for_the_current_validator(
    media: tuple[str, str, bytes],
) -> None:
    url, digest, data = media
    last_modified = httpx.head(url).headers["last-modified"]
    for validator in (f'"{digest}"', last_modified):
        reply = httpx.get(url, headers={"range": "bytes=0-3", "if-range": validator})
        assert (reply.status_code, reply.content) == (206, data[:4]), validator
    for validator in ('"other"', f'W/"{digest}"', formatdate(0, usegmt=True)):
        reply = httpx.get(url, headers={"range": "bytes=0-3", "if-range": validator})
        assert (reply.status_code, reply.content) == (200, data), validator


def test_large_files_stream_with_the_same_rules(server: RunningServer) -> None:
    """Above SMALL_FILE_BYTES the body streams through starlette's FileResponse."""
    data = bytes(range(256)) * (SMALL_FILE_BYTES // 256 + 100)
    path, digest = store_media(server.data_dir, data, ".gif")
    url = f"{server.url}{path}"
    size = len(data)
    whole = httpx.get(url)
    assert (whole.status_code, whole.content) == (200, data)
    assert whole.headers["content-length"] == str(size)
    assert whole.headers["etag"] == f'"{digest}"'
    assert whole.headers["cache-control"] == IMMUTABLE
    head = httpx.head(url)
    assert (head.status_code, head.headers["content-length"], head.content) == (
        200, str(size), b"")
    for header, start, end in (("bytes=0-99", 0, 99), (f"bytes={size - 70000}-", size - 70000,
                                                       size - 1), ("bytes=-3", size - 3, size - 1)):
        part = httpx.get(url, headers={"range": header, "if-range": f'"{digest}"'})
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert part.content == data[start:end + 1]
    for ignored in ({"range": "bytes=0-1,4-5"}, {"range": "bytes=x"},
                    {"range": "bytes=0-1", "if-range": '"other"'}):
        assert httpx.get(url, headers=ignored).content == data, ignored
    assert httpx.get(url, headers={"range": f"bytes={size}-"}).status_code == 416
    assert httpx.get(url, headers={"if-none-match": f'"{digest}"'}).status_code == 304


def raw_status(base_url: str, raw_path: str) -> int:
    """The status for a request line sent byte for byte (httpx would normalise dot segments)."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(f"GET {raw_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def test_names_outside_the_contract_are_404(
    server: RunningServer, media: tuple[str, str, bytes]
) -> None:
    url, digest, _data = media
    media_root = server.data_dir / "media"
    # Real files that must stay unreachable: a stray file, a valid name in the wrong
    # directory, an unsupported extension, a directory named like a file.
    (media_root / digest[0:2] / digest[2:4] / "notes.txt").write_text("private")
    (media_root / "00" / "00").mkdir(parents=True, exist_ok=True)
    (media_root / "00" / "00" / f"{digest}.png").write_bytes(b"misplaced")
    (media_root / digest[0:2] / digest[2:4] / f"{digest}.svg").write_bytes(b"<svg/>")
    directory_digest = hashlib.sha256(b"a directory").hexdigest()
    (media_root / directory_digest[0:2] / directory_digest[2:4] / f"{directory_digest}.png"
     ).mkdir(parents=True, exist_ok=True)
    missing = hashlib.sha256(b"never stored").hexdigest()
    prefix = f"/media/{digest[0:2]}/{digest[2:4]}"
    for path in (
        f"{prefix}/notes.txt",
        f"/media/00/00/{digest}.png",
        f"{prefix}/{digest}.svg",
        f"{prefix}/{digest.upper()}.png",
        f"/media/{digest[0:2].upper()}/{digest[2:4]}/{digest}.png",
        f"{prefix}/{digest[:-1]}.png",
        f"{prefix}/{digest}.PNG",
        f"{prefix}/{digest}.png.bak",
        f"{prefix}/{digest}",
        f"/media/{directory_digest[0:2]}/{directory_digest[2:4]}/{directory_digest}.png",
        f"/media/{missing[0:2]}/{missing[2:4]}/{missing}.png",
        f"/media/{digest[0:2]}/{digest}.png",
        f"/media/{digest}.png",
        "/media/%2e%2e/%2e%2e/secret_key",
        f"{prefix}/..%2F..%2F..%2Fsecret_key",
        f"{prefix}/%2e%2e",
    ):
        reply = httpx.get(f"{server.url}{path}")
        assert reply.status_code == 404, path
        assert b"private" not in reply.content and b"misplaced" not in reply.content
    assert raw_status(server.url, "/media/../../secret_key") == 404
    assert raw_status(server.url, f"{prefix}/../../{digest[0:2]}/{digest[2:4]}/notes.txt") == 404
    assert httpx.get(url).status_code == 200  # the real one still is served


def test_hashed_static_assets_are_immutable(server: RunningServer) -> None:
    for name, asset in asset_table().items():
        url = f"{server.url}{static_url(name)}"
        assert static_url(name) == f"/static/{asset.hashed_name}"
        reply = httpx.get(url)
        assert reply.status_code == 200, name
        assert reply.content == asset.path.read_bytes()
        assert reply.headers["cache-control"] == IMMUTABLE
        assert reply.headers["etag"] == f'"{asset.digest}"'
        assert httpx.get(url, headers={"if-none-match": reply.headers["etag"]}
                         ).status_code == 304
        ranged = httpx.get(url, headers={"range": "bytes=0-0"})
        assert (ranged.status_code, ranged.content) == (206, reply.content[:1])
    css = httpx.get(f"{server.url}{static_url('roost.css')}")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert static_url("roost.css").startswith("/static/roost.")


def test_plain_static_names_still_work_with_a_short_cache(server: RunningServer) -> None:
    hashed = httpx.get(f"{server.url}{static_url('avatar-missing.png')}")
    plain = httpx.get(f"{server.url}/static/avatar-missing.png")
    assert plain.status_code == 200
    assert plain.content == hashed.content
    assert plain.headers["cache-control"] == "public, max-age=300"
    assert plain.headers["etag"] == hashed.headers["etag"]
    assert plain.headers["content-type"] == "image/png"
    for path in ("/static/avatar-missing.00000000.png", "/static/nothing.css",
                 "/static/%2e%2e/app.py", "/static/", "/static/roost"):
        assert httpx.get(f"{server.url}{path}").status_code == 404, path


def test_pages_and_default_avatars_link_hashed_assets(server: RunningServer) -> None:
    page = httpx.get(f"{server.url}/oauth/authorize", params={"response_type": "token"})
    assert page.status_code == 400
    assert f'href="{static_url("roost.css")}"' in page.text


async def test_accounts_without_pictures_get_the_hashed_defaults(
    client: httpx.AsyncClient,
) -> None:
    user = await sign_up(client, await register_app(client))
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=user.headers)).json()
    assert me["avatar"].endswith(static_url("avatar-missing.png"))
    assert me["avatar_static"] == me["avatar"]
    assert me["header"].endswith(static_url("header-missing.png"))
    assert me["header_static"] == me["header"]
