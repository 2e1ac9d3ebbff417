"""Who may open which back-office page: anonymous, parents, agents of the service or of another
service, managers, administrators and the DPO."""

from __future__ import annotations

import pytest

from inscriptions.extensions import db
from inscriptions.models import AuditEvent


@pytest.fixture
def setup(make_household, book, staff):  # type: ignore[no-untyped-def]
    home = make_household()
    reg_id = book(home).registration_ids[0]
    other = book(make_household(last_name="Durand"), service="autre").registration_ids[0]
    from inscriptions.models import Registration

    return {
        "home": home,
        "ref": db.session.get(Registration, reg_id).reference,
        "other_ref": db.session.get(Registration, other).reference,
    }


def _pages(ref: str) -> list[tuple[str, str]]:
    return [
        ("get", "/gestion/"),
        ("get", "/gestion/revue/"),
        ("get", f"/gestion/revue/inscriptions/{ref}"),
        ("post", f"/gestion/revue/inscriptions/{ref}/statut"),
        ("post", "/gestion/revue/actions"),
        ("get", "/gestion/revue/courriers"),
        ("get", f"/gestion/revue/inscriptions/{ref}/courrier.pdf"),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(client, setup) -> None:  # type: ignore[no-untyped-def]
    for method, url in _pages(setup["ref"]):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert "/connexion" in response.headers["Location"] or "login" in response.headers["Location"], url


def test_parents_are_denied(client, setup, login) -> None:  # type: ignore[no-untyped-def]
    login(setup["home"])
    for method, url in _pages(setup["ref"]):
        assert getattr(client, method)(url).status_code == 403, url


def test_agent_of_another_service_is_denied(client, setup, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as(staff("agent", "autre"))
    assert client.get("/gestion/").status_code == 200
    for method, url in _pages(setup["ref"])[1:]:
        assert getattr(client, method)(url).status_code == 403, url
    # Its own service's pages do not show another service's registration either.
    assert client.get(f"/gestion/autre/inscriptions/{setup['ref']}").status_code == 404
    assert client.post(f"/gestion/autre/inscriptions/{setup['ref']}/statut", data={"to": "accepted"}).status_code == 404


def test_agent_manager_and_admin_of_the_service_get_in(client, setup, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    for account in (staff("agent", "revue"), staff("manager", "revue"), staff("admin")):
        login_as(account)
        for url in ("/gestion/", "/gestion/revue/", f"/gestion/revue/inscriptions/{setup['ref']}",
                    "/gestion/revue/courriers"):
            assert client.get(url).status_code == 200, (account.email, url)


def test_the_home_lists_only_the_services_granted(client, setup, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as(staff("agent", "revue"))
    html = client.get("/gestion/").get_data(as_text=True)
    assert 'data-service="revue"' in html
    assert 'data-service="autre"' not in html
    assert "/gestion/revue/" in html


def test_dpo_opens_the_home_but_no_service_queue(client, setup, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as(staff("dpo"))
    assert client.get("/gestion/").status_code == 200
    assert client.get("/gestion/revue/").status_code == 403
    assert client.get(f"/gestion/revue/inscriptions/{setup['ref']}").status_code == 403


def test_unknown_service_or_reference_is_404(client, setup, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    login_as(staff("admin"))
    assert client.get("/gestion/inconnu/").status_code == 404
    assert client.get("/gestion/revue/inscriptions/REV-2026-999999").status_code == 404


def test_staff_see_the_back_office_link(client, setup, staff, login_as, login) -> None:  # type: ignore[no-untyped-def]
    login_as(staff("agent", "revue"))
    assert 'href="/gestion/"' in client.get("/").get_data(as_text=True)
    login(setup["home"])
    assert 'href="/gestion/"' not in client.get("/").get_data(as_text=True)


def test_reads_are_audited(client, setup, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    agent = login_as(staff("agent", "revue"))
    client.get("/gestion/revue/")
    client.get(f"/gestion/revue/inscriptions/{setup['ref']}")
    events = list(db.session.scalars(db.select(AuditEvent).filter_by(actor_account_id=agent.id)
                                     .order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["read_queue", "read_registration"]
    assert events[1].household_id == setup["home"].id
    assert events[1].detail["reference"] == setup["ref"]
    assert events[0].reason and events[1].reason


def test_forms_need_the_csrf_token(make_app, plugins_dir, setup, staff) -> None:  # type: ignore[no-untyped-def]
    from flask import g

    app = make_app(PLUGINS_DIR=plugins_dir)  # CSRF on, as in production
    agent = staff("agent", "revue")
    with app.test_client() as client:
        g.pop("_login_user", None)
        with client.session_transaction() as session:
            session["_user_id"] = agent.get_id()
            session["_fresh"] = True
        response = client.post(f"/gestion/revue/inscriptions/{setup['ref']}/statut", data={"to": "accepted"})
        assert response.status_code == 400
        response = client.post("/gestion/revue/actions", data={"to": "accepted"})
        assert response.status_code == 400
