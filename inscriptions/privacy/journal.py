"""The DPO's audit log as a person reads it: filters, and each event in French words.

The stored events keep their machine codes (``action``, the ``detail`` mapping, the reason as
written); this module only reads them. :func:`read_filters` checks the page's filters (a bad date
is reported, not applied), :func:`journal_query` selects the events, :func:`journal_rows` turns
each one into what the page shows: the moment in the town's time, who, a French label for the kind
(:data:`inscriptions.audit.ACTION_LABELS`), the details as label / value pairs, the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select

from inscriptions.audit import CHANNEL_LABELS, Action, action_label, concerns_household
from inscriptions.boundary import filter_day
from inscriptions.clock import local_zone
from inscriptions.digits import is_id
from inscriptions.extensions import db
from inscriptions.models import Account, AuditEvent, AuditEventHousehold

# A list of ids longer than this is cut (the CSV export keeps every id).
LIST_SHOWN = 10
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MOMENT_FORMAT = "dd/MM/yyyy HH:mm"

# -- the details' keys ------------------------------------------------------------------------------

# One label per key the application writes in ``AuditEvent.detail`` (see the log_access / log_read
# calls); an unknown key is shown as it is stored.
DETAIL_LABELS: dict[str, Any] = {
    "service": _l("Service"),
    "session": _l("Session"),
    "reference": _l("Reference"),
    "references": _l("References"),
    "registrations": _l("Registrations (numbers)"),
    "application_id": _l("Application number"),
    "pending": _l("Places being allocated"),
    "channel": _l("Channel"),
    "reason_code": _l("Reason chosen"),
    "opened": _l("Access to the file opened"),
    "query": _l("Searched for"),
    "results": _l("Results found"),
    "token": _l("Paper form code"),
    "page": _l("Page"),
    "form_version_id": _l("Form version"),
    "scan_pages": _l("Scanned pages (numbers)"),
    "guardians": _l("Guardians (numbers)"),
    "children": _l("Children"),
    "child_id": _l("Child number"),
    "sensitive_shown": _l("Sensitive answers shown"),
    "sensitive": _l("Sensitive answers included"),
    "file": _l("File"),
    "from": _l("From"),
    "to": _l("To"),
    "automatic": _l("Automatic change"),
    "print_job": _l("Print job number"),
    "documents": _l("Documents printed"),
    "refused": _l("Refused (reason code)"),
    "kind": _l("Kind"),
    "download": _l("File downloaded"),
    "selection": _l("Prefilled forms for"),
    "household_ids": _l("Household numbers"),
    "blank": _l("Blank forms"),
    "with_answers": _l("Prefilled with last year's answers"),
    "since": _l("Since"),
    "format": _l("Format"),
    "rows": _l("Rows"),
    "statuses": _l("Statuses"),
    "status": _l("Status"),
    "school": _l("School"),
    "report": _l("Count report"),
    "group_by": _l("Grouped by"),
    "per_day": _l("Day by day"),
    "run": _l("Allocation run"),
    "filters": _l("Filters"),
    "letters_since": _l("Letters since"),
    "households": _l("Households (numbers)"),
    "os_user": _l("System user who ran the command"),
    "scan_batch": _l("Scan batch"),
    "scan_page": _l("Scanned page"),
    "crop": _l("Cut-out of the question"),
    "batch": _l("Booking (batch number)"),
    "reason_asked": _l("Reason for access asked"),
    "by": _l("Deleted by"),
    "account_id": _l("Account number"),
    "household_deleted": _l("Household deleted"),
    "cancelled": _l("Registrations cancelled"),
    "anonymised": _l("Registrations anonymised"),
    "uploads": _l("Files deleted"),
    "change": _l("What changed"),
    "consent_id": _l("Consent number"),
    # The purge's counts (inscriptions.privacy.purge.PurgeReport.counts).
    "registrations_anonymised": _l("Registrations anonymised"),
    "uploads_deleted": _l("Files deleted"),
    "scan_pages_deleted": _l("Scanned pages deleted"),
    "accounts_warned": _l("Accounts warned before deletion"),
    "accounts_deleted": _l("Accounts deleted"),
    "accounts_kept_in_use": _l("Accounts kept (still in use)"),
    "audit_events_deleted": _l("Audit log lines deleted"),
    "audit_retention_months": _l("Audit log kept (months)"),
    "audit_chain_anchor": _l("Audit log chain now starts after position"),
    "db_user": _l("Database role"),
    "accounts_to_delete": _l("Accounts to delete"),
    # Erasures and the purge's other deletions (inscriptions.privacy.anonymise).
    "drafts_deleted": _l("Forms started online deleted"),
    "expired_files_deleted": _l("Files past their retention deleted"),
    "paper_households_deleted": _l("Households without an account deleted"),
    "drafts": _l("Forms started online deleted"),
    "files": _l("Files deleted from the server"),
    "retention_months": _l("Retention (months)"),
    "erasure_asked": _l("Erasure page opened"),
    "again_of": _l("Printed again from job number"),
    # The DPO's own reads of this page: the filters used.
    "actor": _l("Staff member"),
    "household": _l("Household"),
    "action": _l("Kind of event"),
    "until": _l("To"),
}

# Keys that mean something else for one kind of event.
ACTION_DETAIL_LABELS: dict[tuple[str, str], Any] = {
    (Action.CHANGE_STATUS, "from"): _l("Previous status"),
    (Action.CHANGE_STATUS, "to"): _l("New status"),
    (Action.READ_REGISTRATION, "from"): _l("Opened from"),
    (Action.PRINT_LETTER, "from"): _l("Printed from"),
    (Action.READ_PHOTO_CONSENTS, "children"): _l("Children listed"),
    (Action.READ_AUDIT_LOG, "since"): _l("From"),
    (Action.EXPORT_AUDIT_LOG, "since"): _l("From"),
    (Action.ERASE_HOUSEHOLD, "scan_pages"): _l("Scanned pages deleted"),
    (Action.ERASE_HOUSEHOLD, "by"): _l("Erased by"),
}

CHANNELS: dict[str, Any] = {
    "web": _l("Web"), "counter": _l("Counter"), "paper": _l("Paper"), "phone": _l("Phone"),
    "mail": _l("Mail"), "api": _l("API"),
}
FORMATS: dict[str, Any] = {
    "json": _l("JSON file"),
    "pdf": _l("PDF file"),
    "csv": _l("CSV file"),
    "xlsx": _l("Spreadsheet (XLSX)"),
    "counts_csv": _l("Counts (CSV)"),
    "attendance_pdf": _l("Attendance list (PDF)"),
    "allocation_csv": _l("Allocation log (CSV)"),
}
# Coded values of some keys: key -> {stored value: label}.
VALUES: dict[str, dict[str, Any]] = {
    "channel": CHANNELS,
    "format": FORMATS,
    "kind": {"forms": _l("Forms"), "letters": _l("Letters"), "csv": _l("CSV file")},
    "by": {"family": _l("The family"), "purge": _l("The automatic purge of old data"),
           "staff": _l("Staff, on the family's request")},
    "change": {"give": _l("Consent given"), "withdraw": _l("Consent withdrawn")},
    "from": {"backoffice": _l("Back office")},
    "selection": {
        "previous_year": _l("Households registered to this service last school year"),
        "all": _l("Every household"),
        "ids": _l("Chosen households (numbers below)"),
        "none": _l("No household (blank forms only)"),
    },
}
STATUS_KEYS = {"status", "statuses"}

# Reasons the application itself writes in English (older events included): their French words.
# Reasons typed by staff are shown as typed.
SYSTEM_REASONS: dict[str, Any] = {
    # inscriptions.backoffice.views.REVIEW_REASON
    "back office: review of the service's registrations": _l("Back office: review of the service's registrations"),
    "Mass printing": _l("Mass printing"),
    "Paper form received and scanned": _l("Paper form received and scanned"),
    "Family at the counter": _l("Family at the counter"),
    "Phone call": _l("Phone call"),
    "Letter or paper form received": _l("Letter or paper form received"),
    "Other reason": _l("Other reason"),
    "No action within the time allowed: status changed automatically.":
        _l("No action within the time allowed: status changed automatically."),
}


# -- filters ----------------------------------------------------------------------------------------

@dataclass
class JournalFilters:
    """The page's filters, checked. ``errors`` maps a field to its message (that filter is not
    applied); ``typed`` keeps what was typed in the date fields, to show it back."""

    actor: str = ""
    household: str = ""
    action: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    typed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def applied(self) -> dict[str, str]:
        """The filters in force, as query-string arguments (links, CSV export, the audit line)."""
        found = {"actor": self.actor, "household": self.household, "action": self.action,
                 "since": self.since.isoformat() if self.since else "",
                 "until": self.until.isoformat() if self.until else ""}
        return {k: v for k, v in found.items() if v}


def known_actions() -> list[str]:
    """Every kind of event the page offers: the application's, and any older code in the log."""
    return sorted({a.value for a in Action} | set(db.session.scalars(select(AuditEvent.action).distinct())),
                  key=lambda code: action_label(code).casefold())


def _day(args: Mapping[str, str], key: str, filters: JournalFilters) -> dt.date | None:
    text = (args.get(key) or "").strip()[:40]
    if not text:
        return None
    filters.typed[key] = text
    try:
        return filter_day(text)
    except ValueError:
        filters.errors[key] = _("“%(text)s” is not a date. Type a date such as 14/09/2026.", text=text)
        return None


def read_filters(args: Mapping[str, str], actions: Iterable[str]) -> JournalFilters:
    """The filters of the query string (``actions``: the kinds offered, :func:`known_actions`);
    a filter in error is reported and left out."""
    filters = JournalFilters()
    filters.actor = (args.get("actor") or "").strip()[:254]
    household = (args.get("household") or "").strip()[:12]
    if household and not is_id(household):
        filters.errors["household"] = _("Type a household number, in digits only.")
    else:
        filters.household = household
    action = (args.get("action") or "").strip()[:40]
    if action and action not in actions:
        filters.errors["action"] = _("Choose a kind of event from the list.")
    else:
        filters.action = action
    filters.since = _day(args, "since", filters)
    filters.until = _day(args, "until", filters)
    if filters.since and filters.until and filters.until < filters.since:
        filters.errors["until"] = _("The end date is before the start date.")
        filters.since = filters.until = None
    return filters


def _utc_start(day: dt.date) -> dt.datetime:
    """Midnight of a day in the town's time, as stored (naive UTC)."""
    zone = local_zone(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Europe/Paris"))
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)


def journal_query(filters: JournalFilters) -> Select[tuple[AuditEvent]]:
    """The events matching the filters, newest first (days are the town's days)."""
    query = select(AuditEvent)
    actor = filters.actor
    if actor:
        if is_id(actor):
            query = query.where(AuditEvent.actor_account_id == int(actor))
        else:
            ids = select(Account.id).where(func.lower(Account.email) == actor.lower()).scalar_subquery()
            query = query.where(AuditEvent.actor_account_id.in_(ids))
    if filters.household:
        query = query.where(concerns_household(int(filters.household)))
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since:
        query = query.where(AuditEvent.at >= _utc_start(filters.since))
    if filters.until:
        query = query.where(AuditEvent.at < _utc_start(filters.until + dt.timedelta(days=1)))
    return query.order_by(AuditEvent.id.desc())


# -- one event in words -----------------------------------------------------------------------------

@dataclass(frozen=True)
class JournalRow:
    """One event as the page shows it."""

    event: AuditEvent
    when: str
    who: str
    label: str
    details: list[tuple[str, str]]
    reason: str
    # The roles and the channel of the access, in words (empty for older events).
    role: str = ""
    channel: str = ""


# The words for the roles of AuditEvent.role (inscriptions.permissions.access_roles).
ROLE_LABELS: dict[str, Any] = {
    "parent": _l("Family"),
    "agent": _l("Agent"),
    "manager": _l("Manager"),
    "admin": _l("Administrator"),
    "dpo": _l("Data protection officer"),
    "operator": _l("Server operator (command line)"),
    "system": _l("The application itself"),
}


def role_text(role: str | None) -> str:
    """``agent:cantine,admin`` in words: each role, with its service's name for a per-service grant."""
    words = []
    for part in (role or "").split(","):
        name, _sep, service = part.strip().partition(":")
        if not name:
            continue
        label = str(ROLE_LABELS.get(name, name))
        words.append(f"{label} ({_service_name(service)})" if service else label)
    return ", ".join(words)


def channel_text(channel: str | None) -> str:
    """The channel of an access in words (web site, API, command line, background job)."""
    if not channel:
        return ""
    label = CHANNEL_LABELS.get(channel)
    return str(label) if label is not None else channel


def moment(at: dt.datetime) -> str:
    """A stored moment (naive UTC) in the town's time: ``01/10/2026 08:30``."""
    return format_datetime(at, MOMENT_FORMAT)


def reason_text(reason: str | None) -> str:
    """The reason in French: the application's own reasons translated, staff's words as typed."""
    if not reason:
        return ""
    label = SYSTEM_REASONS.get(reason)
    if label is not None:
        return str(label)
    # "Family at the counter : what the agent added" (inscriptions.counter.access.reason_text).
    head, sep, tail = reason.partition(" : ")
    if sep and head in SYSTEM_REASONS:
        return f"{SYSTEM_REASONS[head]} : {tail}"
    return reason


def detail_label(action: str, key: str) -> str:
    label = ACTION_DETAIL_LABELS.get((action, key), DETAIL_LABELS.get(key))
    return str(label) if label is not None else key


def _service_name(code: str) -> str:
    from inscriptions.definitions.registry import registry

    service = registry().get(code)
    return service.definition.name if service is not None else code


def _reason_code(code: str) -> str:
    from inscriptions.counter.access import REASONS

    label = REASONS.get(code)
    return str(label) if label is not None else code


def _status(code: str) -> str:
    from inscriptions.registrations.status import status_label

    return status_label(code)


def _numbers(values: list[Any]) -> str:
    shown = ", ".join(str(v) for v in values[:LIST_SHOWN])
    if len(values) > LIST_SHOWN:
        return _("%(shown)s… (%(count)s in all)", shown=shown, count=len(values))
    return shown


def value_text(action: str, key: str, value: Any) -> str:
    """A stored detail value in words."""
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, Mapping):
        return " ; ".join(f"{detail_label(action, k)} : {value_text(action, k, v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return _numbers(list(value))
        return ", ".join(value_text(action, key, v) for v in value)
    if isinstance(value, str):
        if key == "service":
            return _service_name(value)
        if key == "reason_code":
            return _reason_code(value)
        if key == "action":
            return action_label(value)
        if key in STATUS_KEYS or (action == Action.CHANGE_STATUS and key in ("from", "to")):
            return _status(value)
        coded = VALUES.get(key, {}).get(value)
        if coded is not None:
            return str(coded)
        if ISO_DAY.match(value):
            try:
                return format_date(dt.date.fromisoformat(value), "dd/MM/yyyy")
            except ValueError:
                return value
    return str(value)


def detail_items(action: str, detail: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The event's details as (label, value) pairs, in the order stored (empty values left out)."""
    return [(detail_label(action, key), value_text(action, key, value))
            for key, value in (detail or {}).items() if value is not None and value != ""]


def households_of(events: list[AuditEvent]) -> list[int]:
    """Every household the ``events`` concern (their own, and those of events about several)."""
    found = {e.household_id for e in events if e.household_id is not None}
    ids = [e.id for e in events if e.household_id is None]
    for start in range(0, len(ids), 500):
        found.update(db.session.scalars(select(AuditEventHousehold.household_id).where(
            AuditEventHousehold.event_id.in_(ids[start:start + 500]))))
    return sorted(found)


def emails(events: Iterable[AuditEvent]) -> dict[int, str]:
    """The e-mail of each account that acted in ``events``."""
    ids = {e.actor_account_id for e in events if e.actor_account_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(Account.id, Account.email).where(Account.id.in_(ids))).all())


def who_text(event: AuditEvent, known: Mapping[int, str]) -> str:
    if event.actor_account_id is None:
        return _("The application (automatic task)")
    return known.get(event.actor_account_id) or _("Account no. %(id)s", id=event.actor_account_id)


def journal_rows(events: list[AuditEvent]) -> list[JournalRow]:
    known = emails(events)
    return [JournalRow(event=e, when=moment(e.at), who=who_text(e, known), label=action_label(e.action),
                       details=detail_items(e.action, e.detail), reason=reason_text(e.reason),
                       role=role_text(e.role), channel=channel_text(e.channel))
            for e in events]
