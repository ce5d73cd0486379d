"""Screenshots of pages for docs/screenshots/ (shown in the README).

`save(page, name)` writes `docs/screenshots/{name}-desktop.png` and `{name}-phone.png` only
when ROOST_SCREENSHOTS=1, so that ordinary runs (CI included) never rewrite them:
    ROOST_SCREENSHOTS=1 .venv/bin/pytest -q tests/e2e
The page is resized to each width in turn and put back to its size afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}


def enabled() -> bool:
    return os.environ.get("ROOST_SCREENSHOTS") == "1"


def save(page: Page, name: str) -> None:
    if not enabled():
        return
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    try:
        for label, size in WIDTHS.items():
            page.set_viewport_size(size)
            page.screenshot(path=str(SCREENSHOT_DIR / f"{name}-{label}.png"), full_page=True)
    finally:
        if original is not None:
            page.set_viewport_size(original)
