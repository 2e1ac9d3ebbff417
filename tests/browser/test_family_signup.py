"""The sign-up → e-mailed link → household → add a child path in a phone-sized Chromium, checked
with axe-core."""

from __future__ import annotations

import re

import pytest
from flask import Flask

pytestmark = pytest.mark.browser


def signup_link(app: Flask, email: str) -> str:
    """The confirmation link the served app e-mailed to ``email`` (tests use the locmem backend)."""
    [message] = [m for m in getattr(app.extensions["mailman"], "outbox", []) if m.to == [email]]
    found = re.search(r"https?://\S+/compte/confirmer/\S+", message.body)
    assert found, message.body
    return found.group(0)


def test_a_parent_signs_up_and_adds_a_child_on_a_phone(server_url, server_app, phone_page, check_accessibility):
    page = phone_page
    page.goto(server_url + "/compte/creer")
    check_accessibility(page)

    # Sent empty: the error summary lists the problems, each field says its own.
    page.click("form.form button[type=submit]")
    assert page.locator(".error-summary").is_visible()
    assert page.locator("#email").get_attribute("aria-invalid") == "true"
    check_accessibility(page)

    page.fill("#email", "parent@example.fr")
    page.fill("#password", "un mot de passe assez long")
    page.fill("#password_confirm", "un mot de passe assez long")
    page.fill("#first_name", "Alex")
    page.fill("#last_name", "Dupont")
    page.fill("#address_line1", "3 rue des Lilas")
    page.fill("#postcode", "99990")
    page.fill("#city", "Villebelle")
    page.click("form.form button[type=submit]")
    # Same page whether the address has an account or not; the e-mail says which.
    assert page.url.endswith("/compte/creer/envoye")
    assert page.locator("h1#signup-sent").is_visible()
    check_accessibility(page)

    page.goto(signup_link(server_app, "parent@example.fr"))
    assert page.locator("h1#signup-confirm").is_visible()
    check_accessibility(page)
    page.click("#signup-confirm-form button[type=submit]")
    assert page.url.endswith("/mon-foyer/")
    check_accessibility(page)

    page.click("a[href$='/enfants/ajouter']")
    check_accessibility(page)
    assert page.locator("#last_name").input_value() == "Dupont"
    page.fill("#first_name", "Léa")
    page.fill("#birth_date", "2018-03-01")
    page.select_option("#school", index=1)
    page.click("form.form button[type=submit]")
    assert page.url.endswith("/mon-foyer/")
    assert page.locator(".card__title", has_text="Léa Dupont").is_visible()
    # Nothing is wider than the phone screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    check_accessibility(page)

    for path in ("/mon-foyer/adresse", "/mentions-legales", "/donnees-personnelles", "/accessibilite"):
        page.goto(server_url + path)
        check_accessibility(page)
