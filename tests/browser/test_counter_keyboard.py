"""An experienced agent keys a paper canteen form without touching the mouse.

Only the keyboard is used after the page is opened: Tab, Space, arrow keys, typing and Enter —
no click, no fill. Every page is checked with axe-core: no serious or critical violation.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from browser_helpers import log_in
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import Child, Guardian, Household, Registration
from inscriptions.permissions import grant_role
from inscriptions.privacy.sealing import unsealed

pytestmark = pytest.mark.browser

PASSWORD = "mot de passe du guichet"
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def desk_page(browser):  # type: ignore[no-untyped-def]
    """A page in a desktop-sized window, as at a counter."""
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    yield page
    context.close()


def active(page) -> dict:  # type: ignore[no-untyped-def]
    """What has the keyboard focus."""
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return {id: e.id, name: e.getAttribute('name'), value: e.value, tag: e.tagName,"
        " type: e.getAttribute('type'), text: e.textContent.trim(), checked: !!e.checked}; }"
    )


def tab_until(page, matches, limit: int = 40) -> int:  # type: ignore[no-untyped-def]
    """Press Tab until the focused element matches; returns how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if matches(active(page)):
            return presses
    raise AssertionError(f"not reached with {limit} Tab presses; focus is on {active(page)}")


def test_an_agent_keys_a_paper_canteen_form_with_the_keyboard_only(
    server_url, desk_page, check_accessibility, app
):
    page, check = desk_page, check_accessibility
    grant_role("agent.guichet@mairie.test", "agent", "cantine", password=PASSWORD)
    household = Household(address_line1="8 rue Haute", postcode="99990", city="Villebelle", quotient_familial=380)
    household.guardians.append(Guardian(first_name="Amina", last_name="Benali"))
    household.children.append(Child(first_name="Inès", last_name="Benali", birth_date=dt.date(2018, 3, 1),
                                    school="École Jules-Ferry"))
    db.session.add(household)
    db.session.commit()

    # Log in: the e-mail field is reached with Tab, Enter in the password field sends the form.
    page.goto(server_url + "/connexion")
    check(page)
    tab_until(page, lambda e: e["id"] == "email")
    page.keyboard.type("agent.guichet@mairie.test")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Staff land on the counter, the search box has the focus; accents are optional.
    assert page.url.endswith("/guichet/")
    check(page)
    assert active(page)["id"] == "q"
    page.keyboard.type("ines benali")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    check(page)
    # The first result is two Tab presses away (after the search button).
    assert tab_until(page, lambda e: e["tag"] == "A" and "Benali" in e["text"]) == 2
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The reason for opening the file: the first reason has the focus; Space chooses it.
    assert "/acces" in page.url
    check(page)
    assert active(page)["value"] == "counter"
    page.keyboard.press("Space")
    tab_until(page, lambda e: e["tag"] == "BUTTON")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The household's file: the canteen's "key a form" link has the focus.
    assert page.url.endswith(f"/guichet/foyers/{household.id}")
    check(page)
    assert active(page)["tag"] == "A" and "/saisie/cantine" in page.evaluate("document.activeElement.href")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Set-up: Inès is ticked (the only child), the channel goes from "counter" to "paper" with an
    # arrow key, the received date is typed without slashes, Enter goes on to the questions.
    check(page)
    assert active(page)["name"] == "setup-participant" and active(page)["checked"]
    tab_until(page, lambda e: e["name"] == "setup-channel")
    page.keyboard.press("ArrowRight")
    assert active(page)["value"] == "paper" and active(page)["checked"]
    page.keyboard.press("Tab")
    assert active(page)["id"] == "setup-received_on"
    page.keyboard.press("Control+A")
    page.keyboard.type("01092026")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # The whole form on one page, in the paper's order; the first box has the focus.
    check(page)
    assert re.fullmatch(r"c\d+-days", active(page)["name"]) and active(page)["value"] == "mon"
    page.keyboard.press("Space")  # Monday
    page.keyboard.press("Tab")  # Tuesday
    page.keyboard.press("Tab")  # Thursday
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # Friday
    page.keyboard.press("Tab")  # diet: "standard" has the focus
    assert active(page)["name"].endswith("-diet")
    page.keyboard.press("ArrowDown")  # "sans porc"
    page.keyboard.press("Tab")  # allergy: "yes" has the focus
    assert active(page)["name"].endswith("-allergy")
    page.keyboard.press("ArrowRight")  # "no": the details question is hidden and skipped
    page.keyboard.press("Tab")
    assert active(page)["id"] == "pickup-0-name"
    page.keyboard.type("Mamie Benali")
    page.keyboard.press("Tab")
    page.keyboard.type("06 12 34 56 78")
    tab_until(page, lambda e: e["id"] == "rules", limit=5)
    page.keyboard.press("Space")
    # Back into a text field and Enter: the form is sent by its first button, "Save".
    page.keyboard.press("Shift+Tab")
    assert active(page)["id"] == "pickup-2-phone"
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert "/lot/" in page.url, page.inner_text("main")
    check(page)
    reference = re.search(r"CAN-2026-\d{6}", page.inner_text("main")).group(0)
    assert len(check.checked) == 8

    db.session.rollback()  # end this test's read snapshot: the server wrote since
    reg = db.session.scalar(select(Registration).filter_by(reference=reference))
    assert reg.household_id == household.id
    assert (reg.channel, reg.received_on, reg.status) == ("paper", dt.date(2026, 9, 1), "accepted")
    assert reg.answers["days"] == ["mon", "thu"]
    assert reg.answers["diet"] == "sans_porc"
    assert unsealed(reg.answers)["allergy"] is False and "pai_details" not in reg.answers
    assert reg.answers["pickup"] == [{"name": "Mamie Benali", "phone": "06 12 34 56 78"}]
    assert reg.answers["rules"] is True


def test_the_other_counter_pages_pass_axe(server_url, desk_page, check_accessibility, app):
    """Household creation, code look-up, set-up and entry with errors, a registration: no violation."""
    from inscriptions.definitions.registry import current_version, registry
    from inscriptions.paper import tokens

    page, check = desk_page, check_accessibility
    grant_role("agent.axe@mairie.test", "agent", "cantine", password=PASSWORD)
    version = current_version(registry().get("cantine"))
    (token,) = tokens.issue_tokens(1, form_version_id=version.id, pages=2)
    db.session.commit()

    page.goto(server_url + "/connexion")
    page.fill("#email", "agent.axe@mairie.test")
    page.fill("#password", PASSWORD)
    page.click("form.form button[type=submit]")
    assert page.url.endswith("/guichet/")

    # A typo in a paper form code, then the right code of a blank form (it waits on the home page).
    code = tokens.human_code(token, 1)
    page.fill("#code", code[:-1] + ("X" if code[-1] != "X" else "Y"))
    page.click("form.counter-code button[type=submit]")
    assert page.locator("#code-error").is_visible()
    check(page)
    page.fill("#code", code)
    page.click("form.counter-code button[type=submit]")
    assert page.url.endswith("/guichet/")
    check(page)

    # A new household: sent empty first (errors), then filled.
    page.click("a[href='/guichet/foyers/nouveau']")
    check(page)
    page.click("button[value=create]")
    assert page.locator(".error-summary").is_visible()
    check(page)
    page.fill("#g1-first_name", "Karim")
    page.fill("#g1-last_name", "Haddad")
    page.fill("#address_line1", "2 impasse des Tilleuls")
    page.fill("#postcode", "99990")
    page.fill("#city", "Villebelle")
    page.fill("#c0-first_name", "Yanis")
    page.fill("#c0-birth_date", "02042017")
    page.select_option("#c0-school", index=1)
    page.click("button[value=create]")
    assert re.search(r"/guichet/foyers/\d+$", page.url)
    check(page)

    # The pending paper form, keyed for this household: set-up with an error, entry with errors.
    page.click("a[href*='channel=paper']")
    page.fill("#setup-received_on", "")
    page.click("form.counter-form button[type=submit]")
    assert page.locator("#setup-received_on-error").is_visible()
    check(page)
    page.fill("#setup-received_on", "14/09/2026")
    page.click("form.counter-form button[type=submit]")
    page.click("button.button--confirm")
    assert page.locator(".error-summary").is_visible()
    check(page)
    page.locator("input[name$='-days'][value=tue]").check()
    page.locator("input[name$='-diet'][value=standard]").check()
    page.locator("input[name$='-allergy'][value=yes]").check()
    page.check("#rules")
    page.click("button.button--confirm")
    assert "/lot/" in page.url
    check(page)
    page.click("a.reference")
    assert "/guichet/inscriptions/CAN-2026-" in page.url
    check(page)


FAKE_CAMERA = """
(() => {
  // A browser with BarcodeDetector and a camera, both fake: the camera films a blank canvas and the
  // detector "reads" the payload the test gives.
  window.BarcodeDetector = class {
    static getSupportedFormats() { return Promise.resolve(["qr_code"]); }
    detect() { return Promise.resolve([{rawValue: window.__payload}]); }
  };
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 64;
  const paint = canvas.getContext("2d");
  setInterval(() => {
    paint.fillStyle = "#" + Math.floor(Math.random() * 4096).toString(16);
    paint.fillRect(0, 0, 64, 64);
  }, 50);
  navigator.mediaDevices.getUserMedia = () => Promise.resolve(canvas.captureStream(5));
})();
"""


def test_a_webcam_scan_fills_the_code_where_the_browser_can_read_qr_codes(server_url, browser, app, make_household):
    from inscriptions.definitions.registry import current_version, registry
    from inscriptions.paper import tokens

    grant_role("agent.scan@mairie.test", "agent", "cantine", password=PASSWORD)
    household = make_household(email=None, with_account=False)
    version = current_version(registry().get("cantine"))
    (token,) = tokens.issue_tokens(1, form_version_id=version.id, pages=2, owners=[(household.id, None)])
    db.session.commit()
    payload = tokens.payload(token, 1, 2)

    plain = browser.new_context(viewport=DESKTOP)
    page = plain.new_page()
    log_in(page, server_url, "agent.scan@mairie.test", PASSWORD)
    page.wait_for_load_state("load")
    # Debian's headless Chromium has no BarcodeDetector: the button stays hidden, typing remains.
    if not page.evaluate("'BarcodeDetector' in window"):
        assert page.locator("[data-scan]").is_hidden()
    plain.close()

    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(FAKE_CAMERA + f"window.__payload = {payload!r};")
    page = context.new_page()
    log_in(page, server_url, "agent.scan@mairie.test", PASSWORD)
    page.locator("[data-scan]").wait_for(state="visible")
    # The payload read from the camera fills the code box and opens the form (after the reason).
    with page.expect_navigation(url=re.compile(r"/acces\?next=")):
        page.click("[data-scan-start]")
    assert f"/guichet/foyers/{household.id}/acces" in page.url
    context.close()
