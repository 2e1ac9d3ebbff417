"""``inscriptions privacy purge``: what the retention periods say must go, goes.

1. Registrations whose session (or, without sessions, the service's period) ended more than the
   service's ``retention_months`` ago are anonymised (:func:`inscriptions.privacy.anonymise.anonymise`),
   their uploads and scanned pages deleted.
2. Family accounts not logged into for ``ACCOUNT_INACTIVE_DAYS`` are deleted, after a warning
   e-mail sent ``ACCOUNT_WARNING_DAYS`` before (a log-in in between cancels it). Households
   without an account (paper families) are not touched; accounts whose household still has a
   registration in progress are kept (the family is using the service, at the counter perhaps).
3. Audit events older than ``AUDIT_RETENTION_MONTHS`` are deleted: the only deletion the audit log
   allows (:func:`inscriptions.models.audit.retention_purge`).

The purge is idempotent (run it every night from cron). ``dry_run`` runs the same code in a
transaction that is rolled back: the counts are exact and nothing changes, no file is deleted
and no e-mail is sent. A real run writes one ``purge`` event with its counts to the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import selectinload

from inscriptions.audit import Action, log_access
from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Account, AuditEvent, Registration
from inscriptions.models.audit import retention_purge
from inscriptions.privacy.anonymise import (
    DeletionRefused,
    Removal,
    anonymise,
    delete_account,
    is_staff,
    live_registrations,
    registration_end,
    retention_months,
)
from inscriptions.privacy.settings import add_months, privacy_settings


@dataclass
class PurgeReport:
    """Counts of one purge run."""

    dry_run: bool = False
    registrations_anonymised: int = 0
    uploads_deleted: int = 0
    scan_pages_deleted: int = 0
    accounts_warned: int = 0
    accounts_deleted: int = 0
    accounts_kept_in_use: int = 0
    audit_events_deleted: int = 0
    warned_emails: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "registrations_anonymised": self.registrations_anonymised,
            "uploads_deleted": self.uploads_deleted,
            "scan_pages_deleted": self.scan_pages_deleted,
            "accounts_warned": self.accounts_warned,
            "accounts_deleted": self.accounts_deleted,
            "accounts_kept_in_use": self.accounts_kept_in_use,
            "audit_events_deleted": self.audit_events_deleted,
        }

    def lines(self) -> list[str]:
        prefix = "[dry run] would have " if self.dry_run else ""
        return [f"{prefix}{name.replace('_', ' ')}: {value}" for name, value in self.counts().items()]


def expired_registrations(now: dt.datetime) -> list[Registration]:
    """Registrations not yet anonymised whose end plus retention is before ``now``."""
    # The end and the retention depend on each one's session or definition: checked in Python.
    # A registration made less than a month ago cannot be due (retention is at least a month).
    candidates = db.session.scalars(
        select(Registration).where(Registration.anonymised_at.is_(None),
                                   Registration.created_at < add_months(now, -1))
        .options(selectinload(Registration.session))
        .order_by(Registration.id)
    )
    return [r for r in candidates if add_months(registration_end(r), retention_months(r)) < now]


def _last_activity(account: Account) -> dt.datetime:
    return account.last_login_at or account.created_at


def _warn(account: Account, deletion_on: dt.datetime) -> None:
    send_templated("privacy/email_inactive", [account.email], account=account, deletion_on=deletion_on)


def purge(*, dry_run: bool = False, actor_id: int | None = None) -> PurgeReport:
    """Run the three purges; see the module's documentation."""
    now = utcnow_naive()
    settings = privacy_settings()
    report = PurgeReport(dry_run=dry_run)
    removal = Removal()
    db.session.commit()  # start from a clean transaction

    # 1. registrations past retention
    removal.add(anonymise(expired_registrations(now), now))

    # 2. inactive family accounts
    inactive_before = now - dt.timedelta(days=settings.account_inactive_days)
    warn_before = inactive_before + dt.timedelta(days=settings.account_warning_days)
    to_warn: list[tuple[Account, dt.datetime]] = []
    to_delete: list[int] = []
    accounts = db.session.scalars(
        select(Account).where(
            Account.guardian_id.is_not(None),
            or_(Account.last_login_at < warn_before,
                Account.last_login_at.is_(None) & (Account.created_at < warn_before)),
        ).order_by(Account.id)
    )
    for account in accounts:
        if is_staff(account):
            continue
        last = _last_activity(account)
        household = account.household
        if household is not None and live_registrations(household.id, now):
            report.accounts_kept_in_use += 1
            continue
        warned = account.deletion_warned_at is not None and account.deletion_warned_at >= last
        if not warned:
            account.deletion_warned_at = now
            # Never deleted before the warning period is over, even if long inactive already.
            to_warn.append((account, max(last + dt.timedelta(days=settings.account_inactive_days),
                                         now + dt.timedelta(days=settings.account_warning_days))))
        elif last < inactive_before and account.deletion_warned_at <= now - dt.timedelta(
                days=settings.account_warning_days):
            to_delete.append(account.id)
    report.accounts_warned = len(to_warn)
    report.warned_emails = [a.email for a, _when in to_warn]

    # 3. the audit log's own retention
    cutoff = add_months(now, -settings.audit_retention_months)
    with retention_purge(db.session()):
        report.audit_events_deleted = db.session.execute(
            delete(AuditEvent).where(AuditEvent.at < cutoff)
        ).rowcount or 0

    report.registrations_anonymised = removal.registrations
    report.uploads_deleted = removal.uploads
    report.scan_pages_deleted = removal.scan_pages

    if dry_run:
        report.accounts_deleted = len(to_delete)
        db.session.rollback()
        return report

    log_access(actor_id, Action.PURGE, None, {**report.counts(), "accounts_to_delete": len(to_delete)})
    warnings = [(a.email, a.id, when) for a, when in to_warn]
    db.session.commit()
    removal.delete_files()
    for _email, account_id, when in warnings:
        account = db.session.get(Account, account_id)
        if account is not None:
            _warn(account, when)

    # Each deletion in its own transaction (it cancels nothing: accounts in use were kept).
    for account_id in to_delete:
        account = db.session.get(Account, account_id)
        if account is None:
            continue
        try:
            deletion = delete_account(account, by="purge", actor_id=actor_id)
        except DeletionRefused:
            db.session.rollback()
            report.accounts_kept_in_use += 1
            continue
        report.accounts_deleted += 1
        report.registrations_anonymised += deletion.removal.registrations
        report.uploads_deleted += deletion.removal.uploads
        report.scan_pages_deleted += deletion.removal.scan_pages
    return report


def audit_log_size() -> int:
    """Rows in the audit log (for the DPO page)."""
    return int(db.session.scalar(select(func.count(AuditEvent.id))) or 0)
