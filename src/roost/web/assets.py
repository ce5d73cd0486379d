"""Roost's own static files (CSS, default avatar and header) under content-hashed names.

Each file in web/static is served at `/static/{stem}.{hash8}{ext}`, where hash8 is the first
eight hex digits of the sha256 of its bytes. A new release with a changed file gets a new URL,
so the hashed URL can be cached for a year as `immutable` by browsers and CDNs, like media
(roost.api.files, same ETag/304/Range rules). Templates and entities link with `static_url()`.

The plain name (`/static/roost.css`) is still served, with a five-minute cache, so links made
before hashing (bookmarks, old cached HTML, /api/v1/instance's thumbnail) keep working. A
hashed name whose hash is not the current one is a 404: a CDN then never caches stale content
under a new name. The table is built once per process from the files shipped in the package
(top level only, as pyproject's package-data ships them); the files never change while it runs.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from roost.api.files import IMMUTABLE, StoredFile, answer_file, stat_regular_file

STATIC_DIR = Path(__file__).parent / "static"
PLAIN_NAME_CACHE = "public, max-age=300"
HASH_LENGTH = 8

router = APIRouter()


@dataclass(frozen=True)
class Asset:
    path: Path
    digest: str  # full sha256 hex: the ETag of both names
    hashed_name: str


def hashed_name(name: str, digest: str) -> str:
    stem, dot, extension = name.rpartition(".")
    if not dot:
        return f"{name}.{digest[:HASH_LENGTH]}"
    return f"{stem}.{digest[:HASH_LENGTH]}.{extension}"


@cache
def asset_table() -> dict[str, Asset]:
    """Plain name -> Asset, for every file in web/static; computed once per process."""
    table = {}
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            table[path.name] = Asset(path, digest, hashed_name(path.name, digest))
    return table


@cache
def _by_hashed_name() -> dict[str, Asset]:
    return {asset.hashed_name: asset for asset in asset_table().values()}


def static_url(name: str) -> str:
    """The path of a static file under its hashed name: static_url("roost.css") ->
    "/static/roost.3f2a9c1b.css". An unknown name is a programming error (KeyError)."""
    return f"/static/{asset_table()[name].hashed_name}"


def _stored(asset: Asset, cache_control: str) -> StoredFile | None:
    found = stat_regular_file(asset.path)
    if found is None:
        return None
    media_type = mimetypes.guess_type(asset.path.name)[0] or "application/octet-stream"
    return StoredFile(asset.path, found, f'"{asset.digest}"', media_type, cache_control)


@router.api_route("/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def serve_static(request: Request, name: str) -> Response:
    stored = None
    if (asset := _by_hashed_name().get(name)) is not None:
        stored = _stored(asset, IMMUTABLE)
    elif (asset := asset_table().get(name)) is not None:
        stored = _stored(asset, PLAIN_NAME_CACHE)
    if stored is None:
        return Response(status_code=404, content="Not Found", media_type="text/plain")
    return answer_file(request, stored)
