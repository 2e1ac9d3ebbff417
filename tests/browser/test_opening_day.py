"""A family without JavaScript prepares its application before opening, sends it at opening,
sees its number in the queue on a page that refreshes itself, then the outcome.

The served app runs with ``ALLOCATION=worker``: the test plays the allocator (``drain``) while
the page waits. Accessibility is checked with axe-core on the same pages in a JavaScript page.
"""

from __future__ import annotations

import datetime as dt

import pytest
from browser_helpers import log_in

from inscriptions.allocation.worker import drain

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"  # make_household's accounts (tests/conftest.py)
PHONE_VIEWPORT = {"width": 390, "height": 844}

BEFORE_OPENING = dt.datetime(2026, 8, 20, 10, 0, tzinfo=dt.UTC)
# The cinema opens on 1 September 2026 at 08:30 in Villebelle (06:30 UTC).
AT_OPENING = dt.datetime(2026, 9, 1, 6, 30, 2, tzinfo=dt.UTC)


def test_prepare_then_send_at_opening_then_follow_it_without_javascript(  # type: ignore[no-untyped-def]
        server_url, server_app, app, browser, make_household, frozen_clock, check_accessibility) -> None:
    server_app.config["ALLOCATION"] = "worker"
    frozen_clock(BEFORE_OPENING)
    family = make_household(last_name="Bernard", children=[])
    email = family.guardians[0].email
    context = browser.new_context(viewport=PHONE_VIEWPORT, locale="fr-FR", java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, server_url, email, PASSWORD)

        # The form, filled two weeks before opening.
        page.goto(server_url + "/services/cinema/inscription")
        assert page.locator("text=préparer votre demande dès maintenant").count() == 1
        page.locator("input[name=session][value='2027-01-16']").check()
        with page.expect_navigation():
            page.click("form.wizard-form button[type=submit]")
        page.fill("#child_seats", "2")
        page.fill("#adult_seats", "1")
        page.locator("input[name=snack_allergy][value=no]").check()
        with page.expect_navigation():
            page.click("form.wizard-form button[name=_action][value=next]")
        assert "/recapitulatif" in page.url
        assert page.locator("text=Les inscriptions ouvriront le").count() >= 1

        # Prepared: checked and kept; the send button says when it opens.
        with page.expect_navigation():
            page.click("button:has-text('Préparer ma demande')")
        assert "/demandes/" in page.url
        application_url = page.url
        assert page.locator("h2:has-text('Votre demande est prête')").count() == 1
        send = page.locator("button:has-text('Envoi possible à partir du')")
        assert send.is_disabled()

        # Opening minute: the family reloads and sends.
        frozen_clock(AT_OPENING)
        page.reload()
        with page.expect_navigation():
            page.click("button:has-text('Envoyer ma demande')")
        assert page.url == application_url
        assert page.locator("text=n° 1 dans la file d'attente").count() == 1
        assert page.locator("text=cette page se met à jour toute seule").count() == 1

        # The allocator decides; the page refreshes itself (meta refresh: no JavaScript here).
        with app.app_context():
            assert drain("cinema") == 1
        page.wait_for_selector("h2:has-text('La réponse')", timeout=15_000)
        assert page.locator("text=Une place était libre").count() == 1
        assert page.locator("text=n° 1 dans la file d'attente").count() == 1
    finally:
        context.close()

    # The same pages, in a browser with JavaScript, pass axe-core.
    checked = browser.new_context(viewport=PHONE_VIEWPORT, locale="fr-FR")
    try:
        page = checked.new_page()
        log_in(page, server_url, email, PASSWORD)
        page.goto(application_url)
        check_accessibility(page)
    finally:
        checked.close()
