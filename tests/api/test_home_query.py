"""The home timeline's two SQL forms (LATERAL on PostgreSQL, IN everywhere else) return
the same ids for every kind of page, with the visibility rule applied (timelines/home.py;
docs/schema.md has the plans)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from roost.context import Roost
from roost.db.tables import mentions
from roost.paging import Page
from roost.timelines.home import home_query
from tests.support.api import follow, post_status, register_app, sign_up

pytestmark = pytest.mark.asyncio(loop_scope="session")

VISIBILITIES = ("public", "unlisted", "private", "direct")


async def test_lateral_and_in_forms_agree(client: httpx.AsyncClient,
                                          app_roost: tuple[Any, Roost]) -> None:
    _, roost = app_roost
    if roost.db.is_sqlite:
        pytest.skip("SQLite has no LATERAL: it runs the IN form only")
    app = await register_app(client)
    viewer, friend, quiet, stranger = [await sign_up(client, app) for _ in range(4)]
    await follow(client, viewer, friend)
    await follow(client, viewer, quiet)
    expected: set[int] = set()
    friends_direct: list[int] = []
    for n in range(36):
        author = (friend, stranger, viewer)[n % 3]
        visibility = VISIBILITIES[(n // 3) % 4]
        status_id = int((await post_status(client, author, f"post {n}",
                                           visibility=visibility))["id"])
        if author is viewer or (author is friend and visibility != "direct"):
            expected.add(status_id)
        if author is friend and visibility == "direct":
            friends_direct.append(status_id)
    expected.add(int((await post_status(client, quiet, "the only one"))["id"]))
    # A direct status is in the home of the accounts it mentions, and only theirs.
    async with roost.db.write() as conn:
        await conn.execute(insert(mentions).values(status_id=friends_direct[0],
                                                   account_id=int(viewer.id)))
    expected.add(friends_direct[0])

    viewer_id = int(viewer.id)
    async with roost.db.read() as conn:

        async def ids(page: Page, dialect: str) -> list[int]:
            rows = (await conn.execute(home_query(viewer_id, page, dialect))).scalars().all()
            return [int(row) for row in rows]

        everything = await ids(Page(limit=100), "postgresql")
        assert set(everything) == expected
        assert everything == sorted(everything, reverse=True)
        pivots = [everything[0], everything[3], everything[len(everything) // 2],
                  everything[-1]]
        pages = [Page(limit=5), Page(limit=100)]
        for pivot in pivots:
            pages += [Page(limit=5, max_id=pivot), Page(limit=5, since_id=pivot),
                      Page(limit=5, min_id=pivot),
                      Page(limit=5, max_id=pivot, since_id=everything[-1])]
        for page in pages:
            assert await ids(page, "postgresql") == await ids(page, "sqlite"), page
