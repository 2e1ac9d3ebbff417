"""Messages owed after a commit are sent exactly once, whatever dies on the way.

An allocator pass commits 500 decisions, then hands their confirmations to Redis. Killed between
the two (``kill -9``, a machine lost), or with Redis down, the families would never hear; a jobs
worker killed halfway through would send some twice on RQ's retry. So what is owed is written in
the deciding transaction, and marked done only in the transaction that sends it:

- a decision's confirmation is owed while its application has no ``notified_at``
  (:mod:`inscriptions.allocation.confirmations`: nothing more to write in the pass);
- any other job (the waiting list's offers) is a row of ``outbox_jobs``: :func:`record` adds it
  inside the transaction, committed with it or not at all.

After the commit, what the transaction owes is handed to the jobs backend
(:func:`inscriptions.jobs.enqueue`: RQ, or in-process inline), a few dozen per queue job. A job
runs each message under a lock on its row (:func:`run_once`: PostgreSQL's ``FOR UPDATE SKIP
LOCKED``) and marks it done in the same transaction: a second copy finds it done or locked and
does nothing; a worker killed mid-job leaves the rest owed (a message goes twice only if the
process dies between the mail server's answer and the commit). What was never handed over, or
was handed over :func:`relay_again_after` ago (two minutes by default,
``INSCRIPTIONS_OUTBOX_RELAY_AGAIN_S``) and is still owed, is handed over again by the sweeps
(:func:`relay_stale` and the confirmations' own), which the allocation worker runs every few
seconds and ``inscriptions jobs relay`` runs from cron. Only ids travel, as for every job.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import DateTime, Select, Update, bindparam, event, insert, or_, select, text, update
from sqlalchemy.orm import Session

from inscriptions import clock, jobs
from inscriptions.database import write_transaction
from inscriptions.extensions import db
from inscriptions.models import OutboxJob

log = logging.getLogger(__name__)

PERFORM_MANY_JOB = "inscriptions.outbox:perform_many"
PER_QUEUE_JOB = 50
_RECORDED = "inscriptions.outbox.recorded"
RELAY_BATCH = 500
_RECORD_MANY_POSTGRESQL = text(
    "INSERT INTO outbox_jobs (path, args, created_at, relays)"
    " SELECT :path, a, :now, 0 FROM unnest(CAST(:args AS text[])) AS a RETURNING id"
).bindparams(bindparam("now", type_=DateTime()))


def record(path: str, *args: Any) -> None:
    """Record the job ``path(*args)`` in the current transaction (committed with it, or not)."""
    record_many(path, [list(args)])


def record_many(path: str, args_list: Sequence[Sequence[Any]]) -> None:
    """Record ``path(*args)`` for each ``args`` of ``args_list``, in one statement (an allocator
    pass records one message per application it decided)."""
    jobs.resolve(path)  # a wrong path is a programming error: fail where it is written
    if not args_list:
        return
    now = clock.utcnow_naive()
    texts = [json.dumps(list(args)) for args in args_list]
    if db.session.get_bind().dialect.name == "postgresql":
        # One statement over an array, whatever the number of rows (an executemany with
        # RETURNING costs a round trip or more per row).
        ids = db.session.scalars(_RECORD_MANY_POSTGRESQL, {"path": path, "args": texts, "now": now}).all()
    else:
        ids = db.session.scalars(
            insert(OutboxJob).returning(OutboxJob.id),
            [{"path": path, "args": text, "created_at": now, "relays": 0} for text in texts],
        ).all()
    db.session.info.setdefault(_RECORDED, []).extend(ids)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    # Rows recorded in a transaction that rolled back do not exist: nothing to hand over.
    if not session.in_nested_transaction():
        session.info.pop(_RECORDED, None)


def relay_recorded() -> int:
    """After the commit: hand the jobs this session recorded to the jobs backend; returns how many.

    A failure here loses nothing: the rows are committed and :func:`relay_stale` hands them over.
    """
    return _hand_over(list(db.session.info.pop(_RECORDED, [])))


def relay_stale(limit: int = RELAY_BATCH) -> int:
    """Hand over again what was never handed over, or long ago and still not done (Redis down at
    the time, a process killed after its commit, a job lost); returns how many."""
    now = clock.utcnow_naive()
    ids = list(db.session.scalars(
        select(OutboxJob.id)
        .where(OutboxJob.done_at.is_(None),
               or_(OutboxJob.relayed_at.is_(None), OutboxJob.relayed_at <= now - relay_again_after()),
               # Not the rows a process is handing over this very moment, after its own commit.
               OutboxJob.created_at <= now - dt.timedelta(seconds=5))
        .order_by(OutboxJob.id).limit(limit)
    ))
    db.session.commit()
    return _hand_over(ids)


def _hand_over(ids: list[int]) -> int:
    if not ids:
        return 0
    if current_app.config.get("JOBS_BACKEND", jobs.INLINE) != jobs.INLINE:
        # Marked first: a relay running meanwhile then leaves these rows alone for a while. (Run
        # in-process, the jobs mark themselves done at once: nothing to mark.)
        with write_transaction():
            db.session.execute(update(OutboxJob).where(OutboxJob.id.in_(ids))
                               .values(relayed_at=clock.utcnow_naive(), relays=OutboxJob.relays + 1))
    # A queue job costs more than a message: a few dozen per job, each done on its own.
    for start in range(0, len(ids), PER_QUEUE_JOB):
        jobs.enqueue(PERFORM_MANY_JOB, ids[start:start + PER_QUEUE_JOB])
    return len(ids)


def perform_many(ids: list[int]) -> int:
    """Job: :func:`perform` each of ``ids`` in turn (each its own transaction, so a worker killed
    halfway has marked done exactly what it sent); returns how many ran here."""
    return sum(perform(outbox_id) for outbox_id in ids)


def perform(outbox_id: int) -> bool:
    """Job: run the recorded job ``outbox_id`` once; returns whether it ran here (False: done
    already, or running elsewhere). Recorded jobs must not commit (see :func:`run_once`)."""
    return run_once(
        select(OutboxJob.path, OutboxJob.args).where(OutboxJob.id == outbox_id, OutboxJob.done_at.is_(None)),
        lambda row: _run(outbox_id, row.path, json.loads(row.args)),
        update(OutboxJob).where(OutboxJob.id == outbox_id).values(done_at=clock.utcnow_naive()),
    )


def run_once(claim: Select[Any], run: Callable[[Any], object], mark: Update) -> bool:
    """Run ``run(row)`` on the row ``claim`` finds still owed, then ``mark`` it done, in one
    transaction holding the row's lock (PostgreSQL: ``FOR UPDATE SKIP LOCKED``): a second copy
    finds it locked or done and does nothing; returns whether it ran here. ``run`` must not
    commit (the lock would go with it)."""
    row = db.session.execute(claim.with_for_update(skip_locked=True)).first()
    if row is None:
        db.session.rollback()
        return False
    try:
        run(row)
    except Exception:
        db.session.rollback()
        raise
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(mark)  # in the transaction that holds the row's lock
        db.session.commit()
    else:
        # SQLite has no row locks (one process runs the jobs): the mark is a write transaction.
        with write_transaction():
            db.session.execute(mark)
    return True


def relay_again_after() -> dt.timedelta:
    """How long a handed-over job may stay not done before it is handed over again."""
    return dt.timedelta(seconds=int(current_app.config.get("OUTBOX_RELAY_AGAIN_S", 120)))


def _run(outbox_id: int, path: str, args: list[Any]) -> None:
    try:
        jobs.resolve(path)(*args)
    except Exception:
        # Named here: the jobs backend only sees inscriptions.outbox:perform and an id.
        log.error("recorded job %s, %s%r, failed; it stays in the outbox and is tried again", outbox_id, path, args)
        raise
