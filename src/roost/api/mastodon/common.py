"""Helpers the Mastodon routers share: path ids, pages out with Link headers, and
statuses rendered for a viewer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection

from roost.api.context import base_url
from roost.api.mastodon import entities
from roost.api.pagination import link_header
from roost.api.params import read_params
from roost.api.responses import JSONResponse
from roost.errors import ApiError, not_found
from roost.ids import parse_id
from roost.social.listing import AccountPage
from roost.statuses.queries import StatusView, hydrate


def path_id(raw: str) -> int:
    """An id from the URL path; anything that cannot be an id is simply not found."""
    value = parse_id(raw)
    if value is None:
        raise not_found()
    return value


async def id_list(request: Request, maximum: int) -> list[int]:
    """The `id[]` parameter of a multi-get, de-duplicated, in the order asked; values
    that cannot be ids are left out (they match nothing), more than `maximum` is a 422."""
    raw = (await read_params(request)).get("id", [])
    values = raw if isinstance(raw, list) else [raw]
    if len(values) > maximum:
        raise ApiError(422, f"Validation failed: at most {maximum} ids at once")
    return list(
        dict.fromkeys(parsed for value in values if (parsed := parse_id(value)) is not None)
    )


def paged(
    request: Request, items: list[Any], first_key: int | None, last_key: int | None
) -> JSONResponse:
    response = JSONResponse(items)
    if items and first_key is not None and last_key is not None:
        url = base_url(request) + request.url.path
        response.headers["Link"] = link_header(
            url, request.query_params.multi_items(), first_key, last_key
        )
    return response


def account_list(request: Request, listing: AccountPage) -> JSONResponse:
    """A page of accounts (followers, blocks, requests...) with its Link header."""
    base = base_url(request)
    body = [entities.account(row, base) for row in listing.accounts]
    return paged(request, body, listing.first_key, listing.last_key)


async def status_page(
    request: Request,
    conn: AsyncConnection,
    status_ids: Sequence[int],
    viewer_id: int | None,
    keys: tuple[int | None, int | None] | None = None,
    arrange: Callable[[list[StatusView]], list[StatusView]] | None = None,
) -> JSONResponse:
    """A page of statuses keyed by their own ids (or by `keys`, the first and last
    keys of a page some of whose rows were left out), hydrated in constant statements;
    `arrange` may then leave some out (home collapses boosts)."""
    views = await hydrate(conn, status_ids, viewer_id)
    if arrange is not None:
        views = arrange(views)
    base = base_url(request)
    body = [entities.status(view, base, viewer_id=viewer_id) for view in views]
    first = status_ids[0] if status_ids else None
    last = status_ids[-1] if status_ids else None
    if keys is not None:
        first, last = keys
    return paged(request, body, first, last)
