"""The allocator's confirmations: read together, each marked sent on its own, never sent twice."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from inscriptions import notifications
from inscriptions.allocation import confirmations
from inscriptions.database import write_transaction
from inscriptions.extensions import db
from inscriptions.models import Application

postgres_only = pytest.mark.skipif(
    not os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL"), reason="needs INSCRIPTIONS_TEST_DATABASE_URL (PostgreSQL)"
)


def decided_but_owed(book_canteen: Any, outbox: list[Any], count: int) -> list[int]:
    """``count`` decided applications whose confirmations are owed again (as after a lost job)."""
    for _ in range(count):
        book_canteen()
    with write_transaction():
        db.session.execute(update(Application).values(notified_at=None))
    outbox.clear()
    return list(db.session.scalars(select(Application.id).order_by(Application.id)))


def owed() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(Application.id)).where(Application.notified_at.is_(None)))


def test_a_job_reads_its_messages_together_and_marks_each_once(app, book_canteen, outbox) -> None:
    ids = decided_but_owed(book_canteen, outbox, 6)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    from sqlalchemy import event

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert confirmations.confirm(ids) == 6
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(outbox) == 6 and owed() == 0
    marks = [s for s in statements if s.startswith("UPDATE applications SET notified_at")]
    reads = [s for s in statements if s.startswith("SELECT")]
    assert len(marks) == 6
    # The owed rows, the registrations, the addresses, the drawn services' ranks, the owed rows
    # again once claimed (and on PostgreSQL the claim and its release): not one read per message.
    assert len(reads) <= 7, reads
    assert confirmations.confirm(ids) == 0 and len(outbox) == 6  # a late copy sends nothing


def test_a_failure_halfway_keeps_what_was_sent_and_leaves_the_rest_owed(app, book_canteen, outbox,
                                                                          monkeypatch) -> None:
    ids = decided_but_owed(book_canteen, outbox, 5)
    real_send = notifications.send_confirmation
    sent: list[str] = []

    def fails_third(message: notifications.Confirmation) -> int:
        if len(sent) == 2:
            raise ConnectionRefusedError("SMTP server down")
        sent.append(message.batch)
        return real_send(message)

    monkeypatch.setattr(notifications, "send_confirmation", fails_third)
    with pytest.raises(ConnectionRefusedError):
        confirmations.confirm(ids)
    assert len(outbox) == 2 and owed() == 3  # the two that went are marked, nothing else
    monkeypatch.setattr(notifications, "send_confirmation", real_send)
    # Nothing stays claimed by the failed job: the retry sends exactly the three left.
    assert confirmations.confirm(ids) == 3
    assert len(outbox) == 5 and owed() == 0
    assert len({tuple(m.to) for m in outbox}) == 5


@postgres_only
def test_an_application_claimed_elsewhere_is_left_to_its_claimant(app, book_canteen, outbox) -> None:
    ids = decided_but_owed(book_canteen, outbox, 3)
    with db.engine.connect() as other:
        # Another worker holds the claim of the first application.
        assert other.scalar(text("SELECT pg_try_advisory_lock(:c, :i)"),
                            {"c": confirmations.CLAIM_CLASS, "i": ids[0]})
        assert confirmations.confirm(ids) == 2
        assert owed() == 1
        other.execute(text("SELECT pg_advisory_unlock_all()"))
        other.commit()
    assert confirmations.confirm(ids) == 1 and len(outbox) == 3


@postgres_only
def test_two_copies_of_a_job_at_once_send_each_message_once(app, book_canteen, outbox, monkeypatch) -> None:
    ids = decided_but_owed(book_canteen, outbox, 12)
    real_send = notifications.send_confirmation

    def slow_send(message: notifications.Confirmation) -> int:
        time.sleep(0.01)  # both copies are mid-job at the same time
        return real_send(message)

    monkeypatch.setattr(notifications, "send_confirmation", slow_send)
    barrier = threading.Barrier(3)
    handled: list[int] = []
    errors: list[BaseException] = []

    def copy(job_ids: list[int]) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                handled.append(confirmations.confirm(job_ids))
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    # The same job twice (a retry racing its original), and a relay's job overlapping both.
    threads = [threading.Thread(target=copy, args=(job,)) for job in (ids, ids, ids[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(handled) == 12
    assert len(outbox) == 12 and len({tuple(m.to) for m in outbox}) == 12
    assert owed() == 0
    with db.engine.connect() as conn:  # every claim released
        assert conn.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")) == 0
