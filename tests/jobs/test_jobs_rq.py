"""The rq backend against the real local Redis: jobs wait in the queue until a worker runs them."""

from __future__ import annotations

import logging

import jobs_samples
from jobs_helpers import run_worker
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import select

from inscriptions import jobs
from inscriptions.extensions import db
from inscriptions.models import Application


def test_confirmation_waits_in_the_queue_until_a_worker_sends_it(rq_app, book_canteen, outbox) -> None:
    family, _outcome = book_canteen()
    queue = jobs.job_queue(rq_app)
    assert queue.name == "inscriptions-test"
    [job] = queue.get_jobs()
    assert job.func_name == "inscriptions.jobs.perform"
    # The decision owes its message (notified_at unset); the queue carries only the application's id.
    application = db.session.scalar(select(Application))
    assert job.args == ["inscriptions.allocation.confirmations:confirm", [[application.id]]]
    assert application.notified_at is None
    assert job.retries_left == len(jobs.DEFAULT_RETRY_INTERVALS)
    assert outbox == []  # queued, not sent: the request did no slow work

    assert run_worker(rq_app) is True
    [message] = outbox
    assert message.to == [family.guardians[0].email]
    assert "Restauration scolaire" in message.subject
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert job.return_value() == 1
    assert queue.count == 0
    db.session.rollback()  # a fresh read (SQLite keeps the transaction's snapshot)
    assert db.session.get(Application, application.id).notified_at is not None


def test_enqueue_returns_the_job_id(rq_app) -> None:
    job_id = jobs.enqueue("jobs_samples:record", 5)
    job = Job.fetch(job_id, connection=jobs.redis_connection(rq_app), serializer=JSONSerializer)
    assert job.description == "jobs_samples:record"
    assert jobs_samples.calls == []
    run_worker(rq_app)
    assert jobs_samples.calls == [((5,), rq_app.name)]


def test_failed_job_is_retried_then_kept_as_failed(rq_app) -> None:
    rq_app.config["JOBS_RETRY_INTERVALS"] = (0, 0)  # no delay, so one burst sees every attempt
    job_id = jobs.enqueue("jobs_samples:boom", 9)
    run_worker(rq_app)
    assert jobs_samples.calls == [("boom", (9,))] * 3  # the first try and two retries
    queue = jobs.job_queue(rq_app)
    assert job_id in queue.failed_job_registry.get_job_ids()
    job = Job.fetch(job_id, connection=jobs.redis_connection(rq_app), serializer=JSONSerializer)
    assert job.get_status() == JobStatus.FAILED
    assert "mail server down" in (job.latest_result().exc_string or "")


def test_retries_wait_longer_each_time(rq_app) -> None:
    rq_app.config["JOBS_RETRY_INTERVALS"] = (60, 600)
    job_id = jobs.enqueue("jobs_samples:boom", 1)
    run_worker(rq_app)
    queue = jobs.job_queue(rq_app)
    job = Job.fetch(job_id, connection=jobs.redis_connection(rq_app), serializer=JSONSerializer)
    # Not failed for good: scheduled for a second try in a minute.
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == 1
    assert job_id in queue.scheduled_job_registry.get_job_ids()
    assert job_id not in queue.failed_job_registry.get_job_ids()
    assert len(jobs_samples.calls) == 1


def test_redis_down_falls_back_to_running_the_job(app, book_canteen, outbox, caplog) -> None:
    # Nothing listens on port 1: the booking still gets its confirmation, in-process.
    app.config.update(JOBS_BACKEND="rq", REDIS_URL="redis://127.0.0.1:1/0")
    with caplog.at_level(logging.ERROR, logger="inscriptions.jobs"):
        _family, outcome = book_canteen()
    assert outcome.status == "accepted"
    assert len(outbox) == 1
    assert "running it in-process" in caplog.text
    app.extensions.pop("inscriptions.jobs.redis").close()


def test_worker_command_runs_queued_jobs(rq_app, runner) -> None:
    jobs.enqueue("jobs_samples:record", "from the cli")
    result = runner.invoke(args=["jobs", "info"])
    assert result.exit_code == 0, result.output
    assert "queue inscriptions-test: 1 waiting" in result.output
    result = runner.invoke(args=["jobs", "worker", "--burst", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert jobs_samples.calls == [(("from the cli",), rq_app.name)]
    assert "Warning" not in result.output
    result = runner.invoke(args=["jobs", "info"])
    assert "0 waiting" in result.output


def test_worker_command_warns_when_the_app_does_not_queue(rq_app, runner) -> None:
    rq_app.config["JOBS_BACKEND"] = "inline"
    result = runner.invoke(args=["jobs", "worker", "--burst", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert "INSCRIPTIONS_JOBS_BACKEND is not 'rq'" in result.output
