"""Recording an application in its service's queue: one INSERT with its arrival number.

Arrival numbers come from one PostgreSQL sequence, taken without any lock, so two requests at
the same moment never wait for each other. The price: a request may take number 41, then
commit after the request that took 42. The allocator must not decide 42 while 41 may still
appear, so it only decides up to :func:`settled_number`: every number at or below it belongs
to an application that is committed (visible) or will never be (rolled back).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, func, insert, select, text, update

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import Application, ApplicationStatus, Draft

# PostgreSQL sequence of arrival numbers (created by the applications migration).
QUEUE_SEQUENCE = "application_queue_numbers"
# Longest the allocator waits for requests still committing their number (then it goes on:
# a request that slow is an outage, not an arrival order to keep).
SETTLE_WAIT_S = 2.0


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _next_number() -> ColumnElement[int]:
    if _postgresql():
        return func.nextval(QUEUE_SEQUENCE)
    # SQLite: the write transaction (BEGIN IMMEDIATE) serialises writers, so max + 1 is safe.
    return select(func.coalesce(func.max(Application.queue_number), 0) + 1).scalar_subquery()


def record_application(*, under_lock: bool = False, **values: Any) -> tuple[int, int]:
    """Insert a pending application; returns its id and queue number. Not committed.

    ``under_lock``: the caller holds the service's allocation lock, so numbers are taken (and
    committed) in order and nothing needs settling.
    """
    if _postgresql() and not under_lock:
        # The transaction gets its id BEFORE its number: whoever sees the number handed out can
        # then find the transaction among those in progress (see settled_number).
        db.session.execute(select(func.pg_current_xact_id()))
    row = db.session.execute(
        insert(Application)
        .values({"mediation_reason": "", "note": "", "waitlist_together": False, **values,
                 "status": ApplicationStatus.PENDING, "queue_number": _next_number(),
                 "submitted_at": utcnow_naive()})
        .returning(Application.id, Application.queue_number)
    ).one()
    return row.id, row.queue_number


def settled_number(max_wait_s: float = SETTLE_WAIT_S) -> int | None:
    """The highest arrival number below which no application can still appear (PostgreSQL;
    None on SQLite, where writers are serialised and every number is settled once visible).

    Reads the last number handed out, then waits for the transactions in progress at that
    moment: a request holding a lower number got its transaction id first, so it is one of them.
    Call it at the start of a pass, before the pass writes anything.
    """
    if not _postgresql():
        return None
    last, called = db.session.execute(text("SELECT last_value, is_called FROM application_queue_numbers")).one()
    if not called:
        last -= 1
    snapshot = str(db.session.scalar(text("SELECT pg_current_snapshot()::text")))
    in_progress = [int(x) for x in snapshot.split(":")[2].split(",") if x]
    deadline = time.monotonic() + max_wait_s
    while in_progress and time.monotonic() < deadline:
        in_progress = list(db.session.scalars(
            text("SELECT x::text::bigint FROM unnest(CAST(:ids AS xid8[])) AS x"
                 " WHERE pg_xact_status(x) = 'in progress'"),
            {"ids": [str(x) for x in in_progress]},
        ))
        if in_progress:
            time.sleep(0.002)
    return int(last)


class NotSendable(Exception):
    """The application cannot be sent: not this household's, or withdrawn."""


class NotYetOpen(Exception):
    """Sending opens later for this application; ``opens_at`` (naive UTC) says when."""

    def __init__(self, opens_at: dt.datetime | None):
        super().__init__("not open yet")
        self.opens_at = opens_at


@dataclass(frozen=True)
class Sent:
    """A prepared application now in the queue (or already there: a double click)."""

    application_id: int
    service_code: str
    queue_number: int
    batch: str
    status: str
    replayed: bool = False


def send_prepared(application_id: int, household_id: int) -> Sent:
    """Send a prepared application: the opening-morning request.

    In worker mode (``ALLOCATION=worker``) this is the whole request's database work: one
    conditional UPDATE that numbers the application (and claims its web draft), committed; the
    allocator decides a moment later. Inline, the request then runs the allocator's pass itself,
    under the service's lock. Sending twice gives the same application (``replayed``).
    Raises :class:`NotYetOpen` or :class:`NotSendable` (nothing saved).
    """
    from inscriptions.allocation import allocator
    from inscriptions.database import write_transaction

    inline = current_app.config.get("ALLOCATION", "inline") != "worker"
    now = utcnow_naive()
    decided = allocator.Pass()
    with write_transaction():
        if inline:
            code = db.session.scalar(select(Application.service_code).where(Application.id == application_id))
            if code is None:
                raise NotSendable()
            allocator.take_lock(code)
        elif _postgresql():
            db.session.execute(select(func.pg_current_xact_id()))  # see record_application
        row = db.session.execute(
            update(Application)
            .where(Application.id == application_id, Application.household_id == household_id,
                   Application.status == ApplicationStatus.PREPARED, Application.opens_at <= now)
            .values(status=ApplicationStatus.PENDING, queue_number=_next_number(), submitted_at=now)
            .returning(Application.service_code, Application.queue_number, Application.draft_id, Application.batch)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            return _not_sent(application_id, household_id)
        if row.draft_id is not None:
            db.session.execute(update(Draft).where(Draft.id == row.draft_id).values(submitted_batch=row.batch)
                               .execution_options(synchronize_session=False))
        if inline:
            found = allocator.decide_pending(row.service_code)
            decided.applications, decided.registrations = found.applications, found.registrations
    allocator.notify(decided)
    status = ApplicationStatus.DECIDED if inline else ApplicationStatus.PENDING
    return Sent(application_id, row.service_code, row.queue_number, row.batch, status)


def _not_sent(application_id: int, household_id: int) -> Sent:
    app = db.session.execute(
        select(Application.household_id, Application.status, Application.opens_at, Application.service_code,
               Application.queue_number, Application.batch)
        .where(Application.id == application_id)
    ).first()
    if app is None or app.household_id != household_id:
        raise NotSendable()
    if app.status == ApplicationStatus.PREPARED:
        raise NotYetOpen(app.opens_at)
    return Sent(application_id, app.service_code, app.queue_number, app.batch, app.status, replayed=True)
