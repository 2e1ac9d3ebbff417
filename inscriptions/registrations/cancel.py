"""Cancelling a registration (by the family online, or by an agent for them).

A cancellation frees the registration's places: the session's waiting list moves in the same
transaction (see :mod:`inscriptions.registrations.waitlist`), and the families it reaches are
told after the commit.

Deadline (services with sessions): online cancelling of a registration that holds a place
(submitted or accepted) closes ``cancellation.until_hours_before_start`` hours before the
session starts, and in any case once it has started. Leaving a waiting list, or giving up an
offered place, stays possible: it holds nothing the service has planned for.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _

from inscriptions import clock
from inscriptions.database import write_transaction
from inscriptions.definitions.registry import definition_for, registry
from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.extensions import db
from inscriptions.models import Account, Registration, Status
from inscriptions.registrations import waitlist
from inscriptions.registrations.status import active_statuses, change_status

MAX_REASON = 500
# Statuses whose cancellation the deadline stops: they hold a place the service counts on.
DEADLINE_STATUSES = (Status.SUBMITTED, Status.ACCEPTED)


class CancellationRefused(Exception):
    """The registration cannot be cancelled; ``str(exc)`` says why, for the family."""


def _rules(registration: Registration) -> ServiceDefinition:
    """The service's CURRENT rules (a town may stop online cancelling), else the frozen version's."""
    service = registry().get(registration.service_code)
    return service.definition if service is not None else definition_for(registration.form_version_id)


def cancellation_allowed(registration: Registration) -> bool:
    """Whether the service lets families cancel online at all."""
    return _rules(registration).cancellation.allowed


def cancellation_deadline(registration: Registration) -> dt.datetime | None:
    """When online cancelling of this registration's place closes (aware UTC); None: no deadline."""
    if registration.session is None:
        return None
    start = registration.session.starts_at.replace(tzinfo=dt.UTC)
    hours = _rules(registration).cancellation.until_hours_before_start or 0
    return start - dt.timedelta(hours=hours)


def cancellation_problem(registration: Registration) -> str | None:
    """Why the family cannot cancel this active registration online now (None: it can)."""
    if not cancellation_allowed(registration):
        return _("This service cannot be cancelled online. Please contact the town's services.")
    if registration.status in DEADLINE_STATUSES:
        deadline = cancellation_deadline(registration)
        if deadline is not None and clock.now() >= deadline:
            return _(
                "Online cancelling closed on %(when)s. Please contact the town's services.",
                when=waitlist.moment_text(deadline),
            )
    return None


def cancellation_refusal(registration: Registration) -> str | None:
    """Why the family may not cancel this registration now, for the family (None: it may).

    The one rule: the portal shows the cancel button (:func:`can_cancel`) and
    :func:`cancel_registration` applies it. Any active status may be cancelled, the service's
    extra workflow statuses included (:func:`active_statuses`), within the service's rules.
    """
    if registration.status == Status.CANCELLED:
        return _("This registration is already cancelled.")
    if registration.status not in active_statuses():
        return _("This registration can no longer be cancelled.")
    return cancellation_problem(registration)


def can_cancel(registration: Registration) -> bool:
    """Whether the registration still holds or awaits a place and the family may cancel it now."""
    return cancellation_refusal(registration) is None


def cancel_registration(registration_id: int, *, by_id: int | None, reason: str = "") -> Registration:
    """Cancel one registration in a short write transaction, with a history line.

    The session row then the registration row are locked (``FOR UPDATE`` on PostgreSQL, the
    write lock on SQLite), so two cancellations (a double click, the family and an agent) cannot
    both apply: the second one sees the cancelled status and is refused. The places freed go to
    the waiting list in the same transaction. Raises :class:`CancellationRefused` with a message
    for the family, or :class:`inscriptions.database.BusyError` when the locks could not be had
    in time.
    """
    with write_transaction():
        registration, session_row = waitlist.lock_registration(registration_id)
        if registration is None:
            raise CancellationRefused(_("This registration does not exist."))
        # Checked again under the lock: the page's answer may be stale (another tab, an agent).
        problem = cancellation_refusal(registration)
        if problem:
            raise CancellationRefused(problem)
        by = db.session.get(Account, by_id) if by_id is not None else None
        change_status(registration, Status.CANCELLED, by=by, reason=reason.strip()[:MAX_REASON])
        if session_row is not None:
            # Also when it was only waiting: an entry too big for the free places may have been
            # holding back the ones behind it.
            waitlist.promote(session_row.id)
    waitlist.notify_pending()
    return registration
