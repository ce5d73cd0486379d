"""Keyset pagination: reading a page request, applying it to a real table, and the Link
header that tells clients where the neighbouring pages are."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, insert
from sqlalchemy import select as sa_select

from roost.api.pagination import link_header, page_from
from roost.errors import ApiError
from roost.ids import MAX_ID
from roost.paging import Page
from tests.support.api import post_status, register_app, sign_up

# --- page_from ---------------------------------------------------------------------------


def test_defaults() -> None:
    assert page_from({}, default=20, maximum=40) == Page(limit=20)
    assert page_from({"limit": "", "max_id": "", "since_id": "", "min_id": ""},
                     default=20, maximum=40) == Page(limit=20)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5", 5), (5, 5), (" 7 ", 7), ("40", 40), ("41", 40), ("1000000", 40), ("0", 1),
     ("-3", 1), ("-0", 1), ("0007", 7), ("9999999999", 40)],
)
def test_limit_is_clamped(raw: object, expected: int) -> None:
    assert page_from({"limit": raw}, default=20, maximum=40).limit == expected


@pytest.mark.parametrize(
    "raw", ["abc", "1.5", "5x", "-", "--5", "²", "١٢", "1e3", "99999999999", True, False, 2.0,
            [5]],
)
def test_non_numeric_limit_is_422(raw: object) -> None:
    with pytest.raises(ApiError) as caught:
        page_from({"limit": raw}, default=20, maximum=40)
    assert caught.value.status == 422
    assert caught.value.message == "Validation failed: limit must be a number"


def test_ids_are_read() -> None:
    page = page_from({"max_id": "300", "since_id": 100, "min_id": str(MAX_ID)},
                     default=20, maximum=40)
    assert page == Page(limit=20, max_id=300, since_id=100, min_id=MAX_ID)


@pytest.mark.parametrize("name", ["max_id", "since_id", "min_id"])
@pytest.mark.parametrize("raw", ["abc", "-1", "00x", str(MAX_ID + 1), "١٢٣", True])
def test_bad_ids_are_422(name: str, raw: object) -> None:
    with pytest.raises(ApiError) as caught:
        page_from({name: raw}, default=20, maximum=40)
    assert caught.value.status == 422
    assert caught.value.message == f"Validation failed: {name} must be an id"


@pytest.mark.parametrize("name", ["max_id", "since_id", "min_id"])
def test_zero_is_below_every_id(name: str) -> None:
    assert getattr(page_from({name: "0"}, default=20, maximum=40), name) == 0


# --- Page.apply / arrange on a real table -------------------------------------------------

metadata = MetaData()
items = Table("items", metadata, Column("id", Integer, primary_key=True), Column("name", String))


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(items), [{"id": n * 10, "name": f"item {n}"} for n in range(1, 21)])
    yield engine
    engine.dispose()


def _fetch(engine: Engine, page: Page) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(page.apply(sa_select(items.c.id), items.c.id)).scalars().all()
    return [int(i) for i in page.arrange(list(rows))]


def _ids(*ns: int) -> list[int]:
    return [n * 10 for n in ns]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        # Newest first.
        (Page(limit=5), _ids(20, 19, 18, 17, 16)),
        (Page(limit=100), _ids(*range(20, 0, -1))),
        # max_id: strictly older.
        (Page(limit=3, max_id=100), _ids(9, 8, 7)),
        (Page(limit=3, max_id=105), _ids(10, 9, 8)),
        (Page(limit=3, max_id=20), _ids(1)),
        (Page(limit=3, max_id=10), []),
        # since_id: the newest items above it, leaving a gap.
        (Page(limit=3, since_id=100), _ids(20, 19, 18)),
        (Page(limit=3, since_id=190), _ids(20)),
        (Page(limit=3, since_id=200), []),
        # min_id: the items immediately above it, still newest first.
        (Page(limit=3, min_id=100), _ids(13, 12, 11)),
        (Page(limit=3, min_id=185), _ids(20, 19)),
        (Page(limit=3, min_id=200), []),
        # Combinations bound both ends.
        (Page(limit=20, max_id=150, since_id=100), _ids(14, 13, 12, 11)),
        (Page(limit=2, max_id=150, since_id=100), _ids(14, 13)),
        (Page(limit=2, max_id=150, min_id=100), _ids(12, 11)),
    ],
)
def test_apply_and_arrange(engine: Engine, page: Page, expected: list[int]) -> None:
    assert _fetch(engine, page) == expected


def test_walking_backwards_and_forwards_covers_everything_once(engine: Engine) -> None:
    seen: list[int] = []
    page = Page(limit=6)
    while chunk := _fetch(engine, page):
        seen.extend(chunk)
        page = Page(limit=6, max_id=chunk[-1])
    assert seen == _ids(*range(20, 0, -1))
    forward: list[int] = []
    page = Page(limit=6, min_id=1)
    while chunk := _fetch(engine, page):
        forward = chunk + forward
        page = Page(limit=6, min_id=chunk[0])
    assert forward == seen


def test_arrange_only_reverses_min_id_pages() -> None:
    assert Page(limit=3).arrange([3, 2, 1]) == [3, 2, 1]
    assert Page(limit=3, since_id=1).arrange([3, 2, 1]) == [3, 2, 1]
    assert Page(limit=3, min_id=1).arrange([1, 2, 3]) == [3, 2, 1]
    assert Page(limit=3, min_id=1).ascending
    assert not Page(limit=3, max_id=9).ascending


# --- link_header ---------------------------------------------------------------------------


def test_link_header_format() -> None:
    assert link_header("https://roost.test/api/v1/timelines/home", [], 200, 150) == (
        '<https://roost.test/api/v1/timelines/home?max_id=150>; rel="next", '
        '<https://roost.test/api/v1/timelines/home?min_id=200>; rel="prev"'
    )


def test_link_header_keeps_other_parameters_and_drops_old_bounds() -> None:
    query = [("limit", "5"), ("max_id", "999"), ("only_media", "true"), ("since_id", "1"),
             ("min_id", "2"), ("tagged", "a b&c")]
    assert link_header("https://roost.test/api/v1/accounts/7/statuses", query, 90, 50) == (
        "<https://roost.test/api/v1/accounts/7/statuses"
        '?limit=5&only_media=true&tagged=a+b%26c&max_id=50>; rel="next", '
        "<https://roost.test/api/v1/accounts/7/statuses"
        '?limit=5&only_media=true&tagged=a+b%26c&min_id=90>; rel="prev"'
    )


def test_link_header_keeps_repeated_parameters() -> None:
    query = [("exclude_types[]", "follow"), ("exclude_types[]", "mention")]
    header = link_header("http://x.test/api/v1/notifications", query, 2, 1)
    assert header.startswith(
        "<http://x.test/api/v1/notifications"
        "?exclude_types%5B%5D=follow&exclude_types%5B%5D=mention&max_id=1>"
    )


# --- end to end, in-process, on both databases -------------------------------------------

_LINK = re.compile(r'<([^>]+)>; rel="(next|prev)"')


def _links(reply: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in _LINK.findall(reply.headers.get("link", ""))}


async def test_following_link_headers(client: httpx.AsyncClient) -> None:
    app = await register_app(client)
    author = await sign_up(client, app)
    posted = [(await post_status(client, author, f"post {n}"))["id"] for n in range(5)]
    newest_first = posted[::-1]

    def ids(reply: httpx.Response) -> list[str]:
        assert reply.status_code == 200, reply.text
        body: list[dict[str, Any]] = reply.json()
        return [s["id"] for s in body]

    first = await client.get(f"/api/v1/accounts/{author.id}/statuses",
                             params={"limit": "2", "exclude_reblogs": "true"},
                             headers=author.headers)
    assert ids(first) == newest_first[:2]
    links = _links(first)
    assert links["next"] == (f"http://roost.test/api/v1/accounts/{author.id}/statuses"
                             f"?limit=2&exclude_reblogs=true&max_id={newest_first[1]}")
    assert links["prev"].endswith(f"?limit=2&exclude_reblogs=true&min_id={newest_first[0]}")

    second = await client.get(links["next"], headers=author.headers)
    assert ids(second) == newest_first[2:4]
    third = await client.get(_links(second)["next"], headers=author.headers)
    assert ids(third) == newest_first[4:]
    last = await client.get(_links(third)["next"], headers=author.headers)
    assert ids(last) == []
    assert "link" not in last.headers

    back = await client.get(_links(third)["prev"], headers=author.headers)
    assert ids(back) == newest_first[2:4]
    newer = await client.get(_links(first)["prev"], headers=author.headers)
    assert ids(newer) == []
