"""THE function that creates registrations. Web, counter, paper and API all call it.

It validates every participant with the one validation function, then records the household's
**application** (participants x wishes of sessions) in the service's queue, in one short write
transaction. Places are decided by the service's allocator (:mod:`inscriptions.allocation`):
with ``ALLOCATION=inline`` (the default) this request runs the allocator's pass itself, under
the service's allocation lock, and returns the outcome; with ``ALLOCATION=worker`` it only
records the application and ``inscriptions allocation worker`` decides a moment later. The slow
work (confirmation e-mails) is scheduled only after the commit.

Locking discipline (the capacity must never be oversold, whichever channel takes the last place):

* SQLite: the whole booking is one ``BEGIN IMMEDIATE`` transaction (the database's write lock).
* PostgreSQL: rows are locked with ``SELECT ... FOR UPDATE`` in one fixed order, so two bookings
  never wait for each other in a cycle: the household (its limits, its submission keys, its
  already-registered checks), its draft, then (inline allocation) the service's allocation lock,
  the session rows sorted by id (capacity and the waiting list) and the reference counter (see
  :mod:`inscriptions.allocation.allocator`). Other writers that lock several of these rows must
  take them in the same order. What needs no allocation lock (the participants' eligibility,
  answers, duplicates and prices: one household's data, under its lock) is checked before, so
  the lock every family of a service queues on is held only for the decision and the inserts.
* The wait for a lock is bounded (``BOOKING_LOCK_TIMEOUT_MS``, default 5000): past it the booking
  raises :class:`~inscriptions.database.BusyError`, which the web answers with a 503 "busy, try
  again" page (nothing was saved).
* Nothing slow runs while the locks are held: the form version is recorded before, e-mails are
  enqueued after the commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key

from inscriptions import clock
from inscriptions.allocation import allocator, rules
from inscriptions.allocation.queue import record_application
from inscriptions.database import DEFAULT_LOCK_TIMEOUT_MS, write_transaction
from inscriptions.definitions.registry import current_version_id, registry, version_definition
from inscriptions.eligibility import eligibility_problems
from inscriptions.extensions import db
from inscriptions.forms.validation import validate_answers
from inscriptions.models import (
    Application,
    ApplicationStatus,
    Draft,
    Household,
    Outcome,
    Registration,
    ServiceSession,
    SubmissionKey,
)
from inscriptions.models.submission import SUBMISSION_KEY_MAX
from inscriptions.plugin_api import CHANNELS
from inscriptions.pricing import compute_price, places_taken
from inscriptions.privacy.sealing import seal_answers
from inscriptions.privacy.sensitive import sensitive_names
from inscriptions.registrations.participants import (
    adult_view,
    child_view,
    file_lookup,
    household_view,
)
from inscriptions.registrations.status import active_statuses
from inscriptions.registrations.windows import opening_for


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
    # What is asked, for services with sessions: several wishes (e.g. weeks), each a ranked list of
    # session codes (first choice, then alternatives). Empty: the one ``session_code``.
    wishes: Sequence[Sequence[str]] = ()
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

    def wish_list(self) -> tuple[tuple[str, ...], ...]:
        """The wishes, each a ranked tuple of session codes (none for a service without sessions)."""
        if self.wishes:
            return tuple(tuple(wish) for wish in self.wishes)
        return ((self.session_code,),) if self.session_code else ()


def request_fingerprint(data: RegistrationInput) -> str:
    """SHA-256 of what a submission asks (who, what, which sessions, the answers, the counter's
    details), saved with its idempotency key: the same key sent again with another request is
    refused rather than answered with the first booking. Left out: what the server fills in
    (form version, draft, the agent), so a retry of the same request always matches."""
    asked = {
        "service": data.service_code, "household": data.household_id, "channel": data.channel,
        "participants": [[p.child_id, p.guardian_id, dict(p.answers)] for p in data.participants],
        "wishes": [list(wish) for wish in data.wish_list()], "note": data.note,
        "waitlist_together": data.waitlist_together, "received_on": data.received_on,
        "mediation_reason": data.mediation_reason,
    }
    # repr for what JSON cannot hold (dates, an uploaded file's name and type): stable for a retry.
    canonical = json.dumps(asked, sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# The status of an application recorded but not decided yet (allocation by the worker).
PENDING = "pending"


@dataclass
class RegistrationOutcome:
    batch: str
    registration_ids: list[int]
    status: str
    replayed: bool = False
    application_id: int | None = None

    @property
    def pending(self) -> bool:
        """Recorded in the queue; the allocator has not decided yet (see the application)."""
        return self.status == PENDING


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


def prepare_application(data: RegistrationInput) -> RegistrationOutcome:
    """Validate ``data`` as :func:`create_registrations` would, before it may be sent, and keep it
    as a **prepared** application (no place in the queue yet) until the family sends it
    (:func:`inscriptions.allocation.queue.send_prepared`) once registration opens for them.

    Everything is checked as if the moment were the family's opening (their priority window):
    answers, eligibility, limits, duplicates, prices. Preparing again the same draft replaces
    the prepared application. Raises :class:`RegistrationRefused` (nothing saved).
    """
    return _run(data, prepare=True)


def create_registrations(data: RegistrationInput) -> RegistrationOutcome:
    """Validate and book ``data``; all participants are registered, or none.

    Raises :class:`RegistrationRefused` (nothing saved) or
    :class:`inscriptions.database.BusyError` (locks not obtained in time: try again).
    A draft already submitted, or an ``idempotency_key`` already used by this household, returns
    the first outcome with ``replayed=True`` (double click, replayed request); nothing more is made.
    """
    return _run(data)


def _run(data: RegistrationInput, *, prepare: bool = False) -> RegistrationOutcome:
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
    passes: list[allocator.Pass] = []
    try:
        with write_transaction(lock_timeout_ms=timeout):
            outcome = _book(service, data, passes, prepare=prepare)
    except IntegrityError:
        # The same key sent at the same moment for two households: the second insert fails on
        # the unique key (the same household's requests queue on its row lock instead).
        found = _key_row(data.idempotency_key) if data.idempotency_key else None
        if found is None:
            raise
        return _replay_key(found, data)

    # The families whose applications this request's allocator pass decided (its own among them),
    # and the offers made in the transaction (including by the form version sync above).
    for decided in passes or [allocator.Pass()]:
        allocator.notify(decided)
    return outcome


def _book(service, data: RegistrationInput, passes: list[allocator.Pass], *,  # type: ignore[no-untyped-def]
          prepare: bool = False) -> RegistrationOutcome:
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
    if data.draft_id is not None and not prepare:
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
    # The participants are checked before the session lock: what they depend on belongs to this
    # household, whose row is locked, so the session lock is held only for the capacity decision.
    wishes = _check_wishes(live, data.wish_list(), now)
    # One registration per person and wish: several weeks count as several registrations.
    _check_limits(live, service.code, household.id, len(data.participants),
                  len(data.participants) * max(1, len(wishes)))
    codes = sorted({code for wish in wishes for code in wish})
    hview = household_view(household)
    general: list[str] = []
    errors: dict[str, dict[str, str]] = {}
    prepared = []
    opens_at = now
    lookup = file_lookup(household.id)
    sealed_names = sensitive_names(defn)
    for part in data.participants:
        _person, pview, problem = _resolve_participant(defn.audience, household, part)
        if problem:
            general.append(problem)
            continue
        # Includes "registration opens for them on ..." (opening and priority windows); an
        # application prepared in advance is checked as at the moment it may be sent.
        at = now
        if prepare:
            opening = opening_for(live, hview, pview)
            at = max(now, opening) if opening is not None else now
            opens_at = max(opens_at, at)
        general += eligibility_problems(defn, service.hooks, hview, pview, now=at)
        result = validate_answers(
            defn, part.answers, channel=data.channel, files=lookup, hooks=service.hooks
        )
        if not result.ok:
            errors[part.key] = {k: str(v) for k, v in result.errors.items()}
            continue
        if _already_registered(service.code, household.id, part, codes):
            general.append(_("%(name)s is already registered for this service.",
                             name=pview.first_name if pview else household.display_name))
            continue
        price = compute_price(defn, service.hooks, hview, pview, result.values)
        prepared.append({
            # Sensitive answers are stored sealed (inscriptions.privacy.sealing), from here on.
            "child_id": part.child_id, "guardian_id": part.guardian_id,
            "answers": seal_answers(result.values, sealed_names),
            "places": places_taken(defn, result.values), "price": str(price.amount),
            "price_unit": price.unit, "price_detail": list(price.lines),
        })
    if general or errors:
        raise RegistrationRefused(general, errors)

    # What does not depend on the places left is written before the allocation lock, in the
    # same transaction (a refusal below rolls it back).
    if data.idempotency_key:
        db.session.add(SubmissionKey(key=data.idempotency_key, household_id=household.id,
                                     service_code=service.code, batch=batch,
                                     fingerprint=request_fingerprint(data)))
        db.session.flush()
    application = {
        "batch": batch, "service_code": service.code, "form_version_id": version_id,
        "household_id": household.id, "channel": data.channel, "keyed_by_id": data.keyed_by_id,
        "received_on": data.received_on, "mediation_reason": data.mediation_reason, "note": data.note,
        "wishes": [list(wish) for wish in wishes], "participants": prepared,
        "waitlist_together": data.waitlist_together,
    }
    if prepare:
        if data.draft_id is not None:
            # One prepared application per draft: preparing again (answers changed) replaces it.
            db.session.execute(delete(Application).where(
                Application.draft_id == data.draft_id, Application.status == ApplicationStatus.PREPARED))
        app_id = db.session.execute(
            insert(Application).values(
                **application, draft_id=data.draft_id, status=ApplicationStatus.PREPARED,
                opens_at=opens_at.astimezone(dt.UTC).replace(tzinfo=None))
            .returning(Application.id)
        ).scalar_one()
        return RegistrationOutcome(batch, [], ApplicationStatus.PREPARED, application_id=app_id)
    if current_app.config.get("ALLOCATION", "inline") == "worker":
        # The allocator process decides: this request only records its place in the queue.
        app_id, _number = record_application(**application)
        return RegistrationOutcome(batch, [], PENDING, application_id=app_id)

    # 2. The service's allocation lock, then (in the pass) its sessions sorted by id and the
    # reference counter. Numbered under the lock, the application is decided in arrival order.
    allocator.take_lock(service.code)
    app_id, _number = record_application(under_lock=True, **application)
    found = allocator.decide_pending(service.code)
    passes.append(found)  # the caller notifies after the commit
    if app_id not in found.decisions:
        # Not decided in the request: the service decides by a draw that has not been made yet.
        return RegistrationOutcome(batch, [], PENDING, application_id=app_id)
    _refuse_if_refused(found.decisions.get(app_id, []), len(prepared))
    regs = found.registrations.get(app_id, [])
    return RegistrationOutcome(batch, [reg_id for reg_id, _status in regs], regs[0][1] if regs else "",
                               application_id=app_id)


def _refuse_if_refused(decisions: list[rules.WishDecision], people: int) -> None:
    """Raise the refusal of a wish decided in the request (inline allocation): nothing is kept,
    and the family reads why, as it would have before the allocation lock."""
    for decision in decisions:
        if decision.outcome != Outcome.REFUSED:
            continue
        if decision.reason == rules.NOT_ENOUGH_PLACES:
            left = decision.free_before or 0
            raise RegistrationRefused(
                [ngettext("Only %(num)s place is left in this session for the %(count)s people you chose.",
                          "Only %(num)s places are left in this session for the %(count)s people you chose.",
                          left, count=people),
                 _("Register fewer people now, or put all of them on the waiting list together.")],
                code=NOT_ENOUGH_PLACES,
                places_left=left,
            )
        if decision.reason == rules.STARTED:
            raise RegistrationRefused([_("This session has already started.")])
        if decision.reason == rules.DUPLICATE:
            raise RegistrationRefused([_("Someone in this form already holds a place or waits in this session.")])
        raise RegistrationRefused([_("Choose a session.")])


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


def _check_limits(live, service_code: str, household_id: int, people: int,  # type: ignore[no-untyped-def]
                  count: int) -> None:
    """``people`` in one booking against ``per_booking``; the ``count`` registrations it would make
    against ``per_household`` (the allocator checks that again, with the applications decided
    before it: :func:`inscriptions.allocation.rules.decide`)."""
    per_booking = live.limits.per_booking
    if per_booking is not None and people > per_booking:
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
    if found.fingerprint is not None and found.fingerprint != request_fingerprint(data):
        raise RegistrationRefused([_("This submission was already sent with other content: nothing new was "
                                     "saved. Start a new form, or use a new key, for another request.")],
                                  code=KEY_REUSED)
    return _replay(found.batch, found.household_id)


def _replay(batch: str, household_id: int) -> RegistrationOutcome:
    application = db.session.scalar(select(Application).filter_by(batch=batch))
    regs = list(db.session.scalars(select(Registration).filter_by(batch=batch).order_by(Registration.id)))
    if any(r.household_id != household_id for r in regs) or (
            application is not None and application.household_id not in (None, household_id)):
        # Someone else's form: say nothing about what it created.
        raise RegistrationRefused([_("This form does not belong to this household.")])
    app_id = application.id if application is not None else None
    if application is not None and application.status == ApplicationStatus.PENDING:
        return RegistrationOutcome(batch, [], PENDING, replayed=True, application_id=app_id)
    return RegistrationOutcome(batch, [r.id for r in regs], regs[0].status if regs else "", replayed=True,
                               application_id=app_id)


def _check_wishes(defn, wishes: tuple[tuple[str, ...], ...], now: dt.datetime) -> tuple[tuple[str, ...], ...]:  # type: ignore[no-untyped-def]
    """Refuse a choice of sessions the definition does not allow (no database access, no lock)."""
    if not defn.sessions:
        if wishes:
            raise RegistrationRefused([_("This service has no sessions to choose.")])
        return ()
    if not wishes or any(not wish for wish in wishes):
        raise RegistrationRefused([_("Choose a session.")])
    choice = defn.sessions_choice
    if len(wishes) < choice.min:
        raise RegistrationRefused([ngettext("Choose at least %(num)s session.",
                                            "Choose at least %(num)s sessions.", choice.min)])
    if len(wishes) > choice.max:
        raise RegistrationRefused([ngettext("Choose at most %(num)s session.",
                                            "Choose at most %(num)s sessions.", choice.max)])
    seen: set[str] = set()
    for wish in wishes:
        if len(wish) > 1 + defn.alternatives:
            raise RegistrationRefused([ngettext("You may rank at most %(num)s alternative.",
                                                "You may rank at most %(num)s alternatives.",
                                                defn.alternatives)])
        for code in wish:
            session = defn.session(code)
            if session is None:
                raise RegistrationRefused([_("This session is not offered: choose another one.")])
            if code in seen:
                raise RegistrationRefused([_("The same session is chosen twice: an alternative must "
                                             "differ from the first choice and from the other choices.")])
            seen.add(code)
        if all(clock.as_local_aware(defn.session(code).starts_at) <= now for code in wish):
            raise RegistrationRefused([_("This session has already started.")])
    return wishes


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
    service_code: str, household_id: int, part: ParticipantInput, session_codes: Sequence[str]
) -> bool:
    """Whether this person already holds an active registration (for one of those sessions).

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
        if not session_codes
        else Registration.session_id.in_(
            select(ServiceSession.id).where(
                ServiceSession.service_code == service_code, ServiceSession.code.in_(session_codes)
            )
        ),
    )
    return bool(db.session.scalar(query))


def total_price(registrations: Sequence[Registration]) -> Decimal:
    return sum((r.price for r in registrations), Decimal("0.00"))
