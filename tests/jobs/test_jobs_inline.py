"""The embedded (inline) backend: jobs run in-process right after the commit."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import jobs_samples
import pytest
from sqlalchemy import func, select, text

from inscriptions import jobs, notifications
from inscriptions.extensions import db
from inscriptions.models import Application, Household, Registration


def test_inline_job_runs_after_the_commit(app, book_canteen, outbox, monkeypatch) -> None:
    seen: list[int] = []
    real_job = notifications.send_confirmation

    def probe(message: notifications.Confirmation) -> int:
        # A second connection sees only committed rows: the booking must already be there.
        with db.engine.connect() as conn:
            seen.append(conn.execute(
                text("SELECT count(*) FROM registrations WHERE batch = :b"), {"b": message.batch}
            ).scalar_one())
        return real_job(message)

    monkeypatch.setattr(notifications, "send_confirmation", probe)
    family, _outcome = book_canteen()
    assert seen == [1]
    [message] = outbox
    assert message.to == [family.guardians[0].email]


def test_failing_inline_job_is_logged_and_keeps_the_registration(make_app, make_household, book_canteen, outbox,
                                                                  monkeypatch, caplog) -> None:
    app = make_app(JOBS_EAGER_RAISE=False)

    def broken(message: notifications.Confirmation) -> int:
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr(notifications, "send_confirmation", broken)
    with app.app_context(), caplog.at_level(logging.ERROR):
        _family, outcome = book_canteen()
        assert outcome.status == "accepted"
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 1
    [record] = [r for r in caplog.records if r.name == "inscriptions.jobs"]
    assert "inscriptions.allocation.confirmations:confirm" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ConnectionRefusedError
    # Still owed: the sweep hands it over again later.
    with app.app_context():
        assert db.session.scalar(select(Application.notified_at)) is None
    assert outbox == []


def test_failing_inline_job_raises_with_eager_raise(app, book_canteen, monkeypatch) -> None:
    assert app.config["JOBS_EAGER_RAISE"]

    def broken(message: notifications.Confirmation) -> int:
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr(notifications, "send_confirmation", broken)
    with pytest.raises(ConnectionRefusedError):
        book_canteen()
    # Raised after the commit: the registration is saved all the same.
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Registration)) == 1


def test_arguments_go_through_json_as_on_a_worker(app) -> None:
    assert jobs.enqueue("jobs_samples:record", 7, "x", (1, 2), {"k": None}) is None
    assert jobs_samples.calls == [((7, "x", [1, 2], {"k": None}), app.name)]
    with pytest.raises(TypeError):
        jobs.enqueue("jobs_samples:record", dt.date(2026, 9, 1))
    assert len(jobs_samples.calls) == 1


def test_enqueue_refuses_uncommitted_writes(app) -> None:
    db.session.add(Household(address_line1="1 rue Haute", postcode="99990", city="Villebelle"))
    with pytest.raises(jobs.JobOrderError):
        jobs.enqueue("jobs_samples:record", 1)
    db.session.flush()  # flushed is still not committed
    with pytest.raises(jobs.JobOrderError):
        jobs.enqueue("jobs_samples:record", 2)
    db.session.commit()
    jobs.enqueue("jobs_samples:record", 3)
    db.session.add(Household(address_line1="2 rue Haute", postcode="99990", city="Villebelle"))
    db.session.flush()
    db.session.rollback()
    jobs.enqueue("jobs_samples:record", 4)
    db.session.add(Household(address_line1="3 rue Haute", postcode="99990", city="Villebelle"))
    db.session.flush()
    db.session.close()  # discards the flushed row too
    jobs.enqueue("jobs_samples:record", 5)
    assert [args for args, _app in jobs_samples.calls] == [(3,), (4,), (5,)]


def test_uncommitted_writes_are_only_logged_in_production(make_app, caplog) -> None:
    app = make_app(JOBS_EAGER_RAISE=False)
    with app.app_context(), caplog.at_level(logging.ERROR, logger="inscriptions.jobs"):
        db.session.add(Household(address_line1="1 rue Haute", postcode="99990", city="Villebelle"))
        jobs.enqueue("jobs_samples:record", 1)
        db.session.rollback()
    assert "before the commit" in caplog.text
    assert len(jobs_samples.calls) == 1


@pytest.mark.parametrize("path", ["jobs_samples.record", "jobs_samples:", ":record"])
def test_malformed_job_path_is_refused(app, path: str) -> None:
    with pytest.raises(ValueError, match=r"package\.module:function"):
        jobs.enqueue(path)


def test_unknown_backend_is_refused(app) -> None:
    app.config["JOBS_BACKEND"] = "celery"
    with pytest.raises(ValueError, match="unknown JOBS_BACKEND"):
        jobs.enqueue("jobs_samples:record")
    assert jobs_samples.calls == []


def test_backend_and_pool_come_from_the_environment(monkeypatch, tmp_path) -> None:
    from inscriptions.settings import load_settings

    monkeypatch.setenv("INSCRIPTIONS_JOBS_BACKEND", "rq")
    monkeypatch.setenv("INSCRIPTIONS_REDIS_URL", "redis://cache.internal:6380/2")
    monkeypatch.setenv("INSCRIPTIONS_DB_POOL_SIZE", "4")
    monkeypatch.setenv("INSCRIPTIONS_DB_MAX_OVERFLOW", "1")
    settings: dict[str, Any] = load_settings(tmp_path)
    assert settings["JOBS_BACKEND"] == "rq"
    assert settings["REDIS_URL"] == "redis://cache.internal:6380/2"
    assert settings["JOBS_QUEUE"] == "inscriptions"
    assert settings["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True, "pool_size": 4, "max_overflow": 1}
    monkeypatch.delenv("INSCRIPTIONS_JOBS_BACKEND")
    monkeypatch.delenv("INSCRIPTIONS_DB_POOL_SIZE")
    monkeypatch.delenv("INSCRIPTIONS_DB_MAX_OVERFLOW")
    settings = load_settings(tmp_path)
    assert settings["JOBS_BACKEND"] == "inline"
    assert settings["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": True}


def test_pool_size_reaches_the_engine(make_app, monkeypatch) -> None:
    monkeypatch.setenv("INSCRIPTIONS_DB_POOL_SIZE", "3")
    app = make_app()
    with app.app_context():
        assert db.engine.pool.size() == 3
