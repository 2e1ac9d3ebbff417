"""An agent's day at the desk, with the mouse: search a family, key a paper form, confirm a scan.

Normal clicks and fills (keyboard-only keying is in test_counter_keyboard.py). Every page visited
is checked with axe-core: no serious or critical violation.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from sqlalchemy import select

from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import Child, Guardian, Household, PrintToken, Registration, ScanPage
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import simulate as sim
from inscriptions.permissions import grant_role
from inscriptions.privacy.sealing import unsealed

pytestmark = pytest.mark.browser

PASSWORD = "mot de passe de l'agent"
AGENT = "agent.cantine@mairie.test"
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def desktop_page(browser):  # type: ignore[no-untyped-def]
    """A page in an agent's desktop-sized window."""
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    yield page
    context.close()


def test_an_agent_keys_a_paper_form_then_confirms_a_scanned_one(
    server_url, desktop_page, check_accessibility, app, tmp_path
):
    page, check = desktop_page, check_accessibility
    agent, _created, _granted = grant_role(AGENT, "agent", "cantine", password=PASSWORD)
    household = Household(address_line1="3 rue des Lilas", postcode="99990", city="Villebelle",
                          quotient_familial=620)
    household.guardians.append(Guardian(first_name="Claire", last_name="Moreau"))
    household.children.append(Child(first_name="Lucas", last_name="Moreau", birth_date=dt.date(2017, 4, 12),
                                    school="École Jules-Ferry"))
    household.children.append(Child(first_name="Zoé", last_name="Moreau", birth_date=dt.date(2019, 6, 3),
                                    school="École Jules-Ferry"))
    db.session.add(household)
    db.session.commit()
    lucas, zoe = household.children

    # A blank canteen form printed for Zoé, ticked by the family and scanned (PNG pages).
    version = current_version(registry().get("cantine"))
    layout_for(version)
    db.session.commit()
    marked = {"days": ["tue", "fri"], "diet": "standard", "allergy": False, "rules": True}
    pages, _answers = sim.filled_documents(version, 1, np.random.default_rng(3), answers=[marked],
                                           settings=lambda _r: sim.ScanSettings(dpi=200, jpeg=None),
                                           styles={"cross": 1.0}, smudges=0.0)
    token = pages[0].token
    row = db.session.scalar(select(PrintToken).filter_by(token=token))
    row.household_id, row.child_id = household.id, zoe.id
    db.session.commit()
    files = []
    for scanned in pages:
        path = tmp_path / f"scan-{scanned.page}.png"
        path.write_bytes(scanned.data)
        files.append(str(path))

    # Log in through the log-in page: staff land on the counter.
    page.goto(server_url + "/connexion")
    check(page)
    page.fill("#email", AGENT)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert page.url.endswith("/guichet/")
    check(page)

    # Search the family by name, open the file after giving the reason.
    page.fill("#q", "moreau")
    with page.expect_navigation():
        page.click("#q ~ button[type=submit]")
    check(page)
    with page.expect_navigation():
        page.click("a.counter-results__link:has-text('Moreau')")
    assert f"/guichet/foyers/{household.id}/acces" in page.url
    check(page)
    page.locator("input[name=reason][value=counter]").check()
    with page.expect_navigation():
        page.click("form button.button[type=submit]")
    assert page.url.endswith(f"/guichet/foyers/{household.id}")
    check(page)

    # Key Lucas's paper canteen form: set-up (child, channel paper, received date), then the answers.
    with page.expect_navigation():
        page.click("a[href*='/saisie/cantine']")
    check(page)
    page.locator("input[name=setup-participant]").nth(0).check()
    page.locator("input[name=setup-participant]").nth(1).uncheck()
    page.locator("input[name=setup-channel][value=paper]").check()
    page.fill("#setup-received_on", "02/09/2026")
    with page.expect_navigation():
        page.click("form.counter-form button[type=submit]")
    check(page)
    page.locator("input[name$='-days'][value=mon]").check()
    page.locator("input[name$='-days'][value=thu]").check()
    page.locator("input[name$='-diet'][value=standard]").check()
    page.locator("input[name$='-allergy'][value=no]").check()
    page.fill("#pickup-0-name", "Paul Moreau")
    page.fill("#pickup-0-phone", "06 11 22 33 44")
    page.check("#rules")
    with page.expect_navigation():
        page.click("button.button--confirm")
    assert "/lot/" in page.url, page.inner_text("main")
    check(page)
    keyed_reference = re.search(r"CAN-2026-\d{6}", page.inner_text("main")).group(0)
    assert "Lucas" in page.inner_text("main")

    # The scan intake: upload the scanned pages of Zoé's form, open the document.
    page.goto(server_url + "/guichet/numerisation/")
    check(page)
    page.set_input_files("#scans", files)
    with page.expect_navigation():
        page.click("form[enctype='multipart/form-data'] button[type=submit]")
    assert re.search(r"/guichet/numerisation/lots/\d+$", page.url), page.inner_text("main")
    check(page)
    with page.expect_navigation():
        page.click(f"a[href='/guichet/numerisation/documents/{token}']")
    check(page)

    # The ticks read on the scan are prefilled for Zoé; the handwritten fields are typed.
    days = page.locator(f"input[name=c{zoe.id}-days]")
    assert {d.get_attribute("value") for d in days.all() if d.is_checked()} == {"tue", "fri"}
    assert page.locator(f"input[name=c{zoe.id}-diet][value=standard]").is_checked()
    assert page.locator(f"input[name=c{lucas.id}-days]").count() == 0
    # The allergy answer is private: read on the scan, it is not shown to this agent (no
    # permission to read sensitive answers), and is registered all the same.
    assert page.locator(f"input[name^=c{zoe.id}-allergy]").count() == 0
    page.fill("#pickup-0-name", "Mamie Moreau")
    page.fill("#pickup-0-phone", "06 98 76 54 32")
    page.check("#rules")
    with page.expect_navigation():
        page.click("button.button--confirm")
    assert "/guichet/numerisation/preuves/" in page.url, page.inner_text("main")
    check(page)
    main = page.inner_text("main")
    scanned_reference = re.search(r"CAN-2026-\d{6}", main).group(0)
    assert scanned_reference != keyed_reference

    # Log-in, counter, results, reason, file, set-up, entry, confirmation, intake, batch, document, evidence.
    assert len(check.checked) == 12

    db.session.rollback()  # end this test's read snapshot: the server wrote since
    regs = db.session.scalars(select(Registration).filter_by(household_id=household.id)
                              .order_by(Registration.id)).all()
    assert [r.reference for r in regs] == [keyed_reference, scanned_reference]
    assert [r.child_id for r in regs] == [lucas.id, zoe.id]
    assert all(r.channel == "paper" and r.keyed_by_id == agent.id for r in regs)
    assert unsealed(regs[1].answers)["allergy"] is False
    assert regs[0].received_on == dt.date(2026, 9, 2)
    assert regs[0].answers["days"] == ["mon", "thu"]
    assert regs[1].answers["days"] == ["tue", "fri"]
    assert regs[1].answers["pickup"] == [{"name": "Mamie Moreau", "phone": "06 98 76 54 32"}]
    stored = db.session.scalars(select(ScanPage).filter_by(token=token)).all()
    assert len(stored) == len(pages) == 2
    assert {p.status for p in stored} == {"registered"}
    assert all(p.registration_batch == regs[1].batch and p.confirmed_by_id == agent.id for p in stored)
