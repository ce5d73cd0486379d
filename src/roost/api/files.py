"""Serving stored media files the way a CDN (or nginx in front) wants them.

A media file is named by the sha256 of its bytes (roost.media stores it at
`{data_dir}/media/{h[0:2]}/{h[2:4]}/{h}{ext}`), so its content can never change under its
URL: every answer says `immutable` for a year, and the hash is a strong ETag. This module
also holds the HTTP rules shared with the static assets (roost.web.assets):

- `If-None-Match` (a list, weak or strong tags, or `*`) and, without it, `If-Modified-Since`
  answer 304 (RFC 9110 13.2.2 order).
- `Range: bytes=a-b | a- | -n` answers 206 with `Content-Range`; a range that starts past the
  end answers 416 with `Content-Range: bytes */size`. Several ranges answer the whole file
  with 200 (RFC 9110 14.2 lets a server ignore Range; multipart/byteranges buys nothing for
  images and is what nobody's player asks for). A malformed Range header is ignored too.
- `If-Range` honours the Range only when it carries the current strong ETag or exactly the
  Last-Modified date.

File reads happen in worker threads, never on the event loop: a small file in one read, a
large one streamed in chunks (starlette's FileResponse), so its size costs no memory.
Anything that is not exactly a valid stored name is a plain 404 before the filesystem is
touched: no user input ever becomes part of a path. docs/media.md, "Serving".
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from roost.api.context import roost_of

router = APIRouter()

IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
_MEDIA_NAME = re.compile(r"([0-9a-f]{64})\.(" + "|".join(MEDIA_TYPES) + r")")
_HEX2 = re.compile(r"[0-9a-f]{2}")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
SMALL_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class StoredFile:
    """A file on disk and what HTTP says about it."""

    path: Path
    stat: os.stat_result
    etag: str  # quoted, strong
    media_type: str
    cache_control: str

    @property
    def size(self) -> int:
        return self.stat.st_size

    @property
    def last_modified(self) -> str:
        return formatdate(self.stat.st_mtime, usegmt=True)


class _FileBody(FileResponse):
    """The body of a 200 or 206 once `answer_file` has decided about Range.

    Files up to SMALL_FILE_BYTES (avatars, thumbnails, most images) are read in one
    worker-thread call and sent in one message, instead of a thread hop per 64 KiB chunk plus
    the open and the close (measured faster with bench/file_serving.py's setup). Larger ones
    stream in 64 KiB chunks through starlette's FileResponse, from whose view the request
    headers it would act on by itself are removed (multipart ranges, a 400 on a malformed
    Range): Range stays only when `byte_range` was accepted from it, and FileResponse then
    parses it to the same single range."""

    def __init__(self, stored: StoredFile, headers: dict[str, str],
                 byte_range: tuple[int, int] | None) -> None:
        super().__init__(stored.path, headers=headers, media_type=stored.media_type,
                         stat_result=stored.stat)
        self.byte_range = byte_range

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.stat_result is not None and self.stat_result.st_size <= SMALL_FILE_BYTES:
            await self._send_small(scope, receive, send)
            return
        drop = {b"if-range"} if self.byte_range else {b"range", b"if-range"}
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k not in drop]}
        await super().__call__(scope, receive, send)

    async def _send_small(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(self.headers)
        status, start, end = 200, 0, int(headers["content-length"])
        if self.byte_range is not None:
            status, (start, end) = 206, self.byte_range
            headers["content-range"] = f"bytes {start}-{end - 1}/{headers['content-length']}"
            headers["content-length"] = str(end - start)
        body = b""
        if scope["method"] != "HEAD":
            try:
                body = (await anyio.to_thread.run_sync(Path(self.path).read_bytes))[start:end]
            except OSError:  # removed since the stat (an unreferenced file collected)
                body, status, headers = b"Not Found", 404, {"content-type": "text/plain"}
        await Response(body, status_code=status, headers=headers)(scope, receive, send)


def stat_regular_file(path: Path) -> os.stat_result | None:
    """The file's stat, or None when it is missing or not a regular file. A stat is a metadata
    lookup on the local data dir, done inline: a thread hop would cost more than it saves."""
    try:
        result = path.stat()
    except OSError:  # missing, a path through a non-directory, unreadable: all "not found"
        return None
    return result if stat.S_ISREG(result.st_mode) else None


def _etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _weak_match(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 8.8.3.2): W/"x" matches "x"."""
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in _etags(header))


def _not_modified_since(header: str, stored: StoredFile) -> bool:
    try:
        since = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False  # an invalid date is ignored (RFC 9110 13.1.3)
    return int(stored.stat.st_mtime) <= since


def _not_modified(request: Request, stored: StoredFile) -> bool:
    """If-None-Match decides when present; If-Modified-Since only without it (RFC 9110 13.2.2)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return _weak_match(if_none_match, stored.etag)
    since = request.headers.get("if-modified-since")
    return since is not None and _not_modified_since(since, stored)


def _if_range_holds(header: str | None, stored: StoredFile) -> bool:
    if header is None:
        return True
    header = header.strip()
    if header.startswith('"'):
        return header == stored.etag  # strong comparison; a weak tag never matches
    return header == stored.last_modified


def parse_single_range(
    header: str, size: int
) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """(start, end exclusive) for one satisfiable range; None when the header is to be ignored
    (malformed, several ranges); "unsatisfiable" when it starts past the end."""
    match = _RANGE.fullmatch(header.replace(" ", "").lower())
    if match is None:
        return None  # several ranges, another unit, or junk: serve the whole file
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # bytes=-n: the last n bytes
        length = int(last)
        return (max(size - length, 0), size) if length > 0 and size > 0 else "unsatisfiable"
    start = int(first)
    if last and int(last) < start:
        return None  # invalid range-spec: ignored like any malformed header
    if start >= size:
        return "unsatisfiable"
    end = min(int(last) + 1, size) if last else size
    return (start, end)


def answer_file(request: Request, stored: StoredFile) -> Response:
    """The GET/HEAD answer for a stored file under the request's validators and Range."""
    headers = {
        "cache-control": stored.cache_control,
        "etag": stored.etag,
        "last-modified": stored.last_modified,
        "accept-ranges": "bytes",
        "x-content-type-options": "nosniff",
    }
    if _not_modified(request, stored):
        return Response(status_code=304, headers=headers)
    requested = request.headers.get("range")
    if requested is None or not _if_range_holds(request.headers.get("if-range"), stored):
        return _FileBody(stored, headers, None)
    chosen = parse_single_range(requested, stored.size)
    if chosen == "unsatisfiable":
        return Response(status_code=416, headers={**headers,
                                                  "content-range": f"bytes */{stored.size}"})
    return _FileBody(stored, headers, chosen)


def media_file(media_root: Path, aa: str, bb: str, name: str) -> StoredFile | None:
    """The stored media file these URL parts name, or None: only exact content-addressed names
    (lower-case hex, the directory levels equal to the hash's first four digits) are looked up."""
    match = _MEDIA_NAME.fullmatch(name)
    if match is None or not _HEX2.fullmatch(aa) or not _HEX2.fullmatch(bb):
        return None
    digest, extension = match.groups()
    if digest[0:2] != aa or digest[2:4] != bb:
        return None
    path = media_root / aa / bb / name
    found = stat_regular_file(path)
    if found is None:
        return None
    return StoredFile(path, found, f'"{digest}"', MEDIA_TYPES[extension], IMMUTABLE)


@router.api_route("/media/{aa}/{bb}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def serve_media(request: Request, aa: str, bb: str, name: str) -> Response:
    stored = media_file(roost_of(request).settings.data_dir / "media", aa, bb, name)
    if stored is None:
        return Response(status_code=404, content="Not Found", media_type="text/plain")
    answer = answer_file(request, stored)
    # Public bytes: web clients on other origins may read them (canvas, fetch), as from nginx.
    answer.headers["access-control-allow-origin"] = "*"
    return answer
