"""Browser tests: the real app served on a local port, driven in Debian's Chromium.

No browser is ever downloaded: Playwright launches ``/usr/bin/chromium``. Every page visited
can be checked with axe-core (bundled in the ``axe-playwright-python`` package).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE_VIEWPORT = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


@pytest.fixture
def server_url(make_app: Callable[..., Flask]) -> Iterator[str]:
    """Serve a fresh app (this test's database) on a free local port, in a thread."""
    app = make_app(SERVER_NAME=None)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required for browser tests (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone_page(browser):  # type: ignore[no-untyped-def]
    """A page in a phone-sized (390 px wide) window."""
    context = browser.new_context(viewport=PHONE_VIEWPORT, locale="fr-FR", bypass_csp=False)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def axe():  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@pytest.fixture
def check_accessibility(axe) -> Callable[..., None]:  # type: ignore[no-untyped-def]
    """Assert the current page has no serious or critical axe-core violation."""
    checked: list[str] = []

    def check(page) -> None:  # type: ignore[no-untyped-def]
        results = axe.run(page)
        bad = [
            v for v in results.response["violations"] if v.get("impact") in {"serious", "critical"}
        ]
        details = "\n".join(
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
            for v in bad
        )
        assert not bad, f"accessibility violations on {page.url}:\n{details}"
        checked.append(page.url)

    check.checked = checked  # type: ignore[attr-defined]
    return check
