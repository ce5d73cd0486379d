"""Content-addressed files in the data dir, and their public URLs.

THE CONTRACT SHARED WITH THE FILE SERVER (api/files.py, deploy/nginx; docs/media.md):
a stored file's name is the sha256 hex `h` of its bytes plus its extension, kept at
`{data_dir}/media/{h[0:2]}/{h[2:4]}/{h}{ext}` and published at
`{media base}/{h[0:2]}/{h[2:4]}/{h}{ext}`, where the media base is ROOST_MEDIA_URL, or
the server's own base URL + `/media` when that is unset. A name never changes what it
names, so the files can be cached forever (immutable) by browsers and CDNs.

Two uploads of the same bytes share one file; a file is removed only when no row
(media attachment, avatar, header) refers to it any more (`remove_unreferenced`).
The database keeps the relative path `h[0:2]/h[2:4]/h{ext}` ("stored name").
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import CompoundSelect, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.config import Settings
from roost.db.tables import accounts, media_attachments

EXTENSIONS = frozenset({".jpg", ".png", ".webp", ".gif"})

# The media base used by entities (which render without the settings at hand); set by
# `configure` when the app starts, like passwords.configure. None: base URL + /media.
_configured_media_url: str | None = None


def configure(settings: Settings) -> None:
    global _configured_media_url
    _configured_media_url = settings.media_url.rstrip("/") if settings.media_url else None


def media_base(settings_media_url: str | None, base_url: str) -> str:
    return settings_media_url.rstrip("/") if settings_media_url else f"{base_url}/media"


def public_url(settings: Settings, base_url: str, stored_name: str) -> str:
    """The URL clients fetch `stored_name` from (the one function for it)."""
    return f"{media_base(settings.media_url, base_url)}/{stored_name}"


def rendered_url(base_url: str, stored_name: str) -> str:
    """`public_url` for entities, which have the request's base URL but no settings."""
    return f"{media_base(_configured_media_url, base_url)}/{stored_name}"


def stored_name_of(data: bytes, extension: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[0:2]}/{digest[2:4]}/{digest}{extension}"


def path_of(settings: Settings, stored_name: str) -> Path:
    return settings.data_dir / "media" / stored_name


def write(settings: Settings, data: bytes, extension: str) -> str:
    """Stores `data` (atomically: a temporary file renamed into place) and returns its
    stored name. Writing bytes that are already there rewrites the same content, which
    also refreshes the file's age for `remove_unreferenced`'s grace period."""
    name = stored_name_of(data, extension)
    target = path_of(settings, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return name


def read(settings: Settings, stored_name: str) -> bytes:
    return path_of(settings, stored_name).read_bytes()


def _references(names: list[str]) -> CompoundSelect[Any]:
    m = media_attachments.c
    return union_all(
        select(m.file_name.label("name")).where(m.file_name.in_(names)),
        select(m.preview_file_name).where(m.preview_file_name.in_(names)),
        select(accounts.c.avatar_path).where(accounts.c.avatar_path.in_(names)),
        select(accounts.c.header_path).where(accounts.c.header_path.in_(names)),
    )


async def unreferenced(conn: AsyncConnection, names: Iterable[str | None]) -> list[str]:
    """Those of `names` that no row refers to any more (one statement)."""
    wanted = sorted({n for n in names if n})
    if not wanted:
        return []
    still = {row.name for row in (await conn.execute(_references(wanted))).all()}
    return [n for n in wanted if n not in still]


async def remove_unreferenced(
    conn: AsyncConnection, settings: Settings, names: Iterable[str | None], *,
    grace_seconds: float = 0.0,
) -> int:
    """Deletes the files of `names` that no row refers to (call it after deleting the
    rows, in their transaction). A file written less than `grace_seconds` ago is kept:
    an upload of the same bytes may have written it and not committed its row yet."""
    cutoff = time.time() - grace_seconds if grace_seconds else math.inf
    return sum(unlink_if_written_before(path_of(settings, name), cutoff)
               for name in await unreferenced(conn, names))


def unlink_if_written_before(path: Path, cutoff: float) -> bool:
    """Removes the file unless it was last written at or after `cutoff` (epoch
    seconds); True when it removed it (False too when it was gone already)."""
    try:
        if path.stat().st_mtime >= cutoff:
            return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True

