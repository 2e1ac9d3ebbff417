"""Applications through ``create_registrations``: several sessions, ranked alternatives, the
worker mode's queue, the allocation log; bad choices refused with nothing saved."""

from __future__ import annotations

import datetime as dt

import pytest
from booking_helpers import registration_input, stage_definition
from flask_babel import gettext, ngettext
from sqlalchemy import func, select

from inscriptions.allocation import rules
from inscriptions.allocation.worker import drain
from inscriptions.extensions import db
from inscriptions.models import AllocationDecision, AllocationRun, Application, Registration, Status
from inscriptions.registrations.create import RegistrationRefused, create_registrations

KID = dt.date(2018, 3, 1)


def weeks_definition(**overrides: object) -> dict:
    sessions = [{"code": f"w{n}", "label": f"Semaine {n}", "starts_at": f"2027-07-{5 + 7 * (n - 1):02d}T09:00:00",
                 "capacity": 2} for n in range(1, 5)]
    return stage_definition(sessions=sessions, sessions_choice={"min": 1, "max": 3}, **overrides)


def counts() -> tuple[int, int]:
    db.session.rollback()
    return (int(db.session.scalar(select(func.count(Application.id))) or 0),
            int(db.session.scalar(select(func.count(Registration.id))) or 0))


def test_several_weeks_in_one_application_siblings_together_each_week(install, make_household) -> None:  # type: ignore[no-untyped-def]
    install(weeks_definition())
    early = make_household(last_name="Petit", children=[("Zoé", KID)])
    create_registrations(registration_input(early, wishes=[["w2"]], session=None))
    family = make_household(children=[("Léa", KID), ("Hugo", KID)])
    outcome = create_registrations(registration_input(family, wishes=[["w1"], ["w2"], ["w3"]], session=None))
    regs = list(db.session.scalars(select(Registration).where(Registration.batch == outcome.batch)
                                   .order_by(Registration.id)))
    by_week = {}
    for reg in regs:
        by_week.setdefault(reg.session.code, set()).add((reg.child.first_name, reg.status))
    # Week 2 has one place left for two children: both wait; weeks 1 and 3 take both.
    assert by_week == {
        "w1": {("Léa", Status.ACCEPTED), ("Hugo", Status.ACCEPTED)},
        "w2": {("Léa", Status.WAITLISTED), ("Hugo", Status.WAITLISTED)},
        "w3": {("Léa", Status.ACCEPTED), ("Hugo", Status.ACCEPTED)},
    }
    application = db.session.get(Application, outcome.application_id)
    assert application.wishes == [["w1"], ["w2"], ["w3"]]
    assert all(r.application_id == application.id for r in regs)
    # The queue keeps who and how many places, not the answers (they are in the registrations).
    assert application.participants == [{"child_id": c.id, "guardian_id": None, "places": 1}
                                         for c in family.children]
    decisions = list(db.session.scalars(select(AllocationDecision).where(
        AllocationDecision.application_id == application.id).order_by(AllocationDecision.wish)))
    assert [(d.session_code, d.outcome, d.reason, d.free_before) for d in decisions] == [
        ("w1", "accepted", rules.FITS, 2), ("w2", "waitlisted", rules.FULL, 1), ("w3", "accepted", rules.FITS, 2)]
    assert len({r.reference for r in regs}) == 6


def test_ranked_alternative(install, make_household) -> None:  # type: ignore[no-untyped-def]
    install(weeks_definition(alternatives=1))
    first = make_household(children=[("Léa", KID), ("Hugo", KID)])
    create_registrations(registration_input(first, wishes=[["w1"]], session=None))
    second = make_household(last_name="Durand", children=[("Zoé", KID)])
    outcome = create_registrations(registration_input(second, wishes=[["w1", "w2"]], session=None))
    [reg] = db.session.scalars(select(Registration).where(Registration.batch == outcome.batch))
    assert (reg.session.code, reg.status) == ("w2", Status.ACCEPTED)
    decision = db.session.scalar(select(AllocationDecision).filter_by(application_id=outcome.application_id))
    assert (decision.rank, decision.session_code) == (2, "w2")


@pytest.mark.parametrize(("wishes", "message"), [
    ([["w9"]], lambda: gettext("This session is not offered: choose another one.")),
    ([["w1"], ["w2"], ["w3"], ["w4"]],
     lambda: ngettext("Choose at most %(num)s session.", "Choose at most %(num)s sessions.", 3)),
    ([["w1", "w1"]], lambda: gettext("The same session is chosen twice: an alternative must differ from the first "
                                     "choice and from the other choices.")),
    ([["w1", "w2", "w3"]],
     lambda: ngettext("You may rank at most %(num)s alternative.", "You may rank at most %(num)s alternatives.", 1)),
])
def test_bad_choices_get_a_clear_message_and_nothing_is_saved(install, make_household, wishes, message) -> None:  # type: ignore[no-untyped-def]
    install(weeks_definition(alternatives=1))
    family = make_household()
    with pytest.raises(RegistrationRefused) as refused:
        create_registrations(registration_input(family, wishes=wishes, session=None))
    assert refused.value.general == [message()]
    assert "séance" in message() or "choix" in message()  # read in French
    assert counts() == (0, 0)


def test_worker_mode_records_then_the_allocator_decides_in_arrival_order(app, install, make_household, book) -> None:  # type: ignore[no-untyped-def]
    install(stage_definition(capacity=2))
    app.config["ALLOCATION"] = "worker"
    families = [make_household(last_name=f"F{n}") for n in range(4)]
    outcomes = [book(f) for f in families]
    assert [o.status for o in outcomes] == ["pending"] * 4 and all(o.pending for o in outcomes)
    assert counts() == (4, 0)
    numbers = [db.session.get(Application, o.application_id).queue_number for o in outcomes]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4
    # A replay while pending gives the same application, nothing more.
    again = create_registrations(registration_input(families[0], idempotency_key="k-0"))
    replay = create_registrations(registration_input(families[0], idempotency_key="k-0"))
    assert replay.replayed and replay.application_id == again.application_id

    assert drain("stage") == 5
    db.session.rollback()
    by_family = [db.session.scalars(select(Registration.status).where(Registration.batch == o.batch)).all()
                 for o in outcomes]
    assert by_family == [[Status.ACCEPTED], [Status.ACCEPTED], [Status.WAITLISTED], [Status.WAITLISTED]]
    # The same child sent twice holds one place: the second application is refused as a duplicate.
    duplicate = db.session.scalar(select(AllocationDecision).filter_by(application_id=again.application_id))
    assert (duplicate.outcome, duplicate.reason) == ("refused", rules.DUPLICATE)
    run = db.session.scalar(select(AllocationRun))
    assert (run.service_code, run.rule, run.applications, run.algorithm) == ("stage", "arrival", 5, rules.ALGORITHM)
    assert drain("stage") == 0


def test_a_crashed_pass_keeps_all_pending_the_next_decides(app, install, make_household, book, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    install(stage_definition(capacity=1))
    app.config["ALLOCATION"] = "worker"
    for n in range(3):
        book(make_household(last_name=f"F{n}"))
    from inscriptions.allocation import allocator

    def crash(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(allocator, "reserve_references", crash)
        with pytest.raises(RuntimeError):
            drain("stage")
    assert counts() == (3, 0)
    assert db.session.scalar(select(func.count(AllocationRun.id))) == 0
    assert drain("stage") == 3
    db.session.rollback()
    assert list(db.session.scalars(select(Registration.status).order_by(Registration.id))) == [
        Status.ACCEPTED, Status.WAITLISTED, Status.WAITLISTED]


def test_each_decision_is_confirmed_and_marked_sent(app, install, make_household, book, outbox) -> None:  # type: ignore[no-untyped-def]
    install(stage_definition(capacity=1))
    app.config["ALLOCATION"] = "worker"
    for n in range(3):
        book(make_household(last_name=f"F{n}"))
    assert db.session.scalar(select(func.count(Application.id)).where(Application.notified_at.is_(None))) == 3
    assert drain("stage") == 3
    db.session.rollback()
    # Each decision owes its family a message until sent: all sent, each marked on its own.
    assert db.session.scalar(select(func.count(Application.id)).where(Application.notified_at.is_(None))) == 0
    # Every family got its confirmation (the inline backend ran them).
    assert sorted(m.to[0] for m in outbox) == sorted(f"parent{n}@example.fr" for n in range(1, 4))


def test_prepared_applications_of_one_household_meet_its_limit_at_the_allocator(  # type: ignore[no-untyped-def]
        app, install, make_household, book) -> None:
    """Each application is within ``per_household`` when recorded; together they are not: the
    allocator, which sees them in arrival order, refuses the one that goes beyond, and says why."""
    install(stage_definition(limits={"per_household": 2}, sessions_choice={"min": 1, "max": 2}))
    app.config["ALLOCATION"] = "worker"
    household = make_household(children=[("Léa", KID), ("Hugo", KID)])
    lea, hugo = household.children
    first = book(household, children=[lea], session=None, wishes=[["s1"], ["s2"]])
    second = book(household, children=[hugo], session="s1")
    assert (first.status, second.status) == ("pending", "pending")
    drain("stage")
    db.session.rollback()
    assert db.session.scalars(select(Registration.status).where(Registration.batch == first.batch)).all() == [
        Status.ACCEPTED, Status.ACCEPTED]
    assert db.session.scalars(select(Registration).where(Registration.batch == second.batch)).all() == []
    refused = db.session.scalar(select(AllocationDecision).filter_by(application_id=second.application_id))
    assert (refused.outcome, refused.reason) == ("refused", rules.LIMIT)
    # Counted at once when both weeks come in one application.
    with pytest.raises(RegistrationRefused):
        book(make_household(last_name="Durand", children=[("Alice", KID), ("Noé", KID)]), session=None,
             wishes=[["s1"], ["s2"]])


def test_the_allocator_keeps_running_when_the_database_is_out_of_reach(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError

    from inscriptions.allocation import worker

    calls: list[int] = []

    def restarting() -> list[str]:
        calls.append(1)
        if len(calls) == 1:  # PostgreSQL restarting: the first read fails
            raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))
        return []

    monkeypatch.setattr(worker, "services_waiting", restarting)
    monkeypatch.setattr(worker, "UNREACHABLE_WAIT_S", 0)
    worker.work(interval=0, stop=lambda: len(calls) >= 3)  # it used to exit on the first failure
    assert len(calls) == 3
