"""With JavaScript switched off, a person can still read and post: every form posts and
redirects (303), so sign-up, the composer, likes, replies and following need no script."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Browser, expect

from tests.e2e.conftest import DESKTOP, TIMEOUT_MS
from tests.e2e.people import sign_up
from tests.support.server import RunningServer


def test_read_post_like_reply_and_follow_without_javascript(
    browser: Browser, web_server: RunningServer
) -> None:
    context = browser.new_context(base_url=web_server.url, viewport=DESKTOP,
                                  java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        carol, dave = f"carol_{secrets.token_hex(3)}", f"dave_{secrets.token_hex(3)}"
        sign_up(page, dave)
        page.get_by_label("What's on your mind?").fill("Dave writes without scripts")
        page.get_by_role("button", name="Post").click()
        page.get_by_role("button", name="Sign out").click()

        sign_up(page, carol)
        page.get_by_label("What's on your mind?").fill("Posted with JavaScript off")
        page.get_by_role("button", name="Post").click()
        expect(page).to_have_url(re.compile(r"/home$"))
        mine = page.locator("article.status").first
        expect(mine).to_contain_text("Posted with JavaScript off")

        page.goto(f"/@{dave}")
        page.get_by_role("button", name="Follow", exact=True).click()
        expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
        daves = page.locator("article.status").first
        expect(daves).to_contain_text("Dave writes without scripts")
        daves.get_by_role("button", name="Like").click()
        expect(page.locator("article.status").first.get_by_role("button", name="Unlike")
               ).to_be_visible()

        page.locator("article.status").first.get_by_role("link", name="Reply").click()
        page.get_by_label("Your reply").fill("Replying without scripts too")
        page.get_by_role("button", name="Reply", exact=True).last.click()
        expect(page.get_by_text("Replying without scripts too")).to_be_visible()

        page.goto("/home")  # the followed account's post is on the home timeline
        expect(page.locator("article.status", has_text="Dave writes without scripts")
               ).to_be_visible()
    finally:
        context.close()
