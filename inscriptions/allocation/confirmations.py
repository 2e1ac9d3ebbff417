"""The families' confirmations of the allocator's decisions, each sent exactly once.

A decided application owes its family a message until ``notified_at`` is set: the pass writes
nothing more than its decisions (no outbox row to insert for 500 applications), and the message
is marked sent in the transaction that sends it (:func:`inscriptions.outbox.run_once`). After
the pass's commit the allocator hands its applications over (:func:`hand_over`); whatever a dead
process or an emptied Redis lost is found by :func:`relay_stale`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update

from inscriptions import clock, jobs, outbox
from inscriptions.extensions import db
from inscriptions.models import Application, ApplicationStatus

CONFIRM_JOB = "inscriptions.allocation.confirmations:confirm"


def hand_over(application_ids: Iterable[int]) -> int:
    """After the commit that decided them: queue the applications' confirmations, a few dozen per
    queue job; returns how many."""
    ids = list(application_ids)
    for start in range(0, len(ids), outbox.PER_QUEUE_JOB):
        jobs.enqueue(CONFIRM_JOB, ids[start:start + outbox.PER_QUEUE_JOB])
    return len(ids)


def confirm(application_ids: list[int]) -> int:
    """Job: send each application's confirmation if still owed, each in its own transaction;
    returns how many were sent here."""
    from inscriptions.notifications import registration_received

    sent = 0
    for application_id in application_ids:
        sent += outbox.run_once(
            select(Application.batch).where(Application.id == application_id,
                                            Application.status == ApplicationStatus.DECIDED,
                                            Application.notified_at.is_(None)),
            lambda row: registration_received(row.batch),
            update(Application).where(Application.id == application_id).values(notified_at=clock.utcnow_naive()),
        )
    return sent


def relay_stale(limit: int = outbox.RELAY_BATCH) -> int:
    """Hand over again the confirmations still owed :func:`inscriptions.outbox.relay_again_after`
    after their decision; returns how many."""
    ids = list(db.session.scalars(
        select(Application.id)
        .where(Application.notified_at.is_(None), Application.status == ApplicationStatus.DECIDED,
               Application.decided_at <= clock.utcnow_naive() - outbox.relay_again_after())
        .order_by(Application.id).limit(limit)
    ))
    db.session.commit()
    return hand_over(ids)
