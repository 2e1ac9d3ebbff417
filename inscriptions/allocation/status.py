"""What an application has become, for the family, the counter agent and the API.

:func:`application_status` reads one application with its decisions and registrations and
says it in words: waiting in the queue (with its place in line), or decided, wish by wish, with
the reason the allocator gave (:data:`REASONS`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from inscriptions import clock
from inscriptions.allocation import rules
from inscriptions.allocation.draws import draw_moment
from inscriptions.allocation.explain import Explanation, explain_application
from inscriptions.definitions.registry import definition_for, registry
from inscriptions.extensions import db
from inscriptions.models import AllocationDecision, Application, ApplicationStatus, Registration
from inscriptions.registrations import waitlist
from inscriptions.registrations.status import status_label
from inscriptions.registrations.windows import moment_text

# The allocator's reasons, as the family reads them.
REASONS = {
    rules.FITS: _l("A place was free in this session when your application was decided."),
    rules.NO_SESSIONS: _l("This service has no limit of places."),
    rules.QUEUE: _l("Families who applied before you were already waiting for this session: you wait after them."),
    rules.FULL: _l("There were not enough places left in this session for everyone in your application."),
    rules.NOT_ENOUGH_PLACES: _l("There were not enough places left for everyone in your application, "
                                "and this service lets you choose: register fewer people, or all wait together."),
    rules.STARTED: _l("This session had already started."),
    rules.DUPLICATE: _l("This person already had a place or was already waiting in this session."),
    rules.UNKNOWN_SESSION: _l("This session is no longer offered."),
    rules.LIMIT: _l("Your household had reached the number of registrations this service allows."),
}


def rank_label(rank: int) -> str:
    """``1st choice``, ``Choice 2``... (rank 1 is the first choice, then the alternatives): the
    words of the counter's lists and of the paper form's columns."""
    return _("1st choice") if rank == 1 else _("Choice %(n)s", n=rank)


@dataclass
class Line:
    """One registration the application produced (one person in one session)."""

    registration_id: int
    reference: str
    person: str
    session: str | None
    status: str
    status_label: str
    waitlist_position: int | None = None


@dataclass
class WishResult:
    wish: int
    session: str | None
    rank: int | None
    outcome: str
    reason: str
    reason_text: str
    lines: list[Line] = field(default_factory=list)


@dataclass
class ApplicationState:
    application: Application
    public_id: str
    service_name: str
    submitted_at: dt.datetime | None
    pending: bool
    # Pending: applications of the service before this one still waiting for the allocator, plus one.
    place_in_line: int | None
    results: list[WishResult] = field(default_factory=list)
    # ``allocation: draw``, not drawn yet: when the draw is (in words); nothing happens before.
    draw_at: str | None = None
    # ``draw`` / ``points``: how the rule applied to this application, once ranked.
    explanation: Explanation | None = None
    # The service's rule (``arrival``, ``draw``, ``points``).
    rule: str = "arrival"

    @property
    def decided(self) -> bool:
        return not self.pending


def place_in_line(service_code: str, queue_number: int) -> int:
    """How many pending applications of the service come before the one numbered ``queue_number``,
    plus one."""
    ahead = db.session.scalar(
        select(func.count(Application.id)).where(
            Application.service_code == service_code,
            Application.status == ApplicationStatus.PENDING,
            Application.queue_number < queue_number,
        )
    )
    return int(ahead or 0) + 1


def application_status(application: Application) -> ApplicationState:
    """The application's state in words (one query per part: decisions, registrations)."""
    defn = definition_for(application.form_version_id)
    labels = {s.code: s.label for s in defn.sessions}
    pending = application.status != ApplicationStatus.DECIDED
    state = ApplicationState(
        application=application,
        public_id=application.public_id(defn.reference_prefix) if application.queue_number else "",
        service_name=defn.name,
        submitted_at=application.submitted_at if application.queue_number else None,
        pending=pending,
        place_in_line=place_in_line(application.service_code, application.queue_number)
        if application.status == ApplicationStatus.PENDING and application.queue_number is not None else None,
    )
    live = registry().get(application.service_code)
    rule = live.definition.allocation if live else None
    if pending and rule is not None and rule.uses_draw and rule.draw_at is not None \
            and application.draw_rank is None and application.submitted_at is not None \
            and application.submitted_at <= draw_moment(rule.draw_at):
        state.draw_at = moment_text(clock.as_local_aware(rule.draw_at))
    if live is not None:
        state.rule = live.definition.allocation.rule
        state.explanation = explain_application(application)
    if pending:
        return state
    regs = list(db.session.scalars(
        select(Registration).where(Registration.application_id == application.id).order_by(Registration.id)
        .options(joinedload(Registration.child), joinedload(Registration.guardian), joinedload(Registration.session))
    ))
    positions = waitlist.positions(regs)
    for decision in db.session.scalars(
        select(AllocationDecision).where(AllocationDecision.application_id == application.id)
        .order_by(AllocationDecision.wish)
    ):
        result = WishResult(
            wish=decision.wish,
            session=labels.get(decision.session_code, decision.session_code) if decision.session_code else None,
            rank=decision.rank, outcome=decision.outcome, reason=decision.reason,
            reason_text=str(REASONS.get(decision.reason, decision.reason)),
        )
        for reg in regs:
            same = (reg.session.code if reg.session else None) == decision.session_code
            if same and decision.outcome != "refused":
                result.lines.append(Line(
                    registration_id=reg.id, reference=reg.reference, person=reg.participant_name,
                    session=result.session, status=reg.status, status_label=status_label(reg.status),
                    waitlist_position=positions.get(reg.id),
                ))
        state.results.append(result)
    return state
