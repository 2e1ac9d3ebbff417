"""The families' confirmations of the allocator's decisions, each sent exactly once.

A decided application owes its family a message until ``notified_at`` is set: the pass writes
nothing more than its decisions (no outbox row to insert for 500 applications), and the message
is marked sent right after it went, in a transaction of its own (:func:`confirm`). After
the pass's commit the allocator hands its applications over (:func:`hand_over`); whatever a dead
process or an emptied Redis lost is found by :func:`relay_stale`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import ColumnElement, Update, and_, select, text, update

from inscriptions import clock, jobs, outbox
from inscriptions.database import commit_keeping_loaded, write_transaction
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
    """Job: send each application's confirmation if still owed; returns how many were handled
    here (sent, or owed to a household without e-mail, which gets a letter instead).

    The messages of a queue job are read together (three queries for fifty, as for one), and each
    is marked sent in its own short transaction right after it went: a worker killed halfway has
    marked exactly what it sent, less at most the one message in flight. Two copies of a job
    never both send: each application is claimed before it is sent (:func:`_claimed`).
    """
    from inscriptions import notifications

    ids = sorted(set(application_ids))
    batches = list(db.session.scalars(select(Application.batch).where(_owed(ids))))
    if not batches:
        db.session.rollback()
        return 0
    messages = notifications.received_confirmations(batches)
    # The read's connection goes back to the pool (one connection per job at a time, whatever
    # runs it: a web worker's threads too); what it loaded stays loaded for the messages.
    commit_keeping_loaded()
    with _claimed(ids) as (owed, mark_sent):
        for application_id, batch in owed:
            message = messages.get(batch)
            if message is not None:
                notifications.send_confirmation(message)
            mark_sent(application_id)
        return len(owed)


def _owed(ids: list[int]) -> ColumnElement[bool]:
    return and_(Application.id.in_(ids), Application.status == ApplicationStatus.DECIDED,
                Application.notified_at.is_(None))


# The key space of the claims (PostgreSQL's two-integer advisory locks, apart from the
# allocator's one-bigint keys): (CLAIM_CLASS, application id).
CLAIM_CLASS = 0x436F
CLAIM_POSTGRESQL = text(
    "SELECT a.id FROM unnest(CAST(:ids AS integer[])) AS a(id) WHERE pg_try_advisory_lock(:cls, a.id)"
)
RELEASE_POSTGRESQL = text("SELECT pg_advisory_unlock(:cls, a.id) FROM unnest(CAST(:ids AS integer[])) AS a(id)")
MarkSent = Callable[[int], None]


@contextlib.contextmanager
def _claimed(ids: list[int]) -> Iterator[tuple[list[tuple[int, str]], MarkSent]]:
    """The applications of ``ids`` whose confirmation is still owed, as (id, batch), claimed by
    this process until the block ends, and the function that marks one sent (committed at once).

    PostgreSQL: a session-level advisory lock per application, kept across the marks' commits on
    one connection of its own (a row lock would end with the first commit); the owed rows are
    read again *after* the locks are held, so a copy that claims an application just released
    sees it sent. A connection that dies takes its locks with it. SQLite has no locks to take: one process
    runs the jobs, and each mark is a write transaction.
    """
    owed_query = select(Application.id, Application.batch).order_by(Application.id)
    if db.engine.dialect.name != "postgresql":
        owed = [(row.id, row.batch) for row in db.session.execute(owed_query.where(_owed(ids)))]
        commit_keeping_loaded()

        def mark_in_write_transaction(application_id: int) -> None:
            # Not expiring what the session loaded: the next messages read it.
            session = db.session()
            expire, session.expire_on_commit = session.expire_on_commit, False
            try:
                with write_transaction():
                    session.execute(_mark(application_id))
            finally:
                session.expire_on_commit = expire

        yield owed, mark_in_write_transaction
        return
    connection = db.engine.connect()
    locked: list[int] = []
    try:
        locked = list(connection.scalars(CLAIM_POSTGRESQL, {"ids": ids, "cls": CLAIM_CLASS}))
        connection.commit()
        owed = [(row.id, row.batch) for row in connection.execute(owed_query.where(_owed(locked)))]
        connection.commit()

        def mark_on_claiming_connection(application_id: int) -> None:
            connection.execute(_mark(application_id))
            connection.commit()

        yield owed, mark_on_claiming_connection
    except BaseException:
        # Whatever failed, the locks must not go back to the pool with the connection.
        connection.invalidate()
        raise
    finally:
        if locked and not connection.invalidated:
            connection.execute(RELEASE_POSTGRESQL, {"ids": locked, "cls": CLAIM_CLASS})
            connection.commit()
        connection.close()


def _mark(application_id: int) -> Update:
    return update(Application).where(Application.id == application_id).values(notified_at=clock.utcnow_naive())


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
