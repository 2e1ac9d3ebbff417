"""Capacity under load, siblings all or nothing, and no queue jumping past the waiting list."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from booking_helpers import fresh, race, registration_input, sortie_definition, stage_definition, statuses
from flask_babel import gettext, ngettext
from markupsafe import escape
from sqlalchemy import func, select

from inscriptions.extensions import db
from inscriptions.models import HOLDING_STATUSES, Registration, ServiceSession, Status
from inscriptions.registrations.create import (
    NOT_ENOUGH_PLACES,
    RegistrationOutcome,
    RegistrationRefused,
    create_registrations,
)

CHANNELS = ("web", "counter", "paper", "phone", "api")
KID = dt.date(2018, 4, 2)


def _places_held(code: str = "s1") -> int:
    fresh()
    return int(db.session.scalar(
        select(func.coalesce(func.sum(Registration.places), 0))
        .join(ServiceSession, Registration.session_id == ServiceSession.id)
        .where(ServiceSession.code == code, Registration.status.in_(HOLDING_STATUSES))
    ))


# -- opening day: many families at once --------------------------------------------------------

def test_fifty_parallel_bookings_for_ten_places(app, make_household) -> None:
    app.config["BOOKING_LOCK_TIMEOUT_MS"] = 60_000  # this test is about counting, not timeouts
    households = [make_household(last_name=f"Famille{i}", children=[("Enfant", KID)], with_account=False)
                  for i in range(50)]
    inputs = [registration_input(h, channel=CHANNELS[i % len(CHANNELS)]) for i, h in enumerate(households)]
    results = race(app, [lambda data=data: create_registrations(data) for data in inputs])

    assert [r for r in results if not isinstance(r, RegistrationOutcome)] == []
    assert sorted(r.status for r in results).count(Status.ACCEPTED) == 10
    assert sorted(r.status for r in results).count(Status.WAITLISTED) == 40
    rows = list(db.session.scalars(select(Registration).order_by(Registration.id)))
    assert len(rows) == 50
    assert sum(r.status == Status.ACCEPTED for r in rows) == 10
    assert _places_held() == 10
    # Every channel drew on the same capacity, and references stayed unique and gap-free.
    assert {r.channel for r in rows} == set(CHANNELS)
    assert sorted(r.reference for r in rows) == [f"STG-2026-{n:06d}" for n in range(1, 51)]


def test_parallel_seat_bookings_never_exceed_capacity(app, make_household, install) -> None:
    install(sortie_definition(capacity=7))
    app.config["BOOKING_LOCK_TIMEOUT_MS"] = 60_000
    households = [make_household(last_name=f"Famille{i}", with_account=False) for i in range(12)]
    inputs = [registration_input(h, service="sortie", answers={"seats": str(1 + i % 3)},
                                 channel=CHANNELS[i % len(CHANNELS)]) for i, h in enumerate(households)]
    results = race(app, [lambda data=data: create_registrations(data) for data in inputs])
    assert all(isinstance(r, RegistrationOutcome) for r in results), results
    # Bookings were serialised on the session row: in that order (ids), places were given until
    # one booking did not fit; from then on everyone queued behind it.
    rows = list(db.session.scalars(select(Registration).order_by(Registration.id)))
    kinds = [r.status for r in rows]
    placed = kinds.count(Status.ACCEPTED)
    assert kinds == [Status.ACCEPTED] * placed + [Status.WAITLISTED] * (len(rows) - placed)
    held = sum(r.places for r in rows[:placed])
    assert held == _places_held() <= 7
    if placed < len(rows):
        assert rows[placed].places > 7 - held


# -- siblings: all or nothing -----------------------------------------------------------------

def test_siblings_all_wait_together_by_default(app, make_household, install, book) -> None:
    install(stage_definition(capacity=3))
    first = make_household(children=[("Alice", KID)])
    siblings = make_household(last_name="Durand", children=[("Léa", KID), ("Hugo", KID), ("Noé", KID)])
    assert book(first).status == Status.ACCEPTED
    outcome = book(siblings)  # 2 places left for 3 children
    assert outcome.status == Status.WAITLISTED
    assert statuses() == ["accepted", "waitlisted", "waitlisted", "waitlisted"]
    assert _places_held() == 1


def test_siblings_who_fit_are_all_placed(app, make_household, install, book) -> None:
    install(stage_definition(capacity=3))
    siblings = make_household(children=[("Léa", KID), ("Hugo", KID), ("Noé", KID)])
    assert book(siblings).status == Status.ACCEPTED
    assert statuses() == ["accepted"] * 3


def test_parent_chooses_refuses_and_says_how_many_places_are_left(app, make_household, install, book) -> None:
    install(stage_definition(capacity=3, waitlist_siblings="parent_chooses"))
    first = make_household(children=[("Alice", KID)])
    siblings = make_household(last_name="Durand", children=[("Léa", KID), ("Hugo", KID), ("Noé", KID)])
    book(first)
    with pytest.raises(RegistrationRefused) as refused:
        book(siblings)
    assert refused.value.code == NOT_ENOUGH_PLACES
    assert refused.value.places_left == 2
    assert refused.value.general == [
        ngettext("Only %(num)s place is left in this session for the %(count)s people you chose.",
                 "Only %(num)s places are left in this session for the %(count)s people you chose.",
                 2, count=3),
        gettext("Register fewer people now, or put all of them on the waiting list together."),
    ]
    assert statuses() == ["accepted"]  # nothing saved

    # Choice 1: fewer children now.
    lea, hugo, _noe = siblings.children
    assert book(siblings, children=[lea, hugo]).status == Status.ACCEPTED
    assert _places_held() == 3


def test_parent_chooses_the_waiting_list_together(app, make_household, install, book) -> None:
    install(stage_definition(capacity=3, waitlist_siblings="parent_chooses"))
    book(make_household(children=[("Alice", KID)]))
    siblings = make_household(last_name="Durand", children=[("Léa", KID), ("Hugo", KID), ("Noé", KID)])
    # Choice 2: everyone on the waiting list, together.
    assert book(siblings, waitlist_together=True).status == Status.WAITLISTED
    assert statuses() == ["accepted", "waitlisted", "waitlisted", "waitlisted"]


def test_parent_chooses_has_no_choice_when_the_session_is_full(app, make_household, install, book) -> None:
    install(stage_definition(capacity=1, waitlist_siblings="parent_chooses"))
    book(make_household(children=[("Alice", KID)]))
    siblings = make_household(last_name="Durand", children=[("Léa", KID), ("Hugo", KID)])
    assert book(siblings).status == Status.WAITLISTED  # no place to split: both wait


def test_parent_chooses_does_not_change_a_single_child_booking(app, make_household, install, book) -> None:
    install(stage_definition(capacity=1, waitlist_siblings="parent_chooses"))
    book(make_household(children=[("Alice", KID)]))
    assert book(make_household(children=[("Jules", KID)])).status == Status.WAITLISTED


# -- newcomers cannot jump the queue ----------------------------------------------------------

def test_free_places_are_kept_for_the_waiting_list(app, make_household, install, book) -> None:
    install(stage_definition(capacity=2))
    book(make_household(children=[("Alice", KID)]))
    siblings = make_household(last_name="Durand", children=[("Léa", KID), ("Hugo", KID)])
    assert book(siblings).status == Status.WAITLISTED  # 1 place left for 2
    assert _places_held() == 1
    newcomer = make_household(last_name="Petit", children=[("Zoé", KID)])
    assert book(newcomer).status == Status.WAITLISTED  # the free place is not theirs to take
    # Another session's waiting list is its own.
    other = make_household(last_name="Bernard", children=[("Paul", KID)])
    assert book(other, session="s2").status == Status.ACCEPTED


def test_places_beyond_open_offers_are_free_for_newcomers(app, make_household, install, book) -> None:
    install(stage_definition(capacity=3))
    book(make_household(children=[("Alice", KID)]))
    waiting = make_household(last_name="Durand", children=[("Léa", KID)])
    row = db.session.scalar(select(ServiceSession).filter_by(service_code="stage", code="s1"))
    row.capacity = 1
    db.session.commit()
    assert book(waiting).status == Status.WAITLISTED
    # The town adds places and the waiting entry is offered one.
    row = db.session.scalar(select(ServiceSession).filter_by(service_code="stage", code="s1"))
    row.capacity = 3
    reg = db.session.scalar(select(Registration).filter_by(household_id=waiting.id))
    reg.status = Status.OFFERED
    db.session.commit()
    assert _places_held() == 2  # the offer holds its place; one more is free and nobody waits
    assert book(make_household(last_name="Petit", children=[("Zoé", KID)])).status == Status.ACCEPTED
    assert _places_held() == 3


def test_a_place_freed_while_people_wait_goes_to_the_head_of_the_queue(
    app, make_household, install, book
) -> None:
    install(stage_definition(capacity=1))
    first = make_household(children=[("Alice", KID)])
    book(first)
    head = make_household(last_name="Durand", children=[("Léa", KID)])
    assert book(head).status == Status.WAITLISTED
    # A place frees without promotion (e.g. an agent's correction); no cron has run yet.
    alice = db.session.scalar(select(Registration).filter_by(household_id=first.id))
    alice.status = Status.CANCELLED
    db.session.commit()
    newcomer = make_household(last_name="Petit", children=[("Zoé", KID)])
    assert book(newcomer).status == Status.WAITLISTED
    fresh_statuses = dict(db.session.execute(select(Registration.household_id, Registration.status)).all())
    assert fresh_statuses[head.id] == Status.OFFERED
    assert fresh_statuses[newcomer.id] == Status.WAITLISTED


def test_once_the_list_is_empty_places_are_booked_again(app, make_household, install, book) -> None:
    install(stage_definition(capacity=2))
    book(make_household(children=[("Alice", KID)]))
    siblings = make_household(last_name="Durand", children=[("Léa", KID), ("Hugo", KID)])
    book(siblings)
    for reg in db.session.scalars(select(Registration).filter_by(household_id=siblings.id)):
        reg.status = Status.CANCELLED  # the family left the list
    db.session.commit()
    assert book(make_household(last_name="Petit", children=[("Zoé", KID)])).status == Status.ACCEPTED


def test_seat_bookings_queue_behind_the_waiting_list(app, make_household, install, book) -> None:
    install(sortie_definition(capacity=5))
    assert book(make_household(), service="sortie", answers={"seats": "4"}).status == Status.ACCEPTED
    assert book(make_household(), service="sortie", answers={"seats": "2"}).status == Status.WAITLISTED
    # One seat is free, but the family above waits for a place first.
    assert book(make_household(), service="sortie", answers={"seats": "1"}).status == Status.WAITLISTED
    assert _places_held() == 4


def test_the_web_family_chooses_the_waiting_list_together(app, client, make_household, login, install,
                                                          book) -> None:
    install(stage_definition(capacity=2, waitlist_siblings="parent_chooses"))
    book(make_household(last_name="Durand", children=[("Alice", KID)]))
    household = make_household(children=[("Léa", KID), ("Hugo", KID)])
    login(household)
    keys = [f"c{child.id}" for child in household.children]
    started = client.post("/services/stage/inscription", data={"participant": keys, "session": "s1"})
    assert started.status_code == 302, started.get_data(as_text=True)
    token = re.search(r"/inscription/([0-9a-f]{32})/", started.headers["Location"]).group(1)
    page = client.post(f"/inscription/{token}/etape/1", content_type="multipart/form-data",
                       data={"_action": "next", **{f"{key}-level": "a" for key in keys}})
    assert page.status_code == 302 and page.headers["Location"].endswith("/recapitulatif")

    refused = client.post(f"/inscription/{token}/recapitulatif")
    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert str(escape(gettext("Register fewer people now, or put all of them on the waiting list together."))) in html
    assert 'name="waitlist_together" value="1"' in html
    assert statuses() == ["accepted"]

    done = client.post(f"/inscription/{token}/recapitulatif", data={"waitlist_together": "1"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/confirmation")
    assert statuses() == ["accepted", "waitlisted", "waitlisted"]


def test_the_service_page_shows_kept_places_as_full(app, client, make_household, install, book) -> None:
    install(stage_definition(capacity=2))
    book(make_household(children=[("Alice", KID)]))
    one_left = client.get("/services/stage").get_data(as_text=True)
    assert gettext("1 place left.") in one_left
    book(make_household(last_name="Durand", children=[("Léa", KID), ("Hugo", KID)]))  # both wait
    html = client.get("/services/stage").get_data(as_text=True)
    assert gettext("1 place left.") not in html
    assert str(escape(gettext("Full: you can join the waiting list."))) in html
