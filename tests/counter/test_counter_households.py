"""An agent creates the household of a family without e-mail, in one form."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from counter_helpers import t, text_of

from inscriptions.audit import Action
from inscriptions.extensions import db
from inscriptions.models import Account, AuditEvent, Household
from inscriptions.notifications import household_emails

NEW = "/guichet/foyers/nouveau"


def family(**extra: Any) -> dict[str, Any]:
    data = {
        "g1-first_name": "Fatou", "g1-last_name": "Diallo", "g1-email": "", "g1-phone": "",
        "address_line1": "4 rue du Moulin", "address_line2": "", "postcode": "99990", "city": "Villebelle",
        "quotient_familial": "420",
        "c0-first_name": "Awa", "c0-last_name": "", "c0-birth_date": "01032018",
        "c0-school": "École Jules-Ferry", "c0-class_name": "CE2",
        "c1-first_name": "Moussa", "c1-last_name": "Diallo-Sy", "c1-birth_date": "14/05/2016",
        "c1-school": "other", "c1-class_name": "",
        "access-reason": "counter", "access-detail": "",
        "child_lines": "3",
    }
    data.update(extra)
    return data


def test_a_family_without_email_gets_a_household(client, agent, app):
    response = client.post(NEW, data=family())
    assert response.status_code == 302, text_of(response)[:3000]
    home = db.session.scalar(db.select(Household).order_by(Household.id.desc()))
    assert response.headers["Location"] == f"/guichet/foyers/{home.id}"
    assert (home.address_line1, home.postcode, home.city, home.quotient_familial) == (
        "4 rue du Moulin", "99990", "Villebelle", 420)
    [guardian] = home.guardians
    assert (guardian.first_name, guardian.last_name, guardian.email, guardian.phone) == ("Fatou", "Diallo", None, None)
    children = {c.first_name: c for c in home.children}
    # An empty last name is the first parent's; dates are typed with or without slashes.
    assert children["Awa"].last_name == "Diallo"
    assert children["Awa"].birth_date == dt.date(2018, 3, 1)
    assert children["Awa"].school == "École Jules-Ferry"
    assert children["Moussa"].last_name == "Diallo-Sy"
    assert children["Moussa"].birth_date == dt.date(2016, 5, 14)
    assert children["Moussa"].school == ""
    # No account: the family has no e-mail and never logs in.
    assert db.session.scalar(db.select(Account).filter_by(guardian_id=guardian.id)) is None

    event = db.session.scalar(db.select(AuditEvent).filter_by(action=Action.CREATE_HOUSEHOLD))
    assert event.household_id == home.id and event.actor_account_id == agent.id
    assert event.reason == t("Family at the counter")
    assert sorted(event.detail["children"]) == sorted(c.id for c in home.children)

    # The agent who created it reads the file without being asked why.
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Awa" in text_of(page)


def test_a_second_guardian_is_added_when_typed(client, agent):
    client.post(NEW, data=family(**{"g2-first_name": "Ibrahima", "g2-last_name": "Diallo",
                                    "g2-phone": "06 11 22 33 44", "g2-email": "ibra@example.fr"}))
    home = db.session.scalar(db.select(Household).order_by(Household.id.desc()))
    assert [(g.first_name, g.phone, g.email) for g in home.guardians] == [
        ("Fatou", None, None), ("Ibrahima", "06 11 22 33 44", "ibra@example.fr")]


def test_a_typed_address_is_asked_to_confirm_before_it_gets_anything(client, agent, app):
    app.extensions["mailman"].outbox = []
    client.post(NEW, data=family(**{"g1-email": "fatou@example.fr"}))
    home = db.session.scalar(db.select(Household).order_by(Household.id.desc()))
    [message] = app.extensions["mailman"].outbox
    assert message.to == ["fatou@example.fr"] and "/adresse/confirmer/" in message.body
    assert "Awa" not in message.body and "Diallo" not in message.body
    assert home.guardians[0].email_confirmed_at is None and household_emails(home.id) == []


def test_mistakes_are_shown_and_nothing_typed_is_lost(client, agent):
    response = client.post(NEW, data=family(**{
        "g1-first_name": "", "postcode": "123", "c1-birth_date": "31/02/2016", "g2-phone": "12",
    }))
    assert response.status_code == 422
    page = text_of(response)
    assert db.session.scalar(db.select(Household)) is None
    assert t("Enter the first name.") in page
    assert t("Enter a postcode of 5 digits, for example 75011.") in page
    assert t("Enter a real date, for example 14/03/2019.") in page
    # The second guardian was started: their lines are checked too.
    assert t("Enter the last name.") in page
    # Whose field it is, in the summary.
    assert t("Child %(n)s", n=2) + " – " in page
    for typed in ("Diallo", "4 rue du Moulin", "Awa", "Moussa", "31/02/2016", "420"):
        assert typed in page


def test_another_child_line_can_be_added_without_losing_anything(client, agent):
    response = client.post(NEW, data=family(_action="more"))
    page = text_of(response)
    assert 'name="c3-first_name"' in page
    assert 'name="child_lines" value="4"' in page
    assert 'value="Awa"' in page
    assert db.session.scalar(db.select(Household)) is None


def test_other_reason_needs_words(client, agent):
    response = client.post(NEW, data=family(**{"access-reason": "other"}))
    assert response.status_code == 422
    assert t("Say in a few words why you open this file.") in text_of(response)


def test_the_first_field_has_the_focus(client, agent):
    page = text_of(client.get(NEW))
    first = re.search(r'<input[^>]*id="g1-first_name"[^>]*>', page).group(0)
    assert "autofocus" in first
    assert page.count("autofocus") == 1
