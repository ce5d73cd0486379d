"""Timeline pages, the composer, status pages and the actions on statuses (issue 8;
docs/web.md, "Pages: timelines, posting, status pages").

Driven over HTTP against a real `roost serve` (the `server` fixture, SQLite and
PostgreSQL) with a cookie session: the session is an OAuth token (roost.web.session), so
the tests sign up through the API and carry the token in the `roost_session` cookie.
The statement counts use the in-process app, as tests/api/test_page_costs.py does.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.support.api import App, User, follow, post_status, register_app, sign_up
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CARD_IDS = re.compile(r'<article class="status" id="status-(\d+)"')


@pytest.fixture(scope="session")
async def api(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
async def app(api: httpx.AsyncClient) -> App:
    return await register_app(api)


def browser_of(server: RunningServer, user: User | None) -> httpx.AsyncClient:
    """A client carrying `user`'s session cookie (None: signed out)."""
    cookies = {"roost_session": user.token} if user is not None else {}
    return httpx.AsyncClient(base_url=server.url, cookies=cookies, timeout=30)


async def csrf_of(browser: httpx.AsyncClient, path: str = "/home") -> str:
    reply = await browser.get(path)
    assert reply.status_code == 200, reply.text
    found = CSRF.search(reply.text)
    assert found is not None, reply.text
    return found.group(1)


def png(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(out, "PNG")
    return out.getvalue()


def card_ids(html: str) -> list[str]:
    return CARD_IDS.findall(html)


async def statuses_of(api: httpx.AsyncClient, user: User) -> list[dict[str, Any]]:
    reply = await api.get(f"/api/v1/accounts/{user.id}/statuses", headers=user.headers)
    assert reply.status_code == 200, reply.text
    body: list[dict[str, Any]] = reply.json()
    return body


async def test_compose_with_content_warning_visibility_and_image(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    alice = await sign_up(api, app)
    async with browser_of(server, alice) as browser:
        token = await csrf_of(browser)
        reply = await browser.post(
            "/statuses",
            data={"csrf_token": token, "status": "hello <script>alert(1)</script> world",
                  "spoiler_text": "<script>cw()</script> spoilers", "visibility": "unlisted",
                  "description": "A red <b>square</b>"},
            files={"file": ("red.png", png(), "image/png")},
        )
        assert reply.status_code == 303, reply.text
        assert reply.headers["location"] == "/home"
        [posted] = await statuses_of(api, alice)
        assert posted["visibility"] == "unlisted"
        assert posted["sensitive"] is True
        assert posted["spoiler_text"] == "<script>cw()</script> spoilers"
        [media] = posted["media_attachments"]
        assert media["description"] == "A red <b>square</b>"

        page = await browser.get(f"/@{alice.username}/{posted['id']}")
        assert page.status_code == 200
        html = page.text
        # The CW is a <details> summary, escaped; the post's HTML is Roost's own.
        assert "<summary>&lt;script&gt;cw()&lt;/script&gt; spoilers</summary>" in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html and "<script>cw" not in html
        assert 'alt="A red &lt;b&gt;square&lt;/b&gt;"' in html
        assert media["preview_url"] in html
        assert "unlisted" in html
        assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_refused_post_keeps_the_text_and_writes_nothing(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    alice = await sign_up(api, app)
    async with browser_of(server, alice) as browser:
        token = await csrf_of(browser)
        too_long = "<i>long</i> " + "x" * 6000
        reply = await browser.post(
            "/statuses",
            data={"csrf_token": token, "status": too_long, "spoiler_text": "keep me",
                  "description": "an image that must not stay"},
            files={"file": ("red.png", png(), "image/png")},
        )
        assert reply.status_code == 422
        assert 'role="alert"' in reply.text
        assert "&lt;i&gt;long&lt;/i&gt; xxx" in reply.text  # kept, escaped
        assert 'value="keep me"' in reply.text
        bad_visibility = await browser.post(
            "/statuses", data={"csrf_token": token, "status": "hi", "visibility": "secret"})
        assert bad_visibility.status_code == 422
        assert "Visibility" in bad_visibility.text
    assert await statuses_of(api, alice) == []


async def test_forms_without_a_valid_csrf_token_are_refused(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    alice = await sign_up(api, app)
    bob = await sign_up(api, app)
    target = await post_status(api, bob, "like me")
    async with browser_of(server, alice) as browser:
        missing = await browser.post("/statuses", data={"status": "forged"})
        wrong = await browser.post("/statuses", data={"status": "forged", "csrf_token": "x"})
        like = await browser.post(f"/statuses/{target['id']}/favourite",
                                  data={"csrf_token": "nope"})
    async with browser_of(server, bob) as other:
        # Bob's own token is no good for Alice's session.
        bobs_token = await csrf_of(other)
    async with browser_of(server, alice) as browser:
        borrowed = await browser.post("/statuses",
                                      data={"status": "forged", "csrf_token": bobs_token})
    for reply in (missing, wrong, like, borrowed):
        assert reply.status_code == 403, reply.text
    assert await statuses_of(api, alice) == []
    seen = await api.get(f"/api/v1/statuses/{target['id']}", headers=bob.headers)
    assert seen.json()["favourites_count"] == 0


async def test_signed_out_home_and_posting_go_to_sign_in(server: RunningServer) -> None:
    async with browser_of(server, None) as browser:
        home = await browser.get("/home")
        assert home.status_code == 303
        assert home.headers["location"].startswith("/auth/sign_in?next=%2Fhome")
        stream = await browser.get("/home/stream")
        assert stream.status_code == 401


async def test_private_posts_stay_private(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    author = await sign_up(api, app)
    follower = await sign_up(api, app)
    stranger = await sign_up(api, app)
    await follow(api, follower, author)
    secret = await post_status(api, author, "followers only", visibility="private")
    open_post = await post_status(api, author, "for everyone")
    server.settle()
    status_path = f"/@{author.username}/{secret['id']}"
    async with browser_of(server, stranger) as browser:
        assert secret["id"] not in card_ids((await browser.get("/public")).text)
        hidden = await browser.get(status_path)
        assert hidden.status_code == 404
        card = await browser.get(f"/statuses/{secret['id']}/card")
        assert card.status_code == 404
    async with browser_of(server, None) as browser:
        assert (await browser.get(status_path)).status_code == 404
        # Signed out, the public post is readable (and carries no action forms).
        public_page = await browser.get(f"/@{author.username}/{open_post['id']}")
        assert public_page.status_code == 200
        assert "for everyone" in public_page.text
        assert "/favourite" not in public_page.text
        # A status under another author's name is not found either.
        wrong_author = await browser.get(f"/@{stranger.username}/{open_post['id']}")
        assert wrong_author.status_code == 404
    async with browser_of(server, follower) as browser:
        shown = await browser.get(status_path)
        assert shown.status_code == 200 and "followers only" in shown.text
        assert secret["id"] in card_ids((await browser.get("/home")).text)
        assert secret["id"] not in card_ids((await browser.get("/public")).text)


async def test_blocked_authors_leave_home(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    reader = await sign_up(api, app)
    author = await sign_up(api, app)
    await follow(api, reader, author)
    posted = await post_status(api, author, "before the block")
    server.settle()
    async with browser_of(server, reader) as browser:
        assert posted["id"] in card_ids((await browser.get("/home")).text)
        blocked = await api.post(f"/api/v1/accounts/{author.id}/block", headers=reader.headers)
        assert blocked.status_code == 200
        server.settle()
        assert posted["id"] not in card_ids((await browser.get("/home")).text)
        assert (await browser.get(f"/@{author.username}/{posted['id']}")).status_code == 404


async def test_actions_redirect_back_and_act_as_the_api(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    alice = await sign_up(api, app)
    bob = await sign_up(api, app)
    target = await post_status(api, bob, "act on me")
    target_id = target["id"]
    status_path = f"/@{bob.username}/{target_id}"
    async with browser_of(server, alice) as browser:
        token = await csrf_of(browser, "/public")
        liked = await browser.post(f"/statuses/{target_id}/favourite",
                                   data={"csrf_token": token},
                                   headers={"Referer": f"{server.url}/public?max_id=1"})
        assert liked.status_code == 303
        assert liked.headers["location"] == "/public?max_id=1"
        # No Referer, or another site's: back to the status page.
        boosted = await browser.post(f"/statuses/{target_id}/reblog",
                                     data={"csrf_token": token},
                                     headers={"Referer": "https://evil.example/x"})
        assert boosted.headers["location"] == status_path
        seen = (await api.get(f"/api/v1/statuses/{target_id}", headers=alice.headers)).json()
        assert seen["favourited"] is True and seen["reblogged"] is True
        page = (await browser.get(status_path)).text
        assert 'aria-pressed="true">Unlike' in page and 'aria-pressed="true">Unboost' in page

        for action in ("unfavourite", "unreblog"):
            undone = await browser.post(f"/statuses/{target_id}/{action}",
                                        data={"csrf_token": token})
            assert undone.status_code == 303 and undone.headers["location"] == status_path
        seen = (await api.get(f"/api/v1/statuses/{target_id}", headers=alice.headers)).json()
        assert seen["favourited"] is False and seen["reblogged"] is False

        # Deleting someone else's status is the 404 page; nothing changes.
        refused = await browser.post(f"/statuses/{target_id}/delete",
                                     data={"csrf_token": token})
        assert refused.status_code == 404
        assert (await api.get(f"/api/v1/statuses/{target_id}")).status_code == 200

        own = await post_status(api, alice, "mine to delete")
        own_path = f"/@{alice.username}/{own['id']}"
        assert "/delete" in (await browser.get(own_path)).text
        deleted = await browser.post(f"/statuses/{own['id']}/delete",
                                     data={"csrf_token": token},
                                     headers={"Referer": f"{server.url}{own_path}"})
        assert deleted.status_code == 303 and deleted.headers["location"] == "/home"
        assert (await browser.get(own_path)).status_code == 404
        missing = await browser.post("/statuses/123/favourite", data={"csrf_token": token})
        assert missing.status_code == 404


async def test_reply_from_the_status_page_shows_the_thread(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    alice = await sign_up(api, app)
    bob = await sign_up(api, app)
    root = await post_status(api, bob, "start of a thread")
    async with browser_of(server, alice) as browser:
        page = await browser.get(f"/@{bob.username}/{root['id']}")
        assert f'name="in_reply_to_id" value="{root["id"]}"' in page.text
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        replied = await browser.post("/statuses", data={
            "csrf_token": token, "status": f"@{bob.username} a reply",
            "in_reply_to_id": root["id"], "visibility": "public"})
        assert replied.status_code == 303
        location = replied.headers["location"]
        assert location.startswith(f"/@{alice.username}/")
        thread = await browser.get(location)
        assert thread.status_code == 200
        assert card_ids(thread.text) == [root["id"], location.rsplit("/", 1)[1]]
        root_page = await browser.get(f"/@{bob.username}/{root['id']}")
        assert card_ids(root_page.text) == [root["id"], location.rsplit("/", 1)[1]]
        gone = await browser.post("/statuses", data={
            "csrf_token": token, "status": "to nowhere", "in_reply_to_id": "1"})
        assert gone.status_code == 422
        assert "not available" in gone.text


async def test_older_pages_by_link_and_by_fragment(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    author = await sign_up(api, app)
    tag = f"pages{secrets.token_hex(4)}"
    posted = [(await post_status(api, author, f"post {n} #{tag}"))["id"] for n in range(23)]
    newest_first = list(reversed(posted))
    async with browser_of(server, None) as browser:
        first = await browser.get(f"/tags/{tag}")
        assert first.status_code == 200
        assert card_ids(first.text) == newest_first[:20]
        older = re.search(r'class="older-link" rel="next" href="([^"]+)"', first.text)
        assert older is not None
        assert older.group(1) == f"/tags/{tag}?max_id={newest_first[19]}"
        second = await browser.get(older.group(1))
        assert card_ids(second.text) == newest_first[20:]
        assert "older-link" not in second.text  # the last page
        fragment = await browser.get(older.group(1) + "&fragment=1")
        assert fragment.status_code == 200
        assert card_ids(fragment.text) == newest_first[20:]
        assert "<html" not in fragment.text and "<nav class=\"site-nav\"" not in fragment.text
        bad = await browser.get(f"/tags/{tag}?max_id=nope")
        assert bad.status_code == 422
        card = await browser.get(f"/statuses/{posted[0]}/card")
        assert card_ids(card.text) == [posted[0]] and "<html" not in card.text


async def test_home_pages_through_fragments(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    reader = await sign_up(api, app)
    author = await sign_up(api, app)
    await follow(api, reader, author)
    posted = [(await post_status(api, author, f"home {n}"))["id"] for n in range(21)]
    server.settle()
    async with browser_of(server, reader) as browser:
        first = await browser.get("/home")
        assert card_ids(first.text) == list(reversed(posted))[:20]
        assert 'data-stream="/home/stream"' in first.text
        rest = await browser.get(f"/home?max_id={posted[1]}&fragment=1")
        assert card_ids(rest.text) == [posted[0]]
        assert "composer" not in rest.text


async def _next_event(lines: AsyncIterator[str], wanted: str) -> str:
    """The data of the next `event: wanted` on an event stream."""
    event = None
    async for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == wanted:
            return line.removeprefix("data: ")
    raise AssertionError(f"the stream ended before an {wanted} event")


async def test_home_stream_sends_ids_of_what_home_would_show(
    server: RunningServer, api: httpx.AsyncClient, app: App
) -> None:
    reader = await sign_up(api, app)
    author = await sign_up(api, app)
    stranger = await sign_up(api, app)
    await follow(api, reader, author)
    async with browser_of(server, reader) as browser, browser.stream(
            "GET", "/home/stream") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        async with asyncio.timeout(20):
            assert await _next_event(lines, "ready") == "listening"
            await post_status(api, stranger, "not followed: never streamed")
            posted = await post_status(api, author, "streamed <b>as an id</b>")
            assert await _next_event(lines, "update") == posted["id"]
        card = await browser.get(f"/statuses/{posted['id']}/card")
        assert card_ids(card.text) == [posted["id"]]
        assert "streamed &lt;b&gt;as an id&lt;/b&gt;" in card.text


# --- constant cost ----------------------------------------------------------------------

# Statements of each page read on the database path (measured on SQLite, which adds its
# BEGINs; then pinned): the session's token and the signed-in account's name, then
# - tag: the tag's id, the page's ids, hydration;
# - status page: the status (hydrated, as GET /api/v1/statuses/:id), its ancestors and
#   descendants (one recursive statement each, none for ancestors of a first post), one
#   hydration for the whole thread (as /context);
# - home: the page's ids as the API reads them, hydration, the composer's default visibility;
# - public (signed out: no session): the page's ids, hydration.
MAX_STATEMENTS = {"tag": 12, "status page": 17, "home": 12, "public": 7}


async def _page_cost(http: httpx.AsyncClient, counter: Any, path: str,
                     session: User | None) -> int:
    headers = {"Cookie": f"roost_session={session.token}"} if session is not None else {}
    await http.get(path, headers=headers)  # warm whatever is made once per process
    before = counter.count
    reply = await http.get(path, headers=headers)
    assert reply.status_code == 200, reply.text
    return int(counter.count - before)


async def test_pages_cost_constant_statements(client: httpx.AsyncClient,
                                              count_statements: Any) -> None:
    app_ = await register_app(client)
    reader = await sign_up(client, app_)
    few, many = await sign_up(client, app_), await sign_up(client, app_)
    small_tag, large_tag = f"few{secrets.token_hex(3)}", f"many{secrets.token_hex(3)}"
    few_ids = [(await post_status(client, few, f"#{small_tag} {n}"))["id"] for n in range(2)]
    many_ids = [(await post_status(client, many, f"#{large_tag} {n}"))["id"] for n in range(6)]
    await post_status(client, few, "one reply", in_reply_to_id=few_ids[0])
    for n in range(3):
        await post_status(client, many, f"reply {n}", in_reply_to_id=many_ids[0])
    small_reader, large_reader = await sign_up(client, app_), await sign_up(client, app_)
    await follow(client, small_reader, few)
    await follow(client, large_reader, many)

    pairs = {
        "tag": (f"/tags/{small_tag}", f"/tags/{large_tag}", reader, reader),
        "status page": (f"/@{few.username}/{few_ids[0]}", f"/@{many.username}/{many_ids[0]}",
                        reader, reader),
        "home": ("/home", "/home", small_reader, large_reader),
    }
    for name, (small, large, small_session, large_session) in pairs.items():
        small_cost = await _page_cost(client, count_statements, small, small_session)
        large_cost = await _page_cost(client, count_statements, large, large_session)
        assert small_cost == large_cost, (name, small_cost, large_cost,
                                          count_statements.report())
        assert large_cost <= MAX_STATEMENTS[name], (name, large_cost, count_statements.report())
    # The public timeline holds every test's posts: its cost is that of a full page.
    assert await _page_cost(client, count_statements, "/public", None) <= MAX_STATEMENTS["public"]
