"""A household's file is shown only once the agent has said why, and every read is logged."""

from __future__ import annotations

import datetime as dt

from counter_helpers import t, text_of
from flask import g

from inscriptions.audit import Action
from inscriptions.extensions import db
from inscriptions.models import AuditEvent


def reads(household_id: int) -> list[AuditEvent]:
    return list(db.session.scalars(
        db.select(AuditEvent).filter_by(action=Action.READ_HOUSEHOLD, household_id=household_id)
        .order_by(AuditEvent.id)
    ))


def test_the_file_is_not_shown_before_the_reason_is_given(client, agent, make_household):
    household = make_household(last_name="Secret", children=[("Inès", dt.date(2017, 1, 1))])
    response = client.get(f"/guichet/foyers/{household.id}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/guichet/foyers/{household.id}/acces?next=")

    page = text_of(client.get(response.headers["Location"]))
    assert t("Family at the counter") in page
    assert "Inès" not in page
    assert household.guardians[0].email not in page
    assert reads(household.id) == []


def test_a_reason_must_be_chosen_and_other_needs_words(client, agent, make_household):
    household = make_household()
    url = f"/guichet/foyers/{household.id}/acces"
    page = text_of(client.post(url, data={}))
    assert t("Choose the reason for opening this file.") in page
    page = text_of(client.post(url, data={"reason": "other", "detail": "  "}))
    assert t("Say in a few words why you open this file.") in page
    page = text_of(client.post(url, data={"reason": "made-up"}))
    assert reads(household.id) == []


def test_the_reason_opens_the_file_and_is_logged_once_per_read(client, agent, make_household):
    household = make_household(last_name="Garnier", children=[("Inès", dt.date(2017, 1, 1))])
    target = f"/guichet/foyers/{household.id}"
    response = client.post(f"{target}/acces?next={target}", data={"reason": "phone", "detail": "appel de la mère"})
    assert response.status_code == 302
    assert response.headers["Location"] == target

    page = text_of(client.get(target))
    assert "Inès" in page and household.guardians[0].email in page
    events = reads(household.id)
    assert len(events) == 1  # the read that opened the file, not a second one for the redirect
    assert events[0].actor_account_id == agent.id
    assert events[0].reason == t("Phone call") + " : appel de la mère"
    assert events[0].detail["reason_code"] == "phone"

    # Later reads in the same session are not asked again, and are logged with the same reason.
    client.get(target)
    events = reads(household.id)
    assert len(events) == 2
    assert events[1].reason == events[0].reason


def test_another_agent_gives_their_own_reason(client, agent, staff, login_as, make_household, open_household):
    household = make_household()
    open_household(household.id)
    assert client.get(f"/guichet/foyers/{household.id}").status_code == 200

    # Same browser, another account: the first agent's grant does not carry over.
    g.pop("_login_user", None)
    login_as(staff("agent", "piscine"))
    assert client.get(f"/guichet/foyers/{household.id}").status_code == 302


def test_the_reason_is_asked_again_the_next_day(client, agent, make_household, open_household, frozen_clock):
    household = make_household()
    open_household(household.id)
    assert client.get(f"/guichet/foyers/{household.id}").status_code == 200
    frozen_clock(dt.datetime(2026, 9, 16, 8, 0, tzinfo=dt.UTC))
    assert client.get(f"/guichet/foyers/{household.id}").status_code == 302


def test_the_file_lists_registrations_of_the_agents_services_only(client, agent, make_household, open_household):
    from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations

    household = make_household(children=[("Léa", dt.date(2018, 3, 1))])
    child = household.children[0].id
    canteen = create_registrations(RegistrationInput(
        service_code="cantine", household_id=household.id, channel="web",
        participants=[ParticipantInput(child_id=child, answers={
            "days": ["mon"], "diet": "standard", "allergy": "no", "rules": "y"})],
    ))
    create_registrations(RegistrationInput(
        service_code="piscine", household_id=household.id, channel="web", session_code="mer-14h",
        participants=[ParticipantInput(child_id=child, answers={
            "level": "debutant", "specific_care": "no", "rules": "y"})],
    ))
    g.pop("_login_user", None)
    open_household(household.id)
    page = text_of(client.get(f"/guichet/foyers/{household.id}"))
    assert "CAN-2026-" in page
    assert "NAT-2026-" not in page
    assert t("%(num)s registration for a service you do not serve is not shown.", num=1) in page
    # A later read logs which registrations it showed.
    client.get(f"/guichet/foyers/{household.id}")
    event = reads(household.id)[-1]
    assert event.detail["registrations"] == canteen.registration_ids
