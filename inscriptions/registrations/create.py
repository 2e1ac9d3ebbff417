"""THE function that creates registrations. Web, counter, paper and API all call it.

It validates every participant with the one validation function, then books them all in one
short write transaction (row locks on PostgreSQL, an immediate transaction on SQLite) and only
after the commit schedules the slow work (confirmation e-mails).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select

from inscriptions import clock, jobs
from inscriptions.database import write_transaction
from inscriptions.definitions.registry import current_version, definition_of, registry
from inscriptions.eligibility import eligibility_problems
from inscriptions.extensions import db
from inscriptions.forms.validation import validate_answers
from inscriptions.models import (
    ACTIVE_STATUSES,
    HOLDING_STATUSES,
    Draft,
    FormVersion,
    Household,
    Registration,
    ServiceSession,
    Status,
)
from inscriptions.plugin_api import CHANNELS
from inscriptions.pricing import compute_price, places_taken
from inscriptions.registrations.participants import (
    adult_view,
    child_view,
    file_lookup,
    household_view,
)
from inscriptions.registrations.references import next_reference
from inscriptions.registrations.status import record_status


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


@dataclass
class RegistrationOutcome:
    batch: str
    registration_ids: list[int]
    status: str
    replayed: bool = False


class RegistrationRefused(Exception):
    """Nothing was saved; ``general`` and per-participant ``errors`` say why, in French."""

    def __init__(self, general: list[str], errors: dict[str, dict[str, str]] | None = None):
        self.general = general
        self.errors = errors or {}
        super().__init__("; ".join(general) or "invalid answers")


def _locked(stmt):  # type: ignore[no-untyped-def]
    # FOR UPDATE is executed on PostgreSQL; SQLite already holds the write lock (BEGIN IMMEDIATE).
    return stmt.with_for_update()


def create_registrations(data: RegistrationInput) -> RegistrationOutcome:
    """Validate and book ``data``; all participants are registered, or none.

    Raises :class:`RegistrationRefused` (nothing saved) or
    :class:`inscriptions.database.BusyError` (locks not obtained in time: try again).
    A draft already submitted returns its first outcome (double click, replayed request).
    """
    service = registry().get(data.service_code)
    if service is None:
        raise RegistrationRefused([_("This service does not exist.")])
    if data.channel not in CHANNELS:
        raise RegistrationRefused([_("Unknown channel.")])

    with write_transaction():
        version = (
            db.session.get(FormVersion, data.form_version_id)
            if data.form_version_id
            else current_version(service)
        )
        if version is None or version.service_code != service.code:
            raise RegistrationRefused([_("This form version does not exist.")])
        defn = definition_of(version)

        household = db.session.scalar(_locked(select(Household).filter_by(id=data.household_id)))
        if household is None:
            raise RegistrationRefused([_("This household does not exist.")])
        draft = None
        if data.draft_id is not None:
            draft = db.session.scalar(_locked(select(Draft).filter_by(id=data.draft_id)))
            if draft is not None and draft.service_code != service.code:
                raise RegistrationRefused([_("This form does not belong to this service.")])
            if draft is not None and draft.submitted_batch:
                return _replay(draft.submitted_batch, household.id)

        # Dates and sessions are the town's current decision (closing early, a session removed),
        # even for a form started under an earlier version; answers follow that version.
        live = service.definition
        now = clock.now()
        if not clock.as_local_aware(live.opening) <= now <= clock.as_local_aware(live.closing):
            raise RegistrationRefused([_("Registration for this service is not open.")])

        session_row = _session_for(live, service.code, data.session_code, now)
        hview = household_view(household)
        general: list[str] = []
        errors: dict[str, dict[str, str]] = {}
        prepared = []
        if not data.participants:
            raise RegistrationRefused([_("Choose who to register.")])
        keys = [p.key for p in data.participants]
        if len(set(keys)) != len(keys):
            raise RegistrationRefused([_("The same person is listed twice.")])

        lookup = file_lookup(household.id)
        for part in data.participants:
            _person, pview, problem = _resolve_participant(defn.audience, household, part)
            if problem:
                general.append(problem)
                continue
            general += eligibility_problems(defn, service.hooks, hview, pview)
            result = validate_answers(
                defn, part.answers, channel=data.channel, files=lookup, hooks=service.hooks
            )
            if not result.ok:
                errors[part.key] = {k: str(v) for k, v in result.errors.items()}
                continue
            if _already_registered(service.code, household.id, part, session_row):
                general.append(_("%(name)s is already registered for this service.",
                                 name=pview.first_name if pview else household.display_name))
                continue
            price = compute_price(defn, service.hooks, hview, pview, result.values)
            prepared.append((part, result.values, price, places_taken(defn, result.values)))
        if general or errors:
            raise RegistrationRefused(general, errors)

        status = Status.ACCEPTED if defn.workflow == "automatic" else Status.SUBMITTED
        if session_row is not None:
            wanted = sum(p[3] for p in prepared)
            if wanted > session_row.capacity - _places_held(session_row.id):
                # Siblings go together: all to the waiting list rather than splitting them.
                status = Status.WAITLISTED

        batch = uuid.uuid4().hex
        year = now.astimezone(clock.local_zone()).year
        created = []
        for part, values, price, places in prepared:
            reg = Registration(
                reference=next_reference(defn.reference_prefix, year),
                service_code=service.code,
                form_version_id=version.id,
                household_id=household.id,
                child_id=part.child_id,
                guardian_id=part.guardian_id,
                session_id=session_row.id if session_row else None,
                places=places,
                answers=values,
                price=price.amount,
                price_unit=price.unit,
                price_detail=list(price.lines),
                channel=data.channel,
                keyed_by_id=data.keyed_by_id,
                batch=batch,
                status=None,
            )
            record_status(reg, status, by_id=data.keyed_by_id, reason=data.note)
            db.session.add(reg)
            created.append(reg)
        if draft is not None:
            draft.submitted_batch = batch
        db.session.flush()
        outcome = RegistrationOutcome(batch, [r.id for r in created], status)

    jobs.enqueue("inscriptions.notifications:registration_received", batch)
    return outcome


def _replay(batch: str, household_id: int) -> RegistrationOutcome:
    regs = list(db.session.scalars(select(Registration).filter_by(batch=batch).order_by(Registration.id)))
    if any(r.household_id != household_id for r in regs):
        # Someone else's form: say nothing about what it created.
        raise RegistrationRefused([_("This form does not belong to this household.")])
    return RegistrationOutcome(batch, [r.id for r in regs], regs[0].status if regs else "", replayed=True)


def _session_for(defn, service_code: str, code: str | None, now: dt.datetime) -> ServiceSession | None:  # type: ignore[no-untyped-def]
    if not defn.sessions:
        if code:
            raise RegistrationRefused([_("This service has no sessions to choose.")])
        return None
    if not code or defn.session(code) is None:
        raise RegistrationRefused([_("Choose a session.")])
    row = db.session.scalar(_locked(select(ServiceSession).filter_by(service_code=service_code, code=code)))
    if row is None:
        raise RegistrationRefused([_("Choose a session.")])
    if row.starts_at.replace(tzinfo=dt.UTC) <= now:
        raise RegistrationRefused([_("This session has already started.")])
    return row


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
    service_code: str, household_id: int, part: ParticipantInput, session_row: ServiceSession | None
) -> bool:
    query = select(func.count(Registration.id)).where(
        Registration.service_code == service_code,
        Registration.household_id == household_id,
        Registration.status.in_(ACTIVE_STATUSES),
        Registration.child_id.is_(None) if part.child_id is None else Registration.child_id == part.child_id,
        Registration.guardian_id.is_(None)
        if part.guardian_id is None
        else Registration.guardian_id == part.guardian_id,
        Registration.session_id.is_(None)
        if session_row is None
        else Registration.session_id == session_row.id,
    )
    return bool(db.session.scalar(query))


def _places_held(session_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Registration.places), 0)).where(
                Registration.session_id == session_id, Registration.status.in_(HOLDING_STATUSES)
            )
        )
        or 0
    )


def total_price(registrations: Sequence[Registration]) -> Decimal:
    return sum((r.price for r in registrations), Decimal("0.00"))
