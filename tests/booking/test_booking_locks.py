"""The booking's locks: what SQL really runs, in which order, and what a lock wait turns into."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from booking_helpers import (
    PG,
    captured_sql,
    count_registrations,
    registration_input,
    sortie_definition,
    write_plugins,
)
from sqlalchemy import select, text

from inscriptions.database import BusyError
from inscriptions.definitions.registry import init_registry
from inscriptions.extensions import db
from inscriptions.models import ReferenceCounter, ServiceSession, Status
from inscriptions.registrations.create import RegistrationOutcome, create_registrations
from inscriptions.web import ERROR_MESSAGES

KID = dt.date(2018, 4, 2)
pg_only = pytest.mark.skipif(not PG, reason="PostgreSQL only: set INSCRIPTIONS_TEST_DATABASE_URL")
sqlite_only = pytest.mark.skipif(PG, reason="SQLite only")


def _first(statements: list[str], pattern: str) -> int:
    found = [i for i, sql in enumerate(statements) if re.search(pattern, sql, re.I | re.S)]
    assert found, f"no statement matches {pattern!r}"
    return found[0]


def _session_id(code: str = "s1", service: str = "stage") -> int:
    return db.session.scalar(select(ServiceSession.id).filter_by(service_code=service, code=code))


@contextmanager
def session_row_locked(session_id: int) -> Iterator[None]:
    """Another transaction holds what a booking of this session needs: the session row's lock on
    PostgreSQL, the database's write lock on SQLite."""
    if PG:
        with db.engine.connect() as other:
            other.execute(text("SELECT id FROM service_sessions WHERE id = :id FOR UPDATE"), {"id": session_id})
            yield
            other.rollback()
        return
    path = db.engine.url.database
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


# -- what really runs ---------------------------------------------------------------------------

@pg_only
def test_postgresql_locks_household_then_session_then_counter(app, make_household, book) -> None:
    household = make_household(children=[("Léa", KID)])
    with captured_sql() as sql:
        book(household)
    household_lock = _first(sql, r"FROM households WHERE households\.id = .* FOR UPDATE")
    session_lock = _first(sql, r"FROM service_sessions WHERE .* ORDER BY service_sessions\.id FOR UPDATE")
    # The counter's row lock: the upsert that takes the next number.
    counter = _first(sql, r"^INSERT INTO reference_counters .* ON CONFLICT .* DO UPDATE")
    # The allocator's one statement: registrations and their history lines (WITH made AS (INSERT ...)).
    insert = _first(sql, r"^(WITH made AS \()?INSERT INTO registrations")
    assert household_lock < session_lock < counter < insert
    # Every connection bounds its lock waits (set when connecting: no statement per booking).
    assert not any(s.startswith("SET LOCAL lock_timeout") for s in sql)
    with db.engine.connect() as connection:
        assert connection.execute(text("SHOW lock_timeout")).scalar() == "5s"
    # The capacity is read after the session row is locked, never before.
    assert _first(sql, r"sum\(registrations\.places\)") > session_lock


@sqlite_only
def test_sqlite_booking_is_one_immediate_transaction(app, make_household, book) -> None:
    household = make_household(children=[("Léa", KID)])
    with captured_sql() as sql:
        book(household)
    begin = sql.index("BEGIN IMMEDIATE")
    assert sql[begin - 1] == "PRAGMA busy_timeout=5000"
    # Capacity read, counter and insert all happen inside that one write transaction.
    assert begin < _first(sql, r"sum\(registrations\.places\)") < _first(sql, r"^INSERT INTO registrations")
    # The only other write transaction comes after the commit: the confirmation, owed since the
    # decision, marked sent (inscriptions.allocation.confirmations).
    assert sql.count("BEGIN IMMEDIATE") == 2
    second = sql.index("BEGIN IMMEDIATE", begin + 1)
    assert _first(sql, r"^INSERT INTO registrations") < second
    assert [s for s in sql[second + 1:] if s.startswith(("INSERT", "UPDATE", "DELETE"))] == [
        "UPDATE applications SET notified_at=? WHERE applications.id = ?"]


def test_the_form_version_is_recorded_before_the_locks(app, make_household, tmp_path, book) -> None:
    # A changed definition writes its new version and session rows: not while holding the locks.
    app.config["PLUGINS_DIR"] = write_plugins(tmp_path / "changed", sortie_definition(capacity=9))
    init_registry(app)
    household = make_household()
    with captured_sql() as sql:
        book(household, service="sortie")
    version_write = _first(sql, r"^INSERT INTO form_versions")
    sessions_write = _first(sql, r"^UPDATE service_sessions SET .*capacity")
    booking = _first(sql, r"FROM households WHERE households\.id = .* FOR UPDATE" if PG else r"^BEGIN IMMEDIATE")
    assert version_write < sessions_write < booking
    assert not re.search(r"^(INSERT INTO form_versions|UPDATE service_sessions)", " ".join(sql[booking:]))


# -- waiting too long for a lock ----------------------------------------------------------------

def test_lock_timeout_is_a_busy_error_and_saves_nothing(app, make_household, book) -> None:
    app.config["BOOKING_LOCK_TIMEOUT_MS"] = 300
    household = make_household(children=[("Léa", KID)])
    with session_row_locked(_session_id()):
        started = time.monotonic()
        with pytest.raises(BusyError):
            book(household)
        waited = time.monotonic() - started
    assert 0.25 <= waited < 3
    assert count_registrations() == 0
    # Rolled back completely: the reference counter did not move either.
    assert db.session.scalar(select(ReferenceCounter.last).filter_by(prefix="STG")) is None
    # Once the lock is free, the same booking goes through.
    assert book(household).status == Status.ACCEPTED


def test_busy_booking_shows_the_busy_page(app, client, sortie_review) -> None:
    token = sortie_review
    app.config["BOOKING_LOCK_TIMEOUT_MS"] = 300

    with session_row_locked(_session_id(service="sortie")):
        busy = client.post(f"/inscription/{token}/recapitulatif")
    assert busy.status_code == 503
    assert str(ERROR_MESSAGES[503]) in busy.get_data(as_text=True)
    assert count_registrations() == 0

    done = client.post(f"/inscription/{token}/recapitulatif")  # trying again works
    assert done.status_code == 302 and done.headers["Location"].endswith("/confirmation")
    assert count_registrations() == 1


# -- nothing slow while locked ------------------------------------------------------------------

def test_confirmation_is_enqueued_once_the_locks_are_released(app, make_household, book, monkeypatch) -> None:
    """When the e-mail job is queued, another family's booking of the same session goes through
    at once: the first booking holds no lock any more."""
    app.config["BOOKING_LOCK_TIMEOUT_MS"] = 300
    first = make_household(children=[("Léa", KID)])
    other = make_household(last_name="Durand", children=[("Hugo", KID)])
    other_input = registration_input(other)
    seen: list[object] = []
    calls: list[str] = []

    def enqueue(name: str, *args: object) -> None:
        calls.append(name)
        if len(calls) > 1:  # the other booking's own confirmation
            return

        def concurrent() -> None:
            with app.app_context():
                try:
                    seen.append(create_registrations(other_input))
                except Exception as exc:  # reported below
                    seen.append(exc)

        thread = threading.Thread(target=concurrent)
        thread.start()
        thread.join(timeout=30)

    monkeypatch.setattr("inscriptions.outbox.jobs.enqueue", enqueue)
    book(first)
    [result] = seen
    assert isinstance(result, RegistrationOutcome), result
    assert result.status == Status.ACCEPTED
    assert count_registrations() == 2
