"""A signed-in person changes their password: this browser stays logged in, every other session
and remember-me cookie of the account ends, and the current password is asked first."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from html import unescape

from flask import Flask, current_app, g
from flask.testing import FlaskClient

from inscriptions import clock
from inscriptions.extensions import db
from inscriptions.models import Account, Household

OLD = "ancien-mot-de-passe-2026"
NEW = "nouveau-mot-de-passe-2026"


def _fresh_user() -> None:
    # The test's app context is shared by its requests: Flask-Login's cached user must not pass
    # from one client to the next.
    g.pop("_login_user", None)


def _log_in(client: FlaskClient, email: str, password: str, *, remember: bool = False) -> None:
    _fresh_user()
    form = {"email": email, "password": password}
    if remember:
        form["remember"] = "y"
    reply = client.post("/connexion", data=form)
    assert reply.status_code == 302, reply.get_data(as_text=True)[:500]


def _signed_in(client: FlaskClient, path: str = "/compte/mot-de-passe") -> bool:
    _fresh_user()
    return client.get(path).status_code == 200


def _change(client: FlaskClient, current: str, new: str, confirm: str | None = None):  # type: ignore[no-untyped-def]
    _fresh_user()
    return client.post("/compte/mot-de-passe", data={
        "current_password": current, "password": new, "password_confirm": confirm or new})


def _family_account(make_household: Callable[..., Household]) -> Account:
    household = make_household()
    account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
    account.set_password(OLD)
    db.session.commit()
    return account


def test_changing_the_password_keeps_this_browser_and_ends_the_others(
    app: Flask, make_household: Callable[..., Household]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    account = _family_account(make_household)
    here, elsewhere, remembered = app.test_client(), app.test_client(), app.test_client()
    _log_in(here, account.email, OLD)
    _log_in(elsewhere, account.email, OLD)
    _log_in(remembered, account.email, OLD, remember=True)
    remembered.delete_cookie("session")  # only the remember-me cookie is left on that device
    assert _signed_in(here) and _signed_in(elsewhere) and _signed_in(remembered)

    done = _change(here, OLD, NEW)
    assert done.status_code == 302 and done.headers["Location"].endswith("/compte/mot-de-passe")
    page = unescape(here.get(done.headers["Location"]).get_data(as_text=True))
    assert "Vos autres sessions sont déconnectées" in page or "other sessions" in page
    assert _signed_in(here) and _signed_in(here, "/mon-foyer/")
    assert not _signed_in(elsewhere)
    assert not _signed_in(remembered)
    db.session.expire_all()
    assert account.check_password(NEW) and not account.check_password(OLD)


def test_a_remembered_browser_keeps_a_working_remember_cookie(
    app: Flask, make_household: Callable[..., Household]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    account = _family_account(make_household)
    client = app.test_client()
    _log_in(client, account.email, OLD, remember=True)
    assert _change(client, OLD, NEW).status_code == 302
    client.delete_cookie("session")  # the browser is closed and opened again
    assert _signed_in(client)


def test_a_wrong_current_password_changes_nothing(app: Flask, make_household: Callable[..., Household]) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    account = _family_account(make_household)
    client = app.test_client()
    _log_in(client, account.email, OLD)
    refused = _change(client, "pas-le-bon-mot-de-passe", NEW)
    assert refused.status_code == 400
    text = unescape(refused.get_data(as_text=True))
    assert 'id="current_password"' in text and "error-summary" in text
    mismatch = _change(client, OLD, NEW, confirm=NEW + "x")
    assert mismatch.status_code == 400
    db.session.expire_all()
    assert account.check_password(OLD) and not account.check_password(NEW)
    assert _signed_in(client)


def test_staff_reach_it_from_the_menu_and_families_from_their_household(
    app: Flask, client: FlaskClient, staff, login_as, make_household: Callable[..., Household]  # type: ignore[no-untyped-def]
) -> None:
    login_as(staff("agent", "cantine"))
    menu = client.get("/guichet/").get_data(as_text=True)
    assert re.search(r'<nav class="main-nav".*href="/compte/mot-de-passe"', menu, re.S)
    household = make_household()
    family = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
    login_as(family)
    assert 'href="/compte/mot-de-passe"' in client.get("/mon-foyer/").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_log_in(client: FlaskClient) -> None:
    reply = client.get("/compte/mot-de-passe")
    assert reply.status_code == 302 and "/connexion" in reply.headers["Location"]


def test_the_holder_is_told_by_email_when_and_how_to_get_the_account_back(
    app: Flask, make_household: Callable[..., Household]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    account = _family_account(make_household)
    client = app.test_client()
    _log_in(client, account.email, OLD)
    clock.freeze(dt.datetime(2026, 11, 22, 19, 5, tzinfo=dt.UTC))  # 20:05 in Paris
    try:
        assert _change(client, "pas-le-bon-mot-de-passe", NEW).status_code == 400
        sent = list(getattr(current_app.extensions["mailman"], "outbox", []))
        assert sent == []  # nothing changed, nothing to tell
        assert _change(client, OLD, NEW).status_code == 302
    finally:
        clock.freeze(None)
    [notice] = current_app.extensions["mailman"].outbox
    assert notice.to == [account.email]
    assert "mot de passe" in notice.subject and "changé" in notice.subject
    assert "dimanche 22 novembre 2026, 20:05" in notice.body
    assert re.search(r"https?://\S+/mot-de-passe/oubli\b", notice.body)
    assert NEW not in notice.body and OLD not in notice.body
