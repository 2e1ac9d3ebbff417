"""Messages to families. Called as jobs, after the commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from inscriptions.definitions.registry import definition_for
from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Account, Guardian, Registration
from inscriptions.pricing import euros
from inscriptions.registrations.status import status_label

__all__ = ["household_emails", "registration_received", "registrations_received", "status_label"]


def household_emails(household_id: int) -> list[str]:
    """Where to write to a household: its guardians' e-mails and its log-ins, without repeats."""
    found: list[str] = []
    # One query (a guardian has at most one account): this runs in every confirmation.
    rows = db.session.execute(
        select(Guardian.email, Account.email)
        .outerjoin(Account, Account.guardian_id == Guardian.id)
        .where(Guardian.household_id == household_id)
        .order_by(Guardian.id)
    )
    for guardian_email, account_email in rows:
        for email in (guardian_email, account_email):
            if email and email.lower() not in found:
                found.append(email.lower())
    return found


def registration_received(batch: str) -> int:
    """Confirm a booking to the household by e-mail; returns how many messages were sent.

    Households without e-mail get nothing here: they receive a printed letter instead.
    """
    regs = list(db.session.scalars(
        select(Registration).filter_by(batch=batch).order_by(Registration.id)
        # What the message shows, loaded with the registrations rather than one query each.
        .options(joinedload(Registration.child), joinedload(Registration.guardian),
                 joinedload(Registration.session))
    ))
    if not regs:
        return 0
    recipients = household_emails(regs[0].household_id)
    if not recipients:
        return 0
    defn = definition_for(regs[0].form_version_id)
    context = {
        "registrations": regs,
        "service": defn,
        # Siblings booked together share one status (all accepted, or all on the waiting list).
        "status": regs[0].status,
        "status_label": status_label,
        "euros": euros,
    }
    return send_templated("emails/registration_received", recipients, **context)


def registrations_received(batches: list[str]) -> int:
    """The confirmations of every application an allocator pass decided, in one job (a queue job
    costs more than the few queries of one confirmation); returns how many messages were sent."""
    return sum(registration_received(batch) for batch in batches)
