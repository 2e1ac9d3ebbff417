"""The transactional outbox: a confirmation is recorded in the transaction that decided it, and
run exactly once after, whatever dies on the way.

An allocator pass commits 500 decisions, then hands their confirmations to Redis. Killed between
the two (``kill -9``, a machine lost), or with Redis down, the families would never hear; a jobs
worker killed halfway through would send some twice on RQ's retry. So:

1. :func:`record` adds a row to ``outbox_jobs`` inside the deciding transaction: committed with
   the decisions, or not at all.
2. After the commit, :func:`relay_recorded` hands this transaction's rows to the jobs backend
   (:func:`inscriptions.jobs.enqueue`: RQ, or in-process inline). Rows that were never handed
   over, or were handed over long ago and are still not done (Redis lost them, a worker died),
   are handed over again by :func:`relay_stale`, which the allocation worker runs every few
   seconds and ``inscriptions jobs relay`` runs from cron.
3. :func:`perform` runs a row's job under a lock on the row (PostgreSQL: ``FOR UPDATE SKIP
   LOCKED``) and marks it done in the same transaction: a second copy of the job finds it done,
   or locked, and does nothing. A worker killed mid-job leaves the
   row not done, and the relay tries again (a message is sent twice only if the process dies
   between the mail server's answer and the commit).

Only ids travel (the job re-reads the rows), as for every job.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from inscriptions import clock, jobs
from inscriptions.extensions import db
from inscriptions.models import OutboxJob

log = logging.getLogger(__name__)

PERFORM_JOB = "inscriptions.outbox:perform"
_RECORDED = "inscriptions.outbox.recorded"
# A row handed over this long ago and still not done is handed over again (its job was lost, or
# waits behind a long queue: then the second copy finds it done and does nothing).
RELAY_AGAIN_AFTER = dt.timedelta(minutes=2)
RELAY_BATCH = 500


def record(path: str, *args: Any) -> None:
    """Record the job ``path(*args)`` in the current transaction (committed with it, or not)."""
    jobs.resolve(path)  # a wrong path is a programming error: fail where it is written
    row = OutboxJob(path=path, args=json.dumps(list(args)))
    db.session.add(row)
    db.session.info.setdefault(_RECORDED, []).append(row)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    # Rows recorded in a transaction that rolled back do not exist: nothing to hand over.
    if not session.in_nested_transaction():
        session.info.pop(_RECORDED, None)


def relay_recorded() -> int:
    """After the commit: hand the jobs this session recorded to the jobs backend; returns how many.

    A failure here loses nothing: the rows are committed and :func:`relay_stale` hands them over.
    """
    rows: list[OutboxJob] = db.session.info.pop(_RECORDED, [])
    ids = [row.id for row in rows if row.id is not None]
    return _hand_over(ids)


def relay_stale(limit: int = RELAY_BATCH) -> int:
    """Hand over again what was never handed over, or long ago and still not done (Redis down at
    the time, a process killed after its commit, a job lost); returns how many."""
    now = clock.utcnow_naive()
    ids = list(db.session.scalars(
        select(OutboxJob.id)
        .where(OutboxJob.done_at.is_(None),
               or_(OutboxJob.relayed_at.is_(None), OutboxJob.relayed_at <= now - RELAY_AGAIN_AFTER),
               # Not the rows a process is handing over this very moment, after its own commit.
               OutboxJob.created_at <= now - dt.timedelta(seconds=5))
        .order_by(OutboxJob.id).limit(limit)
    ))
    db.session.commit()
    return _hand_over(ids)


def _hand_over(ids: list[int]) -> int:
    if not ids:
        return 0
    from flask import current_app

    from inscriptions.database import write_transaction

    if current_app.config.get("JOBS_BACKEND", jobs.INLINE) != jobs.INLINE:
        # Marked first: a relay running meanwhile then leaves these rows alone for a while. (Run
        # in-process, the jobs mark themselves done at once: nothing to mark.)
        with write_transaction():
            db.session.execute(update(OutboxJob).where(OutboxJob.id.in_(ids))
                               .values(relayed_at=clock.utcnow_naive(), relays=OutboxJob.relays + 1))
    for outbox_id in ids:
        jobs.enqueue(PERFORM_JOB, outbox_id)
    return len(ids)


def perform(outbox_id: int) -> bool:
    """Job: run the recorded job ``outbox_id`` once; returns whether it ran here (False: done
    already, or running elsewhere). Recorded jobs must not commit: the row stays locked (on
    PostgreSQL) from the check to the done mark, so a second copy skips it."""
    from inscriptions.database import write_transaction

    row = db.session.execute(
        select(OutboxJob.path, OutboxJob.args)
        .where(OutboxJob.id == outbox_id, OutboxJob.done_at.is_(None))
        .with_for_update(skip_locked=True)
    ).first()
    if row is None:
        db.session.rollback()
        return False
    try:
        _run(outbox_id, row.path, json.loads(row.args))
    except Exception:
        db.session.rollback()
        raise
    done = update(OutboxJob).where(OutboxJob.id == outbox_id).values(done_at=clock.utcnow_naive())
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(done)  # in the transaction that holds the row's lock
        db.session.commit()
    else:
        # SQLite has no row locks (one process runs the jobs): the mark is a write transaction.
        with write_transaction():
            db.session.execute(done)
    return True


def _run(outbox_id: int, path: str, args: list[Any]) -> None:
    try:
        jobs.resolve(path)(*args)
    except Exception:
        # Named here: the jobs backend only sees inscriptions.outbox:perform and an id.
        log.error("recorded job %s, %s%r, failed; it stays in the outbox and is tried again", outbox_id, path, args)
        raise
