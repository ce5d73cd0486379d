"""Search: GET /api/v2/search and GET /api/v1/accounts/search, as Mastodon answers them
(docs/search.md). /api/v1/search was removed from Mastodon (3.0) and is not served.

Mastodon's rules kept here:
- a token is optional for v2, but without one `offset` and `resolve=true` are a 401,
  statuses are never full-text searched, and `following` means nothing;
- `q` is required: missing or blank is a 400 (Rails' "param is missing");
- `offset` counts only when `type` names one kind of result;
- a one-word query that starts with `#` or holds an `@` is a lookup of a hashtag or an
  account, not a full-text search of statuses; `#...` finds no accounts, and a query
  with an `@` finds no hashtags;
- `limit` is per kind of result, default 20, clamped to 40.
- with `resolve=true`, a query that is a URL is resolved instead of searched: this
  server's status and profile URLs (`/@name/ID`, `/users/name/statuses/ID`, `/@name`,
  `/users/name`) find that status (when the viewer may see it) or account (under the
  same rules as account search); any other URL finds nothing (no federation).
Roost's own: an unknown `type` is a 422 (Mastodon answers empty results), and `q` is at
most MAX_QUERY_CHARS characters. `resolve` and `exclude_unreviewed` are accepted and
change nothing: there is no federation and no tag review.

Statements: the token, then one for accounts, two for hashtags (the page, their
histories), one for the statuses' ids and the hydration's (at most six): a constant
whatever the limit.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.api.auth import Viewer, optional, viewer_account_id
from roost.api.context import base_url, host_of, roost_of
from roost.api.mastodon import entities
from roost.api.pagination import page_from
from roost.api.params import Params, parse, read_params
from roost.errors import ApiError
from roost.ids import parse_id
from roost.paging import Page
from roost.search.accounts import search_accounts
from roost.search.queries import matching_status_ids
from roost.search.tags import search_tags
from roost.statuses.queries import hydrate

router = APIRouter()

MAX_QUERY_CHARS = 1000
MAX_OFFSET = 10_000
KINDS = ("accounts", "hashtags", "statuses")
SEARCH_LIMIT, SEARCH_MAX = 20, 40
ACCOUNTS_LIMIT, ACCOUNTS_MAX = 40, 80
_NUMBER = re.compile(r"[0-9]{1,10}")
_URL = re.compile(r"https?://", re.IGNORECASE)
_STATUS_PATH = re.compile(r"/(?:@([A-Za-z0-9_]+)|users/([A-Za-z0-9_]+)/statuses)/([0-9]{1,19})/?")
_ACCOUNT_PATH = re.compile(r"/(?:@|users/)([A-Za-z0-9_]+)/?")


class SearchParams(Params):
    q: str | None = Field(default=None, max_length=MAX_QUERY_CHARS)
    type: str | None = Field(default=None, max_length=20)
    resolve: bool = False
    following: bool = False
    account_id: str | None = Field(default=None, max_length=40)
    exclude_unreviewed: bool = False


def _query(params: SearchParams) -> str:
    query = (params.q or "").strip()
    if not query:
        raise ApiError(400, "param is missing or the value is empty: q")
    return query


def _offset(raw: dict[str, Any]) -> int:
    value = raw.get("offset")
    if value is None or value == "":
        return 0
    text = str(value).strip()
    if isinstance(value, bool) or not _NUMBER.fullmatch(text) or int(text) > MAX_OFFSET:
        raise ApiError(422, f"Validation failed: offset must be a number from 0 to {MAX_OFFSET}")
    return int(text)


def _kind(params: SearchParams) -> str | None:
    if not params.type:
        return None
    if params.type not in KINDS:
        raise ApiError(422, "Validation failed: type must be one of accounts, hashtags, statuses")
    return params.type


def _refuse_anonymous(raw: dict[str, Any], params: SearchParams) -> None:
    if raw.get("offset") not in (None, ""):
        raise ApiError(401, "Search queries pagination is not supported without authentication")
    if params.resolve:
        raise ApiError(
            401, "Search queries that resolve remote resources are not supported without "
                 "authentication")


def _author(params: SearchParams) -> int | None:
    if not params.account_id:
        return None
    account_id = parse_id(params.account_id)
    if account_id is None:
        raise ApiError(422, "Validation failed: account_id must be an id")
    return account_id


def _one_word_lookup(query: str) -> bool:
    """`#tag`, `@name`, `name@host`: Mastodon looks these up, without full-text search."""
    return (query.startswith("#") or "@" in query) and " " not in query


@router.get("/api/v2/search")
async def search(
    request: Request, viewer: Viewer | None = Depends(optional("read:search"))
) -> dict[str, Any]:
    params = await parse(request, SearchParams)
    raw = await read_params(request)
    query = _query(params)
    viewer_id = viewer_account_id(viewer)
    if viewer_id is None:
        _refuse_anonymous(raw, params)
    kind = _kind(params)
    page = page_from(raw, default=SEARCH_LIMIT, maximum=SEARCH_MAX)
    offset = _offset(raw) if kind is not None else 0
    author = _author(params)
    wants = {name: kind in (None, name) for name in KINDS}
    base = base_url(request)
    found: dict[str, list[Any]] = {name: [] for name in KINDS}
    async with roost_of(request).db.read() as conn:
        if params.resolve and _URL.match(query):
            if offset == 0:
                await _resolve_local_url(conn, request, query, viewer_id, wants, found)
            return found
        if wants["accounts"] and not query.startswith("#") and not (
                "@" in query and " " in query):
            rows = await search_accounts(
                conn, query, viewer_id, local_host=host_of(request), limit=page.limit,
                offset=offset, following=params.following and viewer_id is not None)
            found["accounts"] = [entities.account(row, base) for row in rows]
        if wants["hashtags"] and "@" not in query:
            infos = await search_tags(conn, query, limit=page.limit, offset=offset)
            found["hashtags"] = [entities.tag(info, base) for info in infos]
        if wants["statuses"] and viewer_id is not None and not _one_word_lookup(query):
            found["statuses"] = await _statuses(
                conn, query, viewer_id, page, offset=offset, author=author, base=base)
    return found


async def _resolve_local_url(
    conn: AsyncConnection, request: Request, url: str, viewer_id: int | None,
    wants: dict[str, bool], found: dict[str, list[Any]],
) -> None:
    """Fills `found` with the status or account a URL of this server names, if any."""
    parts = urlsplit(url)
    if (parts.hostname or "").lower() != host_of(request).split(":")[0].lower():
        return
    base = base_url(request)
    status_path = _STATUS_PATH.fullmatch(parts.path)
    if status_path is not None:
        username = status_path.group(1) or status_path.group(2)
        status_id = parse_id(status_path.group(3))
        if wants["statuses"] and status_id is not None:
            views = await hydrate(conn, [status_id], viewer_id)
            found["statuses"] = [
                entities.status(view, base, viewer_id=viewer_id) for view in views
                if view.reblog is None and view.account.username.lower() == username.lower()
            ]
        return
    account_path = _ACCOUNT_PATH.fullmatch(parts.path)
    if account_path is not None and wants["accounts"]:
        username = account_path.group(1)
        rows = await search_accounts(conn, username, viewer_id, local_host=host_of(request),
                                     limit=1)
        found["accounts"] = [entities.account(row, base) for row in rows
                             if row.username_lower == username.lower()]


async def _statuses(conn: AsyncConnection, query: str, viewer_id: int, page: Page, *,
                    offset: int, author: int | None, base: str) -> list[dict[str, Any]]:
    ids = await matching_status_ids(conn, query, viewer_id, page, offset=offset,
                                    account_id=author, searchable_only=True)
    views = await hydrate(conn, ids, viewer_id)
    return [entities.status(view, base, viewer_id=viewer_id) for view in views]


async def account_search(request: Request, viewer: Viewer) -> list[dict[str, Any]]:
    """GET /api/v1/accounts/search (q, limit (default 40, at most 80), offset,
    following, resolve). Declared in accounts.py, before /accounts/{id}, which would
    otherwise take `search` for an id."""
    params = await parse(request, SearchParams)
    raw = await read_params(request)
    query = _query(params)
    limit = page_from(raw, default=ACCOUNTS_LIMIT, maximum=ACCOUNTS_MAX).limit
    async with roost_of(request).db.read() as conn:
        rows = await search_accounts(
            conn, query, viewer.account_id, local_host=host_of(request), limit=limit,
            offset=_offset(raw), following=params.following)
    base = base_url(request)
    return [entities.account(row, base) for row in rows]
