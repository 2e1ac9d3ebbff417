"""The list of services, a service's page, the first step, sessions and capacity, CSRF."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from flask import g

from inscriptions.extensions import db
from inscriptions.models import Status
from inscriptions.settings import PROJECT_ROOT


def test_index_lists_services_with_their_state(client):
    html = unescape(client.get("/").get_data(as_text=True))
    assert "Restauration scolaire" in html and 'href="/services/cantine"' in html
    assert "Les inscriptions sont ouvertes jusqu'au 30 juin 2027 à 23:59." in html
    futur = html[html.index("Futur test"):]
    assert "Pas encore ouvert" in futur[:600] and "Les inscriptions ouvriront le" in futur[:600]


def test_service_page_shows_who_prices_and_dates(client):
    html = client.get("/services/cantine").get_data(as_text=True)
    assert "De 2 à 12 ans" in html
    assert "Quotient familial" in html
    assert re.search(r"De 0 à 450</th><td>1,00 € par repas", html)
    assert re.search(r"1201 et plus</th><td>4,80 € par repas", html)
    assert "Sans quotient familial connu : 4,80 € par repas" in html
    assert 'href="/services/cantine/inscription"' in html
    assert "vous connecter ou créer un compte" in html
    pool = client.get("/services/natation").get_data(as_text=True)
    assert "3 % de votre quotient familial" in pool
    assert "Mercredi 14 h" in pool and "Il reste 2 places." in pool
    assert "Déjà commencée" in pool
    assert "étudiée par le service" in pool
    cine = client.get("/services/cine").get_data(as_text=True)
    assert "place enfant</th><td>3,50 €" in cine


def test_places_left_and_waiting_list(client, portal, logged_in, make_household, login):
    lea, tom = logged_in.children
    token = portal.start("natation", participant=[f"c{lea.id}", f"c{tom.id}"], session="mer")
    data = {f"c{c.id}-level": "debutant" for c in (lea, tom)}
    assert portal.page(token, 1, data).status_code == 302
    assert portal.page(token, 2, {"rules": "y"}).status_code == 302
    review = client.get(f"/inscription/{token}/recapitulatif").get_data(as_text=True)
    assert "30,00 € par trimestre" in review  # 3 % of QF 600 = 18 €, raised to the minimum
    portal.confirm(token)
    regs = portal.registrations(logged_in)
    assert [r.status for r in regs] == [Status.SUBMITTED, Status.SUBMITTED]  # manual review
    assert regs[0].session.code == "mer"
    assert "Complet : vous pouvez vous inscrire sur la liste d'attente." in unescape(
        client.get("/services/natation").get_data(as_text=True))

    other = make_household(last_name="Durand", children=[("Nina", dt.date(2017, 1, 1))])
    login(other)
    g.pop("_login_user", None)
    start = unescape(client.get("/services/natation/inscription").get_data(as_text=True))
    assert "Complet : vous pouvez vous inscrire sur la liste d'attente." in start
    nina = other.children[0]
    token = portal.start("natation", participant=[f"c{nina.id}"], session="mer")
    portal.page(token, 1, {f"c{nina.id}-level": "nageur"})
    portal.page(token, 2, {"rules": "y"})
    review = client.get(f"/inscription/{token}/recapitulatif").get_data(as_text=True)
    assert "cette séance est complète" in review.lower()
    response = portal.confirm(token)
    (reg,) = portal.registrations(other)
    assert reg.status == Status.WAITLISTED
    page = unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Vous êtes sur la liste d'attente" in page and reg.reference in page


def test_first_step_checks_its_choices(client, portal, logged_in, make_household, login):
    lea = logged_in.children[0]
    response = client.post("/services/natation/inscription", data={})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choisissez au moins un enfant." in html and "Choisissez une séance." in html
    assert 'href="#participant-c' in html and 'href="#session-mer"' in html
    response = client.post("/services/natation/inscription", data={"participant": f"c{lea.id}", "session": "passee"})
    assert "déjà commencé" in response.get_data(as_text=True)
    # A child of another household cannot be slipped in.
    other = make_household(last_name="Durand")
    response = client.post("/services/natation/inscription",
                           data={"participant": f"c{other.children[0].id}", "session": "sam"})
    assert response.status_code == 200 and "Choisissez uniquement des personnes qui peuvent s'inscrire" in unescape(
        response.get_data(as_text=True))


def test_child_too_young_cannot_be_chosen(client, make_household, login):
    household = make_household(children=[("Bébé", dt.date(2024, 1, 1)), ("Léa", dt.date(2018, 3, 1))])
    login(household)
    html = client.get("/services/natation/inscription").get_data(as_text=True)
    baby = next(c for c in household.children if c.first_name == "Bébé")
    assert re.search(rf'id="participant-c{baby.id}" disabled', html)
    assert "Bébé doit avoir entre 6 et 12 ans" in html


def test_household_without_children(client, make_household, login):
    login(make_household(children=[]))
    html = unescape(client.get("/services/cantine/inscription").get_data(as_text=True))
    assert "Votre foyer n'a pas encore d'enfant" in html
    assert 'href="/mon-foyer/"' in html
    assert 'name="participant"' not in html


def test_not_open_yet(client, logged_in):
    # Before opening the form is filled in to prepare the application (sent at opening).
    html = client.get("/services/futur/inscription").get_data(as_text=True)
    assert "Les inscriptions ouvriront le" in html and "préparer votre demande dès maintenant" in html
    assert "<form method=\"post\" action=\"/services/futur" in html
    assert client.post("/services/futur/inscription", data={}).status_code == 200


def test_household_service_with_seats(client, portal, logged_in):
    token = portal.start("cine", session="dec")
    html = client.get(f"/inscription/{token}/etape/1").get_data(as_text=True)
    assert 'name="child_seats"' in html  # asked once: no participant prefix
    response = portal.page(token, 1, {"child_seats": "2", "adult_seats": "1"})
    assert response.status_code == 302
    review = client.get(f"/inscription/{token}/recapitulatif").get_data(as_text=True)
    assert "12,00 € par séance" in review and "2 × place enfant à 3,50 €" in review
    portal.confirm(token)
    (reg,) = portal.registrations(logged_in)
    assert reg.child_id is None and reg.places == 3 and reg.price == 12
    assert "Il reste 2 places." in client.get("/services/cine").get_data(as_text=True)
    # One booking per household and screening.
    again = client.post("/services/cine/inscription", data={"session": "dec"})
    assert "déjà inscrit à cette séance" in again.get_data(as_text=True)


def test_adult_service_and_residents_only(client, portal, make_household, login):
    outsider = make_household(resident=False)
    login(outsider)
    html = client.get("/services/atelier/inscription").get_data(as_text=True)
    assert "Ce service est réservé aux habitants de la commune." in html
    assert 'name="participant"' not in html
    assert client.post("/services/atelier/inscription",
                       data={"participant": f"g{outsider.guardians[0].id}"}).status_code == 200
    assert db.session.scalar(db.select(db.func.count()).select_from(db.text("drafts"))) == 0


def test_csrf_token_is_required(make_app, plugins_dir, family):
    app = make_app(PLUGINS_DIR=plugins_dir)
    client = app.test_client()
    with app.app_context():
        from inscriptions.models import Account

        account = db.session.scalar(db.select(Account).filter_by(guardian_id=family.guardians[0].id))
        with client.session_transaction() as session:
            session["_user_id"] = account.get_id()
            session["_fresh"] = True
        lea = family.children[0]
        refused = client.post("/services/cantine/inscription", data={"participant": f"c{lea.id}"})
        assert refused.status_code == 400
        page = client.get("/services/cantine/inscription").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        accepted = client.post("/services/cantine/inscription",
                               data={"participant": f"c{lea.id}", "csrf_token": token})
        assert accepted.status_code == 302


def test_every_real_service_can_be_started(make_app, family):
    """The demo services of plugins/ render their pages and first form page."""
    app = make_app(WTF_CSRF_ENABLED=False, PLUGINS_DIR=PROJECT_ROOT / "plugins")
    client = app.test_client()
    with app.app_context():
        from inscriptions.definitions.registry import registry
        from inscriptions.models import Account

        account = db.session.scalar(db.select(Account).filter_by(guardian_id=family.guardians[0].id))
        with client.session_transaction() as session:
            session["_user_id"] = account.get_id()
        for service in registry().all():
            code = service.code
            assert client.get(f"/services/{code}").status_code == 200, code
            assert client.get(f"/services/{code}/inscription").status_code == 200, code
            defn = service.definition
            data: dict[str, object] = {}
            if defn.audience == "child":
                data["participant"] = [f"c{c.id}" for c in family.children]
            elif defn.audience == "adult":
                data["participant"] = [f"g{family.guardians[0].id}"]
            if defn.sessions:
                data["session"] = defn.sessions[-1].code
            response = client.post(f"/services/{code}/inscription", data=data)
            assert response.status_code == 302, code
            assert client.get(response.headers["Location"]).status_code == 200, code
