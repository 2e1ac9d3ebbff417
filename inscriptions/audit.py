"""The audit log of staff access to families' data (CNIL deliberation 2021-122).

Every agent read of a household's file or of a registration, every creation or change an agent
makes, and every export is written here with who, when, what, and — for mediation — why. The log
is append-only (:class:`inscriptions.models.AuditEvent` refuses updates and deletes); only the DPO
reads it (``/dpo/journal``, :mod:`inscriptions.privacy.views`), and the retention purge
(:func:`inscriptions.privacy.purge.purge_audit_log`) is the only path that removes rows, by age.

:func:`log_access` adds the event to the current database session without committing: a change
and its audit line are committed together, so neither exists without the other. A view that only
reads commits right after logging (see :func:`log_read`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import Account, AuditEvent

REASON_MAX = 500


class Action(enum.StrEnum):
    """What was done. New kinds of access add a member here (the column is free text)."""

    SEARCH = "search"
    READ_HOUSEHOLD = "read_household"
    READ_REGISTRATION = "read_registration"
    CREATE_HOUSEHOLD = "create_household"
    UPDATE_HOUSEHOLD = "update_household"
    REGISTER = "register"
    PRINT_LETTER = "print_letter"
    OPEN_PAPER_FORM = "open_paper_form"
    EXPORT = "export"
    # Issue 5, RGPD (inscriptions.privacy): the DPO's reads of the log, the family's own rights,
    # photo consent, and the retention purge.
    READ_AUDIT_LOG = "read_audit_log"
    EXPORT_AUDIT_LOG = "export_audit_log"
    DOWNLOAD_OWN_DATA = "download_own_data"
    DELETE_ACCOUNT = "delete_account"
    PHOTO_CONSENT = "photo_consent"
    READ_PHOTO_CONSENTS = "read_photo_consents"
    PURGE = "purge"
    # A file a family sent with a form (a medical certificate...), opened by staff.
    READ_DOCUMENT = "read_document"
    # The back office's codes (inscriptions.backoffice.workflow.CHANGE_STATUS, READ_QUEUE).
    CHANGE_STATUS = "change_status"
    READ_QUEUE = "read_queue"


# What the DPO reads for each code (journal page, CSV export): one label per member of Action.
# A code missing here (an older or a new kind) is shown as the code itself.
ACTION_LABELS: dict[str, Any] = {
    Action.SEARCH: _l("Search for a household"),
    Action.READ_HOUSEHOLD: _l("Household file opened"),
    Action.READ_REGISTRATION: _l("Registration opened"),
    Action.CREATE_HOUSEHOLD: _l("Household created by staff"),
    Action.UPDATE_HOUSEHOLD: _l("Household changed by staff"),
    Action.REGISTER: _l("Registration keyed by staff"),
    Action.PRINT_LETTER: _l("Letter printed"),
    Action.OPEN_PAPER_FORM: _l("Paper form opened"),
    Action.EXPORT: _l("Export or mass printing"),
    Action.READ_AUDIT_LOG: _l("Audit log read"),
    Action.EXPORT_AUDIT_LOG: _l("Audit log exported"),
    Action.DOWNLOAD_OWN_DATA: _l("Family downloaded its data"),
    Action.DELETE_ACCOUNT: _l("Account deleted"),
    Action.PHOTO_CONSENT: _l("Photo consent changed"),
    Action.READ_PHOTO_CONSENTS: _l("Photo consent list read"),
    Action.PURGE: _l("Purge of expired data"),
    Action.READ_DOCUMENT: _l("File sent by a family opened"),
    Action.CHANGE_STATUS: _l("Registration status changed"),
    Action.READ_QUEUE: _l("Review queue read"),
}


def action_label(code: str) -> str:
    """The DPO's wording of an event kind (the code itself for a kind without a label)."""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code


def _actor_id(actor: Account | int | None) -> int | None:
    if actor is None or isinstance(actor, int):
        return actor
    return actor.id


def log_access(
    actor: Account | int | None,
    action: str,
    household_id: int | None,
    detail: Mapping[str, Any] | None = None,
    reason: str = "",
    *,
    registration_id: int | None = None,
) -> AuditEvent:
    """Append one event to the audit log (added to the session, not committed).

    ``actor`` is the staff account (or its id); ``detail`` a small JSON-ready mapping saying what
    was seen or changed (ids, service code, channel — never a copy of the data itself);
    ``reason`` the mediation reason the agent gave, if any.
    """
    event = AuditEvent(
        at=utcnow_naive(),
        actor_account_id=_actor_id(actor),
        action=str(action),
        household_id=household_id,
        registration_id=registration_id,
        detail=dict(detail or {}),
        reason=(reason or "").strip()[:REASON_MAX],
    )
    db.session.add(event)
    db.session.flush()
    return event


def log_read(
    actor: Account | int | None,
    action: str,
    household_id: int | None,
    detail: Mapping[str, Any] | None = None,
    reason: str = "",
    *,
    registration_id: int | None = None,
) -> AuditEvent:
    """:func:`log_access` for a read, committed at once: the read is logged even if the page fails."""
    event = log_access(actor, action, household_id, detail, reason, registration_id=registration_id)
    db.session.commit()
    return event


def events_of_household(household_id: int) -> list[AuditEvent]:
    """The household's audit events, oldest first (for the DPO screen and the family's history)."""
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.household_id == household_id).order_by(AuditEvent.id)
    ))
