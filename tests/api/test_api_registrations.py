"""Booking through the API: parents for their household, agents for any household, same engine."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from api_helpers import CANTEEN_ANSWERS
from flask_babel import gettext

from inscriptions.api import views
from inscriptions.database import BusyError
from inscriptions.extensions import db
from inscriptions.models import Registration, StatusChange
from inscriptions.privacy.sealing import unsealed


def _canteen(children: list[Any], **extra: Any) -> dict[str, Any]:
    return {"service": "cantine", "answers": CANTEEN_ANSWERS,
            "participants": [{"child_id": c.id} for c in children], **extra}


def _count() -> int:
    return db.session.scalar(db.select(db.func.count(Registration.id)))


def test_parent_books_own_household_with_channel_api(api, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    household = make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2020, 5, 2))])
    token = parent_token(household)
    response = api("POST", "/registrations", token, json=_canteen(household.children))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "accepted" and body["replayed"] is False
    assert [r["participant"] for r in body["registrations"]] == ["Léa Martin", "Tom Martin"]
    assert {r["channel"] for r in body["registrations"]} == {"api"}
    assert body["registrations"][0]["price"] == "2.40"  # QF 600, second bracket
    assert response.headers["Location"].endswith("/api/v1/registrations/" + body["registrations"][0]["reference"])

    reg = db.session.scalar(db.select(Registration).filter_by(reference=body["registrations"][0]["reference"]))
    parent_account_id = body["registrations"][0]["keyed_by_id"]
    assert reg.household_id == household.id and reg.channel == "api" and reg.keyed_by_id == parent_account_id
    assert reg.answers["days"] == ["mon", "tue"]

    # Giving its own household id explicitly is the same thing.
    other = make_household(last_name="Petit")
    response = api("POST", "/registrations", parent_token(other),
                   json=_canteen(other.children, household_id=other.id, channel="api"))
    assert response.status_code == 201


def test_parent_cannot_book_another_household_nor_learn_it_exists(api, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    mine = make_household(last_name="Martin")
    theirs = make_household(last_name="Durand")
    token = parent_token(mine)
    existing = api("POST", "/registrations", token, json=_canteen(theirs.children, household_id=theirs.id))
    missing = api("POST", "/registrations", token, json=_canteen(theirs.children, household_id=999_999))
    assert existing.status_code == missing.status_code == 403
    assert existing.get_json() == missing.get_json()
    # Another household's child given for one's own household: refused by the engine, nothing saved.
    response = api("POST", "/registrations", token, json=_canteen(theirs.children))
    assert response.status_code == 422
    assert response.get_json()["error"]["general"] == [gettext("Choose a child of the household.")]
    assert _count() == 0


def test_parent_cannot_choose_a_staff_channel(api, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    household = make_household()
    token = parent_token(household)
    response = api("POST", "/registrations", token, json=_canteen(household.children, channel="counter"))
    assert response.status_code == 403
    response = api("POST", "/registrations", token, json=_canteen(household.children, received_on="2026-09-14"))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"received_on"}
    response = api("POST", "/registrations", token, json=_canteen(household.children, channel="web"))
    assert response.status_code == 422
    assert "channel" in response.get_json()["error"]["fields"]
    assert _count() == 0


def test_agent_books_any_household_at_the_counter(api, make_household, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    agent = staff("agent", "cantine")
    token = token_for(agent)
    paper_family = make_household(last_name="Sans-Courriel", email=None, with_account=False)
    response = api("POST", "/registrations", token, json=_canteen(paper_family.children, household_id=paper_family.id))
    assert response.status_code == 201, response.get_json()
    reg_out = response.get_json()["registrations"][0]
    assert reg_out["channel"] == "counter" and reg_out["keyed_by_id"] == agent.id
    reg = db.session.scalar(db.select(Registration).filter_by(reference=reg_out["reference"]))
    assert reg.keyed_by_id == agent.id and reg.household_id == paper_family.id
    assert reg.history[0].by_id == agent.id

    # A paper form keyed later: the channel and the day it was received are kept.
    other = make_household(last_name="Papier")
    response = api("POST", "/registrations", token, json=_canteen(
        other.children, household_id=other.id, channel="paper", received_on="2026-09-10"))
    assert response.status_code == 201, response.get_json()
    reg = db.session.scalar(db.select(Registration).filter_by(
        reference=response.get_json()["registrations"][0]["reference"]))
    assert reg.channel == "paper"
    assert "2026" in db.session.scalar(db.select(StatusChange.reason).filter_by(registration_id=reg.id))

    # A staff booking must say which household.
    response = api("POST", "/registrations", token, json=_canteen(other.children))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"household_id"}
    response = api("POST", "/registrations", token, json=_canteen(
        other.children, household_id=other.id, received_on="2026-09-16"))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"received_on"}


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_book_too(api, make_household, staff, token_for, role) -> None:  # type: ignore[no-untyped-def]
    household = make_household()
    token = token_for(staff(role, "cantine" if role == "manager" else None))
    response = api("POST", "/registrations", token, json=_canteen(household.children, household_id=household.id))
    assert response.status_code == 201


@pytest.mark.parametrize("role,service", [("agent", "piscine"), ("manager", "piscine"), ("dpo", None)])
def test_staff_without_the_grant_for_this_service_is_403(api, make_household, staff, token_for, role, service) -> None:  # type: ignore[no-untyped-def]
    household = make_household()
    token = token_for(staff(role, service))
    response = api("POST", "/registrations", token, json=_canteen(household.children, household_id=household.id))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert _count() == 0


def test_invalid_bodies_are_422_with_fields(api, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    household = make_household()
    token = parent_token(household)
    cases = [
        ({"participants": [{}]}, {"service"}),
        ({"service": "cantine", "participants": []}, {"participants"}),
        ({"service": "cantine", "participants": [{"child_id": "abc"}]}, {"participants.0.child_id"}),
        ({"service": "cantine", "participants": [{"child_id": 2**40}]}, {"participants.0.child_id"}),
        ({"service": "cantine", "participants": [{}], "colour": "red"}, {"colour"}),
        ({"service": "cantine", "participants": [{}], "idempotency_key": "has space"}, {"idempotency_key"}),
        ({"service": "nope", "participants": [{}]}, {"service"}),
        ([1, 2], {"body"}),
    ]
    for body, fields in cases:
        response = api("POST", "/registrations", token, json=body)
        assert response.status_code == 422, body
        error = response.get_json()["error"]
        assert error["code"] == "validation_error"
        assert set(error["fields"]) == fields, body
        assert all(error["fields"].values())


def test_answers_refused_by_the_engine_name_the_participant_field(api, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    household = make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2020, 5, 2))])
    body = {"service": "cantine", "answers": {**CANTEEN_ANSWERS, "days": ["mon"]},
            "participants": [{"child_id": household.children[0].id},
                             {"child_id": household.children[1].id, "answers": {"days": ["sun"], "diet": "halal"}}]}
    response = api("POST", "/registrations", parent_token(household), json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "refused"
    assert set(error["fields"]) == {"participants.1.answers.days", "participants.1.answers.diet"}
    assert _count() == 0


def test_bodies_that_are_not_json(api, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    token = parent_token(make_household())
    response = api("POST", "/registrations", token, data="service=cantine")
    assert response.status_code == 415
    for raw in ("{not json", '{"service": NaN}', b"\xff\xfe"):
        response = api("POST", "/registrations", token, data=raw, content_type="application/json")
        assert response.status_code == 400, raw
        assert response.get_json()["error"]["code"] == "invalid_json"


def test_full_session_waitlists_like_the_web(api, make_household, parent_token, staff, token_for, with_atelier) -> None:  # type: ignore[no-untyped-def]
    with_atelier(capacity=2)
    siblings = make_household(last_name="Deux", children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2019, 1, 1))])
    late = make_household(last_name="Tard")
    counter_family = make_household(last_name="Guichet")

    def book(token: str, household, **extra: Any):  # type: ignore[no-untyped-def]
        return api("POST", "/registrations", token, json={
            "service": "atelier", "session": "mercredi", "answers": {"level": "a"},
            "participants": [{"child_id": c.id} for c in household.children], **extra})

    first = book(parent_token(siblings), siblings)
    assert first.status_code == 201 and first.get_json()["status"] == "accepted"
    assert len(first.get_json()["registrations"]) == 2
    second = book(parent_token(late), late)
    assert second.get_json()["status"] == "waitlisted"
    # The counter draws on the same capacity.
    agent_token = token_for(staff("agent", "atelier"))
    third = book(agent_token, counter_family, household_id=counter_family.id)
    assert third.get_json()["status"] == "waitlisted"
    assert third.get_json()["registrations"][0]["channel"] == "counter"

    sessions = {s["code"]: s for s in api("GET", "/services/atelier/sessions", agent_token).get_json()["items"]}
    assert sessions["mercredi"] | {"starts_at": None} == {
        "code": "mercredi", "label": "Mercredi 14 h", "starts_at": None, "capacity": 2, "places_left": 0,
        "full": True, "started": False, "places_held": 2, "waiting": 2,
    }
    assert sessions["samedi"]["places_held"] == 0 and sessions["samedi"]["places_left"] == 5
    # Families see places left but not the counts staff see.
    public = api("GET", "/services/atelier/sessions", parent_token(late)).get_json()["items"]
    assert public[0]["places_left"] == 0 and public[0]["places_held"] is None and public[0]["waiting"] is None

    # Siblings are never split: two children for one place left both wait.
    with_atelier(capacity=3)
    pair = make_household(last_name="Paire", children=[("A", dt.date(2018, 3, 1)), ("B", dt.date(2019, 1, 1))])
    assert book(parent_token(pair), pair).get_json()["status"] == "waitlisted"


def test_session_is_required_and_checked(api, make_household, parent_token, with_atelier) -> None:  # type: ignore[no-untyped-def]
    with_atelier()
    household = make_household()
    token = parent_token(household)
    for session, message in ((None, "Choose a session."),
                             ("dimanche", "This session is not offered: choose another one.")):
        response = api("POST", "/registrations", token, json={
            "service": "atelier", "session": session, "answers": {"level": "a"},
            "participants": [{"child_id": household.children[0].id}]})
        assert response.status_code == 422
        assert response.get_json()["error"]["general"] == [gettext(message)]


def test_busy_database_is_503_json_with_retry_after(api, make_household, parent_token, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    household = make_household()

    def busy(_data):  # type: ignore[no-untyped-def]
        raise BusyError()

    monkeypatch.setattr(views, "create_registrations", busy)
    response = api("POST", "/registrations", parent_token(household), json=_canteen(household.children))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "busy"
    assert int(response.headers["Retry-After"]) > 0


def test_same_idempotency_key_returns_the_first_result(api, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    household = make_household()
    token = parent_token(household)
    body = _canteen(household.children, idempotency_key="click-1")
    first = api("POST", "/registrations", token, json=body)
    again = api("POST", "/registrations", token, json=body)
    assert first.status_code == 201 and again.status_code == 201
    assert again.get_json()["replayed"] is True
    assert again.get_json()["batch"] == first.get_json()["batch"]
    assert again.get_json()["registrations"] == first.get_json()["registrations"]
    assert _count() == 1


def test_idempotency_key_in_header_and_conflicts(api, make_household, parent_token, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    first_family, second_family = make_household(last_name="Un"), make_household(last_name="Deux")
    # Keys are scoped to the account: another family's identical key books for them.
    for family in (first_family, second_family):
        response = api("POST", "/registrations", parent_token(family), json=_canteen(family.children),
                       headers={"Idempotency-Key": "same-key"})
        assert response.status_code == 201 and response.get_json()["replayed"] is False
    assert _count() == 2

    # The same agent reusing a key for another household: a conflict, nothing booked.
    token = token_for(staff("agent", "cantine"))
    third, fourth = make_household(last_name="Trois"), make_household(last_name="Quatre")
    assert api("POST", "/registrations", token,
               json=_canteen(third.children, household_id=third.id, idempotency_key="k1")).status_code == 201
    response = api("POST", "/registrations", token,
                   json=_canteen(fourth.children, household_id=fourth.id, idempotency_key="k1"))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "key_reused"
    assert _count() == 3

    # Header and body must agree; a malformed header is refused.
    response = api("POST", "/registrations", token, json=_canteen(fourth.children, household_id=fourth.id,
                                                                   idempotency_key="a"),
                   headers={"Idempotency-Key": "b"})
    assert response.status_code == 422 and "idempotency_key" in response.get_json()["error"]["fields"]
    response = api("POST", "/registrations", token, json=_canteen(fourth.children, household_id=fourth.id),
                   headers={"Idempotency-Key": "x" * 49})
    assert response.status_code == 422 and "Idempotency-Key" in response.get_json()["error"]["fields"]
    assert _count() == 3


def test_parent_chooses_when_siblings_do_not_fit(api, make_household, parent_token, with_atelier) -> None:  # type: ignore[no-untyped-def]
    with_atelier(capacity=1, waitlist_siblings="parent_chooses")
    pair = make_household(children=[("A", dt.date(2018, 3, 1)), ("B", dt.date(2019, 1, 1))])
    token = parent_token(pair)
    body = {"service": "atelier", "session": "mercredi", "answers": {"level": "b"},
            "participants": [{"child_id": c.id} for c in pair.children]}
    response = api("POST", "/registrations", token, json=body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "not_enough_places" and error["places_left"] == 1
    assert _count() == 0
    response = api("POST", "/registrations", token, json={**body, "waitlist_together": True})
    assert response.status_code == 201 and response.get_json()["status"] == "waitlisted"


def test_typed_json_answers_as_in_the_docs(api, make_household, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    household = make_household()
    response = api("POST", "/registrations", token_for(staff("agent", "cantine")), json={
        "service": "cantine", "household_id": household.id, "channel": "counter", "idempotency_key": "guichet-0001",
        "answers": {"days": ["mon", "tue"], "diet": "standard", "allergy": False, "rules": True},
        "participants": [{"child_id": household.children[0].id}]})
    assert response.status_code == 201, response.get_json()
    reg = db.session.scalar(db.select(Registration))
    # The allergy answer is sealed at rest (inscriptions.privacy.sealing): its type survives.
    assert unsealed(reg.answers)["allergy"] is False and reg.answers["rules"] is True


def test_a_key_sent_again_with_another_request_is_refused(api, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    family = make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2020, 5, 2))])
    token = parent_token(family)
    lea, tom = family.children
    first = api("POST", "/registrations", token, json=_canteen([lea]), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and _count() == 1
    # The same request again (a network retry): the first booking, nothing new.
    again = api("POST", "/registrations", token, json=_canteen([lea]), headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.get_json()["replayed"] is True
    assert again.get_json()["registrations"] == first.get_json()["registrations"]
    # The same key with another child: refused, said so, nothing booked (it used to answer with Léa's).
    other = api("POST", "/registrations", token, json=_canteen([tom]), headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "key_reused"
    assert "autre contenu" in other.get_json()["error"]["message"]
    assert _count() == 1
