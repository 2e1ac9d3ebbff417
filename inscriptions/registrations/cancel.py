"""Cancelling a registration (by the family online, or by an agent for them)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from inscriptions.database import write_transaction
from inscriptions.definitions.registry import definition_of, registry
from inscriptions.extensions import db
from inscriptions.models import ACTIVE_STATUSES, Account, Registration, Status
from inscriptions.registrations.status import change_status

MAX_REASON = 500


class CancellationRefused(Exception):
    """The registration cannot be cancelled; ``str(exc)`` says why, for the family."""


def cancellation_allowed(registration: Registration) -> bool:
    """The service's CURRENT rule (a town may stop online cancelling), else the frozen version's."""
    service = registry().get(registration.service_code)
    defn = service.definition if service is not None else definition_of(registration.form_version)
    return defn.cancellation.allowed


def can_cancel(registration: Registration) -> bool:
    """Whether the service allows cancelling and the registration still holds or awaits a place."""
    return registration.status in ACTIVE_STATUSES and cancellation_allowed(registration)


def cancel_registration(registration_id: int, *, by_id: int | None, reason: str = "") -> Registration:
    """Cancel one registration in a short write transaction, with a history line.

    The row is locked (``FOR UPDATE`` on PostgreSQL, the write lock on SQLite) so two cancellations
    (a double click, the family and an agent) cannot both apply: the second one sees the
    cancelled status and is refused. Raises :class:`CancellationRefused` with a message for the
    family, or :class:`inscriptions.database.BusyError` when the lock could not be had in time.
    """
    with write_transaction():
        registration = db.session.scalar(
            select(Registration).filter_by(id=registration_id).with_for_update()
        )
        if registration is None:
            raise CancellationRefused(_("This registration does not exist."))
        if registration.status == Status.CANCELLED:
            raise CancellationRefused(_("This registration is already cancelled."))
        if registration.status not in ACTIVE_STATUSES:
            raise CancellationRefused(_("This registration can no longer be cancelled."))
        if not cancellation_allowed(registration):
            raise CancellationRefused(
                _("This service cannot be cancelled online. Please contact the town's services.")
            )
        by = db.session.get(Account, by_id) if by_id is not None else None
        change_status(registration, Status.CANCELLED, by=by, reason=reason.strip()[:MAX_REASON])
    return registration
