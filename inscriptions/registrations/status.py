"""Moving a registration between statuses, always with a history line."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import HOLDING_STATUSES, Account, Registration, Status, StatusChange

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
    if to == Status.WAITLISTED and registration.status != Status.WAITLISTED:
        # The waiting list is ordered by this moment (see registrations.waitlist).
        registration.waitlisted_at = change.at
    if to != Status.OFFERED:
        registration.offer_expires_at = None
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


def transition(
    registration_id: int, to: str, *, by_id: int | None, reason: str = ""
) -> Registration:
    """Move one registration to ``to`` in its own short write transaction (back office, agents).

    When the move frees a place of a session (or takes an entry off its waiting list), the
    waiting list moves in the same transaction, under the session's lock; the families it
    reaches are told after the commit. Raises :class:`TransitionError` (nothing saved) or
    :class:`inscriptions.database.BusyError`.
    """
    from inscriptions.database import write_transaction
    from inscriptions.registrations import waitlist

    with write_transaction():
        registration, session_row = waitlist.lock_registration(registration_id)
        if registration is None:
            raise TransitionError(f"registration {registration_id} does not exist")
        if to == Status.OFFERED:
            # An offer needs its deadline: only the waiting list makes offers.
            raise TransitionError("offers are made by the waiting list (registrations.waitlist.promote)")
        if session_row is not None and registration.status not in HOLDING_STATUSES and to in HOLDING_STATUSES:
            # Taking a place by hand (e.g. waitlisted -> accepted) never overbooks the session.
            free = session_row.capacity - waitlist.places_held(session_row.id)
            if registration.places > free:
                raise TransitionError(f"no free place in session {session_row.code} for {registration.reference}")
        by = db.session.get(Account, by_id) if by_id is not None else None
        change_status(registration, to, by=by, reason=reason)
        if session_row is not None:
            waitlist.promote(session_row.id)
    waitlist.notify_pending()
    return registration


def reject_registration(registration_id: int, *, by_id: int | None, reason: str = "") -> Registration:
    """Reject a request (manual review); a place it held goes to the waiting list."""
    return transition(registration_id, Status.REJECTED, by_id=by_id, reason=reason)
