"""The review queue in Chromium: on a 1280 px wide screen the page and its table fit without
horizontal scrolling, with long names, long session and status labels and a full page of rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from browser_helpers import log_in
from flask import Flask

from inscriptions.extensions import db
from inscriptions.models import Child, Guardian, Household, Registration, Status
from inscriptions.permissions import grant_role
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations

pytestmark = pytest.mark.browser

PASSWORD = "mot de passe du responsable"
MANAGER = "responsable.revue@mairie.test"
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def server_app(make_app, plugins_dir: Path) -> Flask:  # type: ignore[no-untyped-def]
    """The served app reads this folder's small services (``revue``)."""
    return make_app(SERVER_NAME=None, PLUGINS_DIR=plugins_dir)


def _household(last_name: str, first_name: str, child: str, city: str = "Villebelle") -> Household:
    household = Household(address_line1="1 rue des Écoles", postcode="99990", city=city)
    household.guardians.append(Guardian(first_name=first_name, last_name=last_name))
    household.children.append(Child(first_name=child, last_name=last_name, birth_date=dt.date(2018, 3, 1),
                                    school="École Jules-Ferry"))
    db.session.add(household)
    db.session.commit()
    return household


def test_the_queue_fits_a_1280_px_screen(server_url, browser, check_accessibility, app) -> None:  # type: ignore[no-untyped-def]
    grant_role(MANAGER, "manager", "revue", password=PASSWORD)
    db.session.commit()
    names = [("Martin", "Sophie", "Léa"), ("Martin", "Karim", "Hugo"),
             ("Fernandez-Villardière de Montalembert", "Marie-Christine", "Jean-Baptiste-Alexandre"),
             ("Nguyen", "Thi Thu Hà", "Bảo Ngọc")]
    ids = []
    for i in range(13):
        last, first, child = names[i % len(names)]
        household = _household(last, first, child, city="Saint-Rémy-en-Bouzemont-Saint-Genest-et-Isson")
        ids += create_registrations(RegistrationInput(
            service_code="revue", household_id=household.id,
            participants=[ParticipantInput(child_id=household.children[0].id, answers={"level": "debutant"})],
            channel="counter" if i % 2 else "web", session_code="s2",
        )).registration_ids
    db.session.get(Registration, ids[-1]).status = Status.CANCELLED
    db.session.commit()

    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    try:
        log_in(page, server_url, MANAGER, PASSWORD)
        page.goto(server_url + "/gestion/revue/")
        # The cancelled registration is hidden and counted.
        assert page.locator("#queue-table tbody tr").count() == 12
        assert page.locator("#hidden-cancelled").get_attribute("data-hidden") == "1"
        # The two Martin households read differently.
        details = page.locator("#queue-table .queue-table__detail[data-household]").all_inner_texts()
        assert details[0] != details[1] and "Sophie" in details[0] and "Karim" in details[1]
        widths = page.evaluate("""() => {
            const wrap = document.querySelector('#queue-table').closest('.table-wrap');
            return {page: document.documentElement.scrollWidth, wrap: wrap.scrollWidth, visible: wrap.clientWidth};
        }""")
        assert widths["page"] <= DESKTOP["width"], widths
        assert widths["wrap"] <= widths["visible"], widths
        check_accessibility(page)

        # The box shows the cancelled registrations (a plain form: no JavaScript involved).
        page.check("#filter-show_cancelled")
        with page.expect_navigation():
            page.click("#queue-filters button[type=submit]")
        assert "show_cancelled=1" in page.url
        assert page.locator("#queue-table tbody tr").count() == 13
        assert page.locator("#hidden-cancelled").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    finally:
        context.close()
