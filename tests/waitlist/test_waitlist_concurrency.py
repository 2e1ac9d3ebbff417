"""PostgreSQL: simultaneous cancellations never promote the same entry twice, never overbook.

Runs only with ``INSCRIPTIONS_TEST_DATABASE_URL`` set (a PostgreSQL database of your own: the
suite drops its schema). Each thread has its own application context, hence its own database
session and connection; a barrier releases them at the same moment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from waitlist_helpers import fresh, statuses

from inscriptions.extensions import db
from inscriptions.models import ServiceSession, Status, StatusChange
from inscriptions.registrations import waitlist
from inscriptions.registrations.cancel import cancel_registration

pytestmark = pytest.mark.skipif(
    not os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL"), reason="needs INSCRIPTIONS_TEST_DATABASE_URL (PostgreSQL)"
)


def race(app: Flask, actions: list[Callable[[], Any]]) -> list[BaseException]:
    """Run each action in its own thread and app context, all released at once; returns errors."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action: Callable[[], Any]) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                action()
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    return errors


def offers_made(registration_id: int) -> int:
    return db.session.scalar(
        select(func.count(StatusChange.id)).filter_by(registration_id=registration_id, to_status=Status.OFFERED)
    )


def fill(make_household, book, session: str, placed: int, waiting: int):  # type: ignore[no-untyped-def]
    taken = [book(make_household(), session).registration_ids[0] for _ in range(placed)]
    queued = []
    for _ in range(waiting):
        outcome = book(make_household(), session)
        assert outcome.status == Status.WAITLISTED
        queued.append(outcome.registration_ids[0])
    return taken, queued


@pytest.mark.parametrize("attempt", range(3))  # a race depends on timing: run it a few times
def test_simultaneous_cancellations_offer_distinct_entries(app, make_household, book, attempt) -> None:
    assert db.engine.dialect.name == "postgresql"
    # Session s2 has 3 places: all taken, 5 households waiting; 3 families cancel at once.
    taken, queued = fill(make_household, book, "s2", placed=3, waiting=5)
    db.session.commit()

    errors = race(app, [lambda rid=rid: cancel_registration(rid, by_id=None) for rid in taken])
    assert errors == []

    assert statuses(taken) == [Status.CANCELLED] * 3
    # Exactly the first three entries, each offered once: none twice, none skipped.
    assert statuses(queued) == [Status.OFFERED] * 3 + [Status.WAITLISTED] * 2
    assert [offers_made(r) for r in queued] == [1, 1, 1, 0, 0]
    row = db.session.scalar(select(ServiceSession).filter_by(service_code="stage", code="s2"))
    assert waitlist.places_held(row.id) == row.capacity == 3


def test_cancel_decline_and_booking_at_the_same_moment(app, make_household, book) -> None:
    """A cancellation, a declined offer and a new booking race on a full session."""
    taken, queued = fill(make_household, book, "s2", placed=3, waiting=4)
    cancel_registration(taken[0], by_id=None)  # queued[0] gets an offer
    assert statuses(queued) == [Status.OFFERED, Status.WAITLISTED, Status.WAITLISTED, Status.WAITLISTED]
    newcomer = make_household()
    db.session.commit()
    outcomes: list[Any] = []

    errors = race(app, [
        lambda: cancel_registration(taken[1], by_id=None),
        lambda: waitlist.decline_offer(queued[0], by_id=None),
        lambda: outcomes.append(book(newcomer, "s2")),
    ])
    assert errors == []

    assert statuses(queued) == [Status.CANCELLED, Status.OFFERED, Status.OFFERED, Status.WAITLISTED]
    assert [offers_made(r) for r in queued] == [1, 1, 1, 0]
    # The freed places went to the list at once: the newcomer never saw a free place.
    assert outcomes[0].status == Status.WAITLISTED
    row = db.session.scalar(select(ServiceSession).filter_by(service_code="stage", code="s2"))
    assert waitlist.places_held(row.id) == 3
    # Behind the entry that was already waiting.
    assert waitlist.position(fresh(queued[3])) == 1
    assert waitlist.position(fresh(outcomes[0].registration_ids[0])) == 2
