"""One-time submission keys: a replayed or double-clicked booking returns its first outcome."""

from __future__ import annotations

import datetime as dt

import pytest
from booking_helpers import count_registrations, race, registration_input
from flask_babel import gettext
from sqlalchemy import func, select

from inscriptions.extensions import db
from inscriptions.models import Registration, Status, SubmissionKey
from inscriptions.registrations.create import (
    KEY_REUSED,
    RegistrationOutcome,
    RegistrationRefused,
    create_registrations,
)

KID = dt.date(2018, 4, 2)


def _keys() -> list[tuple[str, int, str]]:
    return [(k.key, k.household_id, k.batch) for k in db.session.scalars(select(SubmissionKey))]


def test_a_replayed_key_returns_the_first_outcome(app, make_household, book, outbox) -> None:
    household = make_household(children=[("Léa", KID), ("Hugo", KID)])
    first = book(household, channel="api", idempotency_key="client-42-attempt")
    assert not first.replayed and first.status == Status.ACCEPTED
    again = book(household, channel="api", idempotency_key="client-42-attempt")
    assert again.replayed
    assert (again.batch, again.registration_ids, again.status) == (first.batch, first.registration_ids, "accepted")
    assert count_registrations() == 2
    assert _keys() == [("client-42-attempt", household.id, first.batch)]
    assert len(outbox) == 1  # the confirmation is not sent twice


def test_the_same_key_with_another_request_is_refused(app, make_household, book) -> None:
    # Another child ticked under the same key: not a retry. It used to answer with the first
    # booking as if Hugo were registered; now it says so and books nothing.
    household = make_household(children=[("Léa", KID), ("Hugo", KID)])
    lea, hugo = household.children
    first = book(household, children=[lea], idempotency_key="k1")
    with pytest.raises(RegistrationRefused) as refused:
        book(household, children=[hugo], idempotency_key="k1")
    assert refused.value.code == KEY_REUSED
    with pytest.raises(RegistrationRefused) as other_answers:
        book(household, children=[lea], idempotency_key="k1", answers={"level": "b"})
    assert other_answers.value.code == KEY_REUSED
    again = book(household, children=[lea], idempotency_key="k1")  # the same request: a retry
    assert again.replayed and again.registration_ids == first.registration_ids
    assert count_registrations() == 1


def test_a_key_of_another_household_is_refused(app, make_household, book) -> None:
    mine, other = make_household(), make_household(last_name="Durand")
    book(mine, idempotency_key="shared-key")
    with pytest.raises(RegistrationRefused) as refused:
        book(other, idempotency_key="shared-key")
    assert refused.value.code == KEY_REUSED
    assert refused.value.general == [gettext("This submission belongs to another household.")]
    assert count_registrations() == 1


def test_a_key_used_for_another_service_is_refused(app, make_household, book) -> None:
    household = make_household()
    book(household, idempotency_key="k2")
    with pytest.raises(RegistrationRefused) as refused:
        book(household, service="sortie", idempotency_key="k2")
    assert refused.value.code == KEY_REUSED
    assert count_registrations() == 1


def test_a_refused_attempt_does_not_use_the_key(app, make_household, book) -> None:
    household = make_household()
    with pytest.raises(RegistrationRefused):
        book(household, answers={"level": "zzz"}, idempotency_key="k3")
    assert _keys() == []
    outcome = book(household, idempotency_key="k3")
    assert not outcome.replayed and count_registrations() == 1


@pytest.mark.parametrize("key", ["", "x" * 101])
def test_invalid_keys_are_refused(app, make_household, book, key: str) -> None:
    with pytest.raises(RegistrationRefused) as refused:
        book(make_household(), idempotency_key=key)
    assert refused.value.general == [gettext("This submission key is not valid.")]


def test_the_replay_returns_the_current_status(app, make_household, book) -> None:
    household = make_household()
    first = book(household, idempotency_key="k4")
    reg = db.session.get(Registration, first.registration_ids[0])
    reg.status = Status.CANCELLED
    db.session.commit()
    assert book(household, idempotency_key="k4").status == Status.CANCELLED


# -- at the same moment ---------------------------------------------------------------------------

def test_concurrent_replays_book_once(app, make_household, outbox) -> None:
    """A double click, a retry and a second tab send the same key at once: one booking."""
    app.config["BOOKING_LOCK_TIMEOUT_MS"] = 30_000
    household = make_household(children=[("Léa", KID), ("Hugo", KID)])
    data = registration_input(household, channel="api", idempotency_key="same-moment")
    results = race(app, [lambda: create_registrations(data)] * 8)
    assert all(isinstance(r, RegistrationOutcome) for r in results), results
    assert sum(not r.replayed for r in results) == 1
    assert {r.batch for r in results} == {results[0].batch}
    assert {tuple(r.registration_ids) for r in results} == {tuple(results[0].registration_ids)}
    assert count_registrations() == 2
    assert db.session.scalar(select(func.count(SubmissionKey.id))) == 1
    assert len(outbox) == 1


def test_concurrent_use_of_a_key_by_two_households(app, make_household) -> None:
    app.config["BOOKING_LOCK_TIMEOUT_MS"] = 30_000
    households = [make_household(last_name=f"Famille{i}") for i in range(4)]
    inputs = [registration_input(h, idempotency_key="collision") for h in households]
    results = race(app, [lambda data=data: create_registrations(data) for data in inputs])
    won = [r for r in results if isinstance(r, RegistrationOutcome)]
    lost = [r for r in results if isinstance(r, RegistrationRefused)]
    assert len(won) == 1 and not won[0].replayed
    assert len(lost) == 3 and all(r.code == KEY_REUSED for r in lost), results
    assert count_registrations() == 1
