"""The social journey in a real browser, two people at once: B searches for A from the
header's search page, opens A's profile and follows; A sees the follow on the
notifications page; B posts, and A sees B's post on B's profile until A blocks B, after
which it is gone from A's view (and B sees nothing of A). A uploads an avatar in the
profile settings and the profile shows it."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Browser, Page, expect

from tests.e2e import screenshots
from tests.e2e.conftest import DESKTOP, TIMEOUT_MS
from tests.e2e.people import png, sign_up
from tests.support.server import RunningServer


def test_search_follow_notify_block_and_avatar(
    page: Page, browser: Browser, web_server: RunningServer
) -> None:
    alice, bob = f"alice_{secrets.token_hex(3)}", f"bob_{secrets.token_hex(3)}"
    sign_up(page, alice)
    page.goto("/settings/profile")
    page.get_by_label("Display name").fill("Alice Example")
    page.get_by_label("Bio").fill("Watching birds <b>and</b> writing code")
    page.get_by_label("Avatar", exact=False).set_input_files(
        files=[{"name": "me.png", "mimeType": "image/png", "buffer": png((120, 90), "orange")}])
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(r"/settings/profile\?saved=1$"))
    expect(page.get_by_role("status")).to_contain_text("saved")
    screenshots.save(page, "settings-profile")
    page.goto(f"/@{alice}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Alice Example")
    expect(page.locator(".profile-note")).to_contain_text("<b>and</b>")  # shown, not markup
    avatar = page.get_by_role("img", name="Alice Example's avatar")
    assert "avatar-missing" not in (avatar.get_attribute("src") or "")
    assert avatar.evaluate("img => img.naturalWidth") == 400

    other = browser.new_context(base_url=web_server.url, viewport=DESKTOP)
    other.set_default_timeout(TIMEOUT_MS)
    try:
        bobs = other.new_page()
        sign_up(bobs, bob)
        bobs.get_by_label("What's on your mind?").fill("Bob's first words")
        bobs.get_by_role("button", name="Post").click()
        expect(bobs).to_have_url(re.compile(r"/home$"))

        # B finds A through the search page and follows from the profile.
        bobs.get_by_role("link", name="Search").first.click()
        bobs.get_by_label("Search for people", exact=False).fill(alice)
        bobs.get_by_label("Search for people", exact=False).press("Enter")
        expect(bobs).to_have_url(re.compile(r"/search\?q="))
        result = bobs.get_by_role("link", name=re.compile("Alice Example"))
        expect(result).to_be_visible()
        screenshots.save(bobs, "search")
        result.click()
        expect(bobs).to_have_url(re.compile(rf"/@{alice}$"))
        bobs.get_by_role("button", name="Follow", exact=True).click()
        expect(bobs).to_have_url(re.compile(rf"/@{alice}$"))
        expect(bobs.get_by_role("button", name="Unfollow")).to_be_visible()
        screenshots.save(bobs, "profile")

        # A sees the follow among the notifications, new.
        web_server.settle()
        page.goto("/notifications")
        follow_note = page.locator("li.notification-follow").first
        expect(follow_note).to_contain_text("followed you")
        expect(follow_note).to_contain_text(bob)
        expect(follow_note).to_have_class(re.compile("unread"))
        screenshots.save(page, "notifications")

        # A sees B's post on B's profile, then blocks B: the post is gone from A's view.
        page.goto(f"/@{bob}")
        expect(page.locator("article.status", has_text="Bob's first words")).to_be_visible()
        page.get_by_role("button", name="Block").click()
        expect(page).to_have_url(re.compile(rf"/@{bob}$"))
        expect(page.get_by_role("button", name="Unblock")).to_be_visible()
        expect(page.locator("article.status", has_text="Bob's first words")).to_have_count(0)
        page.goto("/notifications")
        expect(page.locator("li.notification-follow")).to_have_count(0)

        # And B, blocked, sees nothing of A's and has no Follow button.
        bobs.goto(f"/@{alice}")
        expect(bobs.get_by_role("button", name="Follow", exact=True)).to_have_count(0)
        expect(bobs.get_by_role("button", name="Unfollow")).to_have_count(0)

        page.goto("/explore")
        expect(page.get_by_role("heading", level=1)).to_have_text("Explore")
        screenshots.save(page, "explore")
    finally:
        other.close()
