"""Security baseline: headers, cookies, rate limits, password reset, sign-up, upload size."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from inscriptions.auth.reset import account_for_reset_token, make_reset_token
from inscriptions.extensions import db
from inscriptions.models import Account, Household

PASSWORD = "correct horse battery staple"  # tests/conftest.py's make_household password

HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=()",
}


def _csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


@pytest.mark.parametrize("path", ["/", "/connexion", "/nope", "/api/v1/openapi.json", "/static/css/site.css"])
def test_every_response_has_the_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    for name, part in HEADERS.items():
        assert part in response.headers.get(name, ""), (path, name)
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp
    # Secure cookies are the default outside the development server: HSTS goes with them.
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_no_hsts_over_plain_http_development(make_app: Callable[..., Flask]) -> None:
    app = make_app(SESSION_COOKIE_SECURE=False)
    assert "Strict-Transport-Security" not in app.test_client().get("/").headers


def test_session_and_remember_cookies_are_secure_httponly_lax(app: Flask, client: FlaskClient,
                                                               make_household: Callable[..., Household]) -> None:
    household = make_household()
    email = household.guardians[0].email
    token = _csrf(client, "/connexion")
    response = client.post("/connexion", data={"csrf_token": token, "email": email, "password": PASSWORD,
                                               "remember": "y"})
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    names = {c.split("=", 1)[0]: c for c in cookies}
    assert {"session", "remember_token"} <= set(names)
    for cookie in (names["session"], names["remember_token"]):
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookies_setting(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from inscriptions.settings import load_settings

    monkeypatch.delenv("INSCRIPTIONS_SECURE_COOKIES", raising=False)
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    assert load_settings(tmp_path)["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # `inscriptions run` on http://127.0.0.1
    assert load_settings(tmp_path)["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("INSCRIPTIONS_SECURE_COOKIES", "1")
    settings = load_settings(tmp_path)
    assert settings["SESSION_COOKIE_SECURE"] is True and settings["REMEMBER_COOKIE_SECURE"] is True


def _login_post(client: FlaskClient, email: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/connexion", data={"csrf_token": _csrf(client, "/connexion"), "email": email,
                                           "password": password})


def test_login_rate_limited_per_account_with_retry_after(make_app: Callable[..., Flask],
                                                         make_household: Callable[..., Household]) -> None:
    app = make_app(LOGIN_LIMIT_PER_ACCOUNT="3 per 15 minutes")
    client = app.test_client()
    with app.app_context():
        household = make_household()
        email = household.guardians[0].email
    for _ in range(3):
        assert _login_post(client, email, "wrong password!").status_code == 200
    blocked = _login_post(client, email, PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    page = blocked.get_data(as_text=True)
    assert "Trop de tentatives" in page and 'id="retry-after"' in page
    # Another account from the same address is not blocked by this one's failures.
    assert _login_post(client, "someone.else@example.fr", "wrong password!").status_code == 200


def test_successful_logins_do_not_count_against_the_account(make_app: Callable[..., Flask],
                                                            make_household: Callable[..., Household]) -> None:
    app = make_app(LOGIN_LIMIT_PER_ACCOUNT="2 per 15 minutes")
    with app.app_context():
        email = make_household().guardians[0].email
    for _ in range(4):
        client = app.test_client()
        assert _login_post(client, email, PASSWORD).status_code == 302


def test_login_rate_limited_per_ip(make_app: Callable[..., Flask]) -> None:
    app = make_app(LOGIN_LIMIT_PER_IP="4 per minute")
    client = app.test_client()
    codes = [_login_post(client, f"x{i}@example.fr", "nope nope nope").status_code for i in range(5)]
    assert codes == [200, 200, 200, 200, 429]


def test_rate_limits_can_be_switched_off(make_app: Callable[..., Flask]) -> None:
    app = make_app(LOGIN_LIMIT_PER_IP="2 per minute", RATE_LIMITS_ENABLED=False)
    client = app.test_client()
    assert {_login_post(client, "a@example.fr", "nope nope nope").status_code for _ in range(4)} == {200}


def test_login_answer_is_the_same_for_unknown_and_known_email(app: Flask, client: FlaskClient,
                                                              make_household: Callable[..., Household]) -> None:
    email = make_household().guardians[0].email
    known = _login_post(client, email, "wrong password!")
    unknown = _login_post(client, "nobody@example.fr", "wrong password!")
    assert known.status_code == unknown.status_code == 200

    def strip(html: str) -> str:
        html = re.sub(r'value="[^"]*"', "", html)
        return html

    assert strip(known.get_data(as_text=True)) == strip(unknown.get_data(as_text=True))


def test_password_reset_link_works_once(app: Flask, client: FlaskClient,
                                        make_household: Callable[..., Household]) -> None:
    household = make_household()
    email = household.guardians[0].email
    response = client.post("/mot-de-passe/oubli", data={"csrf_token": _csrf(client, "/mot-de-passe/oubli"),
                                                        "email": email.upper()})
    assert response.status_code == 302 and response.headers["Location"].endswith("/mot-de-passe/oubli/envoye")
    messages = _sent()
    assert len(messages) == 1 and messages[0].to == [email]
    link = re.search(r"https?://\S+/mot-de-passe/nouveau/\S+", messages[0].body).group(0)
    path = link.split("localhost", 1)[1]
    assert client.get(path).status_code == 200
    new_password = "a brand new long password"
    done = client.post(path, data={"csrf_token": _csrf(client, path), "password": new_password,
                                   "password_confirm": new_password})
    assert done.status_code == 302 and done.headers["Location"].endswith("/connexion")
    account = db.session.scalar(db.select(Account).filter_by(email=email))
    db.session.refresh(account)
    assert account.check_password(new_password)
    # The holder is told, with the way back in should it not have been them.
    notice = _sent()[-1]
    assert len(_sent()) == 2 and notice.to == [email]
    assert "changé" in notice.subject and "/mot-de-passe/oubli" in notice.body
    assert new_password not in notice.body and "/mot-de-passe/nouveau/" not in notice.body
    # Used: the link is dead (the password hash it was bound to changed).
    assert client.get(path).status_code == 404
    assert client.post(path, data={"password": "another long password!", "password_confirm":
                                   "another long password!"}).status_code in (400, 404)


def _sent() -> list:  # type: ignore[type-arg]
    from flask import current_app

    return list(getattr(current_app.extensions["mailman"], "outbox", []))


def test_password_reset_does_not_tell_which_emails_have_an_account(app: Flask, client: FlaskClient,
                                                                   make_household: Callable[..., Household]) -> None:
    email = make_household().guardians[0].email
    answers = []
    for address in (email, "nobody@example.fr"):
        response = client.post("/mot-de-passe/oubli", data={"csrf_token": _csrf(client, "/mot-de-passe/oubli"),
                                                            "email": address})
        answers.append((response.status_code, response.headers.get("Location")))
    assert answers[0] == answers[1]
    assert len(_sent()) == 1


SIGNUP_FORM = {"password": "un mot de passe assez long", "password_confirm": "un mot de passe assez long",
               "first_name": "Alex", "last_name": "Dupont", "phone": "", "address_line1": "3 rue des Lilas",
               "postcode": "99990", "city": "Villebelle"}


def test_signup_answer_is_the_same_for_a_new_and_an_existing_address(app: Flask, client: FlaskClient,
                                                                   make_household: Callable[..., Household]) -> None:
    """Sign-up does not tell which e-mails have an account: same status, same redirect, same
    page; only the e-mail sent to the address differs."""
    email = make_household().guardians[0].email
    answers, pages = [], []
    for address in (email.upper(), "nobody@example.fr"):
        response = client.post("/compte/creer", data={**SIGNUP_FORM, "email": address,
                                                      "csrf_token": _csrf(client, "/compte/creer")})
        answers.append((response.status_code, response.headers.get("Location"),
                        sorted(k for k, _v in response.headers if not k.startswith("X-RateLimit"))))
        page = client.get(response.headers["Location"])
        pages.append((page.status_code, re.sub(r'value="[^"]*"', "", page.get_data(as_text=True))))
    assert answers[0] == answers[1]
    assert answers[0][0] == 302 and answers[0][1].endswith("/compte/creer/envoye")
    assert pages[0] == pages[1] and pages[0][0] == 200
    existing, new = _sent()
    assert existing.to == [email] and "/compte/confirmer/" not in existing.body
    assert new.to == ["nobody@example.fr"] and "/compte/confirmer/" in new.body
    assert db.session.scalar(db.select(db.func.count()).select_from(Account)) == 1


def test_signup_mails_to_one_address_are_rate_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(SIGNUP_LIMIT_PER_IP="3 per hour", WTF_CSRF_ENABLED=False)
    client = app.test_client()
    codes = [client.post("/compte/creer", data={**SIGNUP_FORM, "email": "victim@example.fr"}).status_code
             for _ in range(4)]
    assert codes == [302, 302, 302, 429]


def test_signup_link_uses_the_public_url_not_the_host_header(make_app: Callable[..., Flask]) -> None:
    app = make_app(PUBLIC_URL="https://inscriptions.villebelle.fr", SERVER_NAME=None, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    with app.app_context():
        response = client.post("/compte/creer", data={**SIGNUP_FORM, "email": "new@example.fr"},
                               headers={"Host": "evil.example"})
        assert response.status_code == 302
        [message] = _sent()
    assert "https://inscriptions.villebelle.fr/compte/confirmer/" in message.body
    assert "evil.example" not in message.body


def test_reset_token_expires_and_rejects_forgeries(app: Flask, make_household: Callable[..., Household],
                                                   frozen_clock) -> None:  # type: ignore[no-untyped-def]
    household = make_household()
    account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
    token = make_reset_token(account)
    assert account_for_reset_token(token) == account
    assert account_for_reset_token(token + "x") is None
    assert account_for_reset_token("not-a-token") is None
    app.config["PASSWORD_RESET_MAX_AGE"] = -1
    assert account_for_reset_token(token) is None


def test_too_large_request_gets_a_clear_413_page(make_app: Callable[..., Flask]) -> None:
    app = make_app(MAX_CONTENT_LENGTH=1024)
    response = app.test_client().post("/connexion", data={"email": "x" * 5000})
    assert response.status_code == 413
    assert "text/html" in response.headers["Content-Type"]
    assert "Content-Security-Policy" in response.headers


def test_uploads_live_outside_the_static_folder_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from inscriptions.settings import load_settings

    upload_dir = Path(load_settings(tmp_path)["UPLOAD_DIR"]).resolve()
    static = (Path(__file__).resolve().parents[2] / "inscriptions" / "static").resolve()
    assert static not in upload_dir.parents and upload_dir != static


def test_a_document_is_served_to_its_household_only_as_a_download(world_app) -> None:  # type: ignore[no-untyped-def]
    app, world = world_app
    owner = app.test_client()
    with owner.session_transaction() as session:
        session["_user_id"] = world.login_ids["parent_b"]
    response = owner.get(f"/mes-documents/{world.upload_b}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response.headers["Cache-Control"]
    for token in ("../../etc/passwd", "..%2F..%2Fsecret_key", world.upload_b + "x"):
        assert owner.get(f"/mes-documents/{token}").status_code == 404


def test_reset_link_uses_the_public_url_not_the_host_header(make_app: Callable[..., Flask],
                                                            make_household: Callable[..., Household]) -> None:
    # CSRF off: the session cookie belongs to "localhost", and this request claims another host.
    app = make_app(PUBLIC_URL="https://inscriptions.villebelle.fr", SERVER_NAME=None, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    with app.app_context():
        email = make_household().guardians[0].email
        response = client.post("/mot-de-passe/oubli", data={"email": email}, headers={"Host": "evil.example"})
        assert response.status_code == 302
        [message] = _sent()
    assert "https://inscriptions.villebelle.fr/mot-de-passe/nouveau/" in message.body
    assert "evil.example" not in message.body


def test_trusted_hosts_setting(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from inscriptions.settings import load_settings

    assert load_settings(tmp_path)["TRUSTED_HOSTS"] is None
    monkeypatch.setenv("INSCRIPTIONS_TRUSTED_HOSTS", "inscriptions.villebelle.fr, .villebelle.fr")
    assert load_settings(tmp_path)["TRUSTED_HOSTS"] == ["inscriptions.villebelle.fr", ".villebelle.fr"]


def test_unknown_emails_cost_a_password_check_too(app: Flask, make_household: Callable[..., Household],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Equal work, hence similar timing, whether the e-mail has an account or not (no timed test:
    the password hash check is what takes time, and it runs in both cases)."""
    from inscriptions.auth import accounts

    email = make_household().guardians[0].email
    calls: list[str] = []
    real = accounts.verify_password
    monkeypatch.setattr(accounts, "verify_password", lambda h, p: calls.append("dummy") or real(h, p))
    from inscriptions.models import Account as AccountModel

    real_check = AccountModel.check_password
    monkeypatch.setattr(AccountModel, "check_password", lambda self, p: calls.append("real") or real_check(self, p))
    assert accounts.authenticate("nobody@example.fr", "whatever password") is None
    assert accounts.authenticate(email, "wrong password here") is None
    assert calls == ["dummy", "real"]


def test_production_refuses_to_start_without_public_url_or_data_keys(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from inscriptions.settings import SettingsError, check_production

    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    with pytest.raises(SettingsError, match="INSCRIPTIONS_PUBLIC_URL is required"):
        check_production({"PUBLIC_URL": None})
    for wrong in ("inscriptions.villebelle.fr", "ftp://villebelle.fr", "https://villebelle.fr/?next=x"):
        with pytest.raises(SettingsError, match="must be the site's address"):
            check_production({"PUBLIC_URL": wrong})
    keys = "non_6BlDYC7DbjLwKs0tGdsnHO5qzd2pLdnul1wwEPQ="
    check_production({"PUBLIC_URL": "https://inscriptions.villebelle.fr/portail/", "DATA_KEYS": keys})
    # Nor without the keys of the sealed health answers (a generated one could be lost).
    with pytest.raises(SettingsError, match="INSCRIPTIONS_DATA_KEYS is required"):
        check_production({"PUBLIC_URL": "https://inscriptions.villebelle.fr/portail/", "DATA_KEYS": " "})
    check_production({"PUBLIC_URL": None, "TESTING": True})
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # the development server
    check_production({"PUBLIC_URL": None})


def test_gunicorns_entry_point_stops_with_a_one_line_reason(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("INSCRIPTIONS_", "FLASK_"))}
    env.update(INSCRIPTIONS_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", INSCRIPTIONS_SECRET_KEY="k")
    root = Path(__file__).resolve().parents[2]
    started = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=root, env=env,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode != 0
    assert started.stderr.strip().splitlines()[-1].startswith("Error: INSCRIPTIONS_PUBLIC_URL is required")


def test_links_in_messages_follow_the_public_url_inside_a_request_too(make_app: Callable[..., Flask]) -> None:
    from inscriptions.urls import public_url

    app = make_app(PUBLIC_URL="https://inscriptions.villebelle.fr", SERVER_NAME=None)
    with app.test_request_context("/", base_url="http://evil.example"):
        assert public_url("auth.login") == "https://inscriptions.villebelle.fr/connexion"
    app.config["PUBLIC_URL"] = None  # development: the request's own address
    with app.test_request_context("/", base_url="http://127.0.0.1:5000"):
        assert public_url("auth.login") == "http://127.0.0.1:5000/connexion"
