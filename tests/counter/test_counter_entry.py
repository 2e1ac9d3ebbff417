"""Keying a form on a family's behalf: one page, the same validation and booking as the web."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from counter_helpers import KEY_INPUT, canteen_answers, entry_key, setup_data, t, text_of
from flask import g

from inscriptions.audit import Action
from inscriptions.definitions.registry import registry
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Registration
from inscriptions.privacy.sealing import unsealed
from inscriptions.registrations.create import (
    ParticipantInput,
    RegistrationInput,
    RegistrationRefused,
    create_registrations,
)


@pytest.fixture
def family(make_household, open_household, agent):  # type: ignore[no-untyped-def]
    household = make_household(last_name="Dupré", email=None, with_account=False,
                               children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2016, 5, 10))])
    open_household(household.id, reason="mail", detail="formulaire déposé en mairie")
    return household


def canteen_url(household) -> str:  # type: ignore[no-untyped-def]
    return f"/guichet/foyers/{household.id}/saisie/cantine"


def submit(client, household, child_ids, answers, **setup):  # type: ignore[no-untyped-def]
    url = canteen_url(household)
    data = setup_data(child_ids, **setup)
    key = entry_key(client, url, data)
    response = client.post(url, data={**data, "_step": "entry", "_key": key, **answers})
    g.pop("_login_user", None)  # the confirmation job ran in this test's app context
    return response, key


def registrations() -> list[Registration]:
    return list(db.session.scalars(db.select(Registration).order_by(Registration.id)))


def test_a_paper_canteen_form_is_registered_with_its_received_date(client, agent, family):
    lea = family.children[0] if family.children[0].first_name == "Léa" else family.children[1]
    response, _key = submit(client, family, [lea.id], canteen_answers(f"c{lea.id}"),
                            channel="paper", received="01092026", reason="pas d'accès à internet")
    assert response.status_code == 302, text_of(response)[:3000]
    [reg] = registrations()
    assert response.headers["Location"] == f"/guichet/foyers/{family.id}/lot/{reg.batch}"
    assert reg.channel == "paper"
    assert reg.received_on == dt.date(2026, 9, 1)
    assert reg.keyed_by_id == agent.id
    assert reg.mediation_reason == "pas d'accès à internet"
    assert reg.history[0].reason == "pas d'accès à internet"
    assert reg.child_id == lea.id
    assert reg.status == "accepted"
    assert unsealed(reg.answers)["days"] == ["mon", "thu"] and unsealed(reg.answers)["diet"] == "sans_porc"
    assert unsealed(reg.answers)["pickup"] == [{"name": "Mamie Dupont", "phone": "06 12 34 56 78"}]

    event = db.session.scalar(db.select(AuditEvent).filter_by(action=Action.REGISTER))
    assert event.registration_id == reg.id and event.household_id == family.id
    assert event.actor_account_id == agent.id
    assert event.reason == "pas d'accès à internet"
    assert event.detail["channel"] == "paper" and event.detail["service"] == "cantine"

    page = text_of(client.get(response.headers["Location"]))
    assert reg.reference in page
    assert f'href="/guichet/inscriptions/{reg.reference}/courrier.pdf"' in page


def test_two_children_are_keyed_on_one_page(client, agent, family):
    ids = [c.id for c in family.children]
    answers = {**canteen_answers(f"c{ids[0]}"), **canteen_answers(f"c{ids[1]}", **{f"c{ids[1]}-diet": "standard"})}
    response, _key = submit(client, family, ids, answers)
    assert response.status_code == 302
    regs = registrations()
    assert {r.child_id for r in regs} == set(ids)
    assert {r.batch for r in regs} == {regs[0].batch}
    assert {r.channel for r in regs} == {"counter"}
    assert {unsealed(r.answers)["diet"] for r in regs} == {"sans_porc", "standard"}
    assert len(db.session.scalars(db.select(AuditEvent).filter_by(action=Action.REGISTER)).all()) == 2


def test_the_setup_page_defaults_to_the_counter_today_and_the_access_reason(client, agent, family):
    page = text_of(client.get(canteen_url(family)))
    assert re.search(r'<input checked[^>]*name="setup-channel"[^>]*value="counter"', page)
    assert 'value="15/09/2026"' in page
    assert t("Letter or paper form received") + " : formulaire déposé en mairie" in page


@pytest.mark.parametrize(("channel", "received", "message"), [
    ("paper", "", "Enter the date the paper was received."),
    ("mail", "", "Enter the date the paper was received."),
    ("paper", "16/09/2026", "The date received cannot be in the future."),
    ("paper", "31/02/2026", "Invalid date: write it like 31/12/2018."),
])
def test_the_received_date_is_checked(client, agent, family, channel, received, message):
    data = setup_data([family.children[0].id], channel=channel, received=received)
    response = client.post(canteen_url(family), data={**data, "_step": "setup"})
    page = text_of(response)
    assert t(message) in page
    assert not KEY_INPUT.search(page)  # still on the set-up step


def test_the_received_date_may_be_left_empty_at_the_counter(client, agent, family):
    child = family.children[0].id
    response, _key = submit(client, family, [child], canteen_answers(f"c{child}"), channel="phone")
    assert response.status_code == 302
    [reg] = registrations()
    assert reg.channel == "phone" and reg.received_on is None


def test_only_the_households_eligible_people_can_be_chosen(client, agent, family, make_household):
    stranger = make_household(last_name="Autre").children[0].id
    data = setup_data([stranger])
    page = text_of(client.post(canteen_url(family), data={**data, "_step": "setup"}))
    assert t("Choose only people of this household who can register.") in page
    page = text_of(client.post(canteen_url(family), data={**setup_data([]), "_step": "setup"}))
    assert t("Choose who to register.") in page


def test_a_question_required_online_only_may_be_left_empty_at_the_counter(client, agent, family):
    child = family.children[0].id
    answers = canteen_answers(f"c{child}", **{f"c{child}-allergy": "yes"})
    # On the web the same answers are refused: the details of the allergy are required there.
    with pytest.raises(RegistrationRefused) as refused:
        create_registrations(RegistrationInput(
            service_code="cantine", household_id=family.id, channel="web",
            participants=[ParticipantInput(child_id=child, answers={
                "days": ["mon"], "diet": "standard", "allergy": "yes", "rules": "y"})],
        ))
    assert "pai_details" in refused.value.errors[f"child:{child}"]
    g.pop("_login_user", None)

    url = canteen_url(family)
    page = text_of(client.post(url, data={**setup_data([child]), "_step": "setup"}))
    label = re.search(r'<label class="label" for="c\d+-pai_details">(.*?)</label>', page, re.S).group(1)
    assert 'class="required"' not in label  # not marked required at the counter

    response, _key = submit(client, family, [child], answers, channel="paper", received="10/09/2026")
    assert response.status_code == 302, text_of(response)[:3000]
    [reg] = registrations()
    assert unsealed(reg.answers)["allergy"] is True
    assert "pai_details" not in reg.answers


def test_errors_are_shown_on_the_fields_and_everything_typed_is_kept(client, agent, family):
    child = family.children[0].id
    answers = canteen_answers(f"c{child}", **{f"c{child}-diet": "", "pickup-1-phone": "12"})
    response, key = submit(client, family, [child], answers, channel="paper", received="01092026")
    assert response.status_code == 422
    page = text_of(response)
    assert registrations() == []
    assert t("This answer is required.") in page
    assert t("Invalid phone number: 10 digits, for example 06 12 34 56 78.") in page
    # Links of the summary go to the fields, in the paper's order.
    targets = re.findall(r'<li><a href="#([^"]+)">', page)
    assert targets == [f"c{child}-diet-0", "pickup-1-name", "pickup-1-phone"]
    assert re.search(rf'<input checked[^>]*id="c{child}-days-0"', page)
    assert 'value="Mamie Dupont"' in page and 'value="12"' in page
    assert re.search(r'<input[^>]*checked[^>]*id="rules"|<input[^>]*id="rules"[^>]*checked', page)
    # The set-up and the one-time key travel on.
    assert f'name="_key" value="{key}"' in page
    assert 'name="setup-received_on" value="01092026"' in page


def test_a_double_submit_creates_one_registration(client, agent, family):
    child = family.children[0].id
    url = canteen_url(family)
    data = setup_data([child], channel="paper", received="01092026")
    key = entry_key(client, url, data)
    posted = {**data, "_step": "entry", "_key": key, **canteen_answers(f"c{child}")}
    first = client.post(url, data=posted)
    g.pop("_login_user", None)
    second = client.post(url, data=posted)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert len(registrations()) == 1
    assert len(db.session.scalars(db.select(AuditEvent).filter_by(action=Action.REGISTER)).all()) == 1


def test_a_session_is_required_where_the_service_has_sessions(client, staff, login_as, make_household,
                                                              open_household):
    login_as(staff("agent", "piscine"))
    household = make_household(children=[("Léa", dt.date(2018, 3, 1))])
    open_household(household.id)
    url = f"/guichet/foyers/{household.id}/saisie/piscine"
    child = household.children[0].id
    page = text_of(client.post(url, data={**setup_data([child]), "_step": "setup"}))
    assert t("Choose a session.") in page
    data = setup_data([child])
    # The pool takes one session, with ranked alternatives when its definition offers them.
    data["setup-wish-1-1" if registry().get("piscine").definition.alternatives else "setup-session"] = "mer-14h"
    key = entry_key(client, url, data)
    response = client.post(url, data={**data, "_step": "entry", "_key": key,
                                       f"c{child}-level": "debutant", "rules": "y"})
    assert response.status_code == 302, text_of(response)[:3000]
    [reg] = registrations()
    assert reg.session.code == "mer-14h"
    assert reg.status == "submitted"  # manual review, as on the web
    assert "specific_care" not in reg.answers  # required online only


def test_the_first_question_has_the_focus(client, agent, family):
    data = setup_data([family.children[0].id])
    page = text_of(client.post(canteen_url(family), data={**data, "_step": "setup"}))
    assert page.count("autofocus") == 1
    assert re.search(r'<input autofocus[^>]*id="c\d+-days-0"', page)


def test_the_registration_page_hides_private_answers_from_agents(client, agent, family, staff, login_as):
    child = family.children[0].id
    response, _key = submit(client, family, [child], canteen_answers(f"c{child}"))
    [reg] = registrations()
    allergy = registry().get("cantine").definition.field("allergy").label
    page = text_of(client.get(f"/guichet/inscriptions/{reg.reference}"))
    assert "Mamie Dupont" in page
    assert allergy not in page
    event = db.session.scalar(db.select(AuditEvent).filter_by(action=Action.READ_REGISTRATION))
    assert event.registration_id == reg.id and event.reason.endswith("formulaire déposé en mairie")
    assert event.detail["sensitive_shown"] is False

    g.pop("_login_user", None)
    login_as(staff("manager", "cantine"))
    response = client.get(f"/guichet/inscriptions/{reg.reference}")
    assert response.status_code == 302  # the manager gives their own reason first
    client.post(f"/guichet/foyers/{family.id}/acces", data={"reason": "phone"})
    assert allergy in text_of(client.get(f"/guichet/inscriptions/{reg.reference}"))

    g.pop("_login_user", None)
    login_as(staff("agent", "piscine"))
    assert client.get(f"/guichet/inscriptions/{reg.reference}").status_code == 404


def test_the_confirmation_letter_is_printed(client, agent, family):
    child = family.children[0].id
    submit(client, family, [child], canteen_answers(f"c{child}"), channel="paper", received="01092026")
    [reg] = registrations()
    response = client.get(f"/guichet/inscriptions/{reg.reference}/courrier.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    event = db.session.scalar(db.select(AuditEvent).filter_by(action=Action.PRINT_LETTER))
    assert event.detail["references"] == [reg.reference]


def test_a_household_service_with_numbers_is_keyed_by_a_cinema_agent(client, staff, login_as, make_household,
                                                                      open_household):
    login_as(staff("agent", "cinema"))
    household = make_household()
    open_household(household.id)
    url = f"/guichet/foyers/{household.id}/saisie/cinema"
    data = {"setup-channel": "phone", "setup-session": "2026-12-12", "setup-received_on": "",
            "setup-mediation_reason": "réservation par téléphone"}
    page = text_of(client.post(url, data={**data, "_step": "setup"}))
    # Numbers are typed in text inputs (no spinner that arrow keys change), with a numeric keypad.
    seats = re.search(r'<input[^>]*id="child_seats"[^>]*>', page).group(0)
    assert 'type="text"' in seats and 'inputmode="numeric"' in seats and "min=" not in seats
    key = KEY_INPUT.search(page).group(1)
    response = client.post(url, data={**data, "_step": "entry", "_key": key, "child_seats": "2",
                                       "adult_seats": "1"})
    assert response.status_code == 302, text_of(response)[:3000]
    [reg] = registrations()
    assert (reg.child_id, reg.guardian_id, reg.places, reg.channel) == (None, None, 3, "phone")
    assert reg.session.code == "2026-12-12"
    assert reg.mediation_reason == "réservation par téléphone"


def test_a_paper_form_of_an_older_version_is_keyed_with_its_own_questions(client, agent, family):
    import copy

    from inscriptions.definitions.registry import current_version
    from inscriptions.models import FormVersion

    current = current_version(registry().get("cantine"))
    older = copy.deepcopy(current.definition)
    older["form"]["pages"][0]["fields"][1]["label"] = "Régime (ancienne question)"
    old = FormVersion(service_code="cantine", version=0, content_hash="old", definition=older)
    db.session.add(old)
    db.session.commit()

    url = canteen_url(family)
    page = text_of(client.get(url, query_string={"version": old.id, "channel": "paper"}))
    assert t("This paper form was printed from an earlier version of the form (version %(n)s): it is keyed "
             "with the questions it had.", n=0) in page
    child = family.children[0].id
    data = setup_data([child], channel="paper", received="01092026", version=old.id)
    page = text_of(client.post(url, data={**data, "_step": "setup"}))
    assert "Régime (ancienne question)" in page
    key = KEY_INPUT.search(page).group(1)
    response = client.post(url, data={**data, "_step": "entry", "_key": key, **canteen_answers(f"c{child}")})
    assert response.status_code == 302
    [reg] = registrations()
    assert reg.form_version_id == old.id
    # A version of another service is not found.
    assert client.get(url, query_string={"version": 9999}).status_code == 404
