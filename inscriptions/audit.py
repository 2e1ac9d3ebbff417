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

import contextlib
import contextvars
import enum
import getpass
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import click
from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, insert, or_, select

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import Account, AuditEvent, AuditEventHousehold

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
    # Issue 17: the DPO produced a household's data on its request (right of access).
    PRODUCE_HOUSEHOLD_DATA = "produce_household_data"
    # Issue 17: the household's name shown on the page asking the reason for opening its file,
    # and the scan intake's reads (a batch, a page image or cut-out, a registration's evidence).
    IDENTIFY_HOUSEHOLD = "identify_household"
    READ_SCAN = "read_scan"
    # Issue 17: a household erased with everything about it, on its request (the DPO) or by the
    # purge (a paper-only household past its retention).
    ERASE_HOUSEHOLD = "erase_household"


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
    Action.PRODUCE_HOUSEHOLD_DATA: _l("Household's data produced by the DPO on request"),
    Action.IDENTIFY_HOUSEHOLD: _l("Household named before the reason for access is given"),
    Action.READ_SCAN: _l("Scanned form opened (batch, page image or evidence)"),
    Action.ERASE_HOUSEHOLD: _l("Household erased with all its data and files"),
}


def action_label(code: str) -> str:
    """The DPO's wording of an event kind (the code itself for a kind without a label)."""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code


class Channel(enum.StrEnum):
    """How an access came in (``AuditEvent.channel``)."""

    WEB = "web"  # a page of the site
    API = "api"  # the JSON API (bearer tokens)
    CLI = "cli"  # a command (``inscriptions ...`` / ``flask ...``), run by someone on the server
    JOB = "job"  # background work (an RQ job, or a job run inline after a request)


CHANNEL_LABELS: dict[str, Any] = {
    Channel.WEB: _l("Web site"),
    Channel.API: _l("API"),
    Channel.CLI: _l("Command line"),
    Channel.JOB: _l("Background job"),
}

# AuditEvent.role of an access made without an account: a command run on the server, or the
# application's own work (a timed rule, a purge started by a job).
OPERATOR = "operator"
SYSTEM = "system"

# Set by the job runners (inscriptions.jobs): a job run inline still runs inside the request
# that queued it, yet its accesses are the job's.
_CHANNEL: contextvars.ContextVar[str | None] = contextvars.ContextVar("audit_channel", default=None)


@contextlib.contextmanager
def channel_scope(channel: str) -> Iterator[None]:
    """Log the accesses made inside the block as coming through ``channel``."""
    token = _CHANNEL.set(channel)
    try:
        yield
    finally:
        _CHANNEL.reset(token)


def current_channel() -> str:
    """The channel of the code running now: a job's, else a command's (one may push a request
    context of its own, to render a page), else the API's or the site's request; background work
    started outside all of them (a plain RQ worker) is a job."""
    explicit = _CHANNEL.get()
    if explicit:
        return explicit
    if click.get_current_context(silent=True) is not None:
        return Channel.CLI
    if has_request_context():
        return Channel.API if request.blueprint == "api" else Channel.WEB
    return Channel.JOB


def _actor_id(actor: Account | int | None) -> int | None:
    if actor is None or isinstance(actor, int):
        return actor
    return actor.id


def _account(actor: Account | int | None) -> Account | None:
    if actor is None or isinstance(actor, Account):
        return actor
    return db.session.get(Account, actor)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return ""


def _households(household_id: int | None, households: Iterable[int | None] | None) -> list[int]:
    found = {household_id} | set(households or ())
    return sorted(h for h in found if h is not None)


def log_access(
    actor: Account | int | None,
    action: str,
    household_id: int | None,
    detail: Mapping[str, Any] | None = None,
    reason: str = "",
    *,
    registration_id: int | None = None,
    households: Iterable[int | None] | None = None,
    role: str | None = None,
) -> AuditEvent:
    """Append one event to the audit log (added to the session, not committed).

    ``actor`` is the staff account (or its id); ``detail`` a small JSON-ready mapping saying what
    was seen or changed (ids, service code, channel — never a copy of the data itself);
    ``reason`` the mediation reason the agent gave, if any.

    ``households``: every household whose data the access showed, when it may be several (a
    search, a queue page, an export). One household is written in ``household_id``; several go
    to ``detail["households"]`` and to :class:`AuditEventHousehold`, so that each household's
    history (:func:`events_of_household`) finds the event.

    ``role`` defaults to the actor's roles for the service of ``detail["service"]``
    (:func:`inscriptions.permissions.access_roles`), or without an actor to ``operator`` (a
    command) or ``system`` (the application's own work); the channel is the running request's,
    command's or job's (:func:`current_channel`). A command run without an account records the
    system user who ran it (``detail["os_user"]``).
    """
    from inscriptions.permissions import access_roles

    concerned = _households(household_id, households)
    detail = dict(detail or {})
    if len(concerned) > 1:
        detail["households"] = concerned
    channel = current_channel()
    account = _account(actor)
    if channel == Channel.CLI and actor is None:
        detail.setdefault("os_user", _os_user())
    if role is None and actor is None:
        # No account: someone with access to the server (a command), or the application itself.
        role = OPERATOR if channel == Channel.CLI else SYSTEM
    elif role is None:
        service = detail.get("service")
        role = access_roles(account, service if isinstance(service, str) else None)
    event = AuditEvent(
        at=utcnow_naive(),
        actor_account_id=_actor_id(actor),
        action=str(action),
        household_id=concerned[0] if len(concerned) == 1 else None,
        registration_id=registration_id,
        detail=detail,
        reason=(reason or "").strip()[:REASON_MAX],
        role=role[:200],
        channel=str(channel),
    )
    db.session.add(event)
    db.session.flush()
    if len(concerned) > 1:
        db.session.execute(insert(AuditEventHousehold),
                           [{"event_id": event.id, "household_id": h} for h in concerned])
    return event


def log_read(
    actor: Account | int | None,
    action: str,
    household_id: int | None,
    detail: Mapping[str, Any] | None = None,
    reason: str = "",
    *,
    registration_id: int | None = None,
    households: Iterable[int | None] | None = None,
    role: str | None = None,
) -> AuditEvent:
    """:func:`log_access` for a read, committed at once: the read is logged even if the page fails."""
    event = log_access(actor, action, household_id, detail, reason, registration_id=registration_id,
                       households=households, role=role)
    db.session.commit()
    return event


def concerns_household(household_id: int) -> ColumnElement[bool]:
    """The condition on :class:`AuditEvent` of the events about ``household_id``: its own, and
    those about several households that include it."""
    linked = select(AuditEventHousehold.event_id).where(AuditEventHousehold.household_id == household_id)
    return or_(AuditEvent.household_id == household_id, AuditEvent.id.in_(linked))


def events_of_household(household_id: int) -> list[AuditEvent]:
    """The household's audit events, oldest first (for the DPO screen and the family's history)."""
    return list(db.session.scalars(
        select(AuditEvent).where(concerns_household(household_id)).order_by(AuditEvent.id)
    ))
