"""THE function that creates registrations. Web, counter, paper and API all call it.

It validates every participant with the one validation function, then books them all in one
short write transaction and only after the commit schedules the slow work (confirmation e-mails).

Locking discipline (the capacity must never be oversold, whichever channel takes the last place):

* SQLite: the whole booking is one ``BEGIN IMMEDIATE`` transaction (the database's write lock).
* PostgreSQL: rows are locked with ``SELECT ... FOR UPDATE`` in one fixed order, so two bookings
  never wait for each other in a cycle: the household (its limits, its submission keys, its
  already-registered checks), its draft, then the session rows sorted by id (capacity and the
  waiting list), then the reference counter (the upsert in :mod:`.references`). Other writers
  that lock several of these rows must take them in the same order. What needs no session lock
  (the participants' eligibility, answers, duplicates and prices: one household's data, under its
  lock) is checked before the session rows are locked, so the lock every family of a session
  queues on is held only for the capacity decision and the inserts.
* The wait for a lock is bounded (``BOOKING_LOCK_TIMEOUT_MS``, default 5000): past it the booking
  raises :class:`~inscriptions.database.BusyError`, which the web answers with a 503 "busy, try
  again" page (nothing was saved).
* Nothing slow runs while the locks are held: the form version is recorded before, e-mails are
  enqueued after the commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key

from inscriptions import clock, jobs
from inscriptions.database import DEFAULT_LOCK_TIMEOUT_MS, write_transaction
from inscriptions.definitions.registry import current_version_id, registry, version_definition
from inscriptions.eligibility import eligibility_problems
from inscriptions.extensions import db
from inscriptions.forms.validation import validate_answers
from inscriptions.models import (
    Draft,
    Household,
    Registration,
    ServiceSession,
    Status,
    SubmissionKey,
)
from inscriptions.models.submission import SUBMISSION_KEY_MAX
from inscriptions.plugin_api import CHANNELS
from inscriptions.pricing import compute_price, places_taken
from inscriptions.registrations import waitlist
from inscriptions.registrations.participants import (
    adult_view,
    child_view,
    file_lookup,
    household_view,
)
from inscriptions.registrations.references import next_reference
from inscriptions.registrations.status import active_statuses, record_status


@dataclass(frozen=True)
class ParticipantInput:
    """One person to register and their raw answers (shared and own answers merged)."""

    child_id: int | None = None
    guardian_id: int | None = None
    answers: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        if self.child_id is not None:
            return f"child:{self.child_id}"
        if self.guardian_id is not None:
            return f"adult:{self.guardian_id}"
        return "household"


@dataclass(frozen=True)
class RegistrationInput:
    """Everything any channel gives to create one booking (one or several participants)."""

    service_code: str
    household_id: int
    participants: Sequence[ParticipantInput]
    channel: str
    keyed_by_id: int | None = None
    session_code: str | None = None
    form_version_id: int | None = None
    draft_id: int | None = None
    note: str = ""
    # One-time key of this submission, made by the channel (a form's hidden field, an API client's
    # Idempotency-Key header...): the same key again returns the first outcome, books nothing.
    idempotency_key: str | None = None
    # ``waitlist_siblings: parent_chooses`` services: the family agreed that everyone goes on the
    # waiting list together when the session has room for only some of them.
    waitlist_together: bool = False
    # Counter channels: the day the paper or letter was received, and why an agent keyed the form.
    received_on: dt.date | None = None
    mediation_reason: str = ""


@dataclass
class RegistrationOutcome:
    batch: str
    registration_ids: list[int]
    status: str
    replayed: bool = False


# Refusals a channel may want to act on (offer a choice rather than only show the message).
NOT_ENOUGH_PLACES = "not_enough_places"
LIMIT_REACHED = "limit_reached"
KEY_REUSED = "key_reused"


class RegistrationRefused(Exception):
    """Nothing was saved; ``general`` and per-participant ``errors`` say why, in French.

    ``code`` names refusals a channel may act on (:data:`NOT_ENOUGH_PLACES`: book fewer people
    or resubmit with ``waitlist_together``; ``places_left`` then says how many places are free).
    """

    def __init__(
        self,
        general: list[str],
        errors: dict[str, dict[str, str]] | None = None,
        *,
        code: str = "",
        places_left: int | None = None,
    ):
        self.general = general
        self.errors = errors or {}
        self.code = code
        self.places_left = places_left
        super().__init__("; ".join(general) or "invalid answers")


def _locked(stmt):  # type: ignore[no-untyped-def]
    # FOR UPDATE is executed on PostgreSQL; SQLite already holds the write lock (BEGIN IMMEDIATE).
    # populate_existing: a row read earlier in the request must not hide the locked values.
    return stmt.with_for_update().execution_options(populate_existing=True)


def create_registrations(data: RegistrationInput) -> RegistrationOutcome:
    """Validate and book ``data``; all participants are registered, or none.

    Raises :class:`RegistrationRefused` (nothing saved) or
    :class:`inscriptions.database.BusyError` (locks not obtained in time: try again).
    A draft already submitted, or an ``idempotency_key`` already used by this household, returns
    the first outcome with ``replayed=True`` (double click, replayed request); nothing more is made.
    """
    service = registry().get(data.service_code)
    if service is None:
        raise RegistrationRefused([_("This service does not exist.")])
    if data.channel not in CHANNELS:
        raise RegistrationRefused([_("Unknown channel.")])
    if data.idempotency_key is not None and not 0 < len(data.idempotency_key) <= SUBMISSION_KEY_MAX:
        raise RegistrationRefused([_("This submission key is not valid.")])
    if data.form_version_id is None:
        # A new definition writes its version and session rows: done (and committed) before the
        # booking's locks, so the booking itself only reads them (and need not look it up again).
        data = replace(data, form_version_id=current_version_id(service))

    timeout = int(current_app.config.get("BOOKING_LOCK_TIMEOUT_MS", DEFAULT_LOCK_TIMEOUT_MS))
    try:
        with write_transaction(lock_timeout_ms=timeout):
            outcome = _book(service, data)
    except IntegrityError:
        # The same key sent at the same moment for two households: the second insert fails on
        # the unique key (the same household's requests queue on its row lock instead).
        found = _key_row(data.idempotency_key) if data.idempotency_key else None
        if found is None:
            raise
        return _replay_key(found, data)

    if not outcome.replayed:
        jobs.enqueue("inscriptions.notifications:registration_received", outcome.batch)
    # Offers made inside the transaction (including by the form version sync above) are sent now.
    waitlist.notify_pending()
    return outcome


def _book(service, data: RegistrationInput) -> RegistrationOutcome:  # type: ignore[no-untyped-def]
    """The booking itself, inside the write transaction (see the module's locking discipline)."""
    version_id = data.form_version_id or current_version_id(service)
    version = version_definition(version_id)
    if version is None or version[0] != service.code:
        raise RegistrationRefused([_("This form version does not exist.")])
    defn = version[1]

    # 1. The household row: serialises this household's bookings (limits, keys, duplicates).
    household = _lock_household(data.household_id)
    if household is None:
        raise RegistrationRefused([_("This household does not exist.")])
    if data.idempotency_key:
        found = _key_row(data.idempotency_key)
        if found is not None:
            return _replay_key(found, data)
    batch = uuid.uuid4().hex
    if data.draft_id is not None:
        # The draft is claimed for this batch at once (its row locked by the update); a refusal
        # below rolls the claim back. Already claimed: a double click, given the first outcome.
        claimed = db.session.execute(
            update(Draft)
            .where(Draft.id == data.draft_id, Draft.service_code == service.code,
                   Draft.submitted_batch.is_(None))
            .values(submitted_batch=batch)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            draft = db.session.scalar(
                select(Draft).filter_by(id=data.draft_id).execution_options(populate_existing=True))
            if draft is not None and draft.service_code != service.code:
                raise RegistrationRefused([_("This form does not belong to this service.")])
            if draft is not None and draft.submitted_batch:
                return _replay(draft.submitted_batch, household.id)

    # Dates, sessions and booking rules are the town's current decision (closing early, a session
    # removed, a limit added), even for a form started under an earlier version; answers follow
    # that version.
    live = service.definition
    now = clock.now()
    if now > clock.as_local_aware(live.closing):
        raise RegistrationRefused([_("Registration for this service is not open.")])
    if not data.participants:
        raise RegistrationRefused([_("Choose who to register.")])
    keys = [p.key for p in data.participants]
    if len(set(keys)) != len(keys):
        raise RegistrationRefused([_("The same person is listed twice.")])
    _check_limits(live, service.code, household.id, len(data.participants))

    # The participants are checked before the session lock: what they depend on belongs to this
    # household, whose row is locked, so the session lock is held only for the capacity decision.
    _check_session_choice(live, data.session_code)
    hview = household_view(household)
    general: list[str] = []
    errors: dict[str, dict[str, str]] = {}
    prepared = []
    lookup = file_lookup(household.id)
    for part in data.participants:
        _person, pview, problem = _resolve_participant(defn.audience, household, part)
        if problem:
            general.append(problem)
            continue
        # Includes "registration opens for them on ..." (opening and priority windows).
        general += eligibility_problems(defn, service.hooks, hview, pview, now=now)
        result = validate_answers(
            defn, part.answers, channel=data.channel, files=lookup, hooks=service.hooks
        )
        if not result.ok:
            errors[part.key] = {k: str(v) for k, v in result.errors.items()}
            continue
        if _already_registered(service.code, household.id, part, data.session_code):
            general.append(_("%(name)s is already registered for this service.",
                             name=pview.first_name if pview else household.display_name))
            continue
        price = compute_price(defn, service.hooks, hview, pview, result.values)
        prepared.append((part, result.values, price, places_taken(defn, result.values)))
    if general or errors:
        raise RegistrationRefused(general, errors)

    status = Status.ACCEPTED if defn.workflow == "automatic" else Status.SUBMITTED
    year = now.astimezone(clock.local_zone()).year
    # What does not depend on the places left is written before the session lock, in the same
    # transaction (a refusal below rolls it back): the lock every family of the session queues
    # on is then held only for the count, the references and the registrations' inserts.
    if data.idempotency_key:
        db.session.add(SubmissionKey(key=data.idempotency_key, household_id=household.id,
                                     service_code=service.code, batch=batch))
        db.session.flush()
    # Built now, added to the session (hence inserted) only once the status is known.
    created = [
        Registration(
            service_code=service.code,
            form_version_id=version_id,
            household_id=household.id,
            child_id=part.child_id,
            guardian_id=part.guardian_id,
            places=places,
            answers=values,
            price=price.amount,
            price_unit=price.unit,
            price_detail=list(price.lines),
            channel=data.channel,
            keyed_by_id=data.keyed_by_id,
            received_on=data.received_on,
            mediation_reason=data.mediation_reason,
            batch=batch,
            status=None,
        )
        for part, values, price, places in prepared
    ]

    # 2. The session row(s), sorted by id: capacity and waiting list.
    session_row = _session_for(live, service.code, data.session_code, now)
    free = 0
    if session_row is not None:
        status, free = _capacity_status(live, session_row, prepared, data, status)
    for reg in created:
        # 3. The reference counter's row (upsert ... RETURNING): the last lock taken.
        reg.reference = next_reference(defn.reference_prefix, year)
        reg.session_id = session_row.id if session_row else None
        record_status(reg, status, by_id=data.keyed_by_id, reason=data.note)
        db.session.add(reg)
    db.session.flush()
    if session_row is not None and status == Status.WAITLISTED and free > 0:
        # Places freed but not yet offered (the expiry cron has not run) go to the head of the
        # queue now, under the session lock already held. Without a free place (the usual case
        # on an opening morning) there is nothing to promote: every writer of this session's
        # places holds its lock, so the count read above still stands, and this booking only waits.
        waitlist.promote(session_row.id)
    return RegistrationOutcome(batch, [r.id for r in created], status)


def _capacity_status(live, session_row: ServiceSession, prepared: list, data: RegistrationInput,  # type: ignore[no-untyped-def]
                     status: str) -> tuple[str, int]:
    """The status of every participant of the booking (all get a place, or all wait together),
    and the places that were free before it."""
    held, waiting = waitlist.places_and_queue(session_row.id)
    left = session_row.capacity - held
    if waiting:
        # Places that look free are kept for the waiting list's offers: newcomers queue behind it.
        return Status.WAITLISTED, left
    wanted = sum(p[3] for p in prepared)
    if wanted <= left:
        return status, left
    if len(prepared) > 1 and left > 0 and live.waitlist_siblings == "parent_chooses" and not data.waitlist_together:
        # Never split siblings: the family chooses between fewer people now and all waiting.
        raise RegistrationRefused(
            [ngettext("Only %(num)s place is left in this session for the %(count)s people you chose.",
                      "Only %(num)s places are left in this session for the %(count)s people you chose.",
                      left, count=len(prepared)),
             _("Register fewer people now, or put all of them on the waiting list together.")],
            code=NOT_ENOUGH_PLACES,
            places_left=left,
        )
    return Status.WAITLISTED, left


def _lock_household(household_id: int) -> Household | None:
    """The household, its row locked (FOR UPDATE) for the rest of the booking's transaction.

    A household this request already loaded (the web wizard's, with its children) is only
    locked, not read again: reloading it would also reload its children and guardians. What the
    booking decides under this lock (limits, duplicates, keys) is counted from registrations read
    after the lock; the household's own fields (address, family quotient) are those the family
    saw on the review page a moment ago.
    """
    known = db.session.identity_map.get(identity_key(Household, household_id))
    if known is None:
        return db.session.scalar(select(Household).filter_by(id=household_id).with_for_update())
    locked = db.session.scalar(select(Household.id).where(Household.id == household_id).with_for_update())
    return known if locked is not None else None


def _check_limits(live, service_code: str, household_id: int, count: int) -> None:  # type: ignore[no-untyped-def]
    per_booking = live.limits.per_booking
    if per_booking is not None and count > per_booking:
        raise RegistrationRefused(
            [ngettext("You can register at most %(num)s person in one booking.",
                      "You can register at most %(num)s people in one booking.", per_booking)],
            code=LIMIT_REACHED,
        )
    per_household = live.limits.per_household
    if per_household is None:
        return
    current = int(db.session.scalar(
        select(func.count(Registration.id)).where(
            Registration.service_code == service_code,
            Registration.household_id == household_id,
            Registration.status.in_(active_statuses()),
        )
    ) or 0)
    if current + count > per_household:
        raise RegistrationRefused(
            [ngettext("Your household can have at most %(num)s registration for this service "
                      "(it already has %(current)s).",
                      "Your household can have at most %(num)s registrations for this service "
                      "(it already has %(current)s).", per_household, current=current)],
            code=LIMIT_REACHED,
        )


def _key_row(key: str) -> SubmissionKey | None:
    return db.session.scalar(select(SubmissionKey).filter_by(key=key))


def _replay_key(found: SubmissionKey, data: RegistrationInput) -> RegistrationOutcome:
    if found.household_id != data.household_id:
        # Someone else's submission: say nothing about what it created.
        raise RegistrationRefused([_("This submission belongs to another household.")], code=KEY_REUSED)
    if found.service_code != data.service_code:
        raise RegistrationRefused([_("This submission was already used for another service.")], code=KEY_REUSED)
    return _replay(found.batch, found.household_id)


def _replay(batch: str, household_id: int) -> RegistrationOutcome:
    regs = list(db.session.scalars(select(Registration).filter_by(batch=batch).order_by(Registration.id)))
    if any(r.household_id != household_id for r in regs):
        # Someone else's form: say nothing about what it created.
        raise RegistrationRefused([_("This form does not belong to this household.")])
    return RegistrationOutcome(batch, [r.id for r in regs], regs[0].status if regs else "", replayed=True)


def _check_session_choice(defn, code: str | None) -> None:  # type: ignore[no-untyped-def]
    """Refuse a session choice the definition does not allow (no database access, no lock)."""
    if not defn.sessions:
        if code:
            raise RegistrationRefused([_("This service has no sessions to choose.")])
        return
    if not code or defn.session(code) is None:
        raise RegistrationRefused([_("Choose a session.")])


def _session_for(defn, service_code: str, code: str | None, now: dt.datetime) -> ServiceSession | None:  # type: ignore[no-untyped-def]
    """The chosen session's row, locked, or None for a service without sessions."""
    _check_session_choice(defn, code)
    if not defn.sessions or code is None:
        return None
    rows = _lock_sessions(service_code, [code])
    if not rows:
        raise RegistrationRefused([_("Choose a session.")])
    row = rows[0]
    if row.starts_at.replace(tzinfo=dt.UTC) <= now:
        raise RegistrationRefused([_("This session has already started.")])
    return row


def _lock_sessions(service_code: str, codes: list[str]) -> list[ServiceSession]:
    """Lock session rows in id order: any two writers locking several sessions agree on the order."""
    return list(db.session.scalars(_locked(
        select(ServiceSession)
        .where(ServiceSession.service_code == service_code, ServiceSession.code.in_(sorted(codes)))
        .order_by(ServiceSession.id)
    )))


def _resolve_participant(audience: str, household: Household, part: ParticipantInput):  # type: ignore[no-untyped-def]
    if audience == "child":
        child = next((c for c in household.children if c.id == part.child_id), None)
        if child is None or part.guardian_id is not None:
            return None, None, _("Choose a child of the household.")
        return child, child_view(child), None
    if audience == "adult":
        guardian = next((g for g in household.guardians if g.id == part.guardian_id), None)
        if guardian is None or part.child_id is not None:
            return None, None, _("Choose an adult of the household.")
        return guardian, adult_view(guardian), None
    if part.child_id is not None or part.guardian_id is not None:
        return None, None, _("This service registers the whole household.")
    return household, None, None


def _already_registered(
    service_code: str, household_id: int, part: ParticipantInput, session_code: str | None
) -> bool:
    """Whether this person already holds an active registration (for that session).

    Runs under the household's row lock, which every booking of the household takes first; the
    session is named by its code, so this check needs no lock on the session row.
    """
    query = select(func.count(Registration.id)).where(
        Registration.service_code == service_code,
        Registration.household_id == household_id,
        Registration.status.in_(active_statuses()),
        Registration.child_id.is_(None) if part.child_id is None else Registration.child_id == part.child_id,
        Registration.guardian_id.is_(None)
        if part.guardian_id is None
        else Registration.guardian_id == part.guardian_id,
        Registration.session_id.is_(None)
        if session_code is None
        else Registration.session_id.in_(
            select(ServiceSession.id).where(
                ServiceSession.service_code == service_code, ServiceSession.code == session_code
            )
        ),
    )
    return bool(db.session.scalar(query))


def total_price(registrations: Sequence[Registration]) -> Decimal:
    return sum((r.price for r in registrations), Decimal("0.00"))
