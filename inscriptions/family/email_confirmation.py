"""Confirming a guardian's e-mail address before anything about the household is sent there.

Anyone may type an address: a family adding a second parent, an agent keying a paper form. A
typo, or another family's address, would otherwise receive confirmations carrying a child's
name and the quotient familial. So a new address (``Guardian.email`` changed: the model resets
``email_confirmed_at``) gets one message with a link and nothing else, and
:func:`inscriptions.notifications.household_emails` leaves it out until its owner opens the link
and presses the button. A household without any confirmed address gets its letters on paper, as
a paper-only household does: agents may record one without an e-mail at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer

from inscriptions import clock, jobs
from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Guardian
from inscriptions.urls import public_url

SEND_JOB = "inscriptions.family.email_confirmation:send_confirmation"
SALT = "guardian-email-confirmation"
# A link stays valid a week: long enough for a parent who reads e-mail on Sundays.
MAX_AGE_S = 7 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def make_token(guardian: Guardian) -> str:
    """The link's token: the guardian and the address it confirms (a later change voids it)."""
    return _serializer().dumps([guardian.id, (guardian.email or "").lower()])


def guardian_for_token(token: str) -> Guardian | None:
    """The guardian whose current address ``token`` confirms, or None (forged, expired, or the
    address changed since the link was sent)."""
    try:
        guardian_id, email = _serializer().loads(token, max_age=MAX_AGE_S)
    except (BadData, TypeError, ValueError):
        return None
    guardian = db.session.get(Guardian, guardian_id) if isinstance(guardian_id, int) else None
    if guardian is None or (guardian.email or "").lower() != email:
        return None
    return guardian


def confirm(guardian: Guardian) -> None:
    """Record the confirmation (the caller commits)."""
    if guardian.email_confirmed_at is None:
        guardian.email_confirmed_at = clock.utcnow_naive()


def request_confirmations(guardians: Iterable[Guardian]) -> int:
    """After the commit that saved them: send the link to every guardian whose address is not
    confirmed yet; returns how many were asked."""
    asked = 0
    for guardian in guardians:
        if guardian.email and guardian.email_confirmed_at is None:
            jobs.enqueue(SEND_JOB, guardian.id)
            asked += 1
    return asked


def send_confirmation(guardian_id: int) -> int:
    """Job: e-mail the confirmation link to the guardian's address. The message names no one and
    says nothing of the household: it may reach a stranger who was typed by mistake."""
    guardian = db.session.get(Guardian, guardian_id)
    if guardian is None or not guardian.email or guardian.email_confirmed_at is not None:
        return 0
    link = public_url("auth.confirm_email", token=make_token(guardian))
    if link is None:
        return 0  # no site address outside a request (development without PUBLIC_URL)
    return send_templated("emails/email_confirm", [guardian.email], link=link, days=MAX_AGE_S // 86400)
