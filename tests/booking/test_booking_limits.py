"""Per-household limits: registrations held in a service, people in one booking."""

from __future__ import annotations

import datetime as dt

import pytest
from booking_helpers import count_registrations, race, registration_input, sortie_definition, stage_definition
from flask_babel import ngettext
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import Registration, Status
from inscriptions.registrations.create import (
    LIMIT_REACHED,
    RegistrationOutcome,
    RegistrationRefused,
    create_registrations,
)

KID = dt.date(2018, 4, 2)
THREE = [("Léa", KID), ("Hugo", KID), ("Noé", KID)]


def household_limit(limit: int, current: int) -> str:
    return ngettext("Your household can have at most %(num)s registration for this service "
                    "(it already has %(current)s).",
                    "Your household can have at most %(num)s registrations for this service "
                    "(it already has %(current)s).", limit, current=current)


def test_people_per_booking(app, make_household, install, book) -> None:
    install(stage_definition(limits={"per_booking": 2}))
    household = make_household(children=THREE)
    with pytest.raises(RegistrationRefused) as refused:
        book(household)
    assert refused.value.code == LIMIT_REACHED
    assert refused.value.general == [ngettext("You can register at most %(num)s person in one booking.",
                                              "You can register at most %(num)s people in one booking.", 2)]
    assert count_registrations() == 0
    assert book(household, children=household.children[:2]).status == Status.ACCEPTED
    # A further booking is another booking: the third child can be registered next.
    assert book(household, children=household.children[2:]).status == Status.ACCEPTED


def test_registrations_per_household_across_sessions(app, make_household, install, book) -> None:
    install(stage_definition(limits={"per_household": 2}))
    household = make_household(children=THREE)
    lea, hugo, noe = household.children
    book(household, children=[lea], session="s1")
    book(household, children=[hugo], session="s2")
    with pytest.raises(RegistrationRefused) as refused:
        book(household, children=[noe], session="s2")
    assert refused.value.code == LIMIT_REACHED
    assert refused.value.general == [household_limit(2, 2)]
    # Another household is not concerned.
    assert book(make_household(last_name="Durand", children=THREE[:2])).status == Status.ACCEPTED


def test_a_booking_over_the_limit_saves_nobody(app, make_household, install, book) -> None:
    install(stage_definition(limits={"per_household": 2}))
    household = make_household(children=THREE)
    with pytest.raises(RegistrationRefused) as refused:
        book(household)
    assert refused.value.general == [household_limit(2, 0)]
    assert count_registrations() == 0


def test_waiting_entries_count_and_cancelled_ones_do_not(app, make_household, install, book) -> None:
    install(stage_definition(capacity=1, limits={"per_household": 1}))
    book(make_household(last_name="Durand", children=[("Alice", KID)]))
    household = make_household(children=THREE)
    lea, hugo, _noe = household.children
    assert book(household, children=[lea]).status == Status.WAITLISTED
    with pytest.raises(RegistrationRefused):
        book(household, children=[hugo], session="s2")
    reg = db.session.scalar(select(Registration).filter_by(household_id=household.id))
    reg.status = Status.CANCELLED
    db.session.commit()
    assert book(household, children=[hugo], session="s2").status == Status.ACCEPTED


def test_household_service_limit(app, make_household, install, book) -> None:
    data = sortie_definition(limits={"per_household": 1})
    data["sessions"].append({"code": "s2", "label": "Dimanche", "starts_at": "2027-02-14T14:00:00", "capacity": 5})
    install(data)
    household = make_household()
    book(household, service="sortie")
    with pytest.raises(RegistrationRefused) as refused:
        book(household, service="sortie", session="s2")
    assert refused.value.general == [household_limit(1, 1)]


def test_parallel_bookings_of_one_household_respect_the_limit(app, make_household, install) -> None:
    """Two tabs (or a parent and an agent) book different children at the same moment."""
    install(stage_definition(limits={"per_household": 1}))
    app.config["BOOKING_LOCK_TIMEOUT_MS"] = 30_000
    household = make_household(children=THREE)
    inputs = [registration_input(household, children=[child], channel=channel)
              for child, channel in zip(household.children, ("web", "counter", "phone"), strict=True)]
    results = race(app, [lambda data=data: create_registrations(data) for data in inputs])
    assert sum(isinstance(r, RegistrationOutcome) for r in results) == 1
    assert [r.code for r in results if isinstance(r, RegistrationRefused)] == [LIMIT_REACHED] * 2
    assert count_registrations() == 1
