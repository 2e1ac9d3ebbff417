"""The household page: address, quotient familial, guardians and children; only one's own."""

from __future__ import annotations

import datetime as dt

import pytest
from family_helpers import csrf_token_of, t, text_of
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import Account, Child, Guardian, Registration

CHILD = {
    "first_name": "Noé",
    "last_name": "Martin",
    "birth_date": "2019-03-14",
    "school": "École Louise-Michel",
    "class_name": "CP",
}


@pytest.fixture
def family(make_household, login):
    household = make_household(children=[("Léa", dt.date(2018, 3, 1))])
    login(household)
    return household


def refreshed(obj):  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return obj


def test_household_page_shows_the_family(client, family):
    body = text_of(client.get("/mon-foyer/"))
    assert "Léa Martin" in body
    assert "1 mars 2018" in body or "March 1, 2018" in body
    assert "École Jules-Ferry" in body
    assert "Camille Martin" in body
    assert family.address_line1 in body
    assert "600" in body
    assert 'aria-current="page"' in body
    assert f'href="/mon-foyer/enfants/{family.children[0].id}"' in body


def test_household_page_requires_a_household_account(client, app):
    staff = Account(email="agent@villebelle.example")
    staff.set_password("a staff password here")
    db.session.add(staff)
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = staff.get_id()
    assert client.get("/mon-foyer/").status_code == 403


def test_edit_address_and_quotient_familial(client, submit, family):
    response = submit(
        "/mon-foyer/adresse",
        {"address_line1": "8 avenue Foch", "address_line2": "Bât. B", "postcode": "99990",
         "city": "Villebelle", "quotient_familial": "1 250"},
    )
    assert response.status_code == 302
    household = refreshed(family)
    assert (household.address_line1, household.address_line2) == ("8 avenue Foch", "Bât. B")
    assert household.quotient_familial == 1250
    page = text_of(client.get("/mon-foyer/"))
    assert t("Your household details are saved.") in page


def test_quotient_familial_is_optional(client, submit, family):
    submit("/mon-foyer/adresse", {"address_line1": "8 avenue Foch", "postcode": "99990", "city": "Villebelle",
                                  "quotient_familial": ""})
    assert refreshed(family).quotient_familial is None
    assert t("not given: the highest price applies") in text_of(client.get("/mon-foyer/"))


NOT_A_NUMBER = "Write a whole number using digits only, for example 850."
OUT_OF_RANGE = "Enter the quotient familial shown on your certificate."


@pytest.mark.parametrize(
    ("value", "msgid", "other"),
    [("-3", NOT_A_NUMBER, OUT_OF_RANGE), ("abc", NOT_A_NUMBER, OUT_OF_RANGE), ("12.5", NOT_A_NUMBER, OUT_OF_RANGE),
     ("1000000", OUT_OF_RANGE, NOT_A_NUMBER)],
)
def test_quotient_familial_must_be_a_whole_number(client, submit, family, value, msgid, other):
    response = submit("/mon-foyer/adresse", {"address_line1": "8 avenue Foch", "postcode": "99990",
                                             "city": "Villebelle", "quotient_familial": value})
    assert response.status_code == 200
    body = text_of(response)
    assert 'id="quotient_familial-error"' in body
    assert t(msgid) in body and t(other) not in body
    assert f'value="{value}"' in body  # what was typed is shown again, to be corrected
    assert 'value="8 avenue Foch"' in body
    assert refreshed(family).quotient_familial == 600


def test_quotient_familial_help_mentions_the_caf_certificate(client, family):
    body = text_of(client.get("/mon-foyer/adresse"))
    assert 'aria-describedby="quotient_familial-hint"' in body
    assert "CAF" in body
    assert 'inputmode="numeric"' in body


def test_add_then_edit_a_second_guardian(client, submit, family):
    response = submit("/mon-foyer/responsables/ajouter",
                      {"first_name": "Dominique", "last_name": "Bernard", "email": " Dom@Example.fr",
                       "phone": "+33 6 11 22 33 44"})
    assert response.status_code == 302
    second = db.session.scalar(select(Guardian).filter_by(first_name="Dominique"))
    assert second.household_id == family.id
    assert second.email == "dom@example.fr"
    assert second.phone == "06 11 22 33 44"

    response = submit(f"/mon-foyer/responsables/{second.id}",
                      {"first_name": "Dominique", "last_name": "Bernard", "email": "", "phone": ""})
    assert response.status_code == 302
    second = refreshed(second)
    assert second.email is None and second.phone is None

    # Two guardians at most: the link disappears and the page refuses.
    assert "/mon-foyer/responsables/ajouter" not in text_of(client.get("/mon-foyer/"))
    response = submit("/mon-foyer/responsables/ajouter", {"first_name": "X", "last_name": "Y"},
                      page="/mon-foyer/")
    assert response.status_code == 302
    assert len(refreshed(family).guardians) == 2


def test_guardian_errors_keep_the_data(client, submit, family):
    response = submit("/mon-foyer/responsables/ajouter",
                      {"first_name": "Dominique", "last_name": "", "email": "dom@", "phone": "01"})
    assert response.status_code == 200
    body = text_of(response)
    assert t("Enter the last name.") in body
    assert t("Enter an e-mail address like name@example.fr.") in body
    assert t("Invalid phone number: 10 digits, for example 06 12 34 56 78.") in body
    assert 'value="Dominique"' in body and 'value="dom@"' in body and 'value="01"' in body
    assert len(refreshed(family).guardians) == 1


def test_the_account_holder_cannot_change_the_login_email_here(client, submit, family):
    me = family.guardians[0]
    page = text_of(client.get(f"/mon-foyer/responsables/{me.id}"))
    assert 'name="email"' not in page
    assert me.email in page
    submit(f"/mon-foyer/responsables/{me.id}",
           {"first_name": "Camille", "last_name": "Martin-Durand", "phone": "0611223344", "email": "x@y.fr"})
    me = refreshed(me)
    assert me.last_name == "Martin-Durand"
    assert me.email == "parent1@example.fr"
    assert db.session.scalar(select(Account)).email == "parent1@example.fr"


def test_add_a_child(client, submit, family):
    page = text_of(client.get("/mon-foyer/enfants/ajouter"))
    assert 'value="Martin"' in page  # last name suggested from the guardian
    assert 'type="date"' in page
    for school in ("École Jules-Ferry", "École Louise-Michel", "École du Centre"):
        assert f'value="{school}"' in page
    response = submit("/mon-foyer/enfants/ajouter", CHILD)
    assert response.status_code == 302
    child = db.session.scalar(select(Child).filter_by(first_name="Noé"))
    assert child.household_id == family.id
    assert child.birth_date == dt.date(2019, 3, 14)
    assert (child.school, child.class_name) == ("École Louise-Michel", "CP")
    assert t("%(name)s is added to your household.", name="Noé Martin") in text_of(client.get("/mon-foyer/"))


def test_add_a_child_with_another_school_and_a_typed_date(client, submit, family):
    submit("/mon-foyer/enfants/ajouter", {**CHILD, "school": "other", "birth_date": "14/03/2019", "class_name": ""})
    child = db.session.scalar(select(Child).filter_by(first_name="Noé"))
    assert child.school == ""
    assert child.birth_date == dt.date(2019, 3, 14)
    # Editing shows "other" selected again, not an empty choice.
    page = text_of(client.get(f"/mon-foyer/enfants/{child.id}"))
    assert '<option selected value="other">' in page


@pytest.mark.parametrize(
    ("birth_date", "msgid", "variables"),
    [
        ("2026-09-16", "The date of birth cannot be in the future.", {}),
        ("1919-03-14", "Check the year: this child would be more than %(n)s years old.", {"n": 25}),
        ("2000-09-15", "Check the year: this child would be more than %(n)s years old.", {"n": 25}),
        ("31/02/2019", "Enter a real date, for example 14/03/2019.", {}),
        ("", "Enter the child's date of birth.", {}),
    ],
)
def test_child_birth_date_is_checked(client, submit, family, birth_date, msgid, variables):
    response = submit("/mon-foyer/enfants/ajouter", {**CHILD, "birth_date": birth_date})
    assert response.status_code == 200
    body = text_of(response)
    assert t(msgid, **variables) in body
    assert body.count(t(msgid, **variables)) == 2  # in the summary and next to the field
    assert 'value="Noé"' in body and 'value="CP"' in body
    assert '<option selected value="École Louise-Michel">' in body
    assert len(refreshed(family).children) == 1


def test_a_child_of_25_is_accepted(client, submit, family):
    response = submit("/mon-foyer/enfants/ajouter", {**CHILD, "birth_date": "2000-09-16"})
    assert response.status_code == 302


def test_school_must_be_chosen_from_the_list(client, submit, family):
    response = submit("/mon-foyer/enfants/ajouter", {**CHILD, "school": ""})
    assert t("Choose the school, or “Other school or not at school”.") in text_of(response)
    response = submit("/mon-foyer/enfants/ajouter", {**CHILD, "school": "École inventée"})
    assert response.status_code == 200
    assert 'id="school-error"' in text_of(response)
    assert len(refreshed(family).children) == 1


def test_edit_a_child(client, submit, family):
    child = family.children[0]
    page = text_of(client.get(f"/mon-foyer/enfants/{child.id}"))
    assert 'value="2018-03-01"' in page and 'value="CE1"' in page
    response = submit(f"/mon-foyer/enfants/{child.id}", {**CHILD, "first_name": "Léa", "class_name": "CE2"})
    assert response.status_code == 302
    child = refreshed(child)
    assert (child.first_name, child.class_name, child.school) == ("Léa", "CE2", "École Louise-Michel")


def test_editing_keeps_a_school_not_in_the_town_list(client, submit, family):
    child = family.children[0]
    child.school = "Collège Victor-Hugo"
    db.session.commit()
    page = text_of(client.get(f"/mon-foyer/enfants/{child.id}"))
    assert '<option selected value="Collège Victor-Hugo">' in page
    submit(f"/mon-foyer/enfants/{child.id}", {**CHILD, "school": "Collège Victor-Hugo"})
    assert refreshed(child).school == "Collège Victor-Hugo"


def test_remove_a_child_after_confirmation(client, submit, family):
    child_id = family.children[0].id
    page = text_of(client.get(f"/mon-foyer/enfants/{child_id}/retirer"))
    assert t("Yes, remove %(name)s", name="Léa") in page
    response = submit(f"/mon-foyer/enfants/{child_id}/retirer", {})
    assert response.status_code == 302
    assert db.session.get(Child, child_id) is None


def test_a_child_with_a_registration_cannot_be_removed(client, submit, family, register_child):
    child = family.children[0]
    register_child(family, child)
    assert db.session.scalar(select(Registration).filter_by(child_id=child.id)) is not None

    page = text_of(client.get(f"/mon-foyer/enfants/{child.id}/retirer"))
    assert t("%(name)s cannot be removed because registrations were made for this child.", name="Léa") in page
    assert t("Yes, remove %(name)s", name="Léa") not in page

    response = submit(f"/mon-foyer/enfants/{child.id}/retirer", {}, follow_redirects=True)
    assert response.status_code == 200
    assert t(
        "%(name)s cannot be removed because registrations were made for this child. "
        "Contact the family service if this child no longer lives with you.",
        name="Léa",
    ) in text_of(response)
    assert 'role="alert"' in text_of(response)
    assert db.session.get(Child, child.id) is not None


def test_another_households_records_are_not_found(client, submit, family, make_household):
    other = make_household(last_name="Durand", children=[("Hugo", dt.date(2017, 5, 2))])
    child_id = other.children[0].id
    guardian_id = other.guardians[0].id
    token = csrf_token_of(client.get("/mon-foyer/adresse").get_data(as_text=True))
    for url in (f"/mon-foyer/enfants/{child_id}", f"/mon-foyer/enfants/{child_id}/retirer",
                f"/mon-foyer/responsables/{guardian_id}"):
        assert client.get(url).status_code == 404
        response = client.post(url, data={**CHILD, "csrf_token": token})
        assert response.status_code == 404
    db.session.expire_all()
    hugo = db.session.get(Child, child_id)
    assert hugo is not None and hugo.first_name == "Hugo"
    assert db.session.get(Guardian, guardian_id).first_name == "Camille"


def test_household_forms_need_a_csrf_token(client, family):
    response = client.post("/mon-foyer/enfants/ajouter", data=CHILD)
    assert response.status_code == 400
    response = client.post(f"/mon-foyer/enfants/{family.children[0].id}/retirer")
    assert response.status_code == 400
    assert len(refreshed(family).children) == 1
