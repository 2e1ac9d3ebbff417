"""The first step for services taking several sessions (weeks) or ranked alternatives (slots),
the review that lists them, and the confirmation that tells the outcome of each session."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html import unescape
from pathlib import Path

import pytest
from flask import g

from inscriptions.allocation.worker import drain
from inscriptions.extensions import db
from inscriptions.models import Draft, Registration, Status
from inscriptions.portal.wizard import state_wishes
from inscriptions.settings import PROJECT_ROOT

PAGE = """
form:
  pages:
    - title: Engagement
      each_participant: false
      fields:
        - {name: rules, type: consent, label: J'accepte le règlement., required: true}
"""

EXTRA = {
    # Several weeks (1 to 3), 2 places each; one week already started.
    "semaines": """
code: semaines
name: Semaines test
reference_prefix: TSE
audience: child
opening: 2026-09-01T08:30:00
closing: 2027-06-30T23:59:00
workflow: automatic
retention_months: 12
sessions_choice: {min: 1, max: 3}
pricing: {kind: fixed, amount: "40.00", unit: semaine}
sessions:
  - {code: s1, label: Semaine 1, starts_at: 2027-07-05T08:30:00, capacity: 2}
  - {code: s2, label: Semaine 2, starts_at: 2027-07-12T08:30:00, capacity: 2}
  - {code: s3, label: Semaine 3, starts_at: 2027-07-19T08:30:00, capacity: 2}
  - {code: s4, label: Semaine 4, starts_at: 2027-07-26T08:30:00, capacity: 2}
  - {code: vieille, label: Semaine passée, starts_at: 2026-09-07T08:30:00, capacity: 2}
""" + PAGE,
    # One slot and a second choice.
    "creneaux": """
code: creneaux
name: Créneaux test
reference_prefix: TCR
audience: child
opening: 2026-09-01T08:30:00
closing: 2027-06-30T23:59:00
workflow: automatic
retention_months: 12
alternatives: 1
pricing: {kind: free}
sessions:
  - {code: mar, label: Mardi 17 h, starts_at: 2027-01-05T17:00:00, capacity: 1}
  - {code: jeu, label: Jeudi 17 h, starts_at: 2027-01-07T17:00:00, capacity: 5}
  - {code: ven, label: Vendredi 17 h, starts_at: 2027-01-08T17:00:00, capacity: 5}
  - {code: passe, label: Lundi passé, starts_at: 2026-09-07T17:00:00, capacity: 5}
""" + PAGE,
    # Two sessions at most, each with an alternative.
    "stages": """
code: stages
name: Stages test
reference_prefix: TST
audience: child
opening: 2026-09-01T08:30:00
closing: 2027-06-30T23:59:00
workflow: automatic
retention_months: 12
sessions_choice: {min: 1, max: 2}
alternatives: 1
pricing: {kind: free}
sessions:
  - {code: a, label: Stage A, starts_at: 2027-02-15T09:00:00, capacity: 1}
  - {code: b, label: Stage B, starts_at: 2027-02-22T09:00:00, capacity: 5}
  - {code: c, label: Stage C, starts_at: 2027-04-12T09:00:00, capacity: 5}
""" + PAGE,
}


@pytest.fixture
def plugins_dir(plugins_dir: Path) -> Path:
    for code, text in EXTRA.items():
        (plugins_dir / code).mkdir()
        (plugins_dir / code / "service.yaml").write_text(text, encoding="utf-8")
    return plugins_dir


def _start_page(client, code: str, data: dict) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    response = client.post(f"/services/{code}/inscription", data=data)
    return response.status_code, unescape(response.get_data(as_text=True))


def _described_by(html: str, select_id: str) -> str:
    """The aria-describedby of the list ``select_id``."""
    found = re.search(rf'<select[^>]*?id="{select_id}"[^>]*>', html)
    assert found, select_id
    return re.search(r'aria-describedby="([^"]*)"', found.group(0)).group(1)  # type: ignore[union-attr]


def _book(portal, token: str):  # type: ignore[no-untyped-def]
    assert portal.page(token, 1, {"rules": "y"}).status_code == 302
    return portal.confirm(token)


# -- one session: today's page ---------------------------------------------------------------------

def test_one_session_services_keep_their_page(client, logged_in):
    html = client.get("/services/natation/inscription").get_data(as_text=True)
    assert 'type="radio" name="session"' in html
    assert 'type="checkbox" name="session"' not in html and "alternative-" not in html and "<select" not in html


def test_old_drafts_with_one_session_still_work():
    assert state_wishes({"session": "mer"}) == [["mer"]]
    assert state_wishes({"session": None}) == []
    assert state_wishes({"session": "mer", "wishes": [["sam", "mer"]]}) == [["sam", "mer"]]


# -- several sessions --------------------------------------------------------------------------------

def test_several_weeks_are_checked_before_anything_is_saved(client, logged_in):
    lea = logged_in.children[0]
    page = unescape(client.get("/services/semaines/inscription").get_data(as_text=True))
    assert page.count('type="checkbox" name="session"') == 5
    assert "Quelles séances ?" in page and "Cochez une séance ou plus, 3 au maximum." in page
    assert re.search(r'id="session-vieille"[^>]*disabled', page)

    status, html = _start_page(client, "semaines", {"participant": f"c{lea.id}"})
    assert status == 200 and "Choisissez au moins 1 séance." in html
    assert 'href="#session-s1"' in html  # the error summary leads to the first box
    assert '<fieldset class="choices-group" aria-describedby="session-hint session-error">' in html

    status, html = _start_page(client, "semaines", {"participant": f"c{lea.id}", "session": ["s1", "s2", "s3", "s4"]})
    assert status == 200 and "Choisissez au plus 3 séances." in html
    # What was ticked stays ticked.
    assert all(re.search(rf'id="session-{c}"[^>]*checked', html) for c in ("s1", "s2", "s3", "s4"))

    status, html = _start_page(client, "semaines", {"participant": f"c{lea.id}", "session": ["s1", "vieille"]})
    assert status == 200 and "Cette séance a déjà commencé : choisissez-en une autre." in html
    assert db.session.scalar(db.select(db.func.count()).select_from(Draft)) == 0


def test_siblings_book_several_weeks_in_one_application(client, portal, logged_in):
    lea, tom = logged_in.children
    token = portal.start("semaines", participant=[f"c{lea.id}", f"c{tom.id}"], session=["s3", "s1"])
    state = portal.draft_state(token)
    assert state["wishes"] == [["s3"], ["s1"]] and state["session"] is None

    assert portal.page(token, 1, {"rules": "y"}).status_code == 302
    review = unescape(client.get(f"/inscription/{token}/recapitulatif").get_data(as_text=True))
    assert "2 séances choisies" in review and "Semaine 1" in review and "Semaine 3" in review
    # 40 € a week for each child: two children, two weeks.
    assert "160,00 €" in review and "Pour les 2 séances choisies" in review

    response = portal.confirm(token)
    assert response.headers["Location"].endswith(f"/inscription/{token}/confirmation")
    regs = portal.registrations(logged_in)
    assert sorted((r.child_id, r.session.code) for r in regs) == sorted(
        [(lea.id, "s1"), (tom.id, "s1"), (lea.id, "s3"), (tom.id, "s3")])
    assert all(r.status == Status.ACCEPTED for r in regs) and len({r.batch for r in regs}) == 1

    page = unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Résultat pour chaque séance" in page and page.count("Place confirmée.") == 2
    assert all(r.reference in page for r in regs)


def test_a_full_week_waits_and_the_others_are_kept(client, portal, logged_in, make_household, login):
    lea, tom = logged_in.children
    _book(portal, portal.start("semaines", participant=[f"c{lea.id}", f"c{tom.id}"], session=["s2"]))
    other = make_household(last_name="Durand", children=[("Nina", dt.date(2017, 1, 1))])
    login(other)
    g.pop("_login_user", None)
    nina = other.children[0]
    token = portal.start("semaines", participant=[f"c{nina.id}"], session=["s2", "s4"])
    assert portal.page(token, 1, {"rules": "y"}).status_code == 302
    review = unescape(client.get(f"/inscription/{token}/recapitulatif").get_data(as_text=True))
    assert "Semaine 2</strong> – complète" in review and "Semaine 4</strong>\n" in review
    assert review.count("Cette séance est complète : si vous confirmez") == 1

    response = portal.confirm(token)
    by_session = {r.session.code: r.status for r in portal.registrations(other)}
    assert by_session == {"s2": Status.WAITLISTED, "s4": Status.ACCEPTED}
    page = unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Votre inscription est enregistrée" in page
    assert "Liste d'attente : vous êtes à la place n° 1." in page and "Place confirmée." in page
    assert "Place sur la liste d'attente" in page


def test_a_child_already_in_a_week_is_named(client, portal, logged_in):
    lea, tom = logged_in.children
    _book(portal, portal.start("semaines", participant=[f"c{lea.id}"], session=["s1"]))
    status, html = _start_page(client, "semaines", {"participant": [f"c{lea.id}", f"c{tom.id}"],
                                                    "session": ["s1", "s2"]})
    assert status == 200
    assert "Inscription déjà faite à la séance « Semaine 1 » pour : Léa." in html


# -- ranked alternatives -------------------------------------------------------------------------------

def test_second_choice_is_a_labelled_optional_list(client, logged_in):
    html = unescape(client.get("/services/creneaux/inscription").get_data(as_text=True))
    assert "1er choix : quelle séance ?" in html
    assert '<label for="alternative-2">2e choix (si le 1er est complet)</label>' in html
    select = re.search(r'<select[^>]*id="alternative-2".*?</select>', html, re.S).group(0)  # type: ignore[union-attr]
    assert '<option value="">Pas d\'autre choix</option>' in select
    assert 'value="jeu"' in select and 'value="passe"' not in select  # started: not offered
    assert _described_by(html, "alternative-2") == "alternative-2-hint"


def test_second_choice_errors_are_tied_to_the_list(client, logged_in):
    lea = logged_in.children[0]
    status, html = _start_page(client, "creneaux", {"participant": f"c{lea.id}", "session": "mar",
                                                    "alternative-2": "mar"})
    assert status == 200
    assert "Ce choix doit être différent de votre 1er choix." in html
    assert 'href="#alternative-2"' in html
    assert _described_by(html, "alternative-2") == "alternative-2-hint alternative-2-error"
    assert re.search(r'<select[^>]*id="alternative-2"[^>]*aria-invalid="true"', html)

    status, html = _start_page(client, "creneaux", {"participant": f"c{lea.id}", "session": "mar",
                                                    "alternative-2": "passe"})
    assert status == 200 and "Cette séance a déjà commencé : choisissez-en une autre." in html


def test_the_second_choice_is_given_when_the_first_is_full(client, portal, logged_in, make_household, login):
    first = make_household(last_name="Durand", children=[("Nina", dt.date(2017, 1, 1))])
    login(first)
    g.pop("_login_user", None)
    _book(portal, portal.start("creneaux", participant=[f"c{first.children[0].id}"], session="mar"))

    login(logged_in)
    g.pop("_login_user", None)
    lea = logged_in.children[0]
    token = portal.start("creneaux", participant=[f"c{lea.id}"], session="mar", **{"alternative-2": "jeu"})
    state = portal.draft_state(token)
    assert state["wishes"] == [["mar", "jeu"]] and state["session"] == "mar"
    assert portal.page(token, 1, {"rules": "y"}).status_code == 302
    review = unescape(client.get(f"/inscription/{token}/recapitulatif").get_data(as_text=True))
    assert "1er choix :" in review and "Mardi 17 h" in review
    assert "2e choix, si le 1er est complet : Jeudi 17 h" in review

    response = portal.confirm(token)
    (reg,) = portal.registrations(logged_in)
    assert (reg.session.code, reg.status) == ("jeu", Status.ACCEPTED)
    page = unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Jeudi 17 h" in page and "Votre 1er choix était complet : vous avez eu votre 2e choix." in page


def test_several_sessions_each_with_an_alternative(client, portal, logged_in):
    lea = logged_in.children[0]
    html = client.get("/services/stages/inscription").get_data(as_text=True)
    assert 'name="alternative-a-2"' in html and 'name="alternative-c-2"' in html
    status, page = _start_page(client, "stages", {"participant": f"c{lea.id}", "session": ["a", "b"],
                                                  "alternative-a-2": "b"})
    assert status == 200 and "Cette séance fait déjà partie de vos choix" in page
    assert 'href="#alternative-a-2"' in page

    token = portal.start("stages", participant=[f"c{lea.id}"], session=["a", "c"], **{"alternative-a-2": "b"})
    assert portal.draft_state(token)["wishes"] == [["a", "b"], ["c"]]
    _book(portal, token)
    assert sorted(r.session.code for r in portal.registrations(logged_in)) == ["a", "c"]


# -- the allocator decides later (ALLOCATION=worker) ------------------------------------------------------

def test_confirmation_while_the_application_waits_for_the_allocator(app, client, portal, logged_in):
    app.config["ALLOCATION"] = "worker"
    lea = logged_in.children[0]
    token = portal.start("semaines", participant=[f"c{lea.id}"], session=["s1", "s2"])
    response = _book(portal, token)
    # The confirmation sends the family to its application's page, which follows it until decided.
    waiting = client.get(response.headers["Location"])
    assert waiting.status_code == 302 and "/demandes/" in waiting.headers["Location"]
    page = unescape(client.get(waiting.headers["Location"]).get_data(as_text=True))
    assert "n° 1 dans la file d'attente" in page
    assert "TSE-D" in page  # the application's number, to quote on the phone

    assert drain("semaines") == 1
    db.session.rollback()
    page = unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Registration confirmed" not in page and page.count("Place confirmée.") == 2


# -- the demo holiday centre ------------------------------------------------------------------------------

def test_demo_holiday_centre_weeks_residents_first(make_app, make_household, frozen_clock):
    app = make_app(WTF_CSRF_ENABLED=False, PLUGINS_DIR=PROJECT_ROOT / "plugins")
    client = app.test_client()
    with app.app_context():
        from inscriptions.models import Account

        frozen_clock(dt.datetime(2026, 9, 10, 8, 0, tzinfo=dt.UTC))
        resident = make_household(children=[("Léa", dt.date(2018, 3, 1))])
        visitor = make_household(last_name="Durand", resident=False, children=[("Nina", dt.date(2019, 1, 1))])
        for household, opens in ((visitor, True), (resident, False)):
            account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
            g.pop("_login_user", None)
            with client.session_transaction() as session:
                session["_user_id"] = account.get_id()
            html = unescape(client.get("/services/loisirs/inscription").get_data(as_text=True))
            assert ("Les inscriptions ouvriront pour vous le 15 septembre 2026" in html) is opens, html[:3000]

        service = unescape(client.get("/services/loisirs").get_data(as_text=True))
        assert "Vous pouvez choisir jusqu'à 8 séances en une seule inscription." in service
        assert "Familles de la ville" in service and "Toutes les familles" in service
        pool = unescape(client.get("/services/piscine").get_data(as_text=True))
        assert "Vous pouvez aussi donner un autre choix" in pool

        lea = resident.children[0]
        response = client.post("/services/loisirs/inscription",
                               data={"participant": f"c{lea.id}", "session": ["juil-1", "juil-2", "aout-4"]})
        assert response.status_code == 302
        token = _token(response.headers["Location"])
        response = client.post(f"/inscription/{token}/etape/1",
                               data={f"c{lea.id}-lunch_diet": "sans_porc", f"c{lea.id}-leave_alone": "no"})
        assert response.status_code == 302, response.get_data(as_text=True)
        response = client.post(f"/inscription/{token}/etape/2",
                               data={"emergency_phone": "06 12 34 56 78", "rules": "y"})
        assert response.status_code == 302
        review = unescape(client.get(f"/inscription/{token}/recapitulatif").get_data(as_text=True))
        # QF 600: 45 € a week, three weeks.
        assert "45,00 € par semaine" in review and "135,00 €" in review
        assert client.post(f"/inscription/{token}/recapitulatif").status_code == 302
        # The residents' two weeks end with a draw (15 September, 08:30): nothing is decided before.
        assert db.session.scalars(db.select(Registration).filter_by(household_id=resident.id)).all() == []
        frozen_clock(dt.datetime(2026, 9, 15, 6, 31, tzinfo=dt.UTC))
        assert drain("loisirs") == 1
        regs = db.session.scalars(db.select(Registration).filter_by(household_id=resident.id)).all()
        assert sorted(r.session.code for r in regs) == ["aout-4", "juil-1", "juil-2"]
        assert {(r.status, r.price, r.answers["lunch_diet"]) for r in regs} == {
            (Status.ACCEPTED, Decimal("45.00"), "sans_porc")}


def _token(location: str) -> str:
    found = re.search(r"/inscription/([0-9a-f]{32})/", location)
    assert found, location
    return found.group(1)
