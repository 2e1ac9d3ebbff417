"""Sign-up, log-in and log-out through the web pages, CSRF included."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from family_helpers import PASSWORD, csrf_token_of, t, text_of
from sqlalchemy import func, select

from inscriptions.auth.accounts import safe_next
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


def test_signup_creates_household_guardian_and_account_then_logs_in(client, submit):
    response = submit("/compte/creer", SIGNUP)
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


def test_signup_with_an_email_already_used_is_refused_whatever_the_case(client, submit, make_household):
    make_household(email="alex.dupont@example.fr")
    before = (count(Account), count(Household), count(Guardian))
    response = submit("/compte/creer", SIGNUP)
    assert response.status_code == 200
    body = text_of(response)
    assert t("An account already exists with this e-mail address. Log in, or use another address.") in body
    assert (count(Account), count(Household), count(Guardian)) == before


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


def test_logged_in_visitors_are_sent_on_from_login_and_signup(client, make_household, login):
    login(make_household())
    assert client.get("/connexion").headers["Location"].endswith("/mon-foyer/")
    assert client.get("/compte/creer").headers["Location"].endswith("/mon-foyer/")
