"""The account journey in a real browser: sign up, land signed in, sign out, sign in again;
then the keyboard alone: the first Tab reaches the skip link, every sign-in field has a
label, and the form submits from the keyboard."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from tests.e2e import screenshots
from tests.e2e.conftest import DESKTOP, PHONE
from tests.support.server import RunningServer

PASSWORD = "correct horse battery"


def test_sign_up_sign_out_sign_in_and_keyboard(page: Page, web_server: RunningServer) -> None:
    username = f"web_{secrets.token_hex(4)}"
    email = f"{username}@example.com"

    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Roost")
    screenshots.save(page, "landing")
    # A 360 px phone: nothing wider than the screen.
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.set_viewport_size(DESKTOP)

    # Sign up: the form's problems are shown with the fields kept, then it goes through.
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/auth/sign_up$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("short")
    page.get_by_label("I agree to the server's rules and terms").check()
    # The browser's own checks (minlength) would stop the short password before the
    # server saw it; the server's message is what is under test here.
    page.locator("form.stacked").evaluate("form => form.noValidate = true")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#password-error")).to_contain_text("too short")
    expect(page.get_by_label("Username")).to_have_value(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I agree to the server's rules and terms").check()
    page.get_by_role("button", name="Sign up").click()

    # Lands signed in (on /home, whatever that page shows today).
    expect(page).to_have_url(re.compile(r"/home$"))
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["roost_session"]["httpOnly"] is True
    assert cookies["roost_session"]["sameSite"] == "Lax"

    # Sign out from the header, there as on every page.
    page.goto("/auth/sign_in")  # signed in: sent on, to /home
    expect(page).to_have_url(re.compile(r"/home$"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/$"))
    assert "roost_session" not in {cookie["name"] for cookie in page.context.cookies()}

    # Sign in again, with the keyboard only.
    page.goto("/auth/sign_in")
    screenshots.save(page, "sign-in")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    expect(page.locator(".skip-link")).to_be_in_viewport()
    for field in page.locator("main input:not([type=hidden])").all():
        field_id = field.get_attribute("id")
        assert field_id and page.locator(f"label[for='{field_id}']").count() == 1
    page.keyboard.press("Enter")  # the skip link moves focus to main
    login = page.get_by_label("Email or username")
    login.focus()
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/home$"))

    # A wrong password is refused with a message, on the page.
    page.context.clear_cookies()
    page.goto("/auth/sign_in")
    page.get_by_label("Email or username").fill(email)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong email, username or password")
