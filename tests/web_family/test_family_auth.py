"""Sign-up, log-in and log-out through the web pages, CSRF included."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from family_helpers import PASSWORD, csrf_token_of, t, text_of
from sqlalchemy import func, select

from inscriptions.auth.accounts import safe_next
from inscriptions.auth.passwords import verify_password
from inscriptions.auth.signup import pending_signup_for_token
from inscriptions.extensions import db
from inscriptions.models import Account, Guardian, Household

SIGNUP = {
    "email": "  Alex.Dupont@Example.FR ",
    "password": "un mot de passe assez long",
    "password_confirm": "un mot de passe assez long",
    "first_name": "Alex",
    "last_name": "Dupont",
    "phone": "0612345678",
    "address_line1": "3 rue des Lilas",
    "postcode": "99 990",
    "city": "Villebelle",
}


def count(model) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(select(func.count()).select_from(model))


def outbox() -> list:  # type: ignore[type-arg]
    """Messages sent so far (tests use Flask-Mailman's "locmem" backend)."""
    from flask import current_app

    return list(getattr(current_app.extensions["mailman"], "outbox", []))


def link_in(body: str, path: str) -> str:
    """The site-relative address of the link to ``path`` in an e-mail ``body``."""
    found = re.search(r"https?://[^/\s]+(" + re.escape(path) + r"\S*)", body)
    assert found, body
    return found.group(1)


def confirm(client, link: str):  # type: ignore[no-untyped-def]
    """Open the e-mailed link and press its one button, as a parent would."""
    page = client.get(link)
    assert page.status_code == 200
    return client.post(link, data={"csrf_token": csrf_token_of(page.get_data(as_text=True))})


def test_signup_sends_a_link_that_creates_the_household_and_logs_in(client, submit):
    response = submit("/compte/creer", SIGNUP)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/compte/creer/envoye")
    assert client.get(response.headers["Location"]).status_code == 200
    # Nothing is saved until the link is used.
    assert (count(Account), count(Household), count(Guardian)) == (0, 0, 0)
    [message] = outbox()
    assert message.to == ["alex.dupont@example.fr"]
    link = link_in(message.body, "/compte/confirmer/")
    # The link carries what the form said encrypted: nothing readable, not even the hash.
    token = link.rsplit("/", 1)[1]
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for secret in (SIGNUP["password"], "alex.dupont", "Dupont", "argon2", "pbkdf2", "scrypt"):
        assert secret.encode() not in raw and secret not in token
    pending = pending_signup_for_token(token)
    assert pending is not None and verify_password(pending.password_hash, SIGNUP["password"])

    response = confirm(client, link)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/mon-foyer/")
    account = db.session.scalar(select(Account))
    assert account.email == "alex.dupont@example.fr"
    assert account.password_hash != SIGNUP["password"]
    assert account.check_password(SIGNUP["password"])
    assert account.last_login_at is not None
    guardian = account.guardian
    assert (guardian.first_name, guardian.last_name) == ("Alex", "Dupont")
    assert guardian.email == "alex.dupont@example.fr"
    assert guardian.phone == "06 12 34 56 78"
    household = guardian.household
    assert (household.address_line1, household.postcode, household.city) == ("3 rue des Lilas", "99990", "Villebelle")
    assert household.children == []

    page = client.get("/mon-foyer/")
    assert page.status_code == 200
    assert "Alex Dupont" in text_of(page)
    assert t("Your account is created. Now add your children to your household.") in text_of(page)


def test_a_confirmation_link_used_twice_does_not_create_a_second_account(app, client, submit):
    submit("/compte/creer", SIGNUP)
    link = link_in(outbox()[0].body, "/compte/confirmer/")
    assert confirm(client, link).status_code == 302
    client.post("/deconnexion", data={"csrf_token": csrf_token_of(client.get("/mon-foyer/").get_data(as_text=True))})
    # Opened again (or pressed again from an old tab): a clear page with a link to log in.
    csrf = csrf_token_of(client.get("/connexion").get_data(as_text=True))
    for response in (client.get(link), client.post(link, data={"csrf_token": csrf})):
        assert response.status_code == 409
        body = text_of(response)
        assert 'id="signup-done"' in body
        assert 'href="/connexion"' in body
    assert (count(Account), count(Household), count(Guardian)) == (1, 1, 1)
    assert client.get("/mon-foyer/").status_code == 302


def test_a_link_from_two_sign_ups_of_the_same_address_creates_one_account(client, submit):
    submit("/compte/creer", SIGNUP)
    submit("/compte/creer", {**SIGNUP, "first_name": "Alexandre"})
    first, second = (link_in(m.body, "/compte/confirmer/") for m in outbox())
    assert confirm(client, first).status_code == 302
    client.post("/deconnexion", data={"csrf_token": csrf_token_of(client.get("/mon-foyer/").get_data(as_text=True))})
    assert client.get(second).status_code == 409
    assert count(Account) == 1


def test_expired_or_damaged_confirmation_links_are_refused(app, client, submit):
    submit("/compte/creer", SIGNUP)
    link = link_in(outbox()[0].body, "/compte/confirmer/")
    assert client.get(link + "x").status_code == 404
    assert client.get("/compte/confirmer/not-a-token").status_code == 404
    app.config["SIGNUP_CONFIRM_MAX_AGE"] = -1
    response = client.get(link)
    assert response.status_code == 404
    assert 'id="signup-invalid"' in text_of(response)
    assert 'href="/compte/creer"' in text_of(response)
    assert count(Account) == 0


def test_signup_with_an_email_already_used_says_so_only_by_email(client, submit, make_household):
    make_household(email="alex.dupont@example.fr")
    before = (count(Account), count(Household), count(Guardian))
    response = submit("/compte/creer", SIGNUP)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/compte/creer/envoye")
    assert (count(Account), count(Household), count(Guardian)) == before
    [message] = outbox()
    assert message.to == ["alex.dupont@example.fr"]
    assert link_in(message.body, "/connexion") == "/connexion"
    assert link_in(message.body, "/mot-de-passe/oubli") == "/mot-de-passe/oubli"
    assert "/compte/confirmer/" not in message.body


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"password": "short pass", "password_confirm": "short pass"}, "password",
         ("The password must have at least %(n)s characters.", {"n": 12})),
        ({"password_confirm": "un autre mot de passe long"}, "password_confirm",
         ("The two passwords are different.", {})),
        ({"postcode": "9999"}, "postcode", ("Enter a postcode of 5 digits, for example 75011.", {})),
        ({"postcode": "ABCDE"}, "postcode", ("Enter a postcode of 5 digits, for example 75011.", {})),
        ({"phone": "12345"}, "phone", ("Invalid phone number: 10 digits, for example 06 12 34 56 78.", {})),
        ({"email": "not-an-email"}, "email", ("Enter an e-mail address like name@example.fr.", {})),
        ({"city": ""}, "city", ("Enter the city.", {})),
    ],
)
def test_signup_errors_are_shown_next_to_the_field_and_nothing_is_lost(client, submit, changes, field, message):
    response = submit("/compte/creer", {**SIGNUP, **changes})
    assert response.status_code == 200
    body = text_of(response)
    msgid, variables = message
    assert t(msgid, **variables) in body
    # The error is tied to its input, and listed in the summary with a link to the field.
    assert f'id="{field}-error"' in body
    assert f'aria-describedby="{field}-error"' in body or f'{field}-hint {field}-error"' in body
    assert 'aria-invalid="true"' in body
    assert f'href="#{field}"' in body
    assert body.count('aria-invalid="true"') == 1
    # Typed answers are kept (passwords excepted, as browsers expect).
    assert 'value="Dupont"' in body
    assert 'value="3 rue des Lilas"' in body
    assert "<title>" + t("Error:") in body
    assert count(Account) == 0


def test_signup_page_has_labels_and_autocomplete(client):
    body = text_of(client.get("/compte/creer"))
    for name, token in [
        ("email", "email"), ("password", "new-password"), ("password_confirm", "new-password"),
        ("first_name", "given-name"), ("last_name", "family-name"), ("phone", "tel"),
        ("address_line1", "street-address"), ("postcode", "postal-code"), ("city", "address-level2"),
    ]:
        assert f'<label for="{name}">' in body
        assert f'autocomplete="{token}"' in body
    assert 'type="tel"' in body
    assert 'inputmode="numeric"' in body
    assert "placeholder" not in body
    assert "<fieldset>" in body and "<legend>" in body


def test_login_with_any_case_redirects_to_the_household_and_records_the_time(client, submit, make_household):
    household = make_household(email="camille@example.fr")
    response = submit("/connexion", {"email": " CAMILLE@Example.fr", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/mon-foyer/")
    account = db.session.scalar(select(Account).filter_by(email="camille@example.fr"))
    assert account.last_login_at is not None
    assert client.get("/mon-foyer/").status_code == 200
    assert household.guardians[0].full_name in text_of(client.get("/mon-foyer/"))


def test_wrong_password_and_unknown_email_get_the_same_generic_message(client, submit, make_household):
    make_household(email="camille@example.fr")
    wrong = submit("/connexion", {"email": "camille@example.fr", "password": "not the password"})
    unknown = submit("/connexion", {"email": "nobody@example.fr", "password": "not the password"})
    message = t("The e-mail address or the password is not correct.")
    for response in (wrong, unknown):
        assert response.status_code == 200
        assert message in text_of(response)
    # Nothing else tells the two cases apart.
    assert text_of(wrong).replace("camille@example.fr", "X") == text_of(unknown).replace("nobody@example.fr", "X")
    assert db.session.scalar(select(Account)).last_login_at is None
    assert client.get("/mon-foyer/").status_code == 302


def test_inactive_account_cannot_log_in(client, submit, make_household):
    make_household(email="camille@example.fr")
    account = db.session.scalar(select(Account))
    account.active = False
    db.session.commit()
    response = submit("/connexion", {"email": "camille@example.fr", "password": PASSWORD})
    assert t("The e-mail address or the password is not correct.") in text_of(response)


def test_remember_me_sets_a_lasting_cookie(client, submit, make_household):
    make_household(email="camille@example.fr")
    submit("/connexion", {"email": "camille@example.fr", "password": PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is not None


def test_without_remember_me_no_lasting_cookie(client, submit, make_household):
    make_household(email="camille@example.fr")
    submit("/connexion", {"email": "camille@example.fr", "password": PASSWORD})
    assert client.get_cookie("remember_token") is None


def test_pages_behind_login_send_to_login_then_back(client, submit, make_household):
    make_household(email="camille@example.fr")
    response = client.get("/mon-foyer/enfants/ajouter")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/connexion"
    assert parse_qs(location.query) == {"next": ["/mon-foyer/enfants/ajouter"]}
    login_page = client.get(response.headers["Location"])
    assert t("Please log in to see this page.") in text_of(login_page)
    response = submit(
        "/connexion?next=%2Fmon-foyer%2Fenfants%2Fajouter",
        {"email": "camille@example.fr", "password": PASSWORD},
    )
    assert response.headers["Location"].endswith("/mon-foyer/enfants/ajouter")


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/%0a/x\n"]
)
def test_login_never_redirects_outside_the_site(client, submit, make_household, target):
    make_household(email="camille@example.fr")
    response = client.post(
        "/connexion",
        query_string={"next": target},
        data={
            "email": "camille@example.fr",
            "password": PASSWORD,
            "csrf_token": csrf_token_of(client.get("/connexion").get_data(as_text=True)),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] in ("/mon-foyer/", "http://localhost/mon-foyer/")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/mon-foyer/", "/mon-foyer/"),
        ("/services/cantine?x=1", "/services/cantine?x=1"),
        (None, None),
        ("", None),
        ("mon-foyer", None),
        ("http://localhost/mon-foyer/", None),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("/\tevil", None),
    ],
)
def test_safe_next(target, expected):
    assert safe_next(target) == expected


def test_logout_is_a_post_with_csrf(client, make_household, login):
    login(make_household())
    assert client.get("/deconnexion").status_code == 405
    page = client.get("/mon-foyer/").get_data(as_text=True)
    assert client.post("/deconnexion").status_code == 400  # no CSRF token
    assert client.get("/mon-foyer/").status_code == 200
    response = client.post("/deconnexion", data={"csrf_token": csrf_token_of(page)})
    assert response.status_code == 302
    assert client.get("/mon-foyer/").status_code == 302


def test_forms_without_csrf_token_are_refused(client, make_household):
    make_household(email="camille@example.fr")
    response = client.post("/connexion", data={"email": "camille@example.fr", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/mon-foyer/").status_code == 302
    response = client.post("/compte/creer", data=SIGNUP)
    assert response.status_code == 400
    assert count(Account) == 1


def test_csrf_can_be_turned_off_by_configuration(make_app):
    app = make_app(WTF_CSRF_ENABLED=False)
    with app.test_client() as client:
        response = client.post("/compte/creer", data=SIGNUP)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/compte/creer/envoye")


def test_logged_in_visitors_are_sent_on_from_login_and_signup(client, make_household, login):
    login(make_household())
    assert client.get("/connexion").headers["Location"].endswith("/mon-foyer/")
    assert client.get("/compte/creer").headers["Location"].endswith("/mon-foyer/")
