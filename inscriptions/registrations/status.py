"""Moving a registration between statuses, always with a history line."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import Account, Registration, Status, StatusChange

STATUS_LABELS = {
    Status.SUBMITTED: _l("Submitted, awaiting review"),
    Status.ACCEPTED: _l("Accepted"),
    Status.WAITLISTED: _l("On the waiting list"),
    Status.OFFERED: _l("A place is offered: please answer before the deadline"),
    Status.REJECTED: _l("Rejected"),
    Status.CANCELLED: _l("Cancelled"),
}

# Which moves the engine allows; services may narrow them later, never widen them.
TRANSITIONS: dict[str, set[str]] = {
    Status.SUBMITTED: {Status.ACCEPTED, Status.WAITLISTED, Status.REJECTED, Status.CANCELLED},
    Status.WAITLISTED: {Status.OFFERED, Status.ACCEPTED, Status.REJECTED, Status.CANCELLED},
    Status.OFFERED: {Status.ACCEPTED, Status.SUBMITTED, Status.WAITLISTED, Status.CANCELLED},
    Status.ACCEPTED: {Status.CANCELLED},
    Status.REJECTED: set(),
    Status.CANCELLED: set(),
}


class TransitionError(Exception):
    """The requested status change is not allowed from the current status."""


def record_status(
    registration: Registration, to: str, *, by_id: int | None, reason: str = ""
) -> StatusChange:
    """Set the status and append the history line (no commit: the caller's transaction owns it)."""
    change = StatusChange(
        from_status=registration.status,
        to_status=to,
        at=utcnow_naive(),
        by_id=by_id,
        reason=reason,
    )
    registration.history.append(change)
    registration.status = to
    return change


def change_status(
    registration: Registration, to: str, *, by: Account | None, reason: str = ""
) -> StatusChange:
    """Move a registration to ``to`` if the transition is allowed."""
    if to not in TRANSITIONS.get(registration.status, set()):
        raise TransitionError(f"cannot move {registration.reference} from {registration.status} to {to}")
    change = record_status(registration, to, by_id=by.id if by else None, reason=reason)
    db.session.flush()
    return change
