"""Who may use the counter: staff of a service or admins; parents and the DPO may not."""

from __future__ import annotations

import re

from counter_helpers import t, text_of
from flask import g

from inscriptions.extensions import db
from inscriptions.models import Account


def test_anonymous_visitors_are_sent_to_the_log_in_page(client):
    response = client.get("/guichet/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion")


def test_parents_are_refused(client, make_household, login):
    household = make_household()
    other = make_household(last_name="Petit")
    login(household)
    assert client.get("/guichet/").status_code == 403
    assert client.get(f"/guichet/foyers/{other.id}").status_code == 403
    assert client.get(f"/guichet/foyers/{other.id}/acces").status_code == 403
    assert client.post(f"/guichet/foyers/{other.id}/acces", data={"reason": "counter"}).status_code == 403
    assert client.get(f"/guichet/foyers/{other.id}/saisie/cantine").status_code == 403
    assert client.get("/guichet/foyers/nouveau").status_code == 403
    assert client.get("/guichet/code?code=ABCDE-FGHJK-01-X").status_code == 403


def test_the_dpo_has_no_counter(client, staff, login_as):
    login_as(staff("dpo"))
    assert client.get("/guichet/").status_code == 403


def test_an_agent_enters_forms_only_for_their_service(client, agent, make_household, open_household):
    household = make_household()
    open_household(household.id)
    assert client.get("/guichet/").status_code == 200
    assert client.get(f"/guichet/foyers/{household.id}/saisie/cantine").status_code == 200
    assert client.get(f"/guichet/foyers/{household.id}/saisie/piscine").status_code == 403
    child = household.children[0].id
    posted = client.post(f"/guichet/foyers/{household.id}/saisie/piscine", data={
        "_step": "entry", "setup-participant": f"c{child}", "setup-channel": "counter", "setup-session": "mer-14h",
    })
    assert posted.status_code == 403
    page = text_of(client.get(f"/guichet/foyers/{household.id}"))
    assert "/saisie/cantine" in page
    assert "/saisie/piscine" not in page


def test_an_admin_enters_forms_for_every_service(client, staff, login_as, make_household, open_household):
    login_as(staff("admin"))
    household = make_household()
    open_household(household.id)
    for code in ("cantine", "piscine", "cinema", "loisirs"):
        assert client.get(f"/guichet/foyers/{household.id}/saisie/{code}").status_code == 200


def test_an_unknown_household_or_service_is_not_found(client, agent, make_household, open_household):
    assert client.get("/guichet/foyers/999").status_code == 404
    household = make_household()
    open_household(household.id)
    assert client.get(f"/guichet/foyers/{household.id}/saisie/nothing").status_code == 404


def test_staff_land_on_the_counter_after_logging_in_and_parents_on_their_household(client, staff, make_household):
    staff("agent", "cantine", email="agent@mairie.test")
    account = db.session.scalar(db.select(Account).filter_by(email="agent@mairie.test"))
    account.set_password("a long enough password")
    db.session.commit()
    response = client.post("/connexion", data={"email": "agent@mairie.test", "password": "a long enough password"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/guichet/"

    client.post("/deconnexion")
    g.pop("_login_user", None)
    household = make_household()
    response = client.post("/connexion", data={
        "email": household.guardians[0].email, "password": "correct horse battery staple",
    })
    assert response.headers["Location"] == "/mon-foyer/"


def test_the_menu_shows_the_counter_to_staff_only(client, staff, login_as, make_household, login):
    login_as(staff("manager", "piscine"))
    page = text_of(client.get("/"))
    assert 'href="/guichet/"' in page
    assert t("Counter") in page
    # Staff have no household: no family links.
    assert 'href="/mon-foyer/"' not in page

    g.pop("_login_user", None)
    login(make_household())
    page = text_of(client.get("/"))
    assert 'href="/guichet/"' not in page
    assert 'href="/mon-foyer/"' in page


def test_counter_forms_carry_the_csrf_token_and_need_it(make_app, staff, make_household):
    from counter_helpers import KEY_INPUT

    csrf_app = make_app()  # CSRF on, as in production
    with csrf_app.app_context():
        agent = staff("agent", "cantine")
        household = make_household()
        client = csrf_app.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = agent.get_id()
        url = f"/guichet/foyers/{household.id}/acces"
        assert client.post(url, data={"reason": "counter"}).status_code == 400
        page = client.get(url).get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        assert client.post(url, data={"reason": "counter", "csrf_token": token}).status_code == 302
        entry = f"/guichet/foyers/{household.id}/saisie/cantine"
        page = client.get(entry).get_data(as_text=True)
        assert 'name="csrf_token"' in page
        data = {"_step": "setup", "setup-participant": f"c{household.children[0].id}", "setup-channel": "counter"}
        assert client.post(entry, data=data).status_code == 400
        shown = client.post(entry, data={**data, "csrf_token": token}).get_data(as_text=True)
        assert KEY_INPUT.search(shown) and 'name="csrf_token"' in shown
        assert client.post("/guichet/foyers/nouveau", data={}).status_code == 400
