"""The posting journey in a real browser, two people at once: A posts with an image and
its alt text; B follows A and, with /home open, sees A's next post arrive live (the
/home/stream events, a card fetched and announced) without reloading; B likes it from
the card and replies from its page, and the thread shows both."""

from __future__ import annotations

import re
import secrets

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e import screenshots
from tests.e2e.conftest import DESKTOP, TIMEOUT_MS
from tests.e2e.people import png, sign_up
from tests.support.server import RunningServer


def follow(page: Page, context: BrowserContext, server: RunningServer, username: str) -> None:
    """With the profile page's Follow button when it has one, else through the API with
    the session's own token (it is an OAuth token: roost.web.session)."""
    page.goto(f"/@{username}")
    button = page.get_by_role("button", name="Follow", exact=True)
    if button.count() > 0:
        button.click()
        expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
        return
    token = next(c["value"] for c in context.cookies() if c["name"] == "roost_session")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as api:
        found = api.get("/api/v1/accounts/lookup", params={"acct": username})
        assert found.status_code == 200, found.text
        followed = api.post(f"/api/v1/accounts/{found.json()['id']}/follow")
        assert followed.status_code == 200, followed.text


def test_post_with_image_follow_live_like_and_reply(
    page: Page, context: BrowserContext, browser: Browser, web_server: RunningServer
) -> None:
    alice, bob = f"alice_{secrets.token_hex(3)}", f"bob_{secrets.token_hex(3)}"
    sign_up(page, alice)

    # A posts with an image and its alt text, behind a content warning.
    page.get_by_label("Content warning").fill("Birds")
    page.get_by_label("What's on your mind?").fill("A teal square, as promised #roost")
    expect(page.locator("#compose-counter")).to_contain_text("characters left")
    page.get_by_label("Image", exact=False).first.set_input_files(
        files=[{"name": "teal.png", "mimeType": "image/png", "buffer": png((64, 48), "teal")}])
    page.get_by_label("Image description (alt text)").fill("A flat teal square")
    page.get_by_role("button", name="Post").click()
    expect(page).to_have_url(re.compile(r"/home$"))
    first = page.locator("article.status").first
    expect(first.locator("summary")).to_have_text("Birds")
    first.locator("summary").click()
    expect(first.get_by_role("img", name="A flat teal square")).to_be_visible()
    screenshots.save(page, "home")

    # B, in a browser context of its own, follows A and keeps /home open.
    other = browser.new_context(base_url=web_server.url, viewport=DESKTOP)
    other.set_default_timeout(TIMEOUT_MS)
    try:
        bobs = other.new_page()
        sign_up(bobs, bob)
        follow(bobs, other, web_server, alice)
        bobs.goto("/home")
        expect(bobs.locator("#timeline")).to_have_attribute("data-live", "connected")

        # A's next post reaches B's open page live, announced politely.
        page.goto("/home")
        page.get_by_label("What's on your mind?").fill("Hello live world")
        page.get_by_role("button", name="Post").click()
        expect(page).to_have_url(re.compile(r"/home$"))
        live = bobs.locator("article.status", has_text="Hello live world")
        expect(live).to_be_visible()
        expect(bobs.locator("#live-status")).to_contain_text("New post")
        assert bobs.evaluate("performance.getEntriesByType('navigation').length") == 1

        # B likes it from the card (the form posts and comes back to /home).
        live.get_by_role("button", name="Like").click()
        expect(bobs).to_have_url(re.compile(r"/home$"))
        liked = bobs.locator("article.status", has_text="Hello live world")
        expect(liked.get_by_role("button", name="Unlike")).to_be_visible()
        # (The count follows once the event is dispatched: counters are eventual.)

        # B replies from the status page; the thread shows A's post, then the reply.
        liked.get_by_role("link", name="Reply").click()
        expect(bobs).to_have_url(re.compile(rf"/@{alice}/\d+#reply$"))
        bobs.get_by_label("Your reply").fill(f"@{alice} lovely to see it live")
        bobs.get_by_role("button", name="Reply", exact=True).click()
        expect(bobs).to_have_url(re.compile(rf"/@{bob}/\d+$"))
        cards = bobs.locator("article.status")
        expect(cards).to_have_count(2)
        expect(cards.nth(0)).to_contain_text("Hello live world")
        expect(cards.nth(1)).to_contain_text("lovely to see it live")
        screenshots.save(bobs, "status")
    finally:
        other.close()
