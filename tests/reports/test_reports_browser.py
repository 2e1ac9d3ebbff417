"""The reports pages in a real Chromium: charts drawn under the strict CSP (no violation reported),
no serious axe-core accessibility violation, the count form used with the keyboard alone."""

from __future__ import annotations

import datetime as dt

import pytest
from browser_helpers import log_in
from reports_helpers import CANTEEN, POOL

from inscriptions.permissions import grant_role

pytestmark = pytest.mark.browser

PASSWORD = "mot de passe du responsable"
MANAGER = "responsable.piscine@mairie.test"


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    """A desktop-sized page, in the run's one Chromium (fixture ``browser`` in tests/conftest.py)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    yield context.new_page()
    context.close()


def _serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v.get("impact") in {"serious", "critical"}]


def test_reports_pages_in_a_browser(server_url, page, app, make_household, book) -> None:
    grant_role(MANAGER, "manager", "piscine", password=PASSWORD)
    grant_role(MANAGER, "manager", "cantine")
    for n, (last, session, channel) in enumerate([("Martin", "mer-14h", "web"), ("Durand", "sam-10h", "counter"),
                                                   ("Petit", "mer-14h", "paper")]):
        household = make_household(last_name=last, children=[("Enfant", dt.date(2017, 1, 1 + n))])
        book(household, "piscine", POOL, session=session, channel=channel, status="accepted")
    book(make_household(last_name="Roux"), "cantine", CANTEEN)

    csp_errors: list[str] = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)

    log_in(page, server_url, MANAGER, PASSWORD)

    page.goto(server_url + "/gestion/piscine/rapports")
    assert page.locator("#chart-per-day rect").count() == 30
    assert page.locator("#chart-fill rect").count() == 4
    box = page.locator("#chart-channels").bounding_box()
    assert box is not None and box["width"] > 300  # drawn, sized by the stylesheet
    assert _serious_violations(page) == []

    # The canteen's meal count, then a count picked with the keyboard alone.
    page.goto(server_url + "/gestion/cantine/rapports/comptages?report=repas")
    assert page.locator("#count-table").is_visible()
    assert _serious_violations(page) == []
    page.goto(server_url + "/gestion/cantine/rapports/comptages")
    page.focus("#group-1")
    page.keyboard.press("Space")  # the child's school
    page.focus("#count-form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator('#count-table tr[data-group="École Jules-Ferry"]').count() == 1
    assert _serious_violations(page) == []
    assert csp_errors == []
