"""Messages to families. Called as jobs, after the commit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from inscriptions.allocation.draws import drawn_count
from inscriptions.allocation.explain import Explanation, explanation
from inscriptions.definitions.registry import definition_for, registry
from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Account, Application, Guardian, Registration
from inscriptions.pricing import euros
from inscriptions.registrations.status import status_label
from inscriptions.urls import public_url

__all__ = ["Confirmation", "household_emails", "households_emails", "received_confirmations",
           "registration_received", "registrations_context", "registrations_received", "send_confirmation",
           "status_label"]


def household_emails(household_id: int) -> list[str]:
    """Where to write to a household: its log-ins and its guardians' confirmed e-mails, without
    repeats (an address typed by a family or an agent gets nothing until its owner confirms it:
    :mod:`inscriptions.family.email_confirmation`)."""
    return households_emails([household_id]).get(household_id, [])


def households_emails(household_ids: Iterable[int]) -> dict[int, list[str]]:
    """:func:`household_emails` of several households in one query (an allocator pass's
    confirmations)."""
    found: dict[int, list[str]] = defaultdict(list)
    # One query (a guardian has at most one account): this runs in every confirmation.
    rows = db.session.execute(
        select(Guardian.household_id, Guardian.email, Guardian.email_confirmed_at, Account.email)
        .outerjoin(Account, Account.guardian_id == Guardian.id)
        .where(Guardian.household_id.in_(sorted(set(household_ids))))
        .order_by(Guardian.id)
    )
    for household_id, guardian_email, confirmed_at, account_email in rows:
        emails = found[household_id]
        for email in (guardian_email if confirmed_at is not None else None, account_email):
            if email and email.lower() not in emails:
                emails.append(email.lower())
    return dict(found)


def registration_received(batch: str) -> int:
    """Confirm a booking to the household by e-mail; returns how many messages were sent.

    Households without e-mail get nothing here: they receive a printed letter instead.
    """
    return registrations_received([batch])


def registrations_received(batches: list[str]) -> int:
    """The confirmations of several bookings, read together (:func:`received_confirmations`);
    returns how many messages were sent."""
    return sum(send_confirmation(message) for message in received_confirmations(batches).values())


@dataclass(frozen=True)
class Confirmation:
    """One household's message about its registrations of one batch, ready to send."""

    batch: str
    recipients: list[str]
    context: dict[str, Any]


def send_confirmation(message: Confirmation) -> int:
    """Send one prepared confirmation; returns how many messages were sent (0 or 1)."""
    return send_templated("emails/registration_received", message.recipients, **message.context)


def received_confirmations(batches: list[str]) -> dict[str, Confirmation]:
    """The confirmations of ``batches`` (an allocator pass decides hundreds), in three queries
    whatever their number: the registrations with what the messages show, the households'
    addresses, the ranks of drawn applications. Batches of households without e-mail are left
    out (they receive a printed letter)."""
    by_batch: dict[str, list[Registration]] = defaultdict(list)
    for reg in db.session.scalars(
        select(Registration).where(Registration.batch.in_(batches)).order_by(Registration.id)
        .options(joinedload(Registration.child), joinedload(Registration.guardian),
                 joinedload(Registration.session))
    ):
        by_batch[reg.batch].append(reg)
    emails = households_emails(regs[0].household_id for regs in by_batch.values()
                               if regs[0].household_id is not None)
    # Applications ranked by a draw or by points: the message says how the rule applied to them,
    # and where the rules are (nothing to read for services decided by arrival).
    ranked = {s.code: s.definition for s in registry().all() if s.definition.allocation.uses_draw}
    drawn: dict[str, Explanation] = {}
    if ranked:
        drawn_of: dict[str, int | None] = {}
        for application in db.session.scalars(select(Application).where(
                Application.batch.in_(batches), Application.service_code.in_(sorted(ranked)))):
            code = application.service_code
            if code not in drawn_of:
                drawn_of[code] = drawn_count(code)
            found = explanation(application, ranked[code], drawn_of[code])
            if found is not None:
                drawn[application.batch] = found
    messages: dict[str, Confirmation] = {}
    for batch in batches:
        regs = by_batch.get(batch)
        recipients = emails.get(regs[0].household_id) if regs and regs[0].household_id is not None else None
        if not regs or not recipients:
            continue
        context = registrations_context(regs)
        if batch in drawn:
            context.update(explanation=drawn[batch].sentences(),
                           draw_url=public_url("portal.draw_page", code=regs[0].service_code))
        messages[batch] = Confirmation(batch, recipients, context)
    return messages


def registrations_context(regs: list[Registration]) -> dict[str, Any]:
    """What every message about a household's registrations in one service shows."""
    return {
        "registrations": regs,
        "service": definition_for(regs[0].form_version_id),
        # Siblings booked together share one status (all accepted, or all on the waiting list).
        "status": regs[0].status,
        "status_label": status_label,
        "euros": euros,
    }
