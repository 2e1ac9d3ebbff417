"""Moving a registration between statuses, always with a history line.

A service may add statuses of its own (``workflow.statuses`` in its definition, e.g.
``pending_documents``): :func:`moves_for` gives the moves possible in a service, and
:func:`holding_statuses` / :func:`active_statuses` the statuses that hold or wait for a place,
the service's extra ones included. The back office (:mod:`inscriptions.backoffice`) decides which
role may make which move; this module only says which moves exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from flask_babel import lazy_gettext as _l

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import (
    ACTIVE_STATUSES,
    HOLDING_STATUSES,
    Account,
    Registration,
    Status,
    StatusChange,
)

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


def _extra_statuses(service_code: str | None = None) -> list:
    """The extra statuses of one service (or of every service), from the live definitions."""
    from inscriptions.definitions.registry import registry

    services = registry().all() if service_code is None else [registry().get(service_code)]
    found = []
    for service in services:
        if service is not None and service.definition.workflow_rules is not None:
            found += service.definition.workflow_rules.statuses
    return found


@lru_cache(maxsize=8)
def _status_sets(services: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # Once per loaded registry (booking reads it under the session's lock): holding, active.
    extra = [s for service in services.all()  # type: ignore[attr-defined]
             if service.definition.workflow_rules is not None
             for s in service.definition.workflow_rules.statuses]
    holding = sorted({s.code for s in extra if s.holds_place})
    return (*HOLDING_STATUSES, *holding), (*ACTIVE_STATUSES, *sorted({s.code for s in extra}))


def holding_statuses() -> tuple[str, ...]:
    """Statuses whose places count against a session's capacity, the services' extra ones included.

    An extra status code means one thing across the town: a code used by two services with
    different ``holds_place`` counts as holding (a place is never overbooked).
    """
    from inscriptions.definitions.registry import registry

    return _status_sets(registry())[0]


def active_statuses() -> tuple[str, ...]:
    """Statuses that hold or wait for a place (a participant has one such per service)."""
    from inscriptions.definitions.registry import registry

    return _status_sets(registry())[1]


def extra_status_label(status: str, service_code: str | None = None) -> str | None:
    """The label a service gives to one of its extra statuses (None for the engine's statuses)."""
    return next((s.label for s in _extra_statuses(service_code) if s.code == status), None)


def status_label(status: str) -> str:
    """The family-facing wording of a status: the engine's, or the label a service gives to one
    of its own statuses (``workflow.statuses``); the code itself only for an unknown status."""
    label = STATUS_LABELS.get(status)
    if label is None:
        return extra_status_label(status) or status
    return str(label)


def moves_for(service_code: str) -> dict[str, set[str]]:
    """Every move possible in a service: the engine's, plus those through its extra statuses."""
    from inscriptions.definitions.registry import registry
    from inscriptions.definitions.schema import service_moves

    moves = {status: set(targets) for status, targets in TRANSITIONS.items()}
    service = registry().get(service_code)
    if service is not None:
        for status, targets in service_moves(service.definition).items():
            moves.setdefault(status, set()).update(targets)
    return moves


class TransitionError(Exception):
    """The requested status change is not allowed from the current status."""


class CapacityError(TransitionError):
    """The move would take a place the session does not have (nothing saved)."""


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
    """Move a registration to ``to`` if the transition is allowed (in its service, see :func:`moves_for`)."""
    allowed = TRANSITIONS.get(registration.status)
    if allowed is None or to not in allowed:
        allowed = moves_for(registration.service_code).get(registration.status, set())
    if to not in allowed:
        raise TransitionError(f"cannot move {registration.reference} from {registration.status} to {to}")
    change = record_status(registration, to, by_id=by.id if by else None, reason=reason)
    db.session.flush()
    return change


def transition(
    registration_id: int, to: str, *, by_id: int | None, reason: str = "",
    expected_from: str | None = None,
    on_change: Callable[[Registration], object] | None = None,
) -> Registration:
    """Move one registration to ``to`` in its own short write transaction (back office, agents).

    When the move frees a place of a session (or takes an entry off its waiting list), the
    waiting list moves in the same transaction, under the session's lock; the families it
    reaches are told after the commit. Raises :class:`TransitionError` (nothing saved) or
    :class:`inscriptions.database.BusyError`.

    ``expected_from``: the status the caller saw (and checked its rights on); when another agent
    or a job moved the registration meanwhile, the move is refused rather than applied blindly.
    ``on_change`` is called with the moved registration inside the transaction (e.g. to write its
    audit event), so the change and what it calls commit together or not at all.
    """
    from inscriptions.database import write_transaction
    from inscriptions.registrations import waitlist

    with write_transaction():
        registration, session_row = waitlist.lock_registration(registration_id)
        if registration is None:
            raise TransitionError(f"registration {registration_id} does not exist")
        if expected_from is not None and registration.status != expected_from:
            raise TransitionError(f"{registration.reference} is now {registration.status}, no longer {expected_from}")
        if to == Status.OFFERED:
            # An offer needs its deadline: only the waiting list makes offers.
            raise TransitionError("offers are made by the waiting list (registrations.waitlist.promote)")
        holding = holding_statuses()
        if session_row is not None and registration.status not in holding and to in holding:
            # Taking a place by hand (e.g. waitlisted -> accepted) never overbooks the session.
            free = session_row.capacity - waitlist.places_held(session_row.id)
            if registration.places > free:
                raise CapacityError(f"no free place in session {session_row.code} for {registration.reference}")
        by = db.session.get(Account, by_id) if by_id is not None else None
        change_status(registration, to, by=by, reason=reason)
        if on_change is not None:
            on_change(registration)
        if session_row is not None:
            waitlist.promote(session_row.id)
    waitlist.notify_pending()
    return registration


def reject_registration(registration_id: int, *, by_id: int | None, reason: str = "") -> Registration:
    """Reject a request (manual review); a place it held goes to the waiting list."""
    return transition(registration_id, Status.REJECTED, by_id=by_id, reason=reason)
