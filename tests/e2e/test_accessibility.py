"""Accessibility of the web pages, checked by tools rather than by eye.

axe-core (npm `axe-core`, pinned in tests/e2e/axe/package.json, installed by
`make install-dev`) runs in the browser on every main page, with realistic content on it
(two people, a post with an image and its alt text, a reply, a like, a follow, a post
behind a content warning), in the light and the dark colour scheme, and the home page also
at phone width. Any violation of the WCAG 2.0/2.1 A and AA rules fails, naming the rule,
its impact, the first elements it found, the page and the scheme.

A keyboard journey then posts and likes with the keyboard only, and checks that focused
links, buttons and fields show a focus indicator.

Without the axe-core files the axe tests are skipped, or fail under CI
(tests/support/services.unavailable), like masto.js in tests/clients/test_masto_js.py.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import pytest
from fastapi.routing import APIRoute
from playwright.sync_api import Browser, BrowserContext, Page, StorageState, expect

from roost.web.pages.settings import router as settings_router
from tests.e2e.conftest import DESKTOP, PHONE, TIMEOUT_MS
from tests.e2e.people import png, sign_up
from tests.support.server import RunningServer
from tests.support.services import unavailable

AXE_JS = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
ColourScheme = Literal["light", "dark"]
SCHEMES: list[ColourScheme] = ["light", "dark"]
TARGETS_SHOWN = 3


def _axe_script() -> Path:
    if not AXE_JS.exists():
        unavailable(
            "axe-core",
            "tests/e2e/axe/node_modules is missing: "
            "run `make install-dev` (npm ci --prefix tests/e2e/axe)",
        )
    return AXE_JS


@dataclass(frozen=True)
class Content:
    """What the setup made: `viewer` is the person whose pages are checked, `friend` the
    other one; `post_id` is the viewer's post with an image, which `friend` liked and
    replied to. `storage_state` keeps the viewer signed in in every new context."""

    viewer: str
    friend: str
    post_id: str
    app_query: str
    storage_state: StorageState


def _post(
    page: Page, text: str, *, spoiler: str = "", image: bytes | None = None, alt: str = ""
) -> str:
    page.goto("/home")
    composer = page.locator("form#compose")
    if spoiler:
        composer.get_by_label("Content warning").fill(spoiler)
    composer.get_by_label("What's on your mind?").fill(text)
    if image is not None:
        composer.locator("input[type=file]").set_input_files(
            files=[{"name": "picture.png", "mimeType": "image/png", "buffer": image}]
        )
        composer.get_by_label("Image description (alt text)").fill(alt)
    composer.get_by_role("button", name="Post").click()
    expect(page).to_have_url(re.compile(r"/home$"))
    card = page.locator("article.status", has_text=spoiler or text).first
    status_id = card.get_attribute("data-status-id")
    assert status_id, f"no card for the new post {text!r}"
    return status_id


def _follow(page: Page, username: str) -> None:
    page.goto(f"/@{username}")
    page.get_by_role("button", name="Follow", exact=True).click()
    expect(page.get_by_role("button", name="Unfollow")).to_be_visible()


def _register_app(page: Page) -> str:
    """An OAuth app through POST /api/v1/apps; the query string of its authorize page."""
    redirect_uri = "urn:ietf:wg:oauth:2.0:oob"
    response = page.request.post(
        "/api/v1/apps",
        data={
            "client_name": "Accessibility checker",
            "redirect_uris": redirect_uri,
            "scopes": "read write",
            "website": "https://example.com/checker",
        },
    )
    assert response.ok, response.text()
    return urlencode(
        {
            "client_id": response.json()["client_id"],
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "read write",
        }
    )


@pytest.fixture(scope="module")
def content(browser: Browser, web_server: RunningServer) -> Iterator[Content]:
    """Two people and the content that makes every page show its parts: built once for
    the module through the pages themselves."""
    viewer, friend = f"ada_{secrets.token_hex(3)}", f"ben_{secrets.token_hex(3)}"
    setup = browser.new_context(base_url=web_server.url, viewport=DESKTOP)
    setup.set_default_timeout(TIMEOUT_MS)
    other = browser.new_context(base_url=web_server.url, viewport=DESKTOP)
    other.set_default_timeout(TIMEOUT_MS)
    try:
        mine, theirs = setup.new_page(), other.new_page()
        sign_up(mine, viewer)
        sign_up(theirs, friend)
        post_id = _post(
            mine,
            "A heron by the river #birds",
            image=png((160, 120), "teal"),
            alt="A grey heron standing in shallow water",
        )
        spoiler_id = _post(theirs, "How the film ends", spoiler="Film spoilers")
        # Many people post pictures without a description: the page must still name them.
        _post(theirs, "Sunset from the balcony", image=png((120, 160), "orange"))
        _follow(mine, friend)
        # The viewer's own like and boost: pressed buttons and a "boosted" line on home.
        mine.goto(f"/@{friend}/{spoiler_id}")
        mine.locator(f"#status-{spoiler_id}").get_by_role("button", name="Like").click()
        mine.goto(f"/@{friend}/{spoiler_id}")
        mine.locator(f"#status-{spoiler_id}").get_by_role("button", name="Boost").click()
        _follow(theirs, viewer)
        theirs.goto(f"/@{viewer}/{post_id}")
        theirs.locator(f"#status-{post_id}").get_by_role("button", name="Like").click()
        theirs.goto(f"/@{viewer}/{post_id}")
        theirs.locator("form#reply textarea").fill(f"@{viewer} Lovely picture!")
        theirs.locator("form#reply").get_by_role("button", name="Reply").click()
        # Someone blocked and someone muted, for the settings' lists.
        for action in ("Block", "Mute"):
            stranger = f"{action.lower()}ed_{secrets.token_hex(3)}"
            elsewhere = browser.new_context(base_url=web_server.url)
            elsewhere.set_default_timeout(TIMEOUT_MS)
            try:
                sign_up(elsewhere.new_page(), stranger)
            finally:
                elsewhere.close()
            mine.goto(f"/@{stranger}")
            mine.get_by_role("button", name=action, exact=True).click()
            expect(mine.get_by_role("button", name=f"Un{action.lower()}")).to_be_visible()
        app_query = _register_app(mine)
        web_server.settle()
        yield Content(viewer, friend, post_id, app_query, setup.storage_state())
    finally:
        other.close()
        setup.close()


@dataclass(frozen=True)
class SchemePages:
    """A signed-in and a signed-out page in one colour scheme, reused for every page
    checked in it (a new context per check would double the run time)."""

    scheme: ColourScheme
    signed_in: Page
    signed_out: Page


@pytest.fixture(scope="module")
def axe_script() -> Path:
    """Skips (or fails under CI) before any content is made when axe-core is missing."""
    return _axe_script()


@pytest.fixture(scope="module", params=SCHEMES)
def pages(
    request: pytest.FixtureRequest,
    axe_script: Path,
    browser: Browser,
    web_server: RunningServer,
    content: Content,
) -> Iterator[SchemePages]:
    scheme: ColourScheme = request.param
    contexts: list[BrowserContext] = []

    def new_page(storage_state: StorageState | None) -> Page:
        # bypass_csp: axe is injected by the test as a <script>, which the page's own
        # Content-Security-Policy rightly refuses; that CSP stays covered by the other
        # journeys and tests/web, whose contexts do not bypass it.
        context = browser.new_context(
            base_url=web_server.url,
            viewport=DESKTOP,
            color_scheme=scheme,
            bypass_csp=True,
            storage_state=storage_state,
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    try:
        yield SchemePages(scheme, new_page(content.storage_state), new_page(None))
    finally:
        for context in contexts:
            context.close()


# Signed-in pages: name → path, from the content made by the fixture.
SIGNED_IN: dict[str, Callable[[Content], str]] = {
    "home": lambda c: "/home",
    "public": lambda c: "/public",
    "tag": lambda c: "/tags/birds",
    "status-thread": lambda c: f"/@{c.viewer}/{c.post_id}",
    "profile": lambda c: f"/@{c.viewer}",
    "profile-friend": lambda c: f"/@{c.friend}",
    "followers": lambda c: f"/@{c.viewer}/followers",
    "following": lambda c: f"/@{c.viewer}/following",
    "notifications": lambda c: "/notifications",
    "search": lambda c: f"/search?q={c.friend}",
    "search-tag": lambda c: "/search?q=%23birds",
    "explore": lambda c: "/explore",
    "oauth-authorize": lambda c: f"/oauth/authorize?{c.app_query}",
}
# Every settings page, from its router, so that a new one is checked without a change here.
SIGNED_IN.update(
    {
        path.strip("/").replace("/", "-"): (lambda c, path=path: path)
        for path in sorted(
            route.path
            for route in settings_router.routes
            if isinstance(route, APIRoute)
            and "GET" in route.methods
            and "{" not in route.path
            and route.path != "/settings"
        )
    }
)
SIGNED_OUT = {
    "landing": "/",
    "sign-in": "/auth/sign_in",
    "sign-up": "/auth/sign_up",
    "explore-signed-out": "/explore",
}


def _violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE_JS))
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
          const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
          return results.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
            targets: v.nodes.map((node) => node.target.join(" ")),
          }));
        }""",
        AXE_TAGS,
    )
    return found


def _check(page: Page, path: str, scheme: str) -> None:
    """Opens `path` and fails with every axe violation found on it."""
    response = page.goto(path)
    assert response is not None and response.ok, f"{path}: {response and response.status}"
    _assert_clean(page, scheme)


def _assert_clean(page: Page, scheme: str) -> None:
    found = _violations(page)
    report = "\n".join(
        f"  {v['id']} ({v['impact']}): {v['help']}; {v['count']} element(s): "
        + ", ".join(v["targets"][:TARGETS_SHOWN])
        for v in found
    )
    assert not found, f"axe found violations on {page.url} ({scheme} scheme):\n{report}"


@pytest.mark.parametrize("name", list(SIGNED_IN))
def test_signed_in_page_has_no_axe_violations(
    pages: SchemePages, content: Content, name: str
) -> None:
    _check(pages.signed_in, SIGNED_IN[name](content), pages.scheme)
    if name == "notifications":  # the content is there (new in the first scheme, then read)
        for kind in ("follow", "favourite", "mention"):
            expect(pages.signed_in.locator(f"li.notification-{kind}")).not_to_have_count(0)


def test_home_at_phone_width_has_no_axe_violations(pages: SchemePages) -> None:
    pages.signed_in.set_viewport_size(PHONE)
    try:
        _check(pages.signed_in, "/home", pages.scheme)
        # Reflow (WCAG 1.4.10), which axe does not check: nothing scrolls sideways.
        overflow = pages.signed_in.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"/home at {PHONE['width']} px scrolls sideways by {overflow} px"
    finally:
        pages.signed_in.set_viewport_size(DESKTOP)


@pytest.mark.parametrize("name", list(SIGNED_OUT))
def test_signed_out_page_has_no_axe_violations(pages: SchemePages, name: str) -> None:
    _check(pages.signed_out, SIGNED_OUT[name], pages.scheme)


def test_forms_showing_errors_have_no_axe_violations(pages: SchemePages, content: Content) -> None:
    """Refused forms add messages and invalid fields that the pages above never show."""
    page = pages.signed_out
    page.goto("/auth/sign_in")
    page.get_by_label("Email or username").fill(content.viewer)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    _assert_clean(page, pages.scheme)

    page.goto("/auth/sign_up")
    # Values the browser's own checks would stop, so that the server's messages show.
    for field in ("#username", "#new-password"):
        page.locator(field).evaluate("field => field.removeAttribute('pattern')")
        page.locator(field).evaluate("field => field.removeAttribute('minlength')")
    page.get_by_label("Username").fill("not a name!")
    page.get_by_label("Email").fill(f"{secrets.token_hex(4)}@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_label("I agree to the server's rules and terms").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_be_visible()
    username = page.get_by_label("Username")
    expect(username).to_have_attribute("aria-invalid", "true")
    # The hint and the problem are both read with the field.
    expect(username).to_have_accessible_description(re.compile(r"^Letters, numbers.+\S"))
    _assert_clean(page, pages.scheme)

    page = pages.signed_in
    page.goto("/home")
    page.locator("form#compose textarea").fill("x" * 600)  # over the limit: counter and error
    _assert_clean(page, pages.scheme)
    page.locator("form#compose").get_by_role("button", name="Post").click()
    expect(page.get_by_role("alert")).to_be_visible()
    _assert_clean(page, pages.scheme)


# --- Keyboard only -------------------------------------------------------------------------

# What the focused element is, whether it can be seen, and whether it shows where focus is.
FOCUSED_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {
    tag: el.tagName.toLowerCase(),
    type: el.getAttribute("type") || "",
    id: el.id,
    text: (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 40),
    label: el.labels && el.labels.length ? el.labels[0].innerText.trim() : "",
    card: el.closest("article.status")?.dataset.statusId || "",
    visible: box.width > 0 && box.height > 0 && style.visibility !== "hidden"
             && box.bottom > 0 && box.right > 0 && box.left < innerWidth,
    indicator: (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0)
               || style.boxShadow !== "none",
  };
}"""
MAX_TABS = 80


def _tab_until(
    page: Page,
    wanted: Callable[[dict[str, Any]], bool],
    seen: list[dict[str, Any]],
    key: str = "Tab",
) -> dict[str, Any]:
    """Presses `key` until the focused element is `wanted`; every stop on the way must be
    visible and show a focus indicator (a hidden control taking focus is a bug)."""
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        focused: dict[str, Any] | None = page.evaluate(FOCUSED_JS)
        if focused is None:
            continue
        seen.append(focused)
        assert focused["visible"], f"focus went to an element nobody can see: {focused}"
        assert focused["indicator"], f"no visible focus indicator on {focused}"
        if wanted(focused):
            return focused
    stops = "\n".join(f"  {stop}" for stop in seen[-MAX_TABS:])
    raise AssertionError(f"{MAX_TABS} presses of {key} never reached it; focus went to:\n{stops}")


def test_post_and_like_with_the_keyboard_only(page: Page) -> None:
    sign_up(page, f"keys_{secrets.token_hex(3)}")
    page.goto("/home")
    seen: list[dict[str, Any]] = []

    # The first Tab reaches the skip link, and the composer comes before the timeline.
    first = _tab_until(page, lambda f: True, seen)
    assert first["text"] == "Skip to content", first
    _tab_until(page, lambda f: f["id"] == "compose-text", seen)
    assert not any(stop["card"] for stop in seen), "focus went through posts before the composer"
    text = f"Typed, not clicked {secrets.token_hex(3)}"
    page.keyboard.type(text)
    # Backwards is the same order: Shift+Tab from the text goes to the content warning.
    back = _tab_until(page, lambda f: True, seen, key="Shift+Tab")
    assert back["id"] == "compose-cw", back
    _tab_until(page, lambda f: f["id"] == "compose-text", seen)
    _tab_until(page, lambda f: f["tag"] == "button" and f["text"] == "Post", seen)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/home$"))
    card = page.locator("article.status", has_text=text)
    expect(card).to_be_visible()
    new_id = card.get_attribute("data-status-id")

    # From the top of the reloaded page to the new post's Like button, pressed with Space.
    _tab_until(page, lambda f: f["card"] == new_id and f["text"] == "Like", seen)
    page.keyboard.press("Space")
    expect(page).to_have_url(re.compile(r"/home$"))
    expect(page.locator(f"#status-{new_id}").get_by_role("button", name="Unlike")).to_be_visible()

    kinds = {stop["tag"] for stop in seen}
    assert {"a", "button", "input", "textarea"} <= kinds, kinds
