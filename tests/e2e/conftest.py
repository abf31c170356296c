"""Browser tests drive Debian's Chromium through Playwright; no browser is ever downloaded.

Without /usr/bin/chromium the tests are skipped with a reason, except in CI (CI=true), where a
missing browser is a failure.
"""

import os
import shutil

import pytest

from keys import kinds
from tests.ci import missing
from tests.fakes import FakeKey
from tests.flows import VALID_DEV_KEY_ID, VALID_DEV_KEY_SECRET

CHROMIUM = os.getenv("KEYDROP_CHROMIUM", "/usr/bin/chromium")
# Playwright's sync API keeps an event loop running in the test thread; the ORM calls the
# tests make there (reading the mail outbox, checking rows) are plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def canvas_for_grants(fake_canvas, live_server, settings):
    """Keydrop completes grants at the live server's callback, against a fake Canvas."""
    settings.PORTAL_BASE_URL = live_server.url
    settings.PORTAL_DEVELOPER_KEY = {**settings.PORTAL_DEVELOPER_KEY, "redirect_uris": []}
    scopes = [scope for scope, _ in kinds.developer_key_setup("x")["scopes"]]
    callback = live_server.url + kinds.OAUTH_CALLBACK_PATH
    fake_canvas.add_key(VALID_DEV_KEY_ID, FakeKey(secret=VALID_DEV_KEY_SECRET, redirect_uris=[callback], scopes=scopes))
    return fake_canvas
