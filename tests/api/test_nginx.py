"""deploy/nginx.conf, rendered by deploy/nginx/render, run by a real nginx in front of a
real `roost serve`: media straight from the data dir, everything else proxied to Roost.

nginx comes from Debian's package (deploy/install-nginx.sh, which .ci/run calls). Without
it the tests skip with the reason, and fail under CI.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect

from roost.web.assets import static_url
from tests.api.test_file_serving import IMMUTABLE, raw_status, store_media
from tests.support.api import post_status, register_app, sign_up
from tests.support.server import RunningServer, free_port, start_server
from tests.support.services import unavailable

RENDER = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "render"


def nginx_binary() -> str | None:
    # /usr/sbin is not on every user's PATH.
    found = shutil.which("nginx")
    if found is None and os.access("/usr/sbin/nginx", os.X_OK):
        found = "/usr/sbin/nginx"
    return found


@dataclass
class RunningNginx:
    url: str
    prefix: Path

    def access_log(self) -> str:
        return (self.prefix / "access.log").read_text()


def start_nginx(binary: str, prefix: Path, upstream: RunningServer, port: int
                ) -> subprocess.Popen[bytes]:
    conf = prefix / "nginx.conf"
    subprocess.run(
        [sys.executable, str(RENDER), "--user", getpass.getuser(),
         "--listen", f"127.0.0.1:{port}", "--upstream", urlsplit(upstream.url).netloc,
         "--data-dir", str(upstream.data_dir), "--run-dir", str(prefix),
         "--log-dir", str(prefix), "--output", str(conf)],
        check=True,
    )
    return subprocess.Popen(
        [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf),
         "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )


@contextmanager
def running_nginx(upstream: RunningServer, prefix: Path) -> Iterator[RunningNginx]:
    binary = nginx_binary()
    if binary is None:
        unavailable("nginx", "not installed; deploy/install-nginx.sh installs it")
        raise AssertionError("unreachable")
    port = free_port()
    process = start_nginx(binary, prefix, upstream, port)
    pid_file = prefix / "nginx.pid"
    deadline = time.monotonic() + 20
    while not pid_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            error_log = prefix / "error.log"
            log = error_log.read_text() if error_log.exists() else ""
            raise RuntimeError(f"nginx did not start ({process.returncode}):\n{log}")
        time.sleep(0.05)
    try:
        yield RunningNginx(f"http://127.0.0.1:{port}", prefix)
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def nginx(server: RunningServer, tmp_path: Path) -> Iterator[RunningNginx]:
    with running_nginx(server, tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def streaming_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """An embedded server of its own: its streams hear only the events it dispatches
    itself, and the session's database may have another process dispatching them."""
    running = start_server(tmp_path_factory.mktemp("nginx-streams"), None,
                           ROOST_LOG_LEVEL="warning")
    yield running
    running.stop()


def test_media_is_served_from_disk_with_the_caching_headers(
    server: RunningServer, nginx: RunningNginx
) -> None:
    data = os.urandom(5000)
    path, digest = store_media(server.data_dir, data, ".webp")
    reply = httpx.get(f"{nginx.url}{path}")
    assert reply.status_code == 200
    assert reply.content == data
    assert reply.headers["server"] == "nginx"
    assert reply.headers["content-type"] == "image/webp"
    assert reply.headers["content-length"] == "5000"
    assert reply.headers["cache-control"] == IMMUTABLE
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["accept-ranges"] == "bytes"
    # nginx's own validators prove the disk answered, not Roost: its ETag is mtime-size,
    # Roost's is the hash, and Roost stamps an x-request-id on everything it answers.
    assert reply.headers["etag"] != f'"{digest}"'
    assert "x-request-id" not in reply.headers
    direct = httpx.get(f"{server.url}{path}")
    assert direct.headers["etag"] == f'"{digest}"'
    assert "x-request-id" in direct.headers
    assert direct.headers["last-modified"] == reply.headers["last-modified"]

    etag, last_modified = reply.headers["etag"], reply.headers["last-modified"]
    assert httpx.get(f"{nginx.url}{path}", headers={"if-none-match": etag}).status_code == 304
    assert httpx.get(f"{nginx.url}{path}", headers={"if-modified-since": last_modified}
                     ).status_code == 304
    head = httpx.head(f"{nginx.url}{path}")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "5000", b"")


@pytest.mark.parametrize("header, start, end", [
    ("bytes=0-9", 0, 9), ("bytes=4990-", 4990, 4999), ("bytes=-5", 4995, 4999)])
def test_media_ranges_through_nginx(
    server: RunningServer, nginx: RunningNginx, header: str, start: int, end: int
) -> None:
    data = os.urandom(5000)
    path, _digest = store_media(server.data_dir, data)
    reply = httpx.get(f"{nginx.url}{path}", headers={"range": header})
    assert reply.status_code == 206
    assert reply.headers["content-range"] == f"bytes {start}-{end}/5000"
    assert reply.content == data[start:end + 1]
    assert reply.headers["cache-control"] == IMMUTABLE
    too_far = httpx.get(f"{nginx.url}{path}", headers={"range": "bytes=5000-"})
    assert too_far.status_code == 416
    assert too_far.headers["content-range"] == "bytes */5000"


def test_nginx_serves_only_exact_media_names(
    server: RunningServer, nginx: RunningNginx
) -> None:
    path, digest = store_media(server.data_dir, b"exact names only")
    media_root = server.data_dir / "media"
    (media_root / digest[0:2] / digest[2:4] / f"{digest}.svg").write_bytes(b"<svg/>")
    (media_root / "00" / "00").mkdir(parents=True, exist_ok=True)
    (media_root / "00" / "00" / f"{digest}.png").write_bytes(b"misplaced")
    prefix = f"/media/{digest[0:2]}/{digest[2:4]}"
    for bad in (f"{prefix}/{digest}.svg", f"/media/00/00/{digest}.png",
                f"{prefix}/{digest.upper()}.png", f"/media/{digest}.png",
                "/media/%2e%2e/secret_key", f"{prefix}/{digest}.png/"):
        assert httpx.get(f"{nginx.url}{bad}").status_code == 404, bad
    assert raw_status(nginx.url, "/media/../secret_key") in (400, 404)
    assert raw_status(nginx.url, f"{prefix}/../../../secret_key") in (400, 404)
    assert httpx.get(f"{nginx.url}{path}").status_code == 200


def test_api_and_static_assets_are_proxied_to_roost(
    server: RunningServer, nginx: RunningNginx
) -> None:
    instance = httpx.get(f"{nginx.url}/api/v1/instance")
    assert instance.status_code == 200, instance.text
    assert instance.headers["content-type"].startswith("application/json")
    assert "x-request-id" in instance.headers  # answered by Roost
    # Host (with its port) reached Roost: the URLs it builds point at nginx.
    netloc = urlsplit(nginx.url).netloc
    assert instance.json()["uri"] == netloc
    assert instance.json()["urls"]["streaming_api"] == f"ws://{netloc}"

    hashed = f"{nginx.url}{static_url('roost.css')}"
    first, second = httpx.get(hashed), httpx.get(hashed)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.content == second.content
    assert first.headers["cache-control"] == second.headers["cache-control"] == IMMUTABLE
    assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) == (
        "MISS", "HIT")
    assert httpx.get(hashed, headers={"if-none-match": first.headers["etag"]}
                     ).status_code == 304
    plain = httpx.get(f"{nginx.url}/static/roost.css")
    assert plain.headers["cache-control"] == "public, max-age=300"
    assert httpx.get(f"{nginx.url}/static/roost.00000000.css").status_code == 404


def test_render_refuses_values_that_would_break_the_configuration(tmp_path: Path) -> None:
    """No nginx needed: a value nginx would split at a space or `;` is an error, not a file."""
    for bad in ("80; include /etc/passwd", "8 0", ""):
        done = subprocess.run([sys.executable, str(RENDER), "--listen", bad,
                               "--output", str(tmp_path / "nginx.conf")],
                              capture_output=True, text=True)
        assert done.returncode == 2, bad
        assert "render: LISTEN=" in done.stderr
        assert not (tmp_path / "nginx.conf").exists()
    rendered = subprocess.run([sys.executable, str(RENDER), "--data-dir", str(tmp_path)],
                              capture_output=True, text=True, check=True).stdout
    assert "@" not in rendered.replace("@…@", "")
    assert f"root {tmp_path.resolve()};" in rendered


async def test_streams_pass_through_nginx_unbuffered(
    streaming_server: RunningServer, tmp_path: Path
) -> None:
    """Server-sent events arrive through nginx as they happen (proxy_buffering off), and
    the WebSocket upgrade reaches Roost (the Upgrade and Connection headers)."""
    server = streaming_server
    with running_nginx(server, tmp_path) as nginx:
        await _stream_through(server, nginx)


async def _stream_through(server: RunningServer, nginx: RunningNginx) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        app = await register_app(http)
        reader, writer = await sign_up(http, app), await sign_up(http, app)
        path = "/api/v1/streaming/public"
        async with (
            httpx.AsyncClient(base_url=nginx.url, timeout=10) as through_nginx,
            through_nginx.stream("GET", path, headers=reader.headers) as stream,
        ):
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert await asyncio.wait_for(anext(lines), 10) == ":)"
            status = await post_status(http, writer, "through nginx, live")
            event = ""
            while not event.startswith("event: update"):
                event = await asyncio.wait_for(anext(lines), 10)
            data = await asyncio.wait_for(anext(lines), 10)
            assert json.loads(data.removeprefix("data: "))["id"] == status["id"]

        ws_url = "ws" + nginx.url[4:] + f"/api/v1/streaming?access_token={reader.token}"
        async with connect(ws_url) as socket:
            await socket.send(json.dumps({"type": "subscribe", "stream": "public"}))
            # The subscription is live once a post made after it arrives; earlier
            # posts may race the subscribe, so post until one comes (at most a few).
            for attempt in range(20):
                status = await post_status(http, writer, f"websocket via nginx {attempt}")
                try:
                    raw = await asyncio.wait_for(socket.recv(), 1)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                assert message["stream"] == ["public"]
                assert message["event"] == "update"
                assert json.loads(message["payload"])["account"]["id"] == writer.id
                break
            else:
                raise AssertionError("no update arrived over the WebSocket through nginx")
