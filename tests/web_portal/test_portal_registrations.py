"""My registrations, their detail, cancelling, and other households' URLs."""

from __future__ import annotations

from html import unescape

import pytest
from flask import g

from inscriptions.extensions import db
from inscriptions.models import Account, Status
from inscriptions.registrations.cancel import CancellationRefused, cancel_registration


def _register_canteen(portal, household, *, allergy="yes"):  # type: ignore[no-untyped-def]
    child = household.children[0]
    p = f"c{child.id}"
    token = portal.start("cantine", participant=[p])
    portal.page(token, 1, {f"{p}-days": ["tue"], f"{p}-diet": "sans_viande", f"{p}-allergy": allergy,
                           f"{p}-pai_details": "Lait"})
    portal.page(token, 2, {"rules": "y"})
    assert portal.confirm(token).status_code == 302
    return portal.registrations(household)[-1]


def test_my_registrations_grouped_by_service(client, portal, logged_in):
    reg = _register_canteen(portal, logged_in)
    page = client.get("/mes-inscriptions").get_data(as_text=True)
    assert "Restauration scolaire</h2>" in page
    assert reg.reference in page and "Léa Martin" in page
    assert "Acceptée" in page and "2,40 € par repas" in page
    assert f'href="/mes-inscriptions/{reg.reference}"' in page


def test_detail_shows_answers_price_and_history(client, portal, logged_in):
    reg = _register_canteen(portal, logged_in)
    page = client.get(f"/mes-inscriptions/{reg.reference}").get_data(as_text=True)
    assert "Sans viande" in page and "Mardi" in page
    assert "Lait" in page  # the family sees its own sensitive answers
    assert "Quotient familial 600" in page  # the price detail line
    assert "Inscription faite : Acceptée" in page and "par vous" in page
    assert "Version du formulaire" in page
    assert f'href="/mes-inscriptions/{reg.reference}/annulation"' in page


def test_cancel_asks_then_cancels(client, portal, logged_in):
    reg = _register_canteen(portal, logged_in)
    url = f"/mes-inscriptions/{reg.reference}/annulation"
    confirm = client.get(url).get_data(as_text=True)
    assert "Annuler cette inscription ?" in confirm and 'name="csrf_token"' in confirm
    response = client.post(url, data={"reason": "Nous déménageons"})
    assert response.headers["Location"].endswith(f"/mes-inscriptions/{reg.reference}")
    db.session.expire_all()
    assert reg.status == Status.CANCELLED
    last = reg.history[-1]
    assert (last.from_status, last.to_status, last.reason) == ("accepted", "cancelled", "Nous déménageons")
    account = db.session.scalar(db.select(Account).filter_by(guardian_id=logged_in.guardians[0].id))
    assert last.by_id == account.id
    page = unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert f"L'inscription {reg.reference} est annulée." in page
    assert "/annulation" not in page  # no second cancel button
    # A second cancel (another tab) is refused, nothing changes.
    again = client.post(url)
    assert again.status_code == 302
    assert "ne peut pas être annulée en ligne" in client.get(again.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert len(reg.history) == 2


def test_cancel_registration_refusals(app, portal, logged_in):
    reg = _register_canteen(portal, logged_in)
    cancel_registration(reg.id, by_id=None, reason="x")
    with pytest.raises(CancellationRefused, match="déjà annulée"):
        cancel_registration(reg.id, by_id=None)
    with pytest.raises(CancellationRefused, match="n'existe pas"):
        cancel_registration(999_999, by_id=None)


def test_service_without_online_cancelling(client, portal, logged_in):
    guardian = logged_in.guardians[0]
    token = portal.start("atelier", participant=[f"g{guardian.id}"])
    portal.page(token, 1, {f"g{guardian.id}-phone": "06 11 22 33 44"})
    portal.confirm(token)
    (reg,) = portal.registrations(logged_in)
    assert reg.guardian_id == guardian.id and reg.price == 12
    page = client.get(f"/mes-inscriptions/{reg.reference}").get_data(as_text=True)
    assert "/annulation" not in page
    assert client.post(f"/mes-inscriptions/{reg.reference}/annulation").status_code == 302
    with pytest.raises(CancellationRefused, match="ne peuvent pas être annulées en ligne"):
        cancel_registration(reg.id, by_id=None)
    db.session.expire_all()
    assert reg.status == Status.ACCEPTED


def test_other_households_urls_are_not_found(client, portal, logged_in, make_household, login):
    reg = _register_canteen(portal, logged_in)
    tom = logged_in.children[1]
    token = portal.start("cantine", participant=[f"c{tom.id}"])
    other = make_household(last_name="Durand")
    login(other)
    # The test app context outlives requests: forget the user Flask-Login cached in ``g``.
    g.pop("_login_user", None)
    assert client.get(f"/mes-inscriptions/{reg.reference}").status_code == 404
    assert client.get(f"/mes-inscriptions/{reg.reference}/annulation").status_code == 404
    assert client.post(f"/mes-inscriptions/{reg.reference}/annulation").status_code == 404
    for url in (f"/inscription/{token}/etape/1", f"/inscription/{token}/recapitulatif",
                f"/inscription/{token}/confirmation", f"/services/cantine/inscription?brouillon={token}"):
        assert client.get(url).status_code == 404, url
    assert portal.page(token, 1, {}).status_code == 404
    assert portal.confirm(token).status_code == 404
    db.session.expire_all()
    assert reg.status == Status.ACCEPTED
    assert reg.reference not in client.get("/mes-inscriptions").get_data(as_text=True)


@pytest.mark.parametrize("url", [
    "/services/nope", "/services/nope/inscription", "/mes-inscriptions/NOPE-2026-000001",
    "/mes-inscriptions/" + "X" * 300, "/inscription/abc/etape/1", "/inscription/" + "a" * 200 + "/recapitulatif",
    "/inscription/abc/confirmation", "/mes-documents/abc", "/mes-documents/" + "b" * 100,
])
def test_bad_urls_are_not_found(client, logged_in, url):
    assert client.get(url).status_code == 404


def test_login_is_required_except_for_the_catalogue(client):
    assert client.get("/").status_code == 200
    assert client.get("/services/cantine").status_code == 200
    for url in ("/services/cantine/inscription", "/mes-inscriptions", "/mes-inscriptions/CAN-2026-000001"):
        response = client.get(url)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"], url
