"""Keyset pagination exactly as Mastodon does it.

- `max_id`: items older than it (the next page).
- `since_id`: items newer than it, newest first (may leave a gap).
- `min_id`: items immediately newer than it, for walking forward without gaps.
- `limit`: clamped to the endpoint's maximum.

The Link header carries rel="next" (max_id of the last item) and rel="prev" (min_id of
the first item), keeping the request's other parameters; an empty page gets none.
Pages are keyed by whatever ordered id the list uses (status ids, or the follow row's
id on followers/following), which is why clients must follow the Link header.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from roost.errors import ApiError
from roost.ids import parse_id
from roost.paging import Page


def _id_param(params: dict[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    # 0 is below every id: Mastodon clients send min_id=0 to start from the oldest.
    value = 0 if raw in ("0", 0) and not isinstance(raw, bool) else parse_id(raw)
    if value is None:
        raise ApiError(422, f"Validation failed: {name} must be an id")
    return value


_LIMIT = re.compile(r"-?[0-9]{1,10}")


def page_from(params: dict[str, Any], *, default: int, maximum: int) -> Page:
    raw_limit = params.get("limit")
    if raw_limit is None or raw_limit == "":
        limit = default
    else:
        text = str(raw_limit).strip()
        # ASCII digits only: "--5" or "²" pass str.isdigit() checks but not int().
        if isinstance(raw_limit, bool) or not _LIMIT.fullmatch(text):
            raise ApiError(422, "Validation failed: limit must be a number")
        limit = min(max(int(text), 1), maximum)
    return Page(
        limit=limit,
        max_id=_id_param(params, "max_id"),
        since_id=_id_param(params, "since_id"),
        min_id=_id_param(params, "min_id"),
    )


_PAGING_KEYS = frozenset({"max_id", "since_id", "min_id"})


def link_header(base_url: str, query: list[tuple[str, str]], first_key: int, last_key: int) -> str:
    kept = [(k, v) for k, v in query if k not in _PAGING_KEYS]
    next_url = f"{base_url}?{urlencode([*kept, ('max_id', str(last_key))])}"
    prev_url = f"{base_url}?{urlencode([*kept, ('min_id', str(first_key))])}"
    return f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'
