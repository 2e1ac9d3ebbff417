"""Sessions and remember-me cookies end when the account's password changes.

Flask-Login's "alternative tokens": ``Account.get_id()`` is ``"<id>:<fingerprint>"``, the
fingerprint a keyed digest of the password hash (salted anew at every change), and the user loader
refuses a fingerprint that no longer matches. So someone holding a stolen session or remember-me
cookie loses access when the victim changes the password.

The site runs on an app of its own (``make_app``) with no app context pushed around the requests,
so each request loads its user afresh, as in production (the ``app`` fixture's shared context
would keep Flask-Login's cached user between requests).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login.utils import encode_cookie

from inscriptions.auth.accounts import load_account
from inscriptions.auth.reset import make_reset_token
from inscriptions.extensions import db
from inscriptions.models import Account, Household

PASSWORD = "correct horse battery staple"  # tests/conftest.py's make_household password
NEW_PASSWORD = "a brand new long password"
PROTECTED = "/mon-foyer/"


@pytest.fixture
def site(make_app: Callable[..., Flask]) -> Flask:
    """The site with CSRF on, as in production; rate limits off (many log-ins from one address)."""
    return make_app(RATE_LIMITS_ENABLED=False)


@pytest.fixture
def family(app: Flask, make_household: Callable[..., Household]) -> tuple[int, str]:
    """A family account (id, e-mail), committed."""
    household = make_household()
    account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
    assert account is not None
    db.session.commit()
    return account.id, account.email


def _csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def _log_in(client: FlaskClient, email: str, password: str = PASSWORD, *, remember: bool = False) -> None:
    data = {"csrf_token": _csrf(client, "/connexion"), "email": email, "password": password}
    if remember:
        data["remember"] = "y"
    response = client.post("/connexion", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def _logged_in(client: FlaskClient) -> bool:
    """Whether a page behind log-in opens (else the visitor is sent to the log-in page)."""
    response = client.get(PROTECTED)
    if response.status_code == 302:
        assert "/connexion" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def _drop_session_cookie(site: Flask, client: FlaskClient) -> None:
    """Keep only the remember-me cookie, as a browser reopened after the session cookie expired."""
    client.delete_cookie(site.config["SESSION_COOKIE_NAME"])


def _reset_password(site: Flask, client: FlaskClient, account_id: int, password: str = NEW_PASSWORD) -> None:
    with site.app_context():
        token = make_reset_token(db.session.get(Account, account_id))
    path = f"/mot-de-passe/nouveau/{token}"
    response = client.post(path, data={"csrf_token": _csrf(client, path), "password": password,
                                       "password_confirm": password})
    assert response.status_code == 302 and response.headers["Location"].endswith("/connexion")


def test_get_id_carries_a_fingerprint_that_follows_the_password(app: Flask, family: tuple[int, str]) -> None:
    account = db.session.get(Account, family[0])
    before = account.get_id()
    account_id, fingerprint, issued = before.split(":")
    assert account_id == str(account.id)
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint) and issued.isdigit()
    # Not a piece of the password hash: the session cookie is only signed, anyone can read it.
    assert fingerprint not in account.password_hash
    assert load_account(before) is account
    account.set_password(PASSWORD)  # even the same password gets a new salt
    assert account.get_id() != before
    assert load_account(before) is None
    assert load_account(account.get_id()) is account


def test_password_reset_ends_every_session_and_remember_cookie(site: Flask, family: tuple[int, str]) -> None:
    account_id, email = family
    other, remembered, resetter = site.test_client(), site.test_client(), site.test_client()
    _log_in(other, email)
    _log_in(remembered, email, remember=True)
    # The remember-me cookie alone logs in before the change...
    _drop_session_cookie(site, remembered)
    assert _logged_in(other) and _logged_in(remembered)

    _reset_password(site, resetter, account_id)

    assert not _logged_in(other)
    # ... and not after it (the session it had just opened has ended too).
    assert not _logged_in(remembered)
    _drop_session_cookie(site, remembered)
    assert remembered.get_cookie("remember_token") is not None
    assert not _logged_in(remembered)
    assert not _logged_in(resetter)
    # The new password logs in as usual, with a working remember-me cookie.
    _log_in(resetter, email, NEW_PASSWORD, remember=True)
    _drop_session_cookie(site, resetter)
    assert _logged_in(resetter)


def test_a_reset_from_a_logged_in_browser_logs_it_out_too(site: Flask, family: tuple[int, str]) -> None:
    """The reset page ends with "log in with your new password", the browser that used it included."""
    account_id, email = family
    browser = site.test_client()
    _log_in(browser, email, remember=True)
    _reset_password(site, browser, account_id)
    assert not _logged_in(browser)
    _drop_session_cookie(site, browser)
    assert not _logged_in(browser)
    _log_in(browser, email, NEW_PASSWORD)
    assert _logged_in(browser)


def test_a_password_set_from_the_command_line_ends_the_staff_sessions(site: Flask) -> None:
    """``inscriptions staff create ... --password`` (permissions.grant_role) changes it too."""
    from inscriptions.permissions import grant_role

    with site.app_context():
        grant_role("agent@mairie.test", "agent", "cantine", password=PASSWORD)
        db.session.commit()
    session_only, remembered = site.test_client(), site.test_client()
    _log_in(session_only, "agent@mairie.test")
    _log_in(remembered, "agent@mairie.test", remember=True)
    _drop_session_cookie(site, remembered)
    assert session_only.get("/guichet/").status_code == 200
    assert remembered.get("/guichet/").status_code == 200
    _drop_session_cookie(site, remembered)

    with site.app_context():
        grant_role("agent@mairie.test", "agent", "cantine", password=NEW_PASSWORD)
        db.session.commit()

    for client in (session_only, remembered):
        response = client.get("/guichet/")
        assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_a_deactivated_account_loses_its_sessions(site: Flask, family: tuple[int, str]) -> None:
    account_id, email = family
    client = site.test_client()
    _log_in(client, email, remember=True)
    assert _logged_in(client)
    with site.app_context():
        db.session.get(Account, account_id).active = False
        db.session.commit()
    assert not _logged_in(client)
    _drop_session_cookie(site, client)
    assert not _logged_in(client)


def test_bare_or_forged_user_ids_are_refused(site: Flask, family: tuple[int, str],
                                             make_household: Callable[..., Household]) -> None:
    account_id, _email = family
    with site.app_context():
        account = db.session.get(Account, account_id)
        genuine = account.get_id()
        fingerprint, issued = genuine.split(":")[1:]
        other = db.session.scalar(db.select(Account).filter(Account.id != account_id))
        other_id = other.id if other else account_id + 1000
    forged = [
        str(account_id),  # a bare id: what sessions held before fingerprints
        f"{account_id}:{fingerprint}",  # no log-in time: what sessions held before it
        f"{account_id}:{fingerprint}:{int(issued) - 1}",  # another log-in time, same fingerprint
        f"{account_id}:{fingerprint}:",
        f"{account_id}:{fingerprint}:{issued}x",
        f"{account_id}:",
        f"{account_id}:{'0' * 16}:{issued}",
        f"{account_id}:{fingerprint.upper()}:{issued}",
        f"{account_id}:{fingerprint[:-1]}:{issued}",
        f"{account_id}:{fingerprint}x:{issued}",
        f"{account_id}:é{fingerprint[1:]}:{issued}",  # not ASCII: refused, not a server error
        f"{account_id}:{fingerprint}:{'٩' * 10}",  # non-ASCII digits
        f"{other_id}:{fingerprint}:{issued}",  # the fingerprint of another account
        f"{account_id + 1000}:{fingerprint}:{issued}",  # no such account
        f":{fingerprint}:{issued}",
        f"x{account_id}:{fingerprint}:{issued}",
        "",
        ":",
    ]
    for user_id in forged:
        client = site.test_client()
        with client.session_transaction() as session:
            session["_user_id"] = user_id
            session["_fresh"] = True
        assert not _logged_in(client), user_id
    with site.app_context():
        for user_id in forged:
            assert load_account(user_id) is None, user_id
    client = site.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = genuine
    assert _logged_in(client)


def test_a_signed_remember_cookie_with_a_bare_id_is_refused(site: Flask, family: tuple[int, str]) -> None:
    """A remember-me cookie correctly signed but holding only the id (as issued before the
    fingerprint) no longer logs in; the same cookie with the current fingerprint does."""
    account_id, _email = family
    cookie_name = site.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    with site.app_context():
        bare = encode_cookie(str(account_id))
        genuine = encode_cookie(db.session.get(Account, account_id).get_id())
    client = site.test_client()
    client.set_cookie(cookie_name, bare)
    assert not _logged_in(client)
    client = site.test_client()
    client.set_cookie(cookie_name, genuine)
    assert _logged_in(client)



def _copy_cookies(source: FlaskClient, site: Flask) -> FlaskClient:
    """Another browser holding copies of ``source``'s cookies (a shared PC, a stolen laptop)."""
    thief = site.test_client()
    for name in (site.config["SESSION_COOKIE_NAME"], site.config.get("REMEMBER_COOKIE_NAME", "remember_token")):
        cookie = source.get_cookie(name)
        if cookie is not None:
            thief.set_cookie(name, cookie.value)
    return thief


def _log_out(client: FlaskClient) -> None:
    response = client.post("/deconnexion", data={"csrf_token": _csrf(client, "/mon-foyer/")})
    assert response.status_code == 302


def test_logging_out_ends_copies_of_the_session_and_remember_cookies(site: Flask, family: tuple[int, str]) -> None:
    _account_id, email = family
    browser = site.test_client()
    _log_in(browser, email, remember=True)
    session_copy, remember_copy = _copy_cookies(browser, site), _copy_cookies(browser, site)
    _drop_session_cookie(site, remember_copy)
    assert _logged_in(session_copy) and _logged_in(remember_copy)
    _drop_session_cookie(site, remember_copy)

    _log_out(browser)

    assert not _logged_in(browser)
    assert not _logged_in(session_copy)
    assert remember_copy.get_cookie("remember_token") is not None
    assert not _logged_in(remember_copy)
    # Logging in again works as usual.
    _log_in(browser, email)
    assert _logged_in(browser)


def test_staff_end_sessions_command(site: Flask, family: tuple[int, str]) -> None:
    _account_id, email = family
    browser = site.test_client()
    _log_in(browser, email, remember=True)
    assert _logged_in(browser)
    db.session.rollback()  # the test's own read transaction, on the same SQLite file
    result = site.test_cli_runner().invoke(args=["staff", "end-sessions", email.upper()])
    assert result.exit_code == 0 and "every session ended" in result.output
    assert not _logged_in(browser)
    _drop_session_cookie(site, browser)
    assert not _logged_in(browser)
    missing = site.test_cli_runner().invoke(args=["staff", "end-sessions", "nobody@example.fr"])
    assert missing.exit_code != 0 and "no account" in missing.output


def test_sessions_and_remember_cookies_expire(site: Flask, family: tuple[int, str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import inscriptions.auth.accounts as accounts
    import inscriptions.models.account as account_model

    _account_id, email = family
    browser = site.test_client()
    _log_in(browser, email, remember=True)
    remembered = _copy_cookies(browser, site)
    _drop_session_cookie(site, remembered)
    now = account_model.session_clock()
    lifetime = int(site.config["REMEMBER_COOKIE_DURATION"].total_seconds())
    monkeypatch.setattr(accounts, "session_clock", lambda: now + lifetime - 60)
    assert _logged_in(browser)
    monkeypatch.setattr(accounts, "session_clock", lambda: now + lifetime + 60)
    assert not _logged_in(browser)
    assert not _logged_in(remembered)


def test_signed_in_pages_are_not_cached(site: Flask, family: tuple[int, str]) -> None:
    _account_id, email = family
    visitor = site.test_client()
    assert "no-store" not in visitor.get("/").headers.get("Cache-Control", "")
    browser = site.test_client()
    _log_in(browser, email)
    for path in ("/mon-foyer/", "/", "/mes-inscriptions"):
        response = browser.get(path)
        assert response.headers.get("Cache-Control") == "no-store", path
    stylesheet = next(iter(site.url_map.iter_rules("static"))).rule.replace("<path:filename>", "css/site.css")
    assert "no-store" not in browser.get(stylesheet).headers.get("Cache-Control", "")
