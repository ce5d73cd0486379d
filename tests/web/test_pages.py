"""The profile, notifications, search, settings and explore pages (roost.web.pages), driven
over HTTP like a browser with JavaScript off: a real `roost serve` (the `server`
fixture, SQLite and PostgreSQL), a cookie session made by signing in through the
/auth/sign_in form, and forms posted with their CSRF token. What the pages do is
checked through the API too (the same operations and rules serve both).

The constant-cost tests run the app in-process to count its SQL statements
(`count_statements`, as tests/api/test_page_costs.py does for the API).
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import StatementCounter
from tests.support.api import App, User, follow, post_status, register_app, sign_up
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SCRIPT = "<script>alert(1)</script>"


@dataclass
class Browser:
    """One browser: its own cookie jar, signed in as `user`."""

    http: httpx.AsyncClient
    user: User

    async def csrf(self, path: str = "/settings/profile") -> str:
        reply = await self.http.get(path)
        found = CSRF.search(reply.text)
        assert found is not None, reply.text
        return found.group(1)

    async def submit(self, action: str, fields: dict[str, Any] | None = None,
                     files: dict[str, Any] | None = None, csrf: bool = True) -> httpx.Response:
        data = dict(fields or {})
        if csrf:
            data["csrf_token"] = await self.csrf()
        return await self.http.post(action, data=data, files=files)


async def sign_in(http: httpx.AsyncClient, user: User, password: str | None = None
                  ) -> Browser:
    form = await http.get("/auth/sign_in")
    token = CSRF.search(form.text)
    assert token is not None, form.text
    reply = await http.post("/auth/sign_in", data={
        "login": user.username, "password": password or user.password,
        "csrf_token": token.group(1), "next": "/home"})
    assert reply.status_code == 303, reply.text
    assert "roost_session" in http.cookies
    return Browser(http, user)


@pytest.fixture
async def web(server: RunningServer) -> AsyncIterator[Any]:
    """Makes users (through the API) and browsers (signed in through the form) on the
    real server; every browser is closed at the end."""
    opened: list[httpx.AsyncClient] = []
    api = httpx.AsyncClient(base_url=server.url, timeout=30)
    opened.append(api)
    app = await register_app(api)

    class Web:
        def __init__(self) -> None:
            self.api = api
            self.app: App = app
            self.server = server

        async def user(self) -> User:
            return await sign_up(api, app)

        async def browser(self, user: User, password: str | None = None) -> Browser:
            http = httpx.AsyncClient(base_url=server.url, timeout=30)
            opened.append(http)
            return await sign_in(http, user, password)

        def anonymous(self) -> httpx.AsyncClient:
            http = httpx.AsyncClient(base_url=server.url, timeout=30)
            opened.append(http)
            return http

        async def relationship(self, user: User, other: User) -> dict[str, Any]:
            reply = await api.get("/api/v1/accounts/relationships",
                                  params={"id[]": other.id}, headers=user.headers)
            assert reply.status_code == 200, reply.text
            found: dict[str, Any] = reply.json()[0]
            return found

    yield Web()
    for http in opened:
        await http.aclose()


def png(size: tuple[int, int] = (64, 64), colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


# --- every page renders ------------------------------------------------------------------


async def test_pages_render_signed_in_and_out(web: Any) -> None:
    alice = await web.user()
    await post_status(web.api, alice, "hello from the profile page")
    anonymous = web.anonymous()
    profile = await anonymous.get(f"/@{alice.username}")
    assert profile.status_code == 200
    assert "hello from the profile page" in profile.text
    assert "Content-Security-Policy" in profile.headers
    assert 'action="/@' not in profile.text  # no relationship buttons signed out
    assert (await anonymous.get("/@nobody_here_at_all")).status_code == 404
    assert (await anonymous.get("/explore")).status_code == 200
    for bad in (f"/@{alice.username}?max_id=nope", f"/@{alice.username}/followers?limit=x",
                "/explore?offset=-1"):
        refused = await anonymous.get(bad)
        assert refused.status_code == 422, bad
        assert "text/html" in refused.headers["content-type"]
    found = await anonymous.get("/search", params={"q": alice.username})
    assert found.status_code == 200
    assert f"/@{alice.username}" in found.text
    assert "search-statuses" not in found.text  # signed out: accounts and hashtags only
    for path in ("/notifications", "/settings/profile", "/settings/password",
                 "/settings/apps", "/settings/blocks"):
        refused = await anonymous.get(path)
        assert refused.status_code == 303, path
        assert refused.headers["location"].startswith("/auth/sign_in?next=")

    bob = await web.browser(await web.user())
    for path in ("/notifications", "/search", f"/search?q={alice.username}", "/explore",
                 "/settings/profile", "/settings/password", "/settings/apps",
                 "/settings/blocks", f"/@{alice.username}", f"/@{bob.user.username}"):
        reply = await bob.http.get(path)
        assert reply.status_code == 200, (path, reply.text)
        assert reply.headers["cache-control"] == "no-store"
    own = await bob.http.get(f"/@{bob.user.username}")
    assert "/settings/profile" in own.text and f'action="/@{bob.user.username}/follow"' \
        not in own.text


# --- follow, mute, block -----------------------------------------------------------------


async def test_relationship_forms_do_what_the_api_does(web: Any) -> None:
    alice, bob_user = await web.user(), await web.user()
    bob = await web.browser(bob_user)
    page = await bob.http.get(f"/@{alice.username}")
    assert f'action="/@{alice.username}/follow"' in page.text

    forged = await bob.submit(f"/@{alice.username}/follow", csrf=False)
    assert forged.status_code == 403
    assert (await web.relationship(bob_user, alice))["following"] is False
    wrong = await bob.http.post(f"/@{alice.username}/follow", data={"csrf_token": "x" * 40})
    assert wrong.status_code == 403

    # The button's own form carries a valid token (the macro sees the request's context).
    button = re.search(rf'action="/@{alice.username}/follow">\s*<input type="hidden" '
                       r'name="csrf_token" value="([^"]+)"', page.text)
    assert button is not None, page.text
    followed = await bob.http.post(f"/@{alice.username}/follow",
                                   data={"csrf_token": button.group(1)})
    assert followed.status_code == 303
    assert followed.headers["location"] == f"/@{alice.username}"
    assert (await web.relationship(bob_user, alice))["following"] is True
    assert f'action="/@{alice.username}/unfollow"' in (
        await bob.http.get(f"/@{alice.username}")).text

    followers = await web.anonymous().get(f"/@{alice.username}/followers")
    assert followers.status_code == 200 and f'href="/@{bob_user.username}"' in followers.text
    following = await bob.http.get(f"/@{bob_user.username}/following")
    assert following.status_code == 200 and f'href="/@{alice.username}"' in following.text
    assert (await bob.http.get("/@nobody_here_at_all/followers")).status_code == 404

    assert (await bob.submit(f"/@{alice.username}/mute")).status_code == 303
    assert (await web.relationship(bob_user, alice))["muting"] is True
    assert (await bob.submit(f"/@{alice.username}/unmute")).status_code == 303
    assert (await web.relationship(bob_user, alice))["muting"] is False
    assert (await bob.http.get("/notifications?max_id=x")).status_code == 422
    assert (await bob.submit(f"/@{alice.username}/unfollow")).status_code == 303
    assert (await web.relationship(bob_user, alice))["following"] is False

    yourself = await bob.submit(f"/@{bob_user.username}/follow")
    assert yourself.status_code == 403
    assert "cannot follow yourself" in yourself.text
    assert (await bob.submit("/@nobody_here_at_all/follow")).status_code == 404
    signed_out = await web.anonymous().post(f"/@{alice.username}/follow")
    assert signed_out.status_code in (303, 403)
    assert (await web.relationship(bob_user, alice))["following"] is False


async def test_block_hides_both_ways(web: Any) -> None:
    alice_user, bob_user = await web.user(), await web.user()
    await follow(web.api, bob_user, alice_user)
    await post_status(web.api, bob_user, "bob says something public")
    await post_status(web.api, alice_user, "alice public words")
    await post_status(web.api, alice_user, "alice private words", visibility="private")
    alice, bob = await web.browser(alice_user), await web.browser(bob_user)
    assert "alice private words" in (await bob.http.get(f"/@{alice_user.username}")).text
    assert "bob says something public" in (await alice.http.get(f"/@{bob_user.username}")).text

    assert (await alice.submit(f"/@{bob_user.username}/block")).status_code == 303
    assert (await web.relationship(alice_user, bob_user))["blocking"] is True
    web.server.settle()
    seen_by_alice = await alice.http.get(f"/@{bob_user.username}")
    assert "bob says something public" not in seen_by_alice.text
    assert f'action="/@{bob_user.username}/unblock"' in seen_by_alice.text
    seen_by_bob = await bob.http.get(f"/@{alice_user.username}")
    assert seen_by_bob.status_code == 200
    assert "alice private words" not in seen_by_bob.text
    assert "alice public words" not in seen_by_bob.text
    assert f'action="/@{alice_user.username}/follow"' not in seen_by_bob.text
    # Blocking ended bob's follow: following again is refused while blocked.
    refused = await bob.submit(f"/@{alice_user.username}/follow")
    assert refused.status_code == 403
    assert (await web.relationship(bob_user, alice_user))["following"] is False
    assert (await alice.submit(f"/@{bob_user.username}/unblock")).status_code == 303
    assert "bob says something public" in (await alice.http.get(f"/@{bob_user.username}")).text


async def test_locked_profile_shows_private_posts_to_followers_only(web: Any) -> None:
    alice_user, carol_user = await web.user(), await web.user()
    alice = await web.browser(alice_user)
    saved = await alice.submit("/settings/profile", {"display_name": "Alice", "locked": "on"})
    assert saved.status_code == 303
    await post_status(web.api, alice_user, "alice locked public", visibility="public")
    await post_status(web.api, alice_user, "alice only followers", visibility="private")

    anonymous = await web.anonymous().get(f"/@{alice_user.username}")
    assert anonymous.status_code == 200
    assert "alice locked public" in anonymous.text
    assert "alice only followers" not in anonymous.text
    carol = await web.browser(carol_user)
    assert "alice only followers" not in (await carol.http.get(f"/@{alice_user.username}")).text

    assert (await carol.submit(f"/@{alice_user.username}/follow")).status_code == 303
    assert (await web.relationship(carol_user, alice_user))["requested"] is True
    assert "Cancel follow request" in (await carol.http.get(f"/@{alice_user.username}")).text
    assert "alice only followers" not in (await carol.http.get(f"/@{alice_user.username}")).text
    web.server.settle()
    notifications = await alice.http.get("/notifications")
    assert "asked to follow you" in notifications.text
    action = f"/notifications/follow_requests/{carol_user.id}/authorize"
    assert action in notifications.text
    assert (await alice.submit(action, csrf=False)).status_code == 403
    assert (await alice.submit(action)).status_code == 303
    assert (await web.relationship(carol_user, alice_user))["following"] is True
    assert "alice only followers" in (await carol.http.get(f"/@{alice_user.username}")).text
    again = await alice.submit(action)  # no longer pending
    assert again.status_code == 404


# --- notifications -----------------------------------------------------------------------


async def test_notifications_page_shows_and_marks_read(web: Any) -> None:
    alice_user, bob_user = await web.user(), await web.user()
    alice = await web.browser(alice_user)
    await follow(web.api, bob_user, alice_user)
    mention = await post_status(web.api, bob_user, f"hi @{alice_user.username} there")
    await web.api.post(f"/api/v1/statuses/{mention['id']}/favourite", headers=alice_user.headers)
    mine = await post_status(web.api, alice_user, "alice writes")
    await web.api.post(f"/api/v1/statuses/{mine['id']}/favourite", headers=bob_user.headers)
    web.server.settle()
    unread = await web.api.get("/api/v1/notifications/unread_count", headers=alice_user.headers)
    assert unread.json()["count"] == 3

    reply = await alice.http.get("/notifications")
    assert reply.status_code == 200
    assert "followed you" in reply.text
    assert "mentioned you" in reply.text
    assert "liked your post" in reply.text
    assert reply.text.count('class="notification ') == 3
    assert "unread" in reply.text
    unread = await web.api.get("/api/v1/notifications/unread_count", headers=alice_user.headers)
    assert unread.json()["count"] == 0
    markers = await web.api.get("/api/v1/markers", params={"timeline[]": "notifications"},
                                headers=alice_user.headers)
    assert markers.json()["notifications"]["last_read_id"]
    # Paging: the second page holds what is older than the first page's last.
    first = await alice.http.get("/notifications", params={"limit": 2})
    older = re.search(r'href="(/notifications\?max_id=\d+)"', first.text)
    assert older is not None
    second = await alice.http.get(older.group(1))
    assert second.text.count('class="notification ') == 1
    # Blocking bob hides his notifications from the page, as from the API.
    await alice.submit(f"/@{bob_user.username}/block")
    assert 'class="notification ' not in (await alice.http.get("/notifications")).text


# --- search and escaping -----------------------------------------------------------------


async def test_search_page_finds_what_the_api_finds(web: Any) -> None:
    alice_user, bob_user = await web.user(), await web.user()
    await post_status(web.api, alice_user, "searchable zebracorn words #zebratag")
    web.server.settle()
    bob = await web.browser(bob_user)
    found = await bob.http.get("/search", params={"q": alice_user.username})
    assert f"/@{alice_user.username}" in found.text
    statuses = await bob.http.get("/search", params={"q": "zebracorn"})
    assert statuses.status_code == 200
    api = await web.api.get("/api/v2/search", params={"q": "zebracorn"},
                            headers=bob_user.headers)
    for status in api.json()["statuses"]:
        assert f'data-status-id="{status["id"]}"' in statuses.text
    tags = await web.anonymous().get("/search", params={"q": "#zebratag"})
    assert "/tags/zebratag" in tags.text
    refused = await web.anonymous().get("/search", params={"q": "x", "offset": "5",
                                                           "type": "accounts"})
    assert refused.status_code == 401  # as the API: no paging without an account
    assert "not supported without authentication" in refused.text
    empty = await bob.http.get("/search", params={"q": "   "})
    assert empty.status_code == 200


async def test_user_content_is_escaped(web: Any) -> None:
    evil = await web.user()
    reply = await web.api.patch("/api/v1/accounts/update_credentials", headers=evil.headers,
                                data={"display_name": "<script>x</script>", "note": SCRIPT,
                                      "fields_attributes[0][name]": SCRIPT,
                                      "fields_attributes[0][value]": SCRIPT})
    assert reply.status_code == 200, reply.text
    await post_status(web.api, evil, SCRIPT)
    viewer = await web.browser(await web.user())
    for http in (viewer.http, web.anonymous()):
        profile = await http.get(f"/@{evil.username}")
        assert profile.status_code == 200
        assert "<script>alert" not in profile.text
        assert "<script>x" not in profile.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in profile.text
        search = await http.get("/search", params={"q": SCRIPT})
        assert "<script>alert" not in search.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in search.text
    assert "<script>x" not in (await viewer.http.get("/search", params={
        "q": evil.username})).text


# --- settings ----------------------------------------------------------------------------


async def test_settings_profile_changes_what_the_api_shows(web: Any) -> None:
    user = await web.user()
    me = await web.browser(user)
    fields = {"display_name": "New Name", "note": "line one\n\nline two",
              "discoverable": "on", "fields[0][name]": "Site",
              "fields[0][value]": "example.org"}
    forged = await me.submit("/settings/profile", fields, csrf=False)
    assert forged.status_code == 403
    saved = await me.submit("/settings/profile", fields,
                            files={"avatar": ("me.png", png(), "image/png"),
                                   "header": ("", b"", "application/octet-stream")})
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/settings/profile?saved=1"
    api = (await web.api.get("/api/v1/accounts/verify_credentials",
                             headers=user.headers)).json()
    assert api["display_name"] == "New Name"
    assert api["note"] == "<p>line one</p><p>line two</p>"
    assert api["locked"] is False and api["discoverable"] is True
    assert api["fields"][0]["name"] == "Site"
    assert "avatar-missing" not in api["avatar"]
    assert "header-missing" in api["header"]
    image = await web.api.get(api["avatar"])
    assert image.status_code == 200
    assert Image.open(io.BytesIO(image.content)).size == (400, 400)
    form = await me.http.get("/settings/profile")
    assert 'value="New Name"' in form.text and "line one" in form.text

    too_long = await me.submit("/settings/profile", {"display_name": "x" * 31})
    assert too_long.status_code == 422
    assert "display_name" in too_long.text and 'value="' + "x" * 31 in too_long.text
    broken = await me.submit("/settings/profile", {"display_name": "Still"},
                             files={"avatar": ("a.png", b"not an image", "image/png")})
    assert broken.status_code == 422
    after = (await web.api.get("/api/v1/accounts/verify_credentials",
                               headers=user.headers)).json()
    assert after["display_name"] == "New Name"  # nothing written
    assert after["avatar"] == api["avatar"]


async def test_password_change_signs_out_other_web_sessions_only(web: Any) -> None:
    user = await web.user()
    here, elsewhere = await web.browser(user), await web.browser(user)
    wrong = await here.submit("/settings/password", {
        "current_password": "not it", "new_password": "a new password",
        "confirm_password": "a new password"})
    assert wrong.status_code == 422 and "Current password is wrong" in wrong.text
    short = await here.submit("/settings/password", {
        "current_password": user.password, "new_password": "short",
        "confirm_password": "short"})
    assert short.status_code == 422 and "too short" in short.text
    mismatch = await here.submit("/settings/password", {
        "current_password": user.password, "new_password": "a new password",
        "confirm_password": "another password"})
    assert mismatch.status_code == 422
    assert (await elsewhere.http.get("/notifications")).status_code == 200

    changed = await here.submit("/settings/password", {
        "current_password": user.password, "new_password": "a new password",
        "confirm_password": "a new password"})
    assert changed.status_code == 303
    assert (await here.http.get("/notifications")).status_code == 200
    assert (await elsewhere.http.get("/notifications")).status_code == 303
    api = await web.api.get("/api/v1/accounts/verify_credentials", headers=user.headers)
    assert api.status_code == 200  # apps' tokens are kept, as Mastodon keeps them
    await web.browser(user, password="a new password")


async def test_revoking_an_app_ends_its_tokens(web: Any) -> None:
    user = await web.user()
    me = await web.browser(user)
    apps = await me.http.get("/settings/apps")
    assert "tests" in apps.text and "Roost Web" in apps.text
    app_id = re.search(r'action="/settings/apps/(\d+)/revoke"', apps.text)
    assert app_id is not None
    assert (await me.submit(f"/settings/apps/{app_id.group(1)}/revoke",
                            csrf=False)).status_code == 403
    assert (await web.api.get("/api/v1/accounts/verify_credentials",
                              headers=user.headers)).status_code == 200
    revoked = await me.submit(f"/settings/apps/{app_id.group(1)}/revoke")
    assert revoked.status_code == 303
    assert (await web.api.get("/api/v1/accounts/verify_credentials",
                              headers=user.headers)).status_code == 401
    listed = await me.http.get("/settings/apps")
    assert f"/settings/apps/{app_id.group(1)}/revoke" not in listed.text
    # The web's own application is not revocable from its own session.
    web_app = re.search(r'data-app-id="(\d+)" data-current', listed.text)
    assert web_app is not None
    refused = await me.submit(f"/settings/apps/{web_app.group(1)}/revoke")
    assert refused.status_code == 422
    assert (await me.http.get("/settings/apps")).status_code == 200


async def listed_ids(web: Any, user: User, kind: str) -> list[str]:
    """The ids GET /api/v1/blocks or /api/v1/mutes lists for `user`, newest first."""
    reply = await web.api.get(f"/api/v1/{kind}", headers=user.headers)
    assert reply.status_code == 200, reply.text
    return [account["id"] for account in reply.json()]


async def test_blocked_and_muted_page_lists_and_undoes(web: Any) -> None:
    me_user, alice, bob, carol = (await web.user(), await web.user(), await web.user(),
                                  await web.user())
    me = await web.browser(me_user)
    for other in (alice, bob):
        assert (await me.submit(f"/@{other.username}/block")).status_code == 303
    # Through the profile's form (notifications hidden, no end) and the API (options).
    assert (await me.submit(f"/@{alice.username}/mute")).status_code == 303
    muted = await web.api.post(f"/api/v1/accounts/{bob.id}/mute", headers=me_user.headers,
                               data={"notifications": "false", "duration": "3600"})
    assert muted.status_code == 200, muted.text
    assert await listed_ids(web, me_user, "blocks") == [bob.id, alice.id]
    assert await listed_ids(web, me_user, "mutes") == [bob.id, alice.id]

    listed = await me.http.get("/settings/blocks")
    assert listed.status_code == 200, listed.text
    assert 'href="/settings/blocks" aria-current="page"' in listed.text
    for other in (alice, bob):
        assert f'action="/settings/blocks/{other.id}/unblock"' in listed.text
        assert f'action="/settings/mutes/{other.id}/unmute"' in listed.text
        assert f'href="/@{other.username}"' in listed.text
        assert f'alt="Avatar of {other.username}"' in listed.text
        # Each button names whom it acts on, for a screen reader.
        assert f'Unblock<span class="visually-hidden"> @{other.username}</span>' in listed.text
        assert f'Unmute<span class="visually-hidden"> @{other.username}</span>' in listed.text
    assert carol.username not in listed.text
    mutes_section = listed.text.split('id="muted-heading"')[1]
    bob_mute, alice_mute = mutes_section.split('class="app-card"')[1:3]
    assert "Notifications shown" in bob_mute and "until <time datetime=" in bob_mute
    assert "Notifications hidden" in alice_mute and "no end date" in alice_mute
    assert "blocks_max_id" not in listed.text and "mutes_max_id" not in listed.text

    # Each section pages on its own, newest first, keeping the limit and the other's place.
    first = await me.http.get("/settings/blocks", params={"limit": "1"})
    assert f"/settings/blocks/{bob.id}/unblock" in first.text
    assert f"/settings/blocks/{alice.id}/unblock" not in first.text
    older = re.search(r'href="(/settings/blocks\?limit=1&amp;blocks_max_id=\d+)"', first.text)
    assert older is not None, first.text
    assert "mutes_max_id=" in first.text
    second = await me.http.get(older.group(1).replace("&amp;", "&"))
    assert f"/settings/blocks/{alice.id}/unblock" in second.text
    assert f"/settings/blocks/{bob.id}/unblock" not in second.text
    assert f"/settings/mutes/{bob.id}/unmute" in second.text  # mutes still on their first
    for bad in ("?blocks_max_id=nope", "?mutes_max_id=-1", "?limit=x"):
        refused = await me.http.get("/settings/blocks" + bad)
        assert refused.status_code == 422, bad
        assert "text/html" in refused.headers["content-type"]

    forged = await me.submit(f"/settings/blocks/{alice.id}/unblock", csrf=False)
    assert forged.status_code == 403
    forged = await me.submit(f"/settings/mutes/{alice.id}/unmute", csrf=False)
    assert forged.status_code == 403
    assert await listed_ids(web, me_user, "blocks") == [bob.id, alice.id]
    assert await listed_ids(web, me_user, "mutes") == [bob.id, alice.id]

    unblocked = await me.submit(f"/settings/blocks/{alice.id}/unblock")
    assert unblocked.status_code == 303
    assert unblocked.headers["location"] == "/settings/blocks"
    unmuted = await me.submit(f"/settings/mutes/{bob.id}/unmute")
    assert unmuted.status_code == 303
    assert unmuted.headers["location"] == "/settings/blocks"
    assert await listed_ids(web, me_user, "blocks") == [bob.id]
    assert await listed_ids(web, me_user, "mutes") == [alice.id]
    assert (await web.relationship(me_user, alice))["blocking"] is False
    after = await me.http.get("/settings/blocks")
    assert f"/settings/blocks/{alice.id}/unblock" not in after.text
    assert f"/settings/mutes/{bob.id}/unmute" not in after.text
    assert f"/settings/blocks/{bob.id}/unblock" in after.text

    # As the API: undoing what is not there changes nothing; no account is a 404.
    assert (await me.submit(f"/settings/blocks/{carol.id}/unblock")).status_code == 303
    assert (await me.submit(f"/settings/mutes/{carol.id}/unmute")).status_code == 303
    for action in ("/settings/blocks/nope/unblock", "/settings/mutes/-5/unmute",
                   "/settings/blocks/999999999999999/unblock",
                   "/settings/mutes/999999999999999/unmute"):
        missing = await me.submit(action)
        assert missing.status_code == 404, (action, missing.text)
        assert "That account does not exist." in missing.text
    assert await listed_ids(web, me_user, "blocks") == [bob.id]
    assert await listed_ids(web, me_user, "mutes") == [alice.id]

    signed_out = web.anonymous()
    for action in (f"/settings/blocks/{bob.id}/unblock", f"/settings/mutes/{alice.id}/unmute"):
        refused = await signed_out.post(action)
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/auth/sign_in?next=")
    assert await listed_ids(web, me_user, "blocks") == [bob.id]


# --- constant cost -----------------------------------------------------------------------


# Each page holds more than the small limit and fewer than the large: 5 and 12 rows.
PAGE_ITEMS = 12
# Measured on SQLite (its BEGINs counted: the session's read and the page's), then
# pinned: the session token and its account, the signed-in account for the status
# cards, then the API's own reads -- the profile: the account, the page's ids and
# hydration; notifications: the marker, the page, its accounts, hydration, the follow
# requests' relationships; search: accounts, hashtags and their histories, the status
# ids (two statements on PostgreSQL) and hydration; blocks: the block rows and their
# accounts, the mute rows and theirs (the author blocks and mutes 12 accounts).
MAX_STATEMENTS = {"profile": 13, "notifications": 14, "search": 16, "blocks": 9}


async def test_pages_cost_a_constant_number_of_statements(
    client: httpx.AsyncClient, count_statements: StatementCounter
) -> None:
    app = await register_app(client)
    author = await sign_up(client, app)
    fan = await sign_up(client, app)
    await follow(client, fan, author)
    for number in range(PAGE_ITEMS):
        posted = await post_status(client, author, f"costly words number {number}")
        await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=fan.headers)
    for _ in range(PAGE_ITEMS):
        other = await sign_up(client, app)
        for edge in ("block", "mute"):
            reply = await client.post(f"/api/v1/accounts/{other.id}/{edge}",
                                      headers=author.headers)
            assert reply.status_code == 200, reply.text
    me = await sign_in(client, author)
    pages = {
        "profile": f"/@{author.username}",
        "notifications": "/notifications",
        "search": "/search?q=costly",
        "blocks": "/settings/blocks",
    }
    for name, path in pages.items():
        counts = []
        for limit in (5, 40):
            await me.http.get(f"{path}{'&' if '?' in path else '?'}limit={limit}")  # warm
            count_statements.statements.clear()
            reply = await me.http.get(f"{path}{'&' if '?' in path else '?'}limit={limit}")
            assert reply.status_code == 200, reply.text
            counts.append(count_statements.count)
        assert counts[0] == counts[1], f"{name}: {counts}\n{count_statements.report()}"
        assert counts[1] <= MAX_STATEMENTS[name], f"{name}: {counts}\n" + (
            count_statements.report())
