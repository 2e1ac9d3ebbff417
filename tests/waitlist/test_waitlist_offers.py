"""Waiting list: order and positions, offers, accept, decline, expiry, automatic mode, FIFO."""

from __future__ import annotations

import datetime as dt

import pytest
from flask_babel import gettext
from sqlalchemy import select, update
from waitlist_helpers import SERVICES, fresh, stage_with_s1, statuses

from inscriptions.database import write_transaction
from inscriptions.extensions import db
from inscriptions.models import Registration, ServiceSession, Status
from inscriptions.registrations import waitlist
from inscriptions.registrations.cancel import cancel_registration
from inscriptions.registrations.status import reject_registration, transition

NOW = dt.datetime(2026, 9, 15, 8, 0)  # the frozen clock, naive UTC as stored


def full_session(make_household, book, *, service="stage", waiting=3, session="s1"):  # type: ignore[no-untyped-def]
    """Fill the 2-place session with two households, then put ``waiting`` households on its list."""
    placed = []
    for _ in range(2):
        outcome = book(make_household(), session, service=service)
        assert outcome.status in (Status.ACCEPTED, Status.SUBMITTED)
        placed += outcome.registration_ids
    queued = []
    for _ in range(waiting):
        outcome = book(make_household(), session, service=service)
        assert outcome.status == Status.WAITLISTED
        queued += outcome.registration_ids
    return placed, queued


def session_row(code: str = "s1", service: str = "stage") -> ServiceSession:
    return db.session.scalar(select(ServiceSession).filter_by(service_code=service, code=code))


# -- order and positions ------------------------------------------------------------------------

def test_positions_count_entries_and_siblings_share_one(make_household, book, frozen_clock) -> None:
    placed, [first] = full_session(make_household, book, waiting=1)
    frozen_clock(dt.datetime(2026, 9, 15, 9, 0, tzinfo=dt.UTC))
    siblings = book(make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2019, 4, 2))]))
    assert siblings.status == Status.WAITLISTED and len(siblings.registration_ids) == 2
    frozen_clock(dt.datetime(2026, 9, 15, 10, 0, tzinfo=dt.UTC))
    [last] = book(make_household()).registration_ids

    regs = [fresh(i) for i in [*placed, first, *siblings.registration_ids, last]]
    assert waitlist.positions(regs) == {
        first: 1, siblings.registration_ids[0]: 2, siblings.registration_ids[1]: 2, last: 3,
    }
    assert waitlist.position(fresh(placed[0])) is None
    assert fresh(first).waitlisted_at == NOW
    entries = waitlist.waiting_entries(session_row().id)
    assert [e.places for e in entries] == [1, 2, 1]

    # Leaving the list moves everyone behind up.
    cancel_registration(first, by_id=None)
    assert waitlist.position(fresh(siblings.registration_ids[1])) == 1
    assert waitlist.position(fresh(last)) == 2


def test_the_head_of_the_list_is_read_in_the_same_order(make_household, book, frozen_clock) -> None:
    # What promotion reads (the first entries only, picked by the database) is the full list's head.
    full_session(make_household, book, waiting=0)
    [first] = book(make_household()).registration_ids
    frozen_clock(dt.datetime(2026, 9, 15, 9, 0, tzinfo=dt.UTC))
    siblings = book(make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2019, 4, 2))]))
    frozen_clock(dt.datetime(2026, 9, 15, 10, 0, tzinfo=dt.UTC))
    [last] = book(make_household()).registration_ids
    # Joined before the others though registered last (its id is the highest).
    db.session.execute(update(Registration).where(Registration.id == last)
                       .values(waitlisted_at=NOW - dt.timedelta(hours=1)))
    db.session.commit()

    def shape(entries: list[waitlist.WaitingEntry]) -> list[tuple[str, list[int]]]:
        return [(e.batch, [r.id for r in e.registrations]) for e in entries]

    whole = shape(waitlist.waiting_entries(session_row().id))
    assert [ids for _batch, ids in whole] == [[last], [first], siblings.registration_ids]
    for count in range(len(whole) + 2):
        assert shape(waitlist.waiting_entries(session_row().id, first=count)) == whole[:count]


def test_entries_of_no_place_do_not_stop_the_walk(make_household, book) -> None:
    # ``places: sum_of`` fields may add up to 0: such entries always fit, and the walk reads on.
    placed, queued = full_session(make_household, book, waiting=4)
    db.session.execute(update(Registration).where(Registration.id.in_(queued[:2])).values(places=0))
    db.session.commit()
    cancel_registration(placed[0], by_id=None)
    assert statuses(queued) == [Status.OFFERED, Status.OFFERED, Status.OFFERED, Status.WAITLISTED]


# -- offers ---------------------------------------------------------------------------------------

def test_cancellation_offers_the_place_to_the_first_entry(make_household, book, outbox) -> None:
    placed, queued = full_session(make_household, book)
    outbox.clear()
    cancel_registration(placed[0], by_id=None, reason="Déménagement")

    assert statuses(queued) == [Status.OFFERED, Status.WAITLISTED, Status.WAITLISTED]
    offered = fresh(queued[0])
    assert offered.offer_expires_at == NOW + dt.timedelta(hours=48)
    last = offered.history[-1]
    assert (last.from_status, last.to_status, last.by_id) == ("waitlisted", "offered", None)
    deadline = waitlist.moment_text(offered.offer_expires_at)
    assert last.reason == gettext("A place is free: it is offered until %(when)s.", when=deadline)
    assert waitlist.places_held(session_row().id) == 2  # the offer holds the freed place

    # One e-mail, to the household offered the place, with the deadline and the answer link.
    [mail] = outbox
    assert mail.to == [offered.household.guardians[0].email]
    assert offered.reference in mail.subject
    assert deadline in mail.body
    assert f"http://localhost/mes-inscriptions/{offered.reference}" in mail.body


def test_accept_offer_registers(make_household, book) -> None:
    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    [accepted] = waitlist.accept_offer(queued[0], by_id=None)
    reg = fresh(accepted.id)
    assert reg.status == Status.ACCEPTED and reg.offer_expires_at is None
    assert reg.history[-1].reason == gettext("Offer accepted.")
    assert statuses(queued[1:]) == [Status.WAITLISTED, Status.WAITLISTED]
    with pytest.raises(waitlist.OfferRefused):
        waitlist.accept_offer(queued[0], by_id=None)  # nothing left to answer


def test_accepted_offer_of_a_manual_service_is_submitted(make_household, book) -> None:
    placed, queued = full_session(make_household, book, service="revue")
    reject_registration(placed[0], by_id=None, reason="Dossier incomplet")
    reg = fresh(queued[0])
    assert reg.status == Status.OFFERED
    assert reg.offer_expires_at == NOW + dt.timedelta(hours=24)  # the service's offer_hours
    waitlist.accept_offer(reg.id, by_id=None)
    assert fresh(reg.id).status == Status.SUBMITTED


def test_decline_offers_the_next_entry(make_household, book, outbox) -> None:
    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    outbox.clear()
    waitlist.decline_offer(queued[0], by_id=None)
    assert statuses(queued) == [Status.CANCELLED, Status.OFFERED, Status.WAITLISTED]
    assert fresh(queued[0]).history[-1].reason == gettext("Offer declined.")
    assert [m.to for m in outbox] == [[fresh(queued[1]).household.guardians[0].email]]


def test_cancelling_an_offered_registration_offers_the_next(make_household, book) -> None:
    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    cancel_registration(queued[0], by_id=None)
    assert statuses(queued) == [Status.CANCELLED, Status.OFFERED, Status.WAITLISTED]


def test_two_cancellations_offer_two_entries_never_over_capacity(make_household, book) -> None:
    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    cancel_registration(placed[1], by_id=None)
    assert statuses(queued) == [Status.OFFERED, Status.OFFERED, Status.WAITLISTED]
    assert waitlist.places_held(session_row().id) == 2
    # Promoting again changes nothing: no place is free.
    with write_transaction():
        assert waitlist.promote(session_row().id) == []


# -- expiry ---------------------------------------------------------------------------------------

def test_overdue_offer_cannot_be_accepted_even_before_the_cron(make_household, book, frozen_clock) -> None:
    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    frozen_clock(dt.datetime(2026, 9, 17, 8, 0, tzinfo=dt.UTC))  # exactly 48 h later
    assert waitlist.offer_overdue(fresh(queued[0]))
    with pytest.raises(waitlist.OfferExpired) as refused:
        waitlist.accept_offer(queued[0], by_id=None)
    assert str(refused.value) == gettext(
        "The deadline to answer this offer has passed: the place was offered to the next family "
        "on the waiting list."
    )
    # The lazy expiry was saved: cancelled, and the next entry has the offer.
    assert statuses(queued) == [Status.CANCELLED, Status.OFFERED, Status.WAITLISTED]
    assert fresh(queued[0]).history[-1].reason == gettext("The offer was not answered before its deadline.")


def test_offer_still_open_one_minute_before_the_deadline(make_household, book, frozen_clock) -> None:
    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    frozen_clock(dt.datetime(2026, 9, 17, 7, 59, tzinfo=dt.UTC))
    waitlist.accept_offer(queued[0], by_id=None)
    assert fresh(queued[0]).status == Status.ACCEPTED


def test_expire_command_expires_and_offers_the_next(app, make_household, book, frozen_clock, outbox) -> None:
    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    runner = app.test_cli_runner()

    early = runner.invoke(args=["waitlist", "expire"])
    assert early.exit_code == 0, early.output
    assert "expired offers: 0" in early.output
    assert statuses(queued) == [Status.OFFERED, Status.WAITLISTED, Status.WAITLISTED]

    frozen_clock(dt.datetime(2026, 9, 18, 8, 0, tzinfo=dt.UTC))
    outbox.clear()
    result = runner.invoke(args=["waitlist", "expire"])
    assert result.exit_code == 0, result.output
    assert "expired offers: 1 registration(s)" in result.output
    assert "new offers: 1 entry (1 registration(s))" in result.output
    assert statuses(queued) == [Status.CANCELLED, Status.OFFERED, Status.WAITLISTED]
    assert fresh(queued[1]).offer_expires_at == dt.datetime(2026, 9, 20, 8, 0)
    assert len(outbox) == 1 and fresh(queued[1]).reference in outbox[0].subject

    again = runner.invoke(args=["waitlist", "expire"])  # idempotent
    assert "expired offers: 0" in again.output and "new offers: 0" in again.output
    assert statuses(queued) == [Status.CANCELLED, Status.OFFERED, Status.WAITLISTED]


def test_offer_deadline_never_after_the_session_start(make_household, book, frozen_clock) -> None:
    placed, queued = full_session(make_household, book)
    frozen_clock(dt.datetime(2026, 9, 30, 20, 0, tzinfo=dt.UTC))  # 12 h before the start
    transition(placed[0], Status.CANCELLED, by_id=None, reason="Annulé par le service")  # an agent
    assert fresh(queued[0]).offer_expires_at == dt.datetime(2026, 10, 1, 8, 0)


# -- automatic mode -------------------------------------------------------------------------------

@pytest.mark.parametrize(("service", "promoted"), [("auto", Status.ACCEPTED), ("autorevue", Status.SUBMITTED)])
def test_automatic_mode_registers_the_next_entry(make_household, book, outbox, service, promoted) -> None:
    placed, queued = full_session(make_household, book, service=service)
    outbox.clear()
    cancel_registration(placed[0], by_id=None)
    assert statuses(queued) == [promoted, Status.WAITLISTED, Status.WAITLISTED]
    reg = fresh(queued[0])
    assert reg.offer_expires_at is None
    assert reg.history[-1].reason == gettext("A place became free: registered from the waiting list.")
    [mail] = outbox
    assert reg.reference in mail.subject


# -- siblings and strict first in, first out ------------------------------------------------------

def test_sibling_batch_moves_together_and_is_not_skipped(make_household, book, outbox) -> None:
    placed, _ = full_session(make_household, book, waiting=0)
    twins = book(make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2018, 3, 1))]))
    [single] = book(make_household()).registration_ids
    assert twins.status == Status.WAITLISTED
    outbox.clear()

    cancel_registration(placed[0], by_id=None)
    # One place free, the siblings need two: the single child behind them does NOT jump ahead.
    assert statuses([*twins.registration_ids, single]) == [Status.WAITLISTED] * 3
    assert outbox == []

    cancel_registration(placed[1], by_id=None)
    assert statuses([*twins.registration_ids, single]) == [Status.OFFERED, Status.OFFERED, Status.WAITLISTED]
    assert fresh(twins.registration_ids[0]).offer_expires_at == fresh(twins.registration_ids[1]).offer_expires_at
    assert len(outbox) == 1  # one message for the household, both children in it
    assert all(fresh(i).reference in outbox[0].body for i in twins.registration_ids)

    # Answering for one answers for the entry: both declined, the single child gets a place.
    declined = waitlist.decline_offer(twins.registration_ids[1], by_id=None)
    assert sorted(r.id for r in declined) == sorted(twins.registration_ids)
    assert statuses([*twins.registration_ids, single]) == [Status.CANCELLED, Status.CANCELLED, Status.OFFERED]


def test_siblings_accept_together(make_household, book) -> None:
    placed, _ = full_session(make_household, book, waiting=0)
    twins = book(make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2018, 3, 1))]))
    cancel_registration(placed[0], by_id=None)
    cancel_registration(placed[1], by_id=None)
    waitlist.accept_offer(twins.registration_ids[0], by_id=None)
    assert statuses(twins.registration_ids) == [Status.ACCEPTED, Status.ACCEPTED]


# -- when the list must not move ------------------------------------------------------------------

def test_no_offer_once_the_session_has_started(make_household, book, frozen_clock, outbox) -> None:
    placed, queued = full_session(make_household, book)
    frozen_clock(dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC))  # the start
    outbox.clear()
    transition(placed[0], Status.CANCELLED, by_id=None)  # an agent: no deadline for them
    assert fresh(placed[0]).status == Status.CANCELLED
    assert statuses(queued) == [Status.WAITLISTED] * 3
    result = waitlist.expire_offers()
    assert result.promotions == [] and statuses(queued) == [Status.WAITLISTED] * 3
    assert outbox == []


def test_no_offer_after_registration_closed(make_household, book, reload_services, outbox) -> None:
    placed, queued = full_session(make_household, book)
    reload_services({"stage": {**SERVICES["stage"], "closing": "2026-09-15T09:00:00"}})  # 07:00 UTC: closed
    outbox.clear()
    cancel_registration(placed[0], by_id=None)
    assert statuses(queued) == [Status.WAITLISTED] * 3
    assert outbox == []


def test_an_offer_after_a_session_start_change_cannot_be_accepted(make_household, book, frozen_clock) -> None:
    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    frozen_clock(dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC))
    with pytest.raises(waitlist.OfferExpired):
        waitlist.accept_offer(queued[0], by_id=None)
    # Started: the place is not offered again.
    assert statuses(queued) == [Status.CANCELLED, Status.WAITLISTED, Status.WAITLISTED]


# -- rejection and capacity increase --------------------------------------------------------------

def test_rejection_promotes_and_history_says_why(make_household, book) -> None:
    placed, queued = full_session(make_household, book, service="revue")
    reject_registration(placed[1], by_id=None, reason="Hors secteur")
    rejected = fresh(placed[1])
    assert rejected.status == Status.REJECTED and rejected.history[-1].reason == "Hors secteur"
    assert statuses(queued) == [Status.OFFERED, Status.WAITLISTED, Status.WAITLISTED]


def test_moves_by_hand_never_overbook_nor_make_offers(make_household, book) -> None:
    from inscriptions.registrations.status import TransitionError

    placed, queued = full_session(make_household, book)
    with pytest.raises(TransitionError, match="no free place"):
        transition(queued[1], Status.ACCEPTED, by_id=None)  # an agent on a full session
    with pytest.raises(TransitionError, match="made by the waiting list"):
        transition(queued[0], Status.OFFERED, by_id=None)
    with pytest.raises(TransitionError):
        transition(queued[0], "nonsense", by_id=None)
    assert statuses(queued) == [Status.WAITLISTED] * 3
    # A place freed by hand goes to the head of the list; the agent may then confirm that entry.
    transition(placed[0], Status.CANCELLED, by_id=None, reason="Erreur de saisie")
    assert statuses(queued) == [Status.OFFERED, Status.WAITLISTED, Status.WAITLISTED]
    transition(queued[0], Status.ACCEPTED, by_id=None)
    assert statuses(queued) == [Status.ACCEPTED, Status.WAITLISTED, Status.WAITLISTED]
    assert waitlist.places_held(session_row().id) == 2


def test_capacity_increase_at_services_sync_promotes(app, make_household, book, reload_services, outbox) -> None:
    _placed, queued = full_session(make_household, book)
    outbox.clear()
    reload_services({"stage": stage_with_s1(capacity=4)})
    result = app.test_cli_runner().invoke(args=["services", "sync"])
    assert result.exit_code == 0, result.output
    assert session_row().capacity == 4
    assert statuses(queued) == [Status.OFFERED, Status.OFFERED, Status.WAITLISTED]
    assert len(outbox) == 2


def test_expire_sweep_moves_a_list_left_behind(make_household, book) -> None:
    """A place freed outside the engine's paths (e.g. a manual fix) is offered by the cron sweep."""
    placed, queued = full_session(make_household, book)
    reg = fresh(placed[0])
    reg.status = Status.CANCELLED
    db.session.commit()
    summary = waitlist.expire_offers()
    assert [p.registration_ids for p in summary.promotions] == [(queued[0],)]
    assert statuses(queued) == [Status.OFFERED, Status.WAITLISTED, Status.WAITLISTED]


def test_a_rollback_forgets_its_promotions(make_household, book) -> None:
    """A rollback forgets the promotions it made: no message about an offer that was never saved."""
    placed, queued = full_session(make_household, book)
    reg = fresh(placed[0])
    reg.status = Status.CANCELLED
    db.session.flush()
    assert waitlist.promote(session_row().id)
    db.session.rollback()
    assert waitlist.notify_pending() == []
    assert statuses(queued) == [Status.WAITLISTED] * 3
    assert db.session.scalar(select(Registration.status).filter_by(id=placed[0])) == Status.ACCEPTED


def test_cron_cancels_an_offer_whose_session_start_moved_earlier(
    app, make_household, book, reload_services, frozen_clock
) -> None:
    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)  # offer until 2026-09-17 08:00 UTC
    reload_services({"stage": stage_with_s1(starts_at="2026-09-16T10:00:00")})
    assert app.test_cli_runner().invoke(args=["services", "sync"]).exit_code == 0
    frozen_clock(dt.datetime(2026, 9, 16, 9, 0, tzinfo=dt.UTC))  # started, offer deadline not reached
    summary = waitlist.expire_offers()
    assert summary.expired == [queued[0]] and summary.promotions == []
    assert statuses(queued) == [Status.CANCELLED, Status.WAITLISTED, Status.WAITLISTED]


def test_offer_mail_without_a_known_address_says_where_to_answer(
    make_app, plugins_dir, make_household, book
) -> None:
    """The cron's jobs run outside any request: without SERVER_NAME no link, but the way to answer."""
    import threading

    from inscriptions.waitlist_notifications import offer_made

    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    worker = make_app(PLUGINS_DIR=plugins_dir, SERVER_NAME=None)
    sent: list[int] = []

    def job() -> None:
        # A thread of its own: no request context (pytest-flask pushes one for the test itself).
        with worker.app_context():
            worker.extensions["mailman"].outbox = []
            sent.append(offer_made([queued[0]]))
            waitlist.decline_offer(queued[0], by_id=None)
            sent.append(offer_made([queued[0]]))  # no longer offered: a late job says nothing
            db.session.remove()

    thread = threading.Thread(target=job)
    thread.start()
    thread.join(timeout=30)
    assert sent == [1, 0]
    # The first message, and the one offering the declined place to the next entry: both without link.
    first, following = worker.extensions["mailman"].outbox
    assert fresh(queued[1]).reference in following.subject
    mail = first
    assert gettext("Answer from “My registrations” on the town's registration website.") in mail.body
    assert "http" not in mail.body and "http" not in following.body


def test_offer_mail_from_the_cron_links_to_the_public_url(make_app, plugins_dir, make_household, book) -> None:
    """With PUBLIC_URL set, a job run outside any request still gives the family its answer link."""
    import threading

    from inscriptions.waitlist_notifications import offer_made

    placed, queued = full_session(make_household, book)
    cancel_registration(placed[0], by_id=None)
    worker = make_app(PLUGINS_DIR=plugins_dir, PUBLIC_URL="https://inscriptions.villebelle.fr/portail/")
    sent: list[int] = []

    def job() -> None:
        with worker.app_context():
            worker.extensions["mailman"].outbox = []
            sent.append(offer_made([queued[0]]))
            db.session.remove()

    thread = threading.Thread(target=job)
    thread.start()
    thread.join(timeout=30)
    assert sent == [1]
    [mail] = worker.extensions["mailman"].outbox
    reference = fresh(queued[0]).reference
    assert f"https://inscriptions.villebelle.fr/portail/mes-inscriptions/{reference}" in mail.body
