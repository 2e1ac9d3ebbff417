"""A locked account's owner is never locked out: only attempts that reached the password check
count, pauses grow with the failures, and the owner gets a link to log in all the same."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from inscriptions.auth.unlock import make_unlock_token
from inscriptions.extensions import db
from inscriptions.models import Account, Household

PASSWORD = "correct horse battery staple"  # tests/conftest.py's make_household password


def _login(client: FlaskClient, email: str, password: str, address: str = "203.0.113.7"):  # type: ignore[no-untyped-def]
    page = client.get("/connexion", environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return client.post("/connexion", data={"csrf_token": token, "email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def _unlock_mails(app: Flask) -> list:  # type: ignore[type-arg]
    outbox = getattr(app.extensions["mailman"], "outbox", [])
    return [m for m in outbox if "/connexion/debloquer/" in m.body]


def test_attempts_refused_by_the_address_limit_do_not_count_against_the_account(
        make_app: Callable[..., Flask], make_household: Callable[..., Household]) -> None:
    app = make_app(LOGIN_LIMIT_PER_IP="3 per minute", LOGIN_LIMIT_PER_ACCOUNT="5 per 15 minutes")
    with app.app_context():
        email = make_household().guardians[0].email
    attacker = app.test_client()
    codes = [_login(attacker, email, "wrong password!", "198.51.100.9").status_code for _ in range(20)]
    assert codes[:3] == [200] * 3 and set(codes[3:]) == {429}
    # 3 failures reached the account, not 20: the owner logs in from home.
    owner = app.test_client()
    assert _login(owner, email, PASSWORD, "192.0.2.1").status_code == 302


def test_the_owner_of_a_locked_account_gets_a_link_to_log_in(
        make_app: Callable[..., Flask], make_household: Callable[..., Household]) -> None:
    app = make_app(LOGIN_LIMIT_PER_ACCOUNT="3 per 15 minutes", LOGIN_LIMIT_PER_IP="1000 per minute",
                   PUBLIC_URL="https://inscriptions.villebelle.fr")
    with app.app_context():
        email = make_household().guardians[0].email
    attackers = [app.test_client() for _ in range(3)]
    for n, attacker in enumerate(attackers):
        for _ in range(4):
            _login(attacker, email, "wrong password!", f"198.51.100.{n}")
    owner = app.test_client()
    assert _login(owner, email, PASSWORD, "192.0.2.1").status_code == 429  # locked, whoever types
    mails = _unlock_mails(app)
    assert len(mails) == 1 and mails[0].to == [email]  # once, however many attempts
    link = re.search(r"https://inscriptions\.villebelle\.fr(/connexion/debloquer/\S+)", mails[0].body).group(1)
    # A locked unknown e-mail gets no mail (and the same 429).
    for _ in range(5):
        _login(attackers[0], "nobody@example.fr", "x" * 12, "198.51.100.0")
    assert len(_unlock_mails(app)) == 1

    page = owner.get(link)
    assert page.status_code == 200 and "Vous pouvez vous connecter maintenant" in page.get_data(as_text=True)
    assert _login(owner, email, PASSWORD, "192.0.2.1").status_code == 302
    # The link unlocks the browser that opened it only, and only for that account.
    assert _login(attackers[0], email, PASSWORD, "198.51.100.0").status_code == 429


def test_an_unlock_link_dies_with_a_password_change_or_its_age(  # type: ignore[no-untyped-def]
        app: Flask, make_household, client) -> None:
    from inscriptions.auth.unlock import account_for_unlock_token

    account = db.session.scalar(db.select(Account).filter_by(guardian_id=make_household().guardians[0].id))
    token = make_unlock_token(account)
    assert account_for_unlock_token(token) is account
    assert account_for_unlock_token(token + "x") is None
    account.set_password("another long password")
    assert account_for_unlock_token(token) is None
    fresh = make_unlock_token(account)
    app.config["LOGIN_UNLOCK_MAX_AGE"] = -1
    assert account_for_unlock_token(fresh) is None
    response = client.get(f"/connexion/debloquer/{fresh}")
    assert response.status_code == 200 and "Ce lien a expiré" in response.get_data(as_text=True)
