"""``inscriptions privacy purge``: what the retention periods say must go, goes.

1. Registrations whose session (or, without sessions, the service's period) ended more than the
   service's ``retention_months`` ago are anonymised (:func:`inscriptions.privacy.anonymise.anonymise`),
   their uploads, scanned pages and drafts deleted. Then what else has a retention
   (:func:`inscriptions.privacy.anonymise.purge_leftovers`): drafts (``DRAFT_RETENTION_DAYS``),
   scanned pages never registered and scanners' stacks (``SCAN_RETENTION_DAYS``), print runs'
   PDFs (``PRINT_RETENTION_DAYS``), and households without any account (paper-only families)
   ``PAPER_HOUSEHOLD_RETENTION_MONTHS`` after their last registration's end, deleted with
   everything about them.
2. Family accounts not logged into for ``ACCOUNT_INACTIVE_DAYS`` are deleted, after a warning
   e-mail sent ``ACCOUNT_WARNING_DAYS`` before (a log-in in between cancels it). Households
   without an account (paper families) have their own retention (above); accounts whose
   household still has a registration in progress are kept (the family is using the service,
   at the counter perhaps).
3. Audit events older than ``AUDIT_RETENTION_MONTHS`` are deleted: the only deletion the audit log
   allows (:func:`inscriptions.privacy.integrity.purge_journal`; on PostgreSQL the database function
   ``audit_purge()``). The journal is sealed first (only sealed entries go, the oldest first) and
   again at the end, so that this run's own events are chained at once; the purge
   records the chain's new starting point, who ran it and the retention used.

The purge is idempotent (run it every night from cron). ``dry_run`` runs the same code in a
transaction that is rolled back: the counts are exact and nothing changes, no file is deleted
and no e-mail is sent. A real run writes one ``purge`` event with its counts to the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from inscriptions.audit import Action, log_access
from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.mail import send_templated
from inscriptions.models import Account, AuditEvent, Registration
from inscriptions.privacy.anonymise import (
    DeletionRefused,
    Removal,
    anonymise,
    delete_account,
    is_staff,
    live_registrations,
    purge_leftovers,
    registration_end,
    retention_months,
)
from inscriptions.privacy.integrity import purge_journal, seal, who_runs
from inscriptions.privacy.settings import add_months, privacy_settings


@dataclass
class PurgeReport:
    """Counts of one purge run."""

    dry_run: bool = False
    registrations_anonymised: int = 0
    uploads_deleted: int = 0
    scan_pages_deleted: int = 0
    drafts_deleted: int = 0
    expired_files_deleted: int = 0
    paper_households_deleted: int = 0
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
            "drafts_deleted": self.drafts_deleted,
            "expired_files_deleted": self.expired_files_deleted,
            "paper_households_deleted": self.paper_households_deleted,
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
    seal()  # the journal's purge removes sealed entries only

    # 1. registrations past retention
    removal.add(anonymise(expired_registrations(now), now))
    removal.add(purge_leftovers(now, settings, actor_id))

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
    journal = purge_journal(now, settings.audit_retention_months, actor_id)
    report.audit_events_deleted = journal.deleted

    report.registrations_anonymised = removal.registrations
    report.uploads_deleted = removal.uploads
    report.scan_pages_deleted = removal.scan_pages
    report.drafts_deleted = removal.drafts
    report.expired_files_deleted = removal.expired_files
    report.paper_households_deleted = removal.households

    if dry_run:
        report.accounts_deleted = len(to_delete)
        db.session.rollback()
        return report

    log_access(actor_id, Action.PURGE, None, {
        **report.counts(), "accounts_to_delete": len(to_delete),
        "audit_retention_months": settings.audit_retention_months,
        "audit_chain_anchor": journal.anchor.seq if journal.anchor is not None else None,
        **who_runs(),
    })
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
        report.drafts_deleted += deletion.removal.drafts
    seal()  # this run's own events, chained at once
    return report


def audit_log_size() -> int:
    """Rows in the audit log (for the DPO page)."""
    return int(db.session.scalar(select(func.count(AuditEvent.id))) or 0)
