"""Browser journeys: Playwright (sync API) driving Debian's Chromium against a real server.

Chromium comes from Debian's `chromium` package at /usr/bin/chromium (deploy/
install-chromium.sh, run by .ci/run), launched through `executable_path`; Playwright's own
browser downloads are never used. Without it the journeys fail under CI and are skipped
elsewhere, like every other service the suite needs (tests/support/services.unavailable).

The sync API is used from plain (non-async) tests and fixtures: it refuses to run inside a
running asyncio loop, and pytest-asyncio's session loop only runs during async tests and
fixtures, never during these. While it is started, though, its own loop counts as the
thread's running loop, and every async test would then fail ("cannot be called from a
running event loop"). So Playwright and the browser are package-scoped: one browser serves
every journey in tests/e2e (starting Chromium is the slow part), and it is stopped before
the suite moves on to other packages' async tests. Each test gets a fresh context
(cookies, storage) and page.

The server is a `roost serve` of its own on a SQLite database of its own: embedded, so its
live streams hear its own events, and nothing other tests do shows up on its pages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.server import RunningServer, start_server
from tests.support.services import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
TIMEOUT_MS = 30_000

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("Playwright", f"{exc} (pip install -e '.[dev]')")
        raise  # unreachable: unavailable() skips or fails
    if not os.access(CHROMIUM, os.X_OK):
        unavailable("Chromium", f"{CHROMIUM} is missing (deploy/install-chromium.sh)")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield launched
    launched.close()


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("web-server"), None,
                           ROOST_LOG_LEVEL="warning")
    yield running
    running.stop()


@pytest.fixture
def context(browser: Browser, web_server: RunningServer) -> Iterator[BrowserContext]:
    fresh = browser.new_context(base_url=web_server.url, viewport=DESKTOP)
    fresh.set_default_timeout(TIMEOUT_MS)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
