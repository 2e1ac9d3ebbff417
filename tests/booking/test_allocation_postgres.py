"""The allocator under real concurrency (PostgreSQL): parallel submissions through every channel,
two allocators at once, an allocator killed mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from booking_helpers import PG, race, registration_input, stage_definition
from sqlalchemy import create_engine, func, select, text

from inscriptions.allocation.worker import drain, run_pass, work
from inscriptions.extensions import db
from inscriptions.models import AllocationRun, Application, Registration, Status
from inscriptions.registrations.create import create_registrations

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not PG, reason="PostgreSQL only: set INSCRIPTIONS_TEST_DATABASE_URL")]
CHANNELS = ("web", "counter", "paper", "api")


def final_state() -> list[tuple[int, str]]:
    """(queue number, status) of every registration, in queue order."""
    db.session.rollback()
    return list(db.session.execute(
        select(Application.queue_number, Registration.status)
        .join(Registration, Registration.application_id == Application.id)
        .order_by(Application.queue_number)
    ).all())


def assert_arrival_order(capacity: int) -> None:
    state = final_state()
    assert [s for _n, s in state] == [Status.ACCEPTED] * capacity + [Status.WAITLISTED] * (len(state) - capacity)


def test_parallel_submissions_through_every_channel_never_overbook_and_keep_arrival_order(  # type: ignore[no-untyped-def]
        app, install, make_household) -> None:
    install(stage_definition(capacity=7))
    app.config["ALLOCATION"] = "worker"
    families = [make_household(last_name=f"F{n}") for n in range(24)]
    inputs = [registration_input(f, channel=CHANNELS[n % 4]) for n, f in enumerate(families)]
    stop = threading.Event()

    def allocate() -> None:
        with app.app_context():
            work(interval=0.005, limit=3, stop=stop.is_set)

    # The allocator decides while the families are still sending, in small batches.
    worker = threading.Thread(target=allocate)
    worker.start()
    try:
        results = race(app, [lambda data=data: create_registrations(data) for data in inputs])
    finally:
        time.sleep(0.3)
        stop.set()
        worker.join(timeout=60)
    assert all(r.pending for r in results), results
    drain("stage")
    assert len(final_state()) == 24
    assert_arrival_order(7)


def test_two_allocators_at_once_never_both_allocate(app, install, make_household, book) -> None:  # type: ignore[no-untyped-def]
    install(stage_definition(capacity=3))
    app.config["ALLOCATION"] = "worker"
    for n in range(10):
        book(make_household(last_name=f"F{n}"))
    results = race(app, [lambda: run_pass("stage", wait=False) for _ in range(4)])
    decided = [r for r in results if r is not None]
    assert not any(isinstance(r, Exception) for r in results), results
    # Whoever got the lock decided everything; the others found it held (None) or nothing left.
    assert sum(r.count for r in decided) == 10
    assert db.session.scalar(select(func.count(AllocationRun.id))) == sum(1 for r in decided if r.count)
    assert_arrival_order(3)


def _allocator_process(app, plugins: Path) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    env = {**os.environ, "INSCRIPTIONS_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "INSCRIPTIONS_PLUGINS_DIR": str(plugins), "INSCRIPTIONS_ALLOCATION": "worker"}
    command = Path(sys.executable).with_name("inscriptions")
    return subprocess.Popen([str(command), "allocation", "run", "stage"], env=env,  # noqa: S603 (our own command)
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _output(process: subprocess.Popen) -> str:
    if process.poll() is None:
        return "(still running)"
    return process.stdout.read() if process.stdout else ""


def test_allocator_killed_mid_batch_loses_and_repeats_nothing(app, install, make_household, book) -> None:  # type: ignore[no-untyped-def]
    install(stage_definition(capacity=4))
    app.config["ALLOCATION"] = "worker"
    for n in range(12):
        book(make_household(last_name=f"F{n}"))
    db.session.commit()
    # Another connection holds the reference counter: the allocator stops there, mid-batch, with
    # its decisions made and the sessions locked, and is killed while it waits.
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    blocker = engine.connect()
    # Watched from a connection of its own: pg_stat_activity is read once per transaction.
    watcher = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    blocker.execute(text("INSERT INTO reference_counters (prefix, year, last) VALUES ('STG', 2026, 0)"))
    blocker.commit()
    blocker.execute(text("SELECT last FROM reference_counters WHERE prefix = 'STG' FOR UPDATE"))
    process = _allocator_process(app, Path(app.config["PLUGINS_DIR"]))
    try:
        deadline = time.monotonic() + 60
        waiting = 0
        while time.monotonic() < deadline and not waiting:
            waiting = watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE '%reference_counters%'"
            )).scalar_one()
            time.sleep(0.05)
        assert waiting, f"the allocator never reached the reference counter: {_output(process)}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        blocker.rollback()
        blocker.close()
        watcher.close()
        engine.dispose()
    db.session.rollback()
    assert db.session.scalar(select(func.count(Registration.id))) == 0
    assert db.session.scalar(select(func.count(AllocationRun.id))) == 0
    assert set(db.session.scalars(select(Application.status))) == {"pending"}
    # Restarted, it decides everything once, as an uninterrupted run would have.
    assert drain("stage") == 12
    assert_arrival_order(4)
    assert db.session.scalar(select(func.count(Registration.id))) == 12
