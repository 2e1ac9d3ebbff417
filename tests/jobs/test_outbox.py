"""The transactional outbox: a job recorded in a transaction runs once, even if the process that
committed it dies before handing it over, or Redis loses it."""

from __future__ import annotations

import datetime as dt

import jobs_samples
import pytest
from jobs_helpers import run_worker
from sqlalchemy import select

from inscriptions import clock, jobs, outbox
from inscriptions import outbox as outbox_module
from inscriptions.database import write_transaction
from inscriptions.extensions import db
from inscriptions.models import OutboxJob

LATER = dt.timedelta(seconds=10)


def committed_job(*args: object) -> int:
    """A job recorded and committed, then never handed over (the process died after its commit)."""
    with write_transaction():
        outbox.record("jobs_samples:record", *args)
    db.session.info.pop("inscriptions.outbox.recorded", None)  # the dead process's memory
    return int(db.session.scalar(select(OutboxJob.id).order_by(OutboxJob.id.desc())))


def test_a_job_never_handed_over_is_run_by_the_relay_once(app, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    job_id = committed_job(7)
    assert jobs_samples.calls == []
    assert outbox.relay_stale() == 0  # committed a moment ago: its own process may still hand it over
    frozen_clock(clock.now() + LATER)
    assert outbox.relay_stale() == 1
    assert jobs_samples.calls == [((7,), app.name)]
    db.session.rollback()
    assert db.session.get(OutboxJob, job_id).done_at is not None
    assert outbox.relay_stale() == 0  # done: never again
    assert outbox.perform(job_id) is False  # a second copy of the job does nothing
    assert jobs_samples.calls == [((7,), app.name)]


def test_a_rolled_back_transaction_records_nothing(app) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError), write_transaction():
        outbox.record("jobs_samples:record", 1)
        raise RuntimeError("the booking is refused")
    db.session.info.pop("inscriptions.outbox.recorded", None)
    assert db.session.scalar(select(OutboxJob.id)) is None


def test_a_failing_job_stays_in_the_outbox_and_is_tried_again(app, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    app.config["JOBS_EAGER_RAISE"] = False
    with write_transaction():
        outbox.record("jobs_samples:boom", 3)
    assert outbox.relay_recorded() == 1
    frozen_clock(clock.now() + LATER)
    assert outbox.relay_stale() == 1  # the mail server was down: tried again
    assert jobs_samples.calls == [("boom", (3,)), ("boom", (3,))]
    db.session.rollback()
    assert db.session.scalar(select(OutboxJob.done_at)) is None


def test_with_redis_a_job_lost_by_the_queue_is_handed_over_again(rq_app, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    with write_transaction():
        outbox.record("jobs_samples:record", 5)
    assert outbox.relay_recorded() == 1
    jobs.job_queue(rq_app).empty()  # Redis restarted without its data
    frozen_clock(clock.now() + outbox.relay_again_after() + LATER)
    assert outbox.relay_stale() == 1
    assert outbox.relay_stale() == 0  # handed over: left alone for a while
    assert run_worker(rq_app) is True
    assert jobs_samples.calls == [((5,), rq_app.name)]
    db.session.rollback()
    row = db.session.scalar(select(OutboxJob))
    assert row.done_at is not None and row.relays == 2


def test_the_relay_command(app, runner, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    committed_job(9)
    frozen_clock(clock.now() + LATER)
    result = runner.invoke(args=["jobs", "relay"])
    assert result.exit_code == 0 and "1 recorded job(s) handed over" in result.output
    assert jobs_samples.calls == [((9,), app.name)]


def test_a_decision_whose_confirmation_was_lost_is_confirmed_once(app, book_canteen, outbox, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from inscriptions.allocation import confirmations
    from inscriptions.models import Application

    family, _outcome = book_canteen()
    assert len(outbox) == 1  # sent right after the decision (inline backend)
    # As if the process had died between the decision's commit and handing its message over.
    with write_transaction():
        db.session.execute(update(Application).values(notified_at=None))
    assert confirmations.relay_stale() == 0  # too recent: its own process may still send it
    frozen_clock(clock.now() + outbox_module.relay_again_after() + LATER)
    assert confirmations.relay_stale() == 1
    assert [m.to for m in outbox] == [[family.guardians[0].email]] * 2
    assert confirmations.relay_stale() == 0  # sent: owed no more
    assert confirmations.confirm([db.session.scalar(select(Application.id))]) == 0  # a late copy: nothing
    assert len(outbox) == 2
