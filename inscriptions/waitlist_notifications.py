"""Messages about the waiting list (an offer to answer, a place given). Called as jobs, after commit.

Each job re-reads the registrations it is given and writes only about those still in the status
the promotion gave them: a job run late (a retry, a queue backlog) never announces an offer that
was answered, expired or cancelled meanwhile.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Registration, Status
from inscriptions.notifications import households_emails, registrations_context
from inscriptions.registrations.waitlist import moment_text
from inscriptions.urls import public_url


def _send(registration_ids: Sequence[int], statuses: tuple[str, ...], template: str) -> int:
    regs = [
        r for r in db.session.scalars(
            select(Registration).where(Registration.id.in_(list(registration_ids))).order_by(Registration.id)
        )
        if r.status in statuses
    ]
    by_household: dict[int, list[Registration]] = defaultdict(list)
    for reg in regs:
        by_household[reg.household_id].append(reg)
    sent = 0
    emails = households_emails(h for h in by_household if h is not None)
    for household_id, items in by_household.items():
        recipients = emails.get(household_id)
        if not recipients:
            # Households without e-mail are reached by the town's services (letter, phone).
            continue
        context = {
            **registrations_context(items),
            "deadline": moment_text(items[0].offer_expires_at) if items[0].offer_expires_at else None,
            "answer_url": public_url("portal.registration_detail", reference=items[0].reference),
        }
        sent += send_templated(f"emails/{template}", recipients, **context)
    return sent


def offer_made(registration_ids: Sequence[int]) -> int:
    """Tell the household a place is offered, until when, and where to answer; returns messages sent."""
    return _send(registration_ids, (Status.OFFERED,), "offer_made")


def waitlist_promoted(registration_ids: Sequence[int]) -> int:
    """Tell the household its waiting registration got a place (automatic promotion)."""
    return _send(registration_ids, (Status.ACCEPTED, Status.SUBMITTED), "waitlist_promoted")
