"""An agent keys two sessions wanted, each with an alternative, with the keyboard only (Tab,
arrow keys, Space, Enter), corrects a mistake, and every page passes axe-core."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser_helpers import log_in
from flask import Flask
from sqlalchemy import select
from test_counter_keyboard import DESKTOP, active, tab_until

from inscriptions.definitions.registry import sync_all
from inscriptions.extensions import db
from inscriptions.models import Application, Child, Guardian, Household, Registration
from inscriptions.permissions import grant_role

pytestmark = pytest.mark.browser

PASSWORD = "mot de passe du guichet"
VOEUX: dict[str, Any] = {
    "code": "voeux", "name": "Centre d'été", "reference_prefix": "VOE", "audience": "child",
    "opening": "2026-09-01T08:30:00", "closing": "2027-06-30T23:59:00", "workflow": "automatic",
    "retention_months": 12, "pricing": {"kind": "fixed", "amount": "10.00", "unit": "semaine"},
    "sessions": [{"code": f"w{n}", "label": f"Semaine {n}", "starts_at": f"2027-07-{5 + 7 * (n - 1):02d}T09:00:00",
                  "capacity": 5} for n in range(1, 5)],
    "sessions_choice": {"min": 1, "max": 2}, "alternatives": 1,
    "form": {"pages": [{"title": "Questions", "fields": [
        {"name": "level", "type": "single_choice", "label": "Niveau", "required": True,
         "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
    ]}]},
}


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins" / "voeux"
    folder.mkdir(parents=True)
    (folder / "service.yaml").write_text(yaml.safe_dump(copy.deepcopy(VOEUX), allow_unicode=True), "utf-8")
    return tmp_path / "plugins"


@pytest.fixture
def app(make_app: Callable[..., Flask], plugins: Path):  # type: ignore[no-untyped-def]
    application = make_app(PLUGINS_DIR=plugins)
    with application.app_context():
        sync_all()
        yield application


@pytest.fixture
def server_app(make_app: Callable[..., Flask], plugins: Path, app: Flask) -> Flask:
    return make_app(SERVER_NAME=None, PLUGINS_DIR=plugins)


def wait_focus(page, matches: Callable[[dict], bool], timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until the browser has applied autofocus (it does so after the page loads), polled
    from Python: the page's CSP forbids the eval that a string predicate would need."""
    for _ in range(int(timeout_s * 10)):
        if matches(active(page)):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"focus never reached; it is on {active(page)}")


@pytest.fixture
def desk_page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    yield page
    context.close()


def test_two_sessions_with_alternatives_are_keyed_with_the_keyboard(server_url, desk_page, check_accessibility, app):
    page, check = desk_page, check_accessibility
    grant_role("agent.ete@mairie.test", "agent", "voeux", password=PASSWORD)
    household = Household(address_line1="8 rue Haute", postcode="99990", city="Villebelle", quotient_familial=380)
    household.guardians.append(Guardian(first_name="Amina", last_name="Benali"))
    household.children.append(Child(first_name="Inès", last_name="Benali", birth_date=dt.date(2018, 3, 1)))
    db.session.add(household)
    db.session.commit()

    log_in(page, server_url, "agent.ete@mairie.test", PASSWORD)
    page.goto(server_url + f"/guichet/foyers/{household.id}/saisie/voeux")
    # The reason first (keyboard: Space chooses the focused reason, Enter on the button sends).
    assert "/acces" in page.url
    wait_focus(page, lambda e: e["value"] == "counter")
    page.keyboard.press("Space")
    tab_until(page, lambda e: e["tag"] == "BUTTON")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Set-up: Inès is ticked; the lists follow with Tab and take the arrow keys.
    check(page)
    # The browser applies autofocus once the page has loaded: wait for it rather than race it.
    wait_focus(page, lambda e: e["name"] == "setup-participant")
    assert active(page)["name"] == "setup-participant" and active(page)["checked"]
    page.keyboard.press("Tab")
    assert active(page)["id"] == "setup-wish-1-1"
    page.keyboard.press("ArrowDown")  # Semaine 1
    page.keyboard.press("Tab")
    assert active(page)["id"] == "setup-wish-1-2"
    page.keyboard.press("ArrowDown")  # Semaine 1 again: a mistake
    page.keyboard.press("Tab")
    assert active(page)["id"] == "setup-wish-2-1"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # Semaine 2
    tab_until(page, lambda e: e["id"] == "setup-received_on")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The error is on the alternative; everything chosen is kept.
    check(page)
    assert page.locator("#setup-wish-1-2-error").is_visible()
    assert page.eval_on_selector("#setup-wish-1-1", "e => e.value") == "w1"
    assert page.eval_on_selector("#setup-wish-2-1", "e => e.value") == "w2"
    page.focus("#setup-wish-1-2")  # the summary's link leads here; the keyboard goes on from it
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # Semaine 3
    tab_until(page, lambda e: e["id"] == "setup-received_on")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The questions: the first radio has the focus; Tab reaches "Save".
    check(page)
    text = page.inner_text("main")
    assert "Semaine 1 (sinon Semaine 3)" in text and "Semaine 2" in text
    assert active(page)["name"].endswith("-level")
    page.keyboard.press("Space")
    tab_until(page, lambda e: e["tag"] == "BUTTON")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert "/lot/" in page.url, page.inner_text("main")
    check(page)
    references = re.findall(r"VOE-2026-\d{6}", page.inner_text("main"))
    assert len(set(references)) == 2

    db.session.rollback()
    assert db.session.scalar(select(Application)).wishes == [["w1", "w3"], ["w2"]]
    codes = sorted(r.session.code for r in db.session.scalars(select(Registration)))
    assert codes == ["w1", "w2"]
