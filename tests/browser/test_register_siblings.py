"""A parent on a phone signs up, adds two children and registers both to the canteen.

Every page visited is checked with axe-core: no serious or critical violation.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import Account, Registration

pytestmark = pytest.mark.browser

PASSWORD = "un mot de passe assez long"


def add_child(page, check, first_name: str, birth_date: str) -> None:  # type: ignore[no-untyped-def]
    page.click("a[href$='/enfants/ajouter']")
    check(page)
    page.fill("#first_name", first_name)
    page.fill("#birth_date", birth_date)
    page.select_option("#school", index=1)
    page.fill("#class_name", "CE1")
    page.click("form.form button[type=submit]")
    assert page.url.endswith("/mon-foyer/")
    check(page)


def test_sign_up_add_two_children_and_register_both_to_the_canteen(
    server_url, server_app, phone_page, check_accessibility, app
):
    page, check = phone_page, check_accessibility

    page.goto(server_url + "/")
    check(page)
    page.goto(server_url + "/compte/creer")
    check(page)
    page.fill("#email", "nouveau.parent@example.fr")
    page.fill("#password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.fill("#first_name", "Alex")
    page.fill("#last_name", "Moreau")
    page.fill("#address_line1", "3 rue des Lilas")
    page.fill("#postcode", "99990")
    page.fill("#city", "Villebelle")
    page.click("form.form button[type=submit]")
    assert page.url.endswith("/compte/creer/envoye")
    # The account is created from the link e-mailed by the served app.
    [message] = server_app.extensions["mailman"].outbox
    page.goto(re.search(r"https?://\S+/compte/confirmer/\S+", message.body).group(0))
    page.click("#signup-confirm-form button[type=submit]")
    assert page.url.endswith("/mon-foyer/")
    check(page)

    add_child(page, check, "Léa", "2018-03-01")
    add_child(page, check, "Tom", "2016-05-10")

    # From the home page to the canteen's form, as a parent would go.
    page.goto(server_url + "/")
    page.click("a[href='/services/cantine']")
    check(page)
    page.click("a[href='/services/cantine/inscription']")
    check(page)

    # Both children in one action.
    boxes = page.locator("input[name=participant]")
    assert boxes.count() == 2
    for i in range(2):
        boxes.nth(i).check()
    page.click("form.wizard-form button[type=submit]")
    assert "/etape/" in page.url
    check(page)

    # Page 1 is asked for each child: submitting it empty shows errors and loses nothing.
    page.locator("input[name$='-days'][value=mon]").first.check()
    page.click("button[name=_action][value=next]")
    assert page.locator(".error-summary").is_visible()
    assert page.locator("input[name$='-days'][value=mon]").first.is_checked()
    check(page)

    for day in ("mon", "thu"):
        days = page.locator(f"input[name$='-days'][value={day}]")
        assert days.count() == 2
        for i in range(2):
            days.nth(i).check()
    diets = page.locator("input[name$='-diet'][value=sans_porc]")
    allergies = page.locator("input[name$='-allergy'][value=no]")
    for i in range(2):
        diets.nth(i).check()
        allergies.nth(i).check()
    page.click("button[name=_action][value=next]")
    check(page)

    # Page 2 is asked once for the whole booking.
    page.check("input[name=rules]")
    page.click("button[name=_action][value=next]")
    assert page.url.endswith("/recapitulatif")
    check(page)
    review = page.inner_text("main")
    assert "Léa" in review and "Tom" in review
    assert "Sans porc" in review

    page.click("button.button--confirm")
    assert page.url.endswith("/confirmation")
    check(page)
    assert len(set(re.findall(r"CAN-2026-\d{6}", page.inner_text("main")))) == 2

    page.goto(server_url + "/mes-inscriptions")
    check(page)
    assert len(set(re.findall(r"CAN-2026-\d{6}", page.inner_text("main")))) == 2
    # Nothing on these pages is wider than the phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    account = db.session.scalar(select(Account).filter_by(email="nouveau.parent@example.fr"))
    regs = db.session.scalars(
        select(Registration).filter_by(household_id=account.household.id).order_by(Registration.id)
    ).all()
    assert sorted(r.child.first_name for r in regs) == ["Léa", "Tom"]
    assert {r.batch for r in regs} == {regs[0].batch}
    assert all(r.channel == "web" and r.status == "accepted" for r in regs)
    assert all(r.answers["diet"] == "sans_porc" and r.answers["days"] == ["mon", "thu"] for r in regs)
    assert len(check.checked) >= 14
