"""Telling the family about a decision of the back office (a job, run after the commit).

Households with an e-mail address get a message; the others get a printed letter, listed on
the service's "letters to print" page (see :func:`inscriptions.paper.letters.pending_letters`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from inscriptions.definitions.registry import definition_for
from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Registration
from inscriptions.notifications import household_emails, status_label
from inscriptions.pricing import euros
from inscriptions.urls import public_url


def status_changed(registration_ids: Sequence[int], status: str) -> int:
    """E-mail each household about its registrations now in ``status``; returns messages sent.

    A registration that moved again before the job ran (a retry, a backlog) is skipped: the
    family is never told about a decision that no longer holds.
    """
    regs = [
        r for r in db.session.scalars(
            select(Registration).where(Registration.id.in_(list(registration_ids))).order_by(Registration.id)
        )
        if r.status == status
    ]
    sent = 0
    households: dict[int, list[Registration]] = {}
    for reg in regs:
        households.setdefault(reg.household_id, []).append(reg)
    for household_id, items in households.items():
        recipients = household_emails(household_id)
        if not recipients:
            continue  # a letter, listed in the back office
        last = items[0].history[-1] if items[0].history else None
        context = {
            "registrations": items,
            "service": definition_for(items[0].form_version_id),
            "status": status,
            "status_label": status_label,
            "euros": euros,
            "reason": last.reason if last is not None and last.to_status == status else "",
            "detail_url": public_url("portal.registration_detail", reference=items[0].reference),
        }
        sent += send_templated("backoffice/emails/status_changed", recipients, **context)
    return sent
