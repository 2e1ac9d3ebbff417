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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, DateTime, bindparam, func, insert, select, text

from inscriptions import MAX_ID
from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import Application, ApplicationStatus

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


def send_prepared(application_id: int, household_id: int | Callable[[], int]) -> Sent:
    """Send a prepared application: the opening-morning request.

    In worker mode (``ALLOCATION=worker``) this is the whole request's database work: one
    conditional UPDATE that numbers the application (and claims its web draft), committed; the
    allocator decides a moment later. Inline, the request then runs the allocator's pass itself,
    under the service's lock. Sending twice gives the same application (``replayed``).
    Raises :class:`NotYetOpen` or :class:`NotSendable` (nothing saved).

    ``household_id`` may be a function that reads it (the web's session check): it is then
    called inside the send's transaction, so the whole request is one database transaction
    (one pooled connection, one BEGIN and one COMMIT); whatever it raises rolls back the send.
    """
    from inscriptions.allocation import allocator
    from inscriptions.database import write_transaction

    inline = current_app.config.get("ALLOCATION", "inline") != "worker"
    now = utcnow_naive()
    decided = allocator.Pass()
    with write_transaction():
        if callable(household_id):
            household_id = household_id()
        if not 1 <= application_id <= MAX_ID:
            raise NotSendable()  # no such row (and PostgreSQL would refuse to compare)
        if inline:
            code = db.session.scalar(select(Application.service_code).where(Application.id == application_id))
            if code is None:
                raise NotSendable()
            allocator.take_lock(code)
        params = {"id": application_id, "household": household_id, "now": now}
        # On the transaction's connection: plain SQL needs nothing of the ORM session's work.
        conn = db.session.connection()
        if _postgresql():
            row = conn.execute(_SEND_POSTGRESQL, params).first()
        else:
            row = conn.execute(_SEND_SQLITE, params).first()
            if row is not None and row.draft_id is not None:
                db.session.execute(_CLAIM_DRAFT_SQLITE, {"draft": row.draft_id, "batch": row.batch, "now": now})
        if row is None:
            return _not_sent(application_id, household_id)
        if inline:
            decided = allocator.decide_pending(row.service_code)
    allocator.notify(decided)
    status = ApplicationStatus.DECIDED if inline else ApplicationStatus.PENDING
    return Sent(application_id, row.service_code, row.queue_number, row.batch, status)


# The send in one statement and one round trip (PostgreSQL): the transaction takes its id first
# (``tx``, evaluated once before any row is numbered: see record_application), then the
# application is numbered if it is this household's, prepared and open, and its web draft is
# marked sent. Plain SQL on purpose: this is the statement every family sends at the opening
# minute, and the ORM's work around it would cost more than the statement itself.
NUMBER_APPLICATION = ("UPDATE applications SET status = 'pending', "
                      "queue_number = nextval('application_queue_numbers'), submitted_at = :now")
SENDABLE = ("applications.id = :id AND applications.status = 'prepared' AND applications.opens_at <= :now "
            "AND EXISTS (SELECT 1 FROM tx)")
SENT_COLUMNS = "applications.service_code, applications.queue_number, applications.draft_id, applications.batch"
CLAIM_DRAFT = ("claimed AS (UPDATE drafts SET submitted_batch = sent.batch, updated_at = :now "
               "FROM sent WHERE drafts.id = sent.draft_id RETURNING drafts.id)")
_SEND_POSTGRESQL = text(f"""
WITH tx AS (SELECT pg_current_xact_id() AS id),
sent AS ({NUMBER_APPLICATION} WHERE {SENDABLE} AND applications.household_id = :household
         RETURNING {SENT_COLUMNS}),
{CLAIM_DRAFT}
SELECT sent.*, (SELECT count(*) FROM claimed) AS claimed FROM sent
""").bindparams(bindparam("now", type_=DateTime()))  # noqa: S608 (constants only)
# The same send for the family signed in as account ``:account``, whose household is read in the
# same statement (:mod:`inscriptions.quick_send`): it also returns what the session's
# log-in fingerprint is checked against, and the caller rolls back when that check fails.
SEND_SIGNED_IN_POSTGRESQL = text(f"""
WITH tx AS (SELECT pg_current_xact_id() AS id),
who AS (
    SELECT accounts.password_hash, accounts.session_generation, guardians.household_id
    FROM accounts JOIN guardians ON guardians.id = accounts.guardian_id
    WHERE accounts.id = :account AND accounts.active
),
sent AS ({NUMBER_APPLICATION} FROM who WHERE {SENDABLE} AND applications.household_id = who.household_id
         RETURNING {SENT_COLUMNS}, who.password_hash, who.session_generation),
{CLAIM_DRAFT}
SELECT sent.*, (SELECT count(*) FROM claimed) AS claimed FROM sent
""").bindparams(bindparam("now", type_=DateTime()))  # noqa: S608 (constants only)
# The same send for the owner of API token ``:token_hash``: a family sends its own applications,
# staff those of a service where they hold one of ``:service_roles`` (or a town-wide
# ``:town_roles``). The token's last use is recorded as tokens.token_owner does (``used``: a
# data-modifying CTE runs whether or not the final SELECT reads it).
_SEND_WITH_TOKEN = f"""
WITH tx AS (SELECT pg_current_xact_id() AS id),
owner AS (
    SELECT api_tokens.id AS token_id, api_tokens.account_id, guardians.household_id
    FROM api_tokens JOIN accounts ON accounts.id = api_tokens.account_id
    LEFT JOIN guardians ON guardians.id = accounts.guardian_id
    WHERE api_tokens.token_hash = :token_hash AND api_tokens.revoked_at IS NULL AND accounts.active
),
sent AS ({NUMBER_APPLICATION} FROM owner WHERE {SENDABLE}
         AND (applications.household_id = owner.household_id
              OR (owner.household_id IS NULL AND EXISTS (
                  SELECT 1 FROM staff_roles WHERE staff_roles.account_id = owner.account_id
                  AND (staff_roles.role IN :town_roles
                       OR (staff_roles.role IN :service_roles
                           AND staff_roles.service_code = applications.service_code)))))
         RETURNING {SENT_COLUMNS}),
used AS (
    UPDATE api_tokens SET last_used_at = :now FROM owner, sent
    WHERE api_tokens.id = owner.token_id AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at <= :stale)
    RETURNING api_tokens.id
),
{CLAIM_DRAFT}
SELECT sent.*, (SELECT count(*) FROM claimed) AS claimed FROM sent
"""  # noqa: S608 (constants only)
SEND_WITH_TOKEN_POSTGRESQL = text(_SEND_WITH_TOKEN).bindparams(
    bindparam("now", type_=DateTime()), bindparam("stale", type_=DateTime()),
    bindparam("town_roles", expanding=True), bindparam("service_roles", expanding=True))
# SQLite serialises writers (BEGIN IMMEDIATE): numbered max + 1, then the draft marked sent.
_SEND_SQLITE = text("""
UPDATE applications
SET status = 'pending', submitted_at = :now,
    queue_number = (SELECT coalesce(max(queue_number), 0) + 1 FROM applications)
WHERE id = :id AND household_id = :household AND status = 'prepared' AND opens_at <= :now
RETURNING service_code, queue_number, draft_id, batch
""").bindparams(bindparam("now", type_=DateTime()))
_CLAIM_DRAFT_SQLITE = text("UPDATE drafts SET submitted_batch = :batch, updated_at = :now WHERE id = :draft"
                           ).bindparams(bindparam("now", type_=DateTime()))


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
