"""A real browser for the admin console's tests: Playwright driving Debian's chromium.

A test module imports the fixtures (`from tests.support.browser import browser_fixture, page_fixture`),
so that only the browser tests start a browser. Tests ask for them as `browser` and `page`; the
functions have other names so that a test's `page` argument shadows no import. Playwright never
downloads a browser of its own here: `make tools` (and `.ci/run`) install Debian's `chromium`.

Screenshots go to test-artifacts/screenshots/ (git-ignored): one per step that `snap` names, and
one named after a test that failed, taken as the page stood when it failed.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

# Playwright's sync API drives its event loop from the test's own thread and, between two calls,
# leaves that loop marked as running in the thread. Django takes a running loop to mean "async
# context" and refuses ORM calls there (SynchronousOnlyOperation), although the test code is
# plain synchronous code that merely shares a thread with an idle loop. The browser lives for the
# whole session, so every test after the first browser test runs beside that loop: the switch
# has to be on for the session, which is why it is set here, at import, and never unset.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Long enough for a dry run or a pull to finish inside the request that launches it.
ACTION_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Browser]:
    """Debian's chromium, headless, started once for the module that uses it: Playwright's
    sync API keeps an event loop running in the main thread while it is open, which would make
    Django refuse async views (/readyz) in the tests that come after."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make tools` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# How chromium's console reports what the content security policy refused ("Refused to execute
# inline script because it violates the following Content Security Policy directive: ...").
CSP_VIOLATION = "Content Security Policy"


@pytest.fixture(name="csp_violations")
def csp_violations_fixture() -> list[str]:
    """What the page's console said the content security policy refused, in order."""
    return []


@pytest.fixture(name="page")
def page_fixture(
    browser: Browser, live_server, request: pytest.FixtureRequest, csp_violations: list[str]
) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies) pointed at the live server.

    Relative URLs (`page.goto("/admin/")`) go to the live server. A test that fails leaves a
    screenshot named after it. Every browser test also fails when the content security policy
    refused anything on its pages (`csp_violations`), since the page then works only in part.
    """
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    tab = context.new_page()
    tab.on(
        "console",
        lambda message: (
            csp_violations.append(message.text) if CSP_VIOLATION in message.text else None
        ),
    )
    failures_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failures_before:
        with contextlib.suppress(PlaywrightError):  # a crashed page has nothing to show
            snap(tab, "FAILED-" + re.sub(r"[^\w.-]+", "_", request.node.name))
    context.close()
    if csp_violations:  # a test that provokes one on purpose clears the list
        pytest.fail("The content security policy refused:\n" + "\n".join(csp_violations))


def snap(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as test-artifacts/screenshots/<name>.png: the whole page, or only what
    the window shows (readable where a long page would shrink to a thumbnail)."""
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def login(page: Page, live_server_url: str, username: str, password: str) -> None:
    """Log in through the Django admin's own login form, as a person would."""
    page.goto(f"{live_server_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-form [type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)
