"""What the browser journeys do the same way: sign a new person up through the page,
and make a small picture to upload."""

from __future__ import annotations

import io
import re

from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery"


def sign_up(page: Page, username: str) -> None:
    page.goto("/auth/sign_up")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("I agree to the server's rules and terms").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/home$"))


def png(size: tuple[int, int], colour: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()
