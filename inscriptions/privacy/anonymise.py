"""Anonymising registrations and deleting a family's account (RGPD).

An anonymised registration keeps what statistics need — service, session, status and its
history of dates, channel, places, price, reference, dates — and loses everything that says who
it was: household, child, guardian, answers, price detail, mediation reason, the reasons written
in its history. Files given with it (uploads) and its scanned pages go too.

Files are deleted only after the database commit (:meth:`Removal.delete_files`): a transaction
rolled back (``--dry-run``, an error) leaves every file in place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update

from inscriptions.clock import as_local_aware, utcnow_naive
from inscriptions.definitions.registry import definition_for, registry
from inscriptions.extensions import db
from inscriptions.models import (
    ACTIVE_STATUSES,
    Account,
    ApiToken,
    Application,
    ApplicationStatus,
    Draft,
    Household,
    PhotoConsent,
    PrintToken,
    Registration,
    ScanBatch,
    ScanPage,
    StaffRole,
    StatusChange,
    SubmissionKey,
    Upload,
)


@dataclass
class Removal:
    """What an anonymisation removed (counts) and the files to delete once committed."""

    registrations: int = 0
    uploads: int = 0
    scan_pages: int = 0
    files: set[Path] = field(default_factory=set)

    def add(self, other: Removal) -> None:
        self.registrations += other.registrations
        self.uploads += other.uploads
        self.scan_pages += other.scan_pages
        self.files |= other.files

    def delete_files(self) -> int:
        """Delete the collected files (call after the commit); returns how many existed."""
        deleted = 0
        folders = set()
        for path in sorted(self.files):
            if path.is_file():
                path.unlink()
                deleted += 1
            folders.add(path.parent)
        for folder in folders:
            # A household's upload folder left empty goes too (its name is the household's id).
            if folder.name.isdigit() and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        self.files.clear()
        return deleted


def _upload_root() -> Path:
    return Path(current_app.config["UPLOAD_DIR"])


def registration_end(reg: Registration) -> dt.datetime:
    """When the registration's session (or, without sessions, the service's period) ended, naive UTC."""
    if reg.session is not None:
        return reg.session.ends_at or reg.session.starts_at
    closing = definition_for(reg.form_version_id).closing
    return as_local_aware(closing).astimezone(dt.UTC).replace(tzinfo=None)


def retention_months(reg: Registration) -> int:
    """The service's CURRENT retention setting (a town may shorten it), else the frozen one."""
    service = registry().get(reg.service_code)
    defn = service.definition if service is not None else definition_for(reg.form_version_id)
    return defn.retention_months


def _file_tokens(value: Any) -> set[str]:
    """Every string among answers (nested groups included): candidate upload tokens."""
    if isinstance(value, str):
        return {value} if 0 < len(value) <= 32 else set()
    if isinstance(value, dict):
        return set().union(*(_file_tokens(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_file_tokens(v) for v in value)) if value else set()
    return set()


def anonymise(regs: Iterable[Registration], now: dt.datetime | None = None) -> Removal:
    """Anonymise ``regs`` (already anonymised ones are skipped); not committed.

    Uploads whose token appears in their answers are deleted, unless a registration of the same
    household that stays still refers to them; the scanned pages of a batch go once every
    registration of the batch is anonymised.
    """
    now = now or utcnow_naive()
    removal = Removal()
    todo = [r for r in regs if r.anonymised_at is None]
    if not todo:
        return removal
    ids = {r.id for r in todo}
    tokens_by_household: dict[int, set[str]] = {}
    for reg in todo:
        if reg.household_id is not None:
            tokens_by_household.setdefault(reg.household_id, set()).update(_file_tokens(reg.answers or {}))
    batches = {r.batch for r in todo}
    for reg in todo:
        reg.household_id = None
        reg.child_id = None
        reg.guardian_id = None
        reg.answers = {}
        reg.price_detail = []
        reg.mediation_reason = ""
        reg.anonymised_at = now
        removal.registrations += 1
    db.session.execute(update(StatusChange).where(StatusChange.registration_id.in_(ids)).values(reason=""))
    db.session.flush()
    for household_id, tokens in tokens_by_household.items():
        if not tokens:
            continue
        kept: set[str] = set()
        for answers in db.session.scalars(
            select(Registration.answers).where(Registration.household_id == household_id)
        ):
            kept |= _file_tokens(answers or {})
        for upload in db.session.scalars(
            select(Upload).where(Upload.household_id == household_id, Upload.token.in_(tokens - kept))
        ):
            removal.files.add(_upload_root() / str(household_id) / upload.token)
            db.session.delete(upload)
            removal.uploads += 1
    done = _anonymised_batches(batches)
    _anonymise_applications(Application.batch.in_(done))
    removal.add(_delete_scans(done))
    db.session.flush()
    return removal


def _anonymised_batches(batches: set[str]) -> set[str]:
    """The batches among ``batches`` whose registrations are all anonymised."""
    live = set(db.session.scalars(
        select(Registration.batch).where(Registration.batch.in_(batches), Registration.anonymised_at.is_(None))
    ))
    return batches - live


def _anonymise_applications(where: Any) -> None:
    """Applications keep their service, wishes, channel, dates and decisions (statistics, the
    allocation log); they lose the household, the people and what was written about them."""
    db.session.execute(update(Application).where(where).values(
        household_id=None, participants=[], mediation_reason="", note=""))


def _delete_scans(done: set[str]) -> Removal:
    """Delete the scanned pages of registration batches whose registrations are all anonymised."""
    removal = Removal()
    if not done:
        return removal
    pages = list(db.session.scalars(select(ScanPage).where(ScanPage.registration_batch.in_(done))))
    if not pages:
        return removal
    digests: set[str] = set()
    batch_ids = {p.batch_id for p in pages}
    for page in pages:
        digests.add(page.image_sha256)
        digests |= set(((page.reading or {}).get("crop_files") or {}).values())
        db.session.delete(page)
        removal.scan_pages += 1
    db.session.flush()
    # Images are stored once per content hash: keep those another page still uses.
    for other in db.session.scalars(select(ScanPage)):
        digests.discard(other.image_sha256)
        digests -= set(((other.reading or {}).get("crop_files") or {}).values())
    scans = _upload_root() / "scans"
    removal.files |= {scans / f"{d}.png" for d in digests if isinstance(d, str) and len(d) == 64}
    for batch in db.session.scalars(select(ScanBatch).where(ScanBatch.id.in_(batch_ids))):
        if not batch.pages:
            db.session.delete(batch)
    return removal


# -- deleting a family's account --------------------------------------------------------------------

class DeletionRefused(Exception):
    """The account cannot be deleted now; ``str(exc)`` says why (for the family or the log)."""


def live_registrations(household_id: int, now: dt.datetime | None = None) -> list[Registration]:
    """The household's active registrations whose session or period has not ended yet."""
    now = now or utcnow_naive()
    regs = db.session.scalars(
        select(Registration).where(Registration.household_id == household_id,
                                   Registration.status.in_(ACTIVE_STATUSES))
        .order_by(Registration.id)
    )
    return [r for r in regs if registration_end(r) > now]


def other_accounts(account: Account) -> list[Account]:
    """The other family accounts of ``account``'s household (the second guardian's)."""
    household = account.household
    if household is None:
        return []
    guardian_ids = [g.id for g in household.guardians if g.id != account.guardian_id]
    if not guardian_ids:
        return []
    return list(db.session.scalars(select(Account).where(Account.guardian_id.in_(guardian_ids))))


def is_staff(account: Account) -> bool:
    return db.session.scalar(select(StaffRole.id).where(StaffRole.account_id == account.id).limit(1)) is not None


@dataclass
class Deletion:
    """What deleting an account did."""

    household_id: int | None
    household_deleted: bool
    cancelled: int
    removal: Removal


def delete_account(account: Account, *, by: str, actor_id: int | None) -> Deletion:
    """Delete a family account, in its own transaction (committed), then its files.

    Active registrations not yet over are cancelled first through the engine's cancellation
    (places go to the waiting list); :class:`DeletionRefused` is raised, before anything is
    changed, when one of them cannot be cancelled online any more. Then every registration of
    the household is anonymised, and the household (guardians, children, uploads, photo consent,
    drafts) deleted — unless the other guardian has an account too: then only this guardian and
    the registrations they were the participant of go, and the household stays with the other
    account. ``by`` (``family`` or ``purge``) and ``actor_id`` go to the audit log.
    """
    from inscriptions.audit import Action, log_access
    from inscriptions.registrations.cancel import cancel_registration, cancellation_problem

    if is_staff(account):
        raise DeletionRefused("staff accounts are removed by the town's IT (inscriptions staff)")
    household = account.household
    account_id, household_id, guardian_id = account.id, household.id if household else None, account.guardian_id
    shared = bool(other_accounts(account))
    cancelled = 0
    if household_id is not None and not shared:
        live = live_registrations(household_id)
        problems = [(r, cancellation_problem(r)) for r in live]
        refused = [(r, p) for r, p in problems if p]
        if refused:
            raise DeletionRefused("; ".join(f"{r.reference}: {p}" for r, p in refused))
        for reg in live:
            cancel_registration(reg.id, by_id=account_id, reason="account deleted")
            cancelled += 1
    removal = Removal()
    account = db.session.get(Account, account_id)
    if account is None:  # deleted meanwhile (a double click): nothing left to do
        raise DeletionRefused("this account no longer exists")
    if household_id is None:
        _delete_account_row(account)
        deleted = False
    elif shared:
        regs = db.session.scalars(select(Registration).where(Registration.guardian_id == guardian_id))
        removal = anonymise(list(regs))
        _delete_account_row(account)
        db.session.flush()
        guardian = next(g for g in db.session.get(Household, household_id).guardians if g.id == guardian_id)
        db.session.delete(guardian)
        deleted = False
    else:
        removal = delete_household(household_id)
        deleted = True
    log_access(actor_id, Action.DELETE_ACCOUNT, household_id,
               {"by": by, "account_id": account_id, "household_deleted": deleted, "cancelled": cancelled,
                "anonymised": removal.registrations, "uploads": removal.uploads})
    db.session.commit()
    removal.delete_files()
    return Deletion(household_id, deleted, cancelled, removal)


def delete_household(household_id: int) -> Removal:
    """Anonymise every registration of the household and delete it with all its people (not committed)."""
    household = db.session.get(Household, household_id)
    if household is None:
        return Removal()
    regs = list(db.session.scalars(select(Registration).where(Registration.household_id == household_id)))
    removal = anonymise(regs)
    root = _upload_root() / str(household_id)
    for upload in db.session.scalars(select(Upload).where(Upload.household_id == household_id)):
        removal.files.add(root / upload.token)
        db.session.delete(upload)
        removal.uploads += 1
    guardian_ids = [g.id for g in household.guardians]
    child_ids = [c.id for c in household.children]
    for acc in db.session.scalars(select(Account).where(Account.guardian_id.in_(guardian_ids))):
        _delete_account_row(acc)
    if child_ids:
        db.session.execute(delete(PhotoConsent).where(PhotoConsent.child_id.in_(child_ids)))
    db.session.execute(delete(SubmissionKey).where(SubmissionKey.household_id == household_id))
    # Pending ones too: an application without its household can never be decided.
    db.session.execute(delete(Application).where(Application.household_id == household_id,
                                                 Application.status == ApplicationStatus.PENDING))
    _anonymise_applications(Application.household_id == household_id)
    db.session.execute(update(PrintToken).where(PrintToken.household_id == household_id)
                       .values(household_id=None, child_id=None))
    db.session.flush()
    db.session.delete(household)
    db.session.flush()
    return removal


def _delete_account_row(account: Account) -> None:
    """Delete an account and what only it owns; rows that merely mention it forget it."""
    account_id = account.id
    db.session.execute(delete(Draft).where(Draft.account_id == account_id))
    db.session.execute(delete(ApiToken).where(ApiToken.account_id == account_id))
    # History lines keep their date and status, not the (deleted) person who made the change.
    db.session.execute(update(StatusChange).where(StatusChange.by_id == account_id).values(by_id=None))
    db.session.execute(update(Registration).where(Registration.keyed_by_id == account_id).values(keyed_by_id=None))
    db.session.execute(update(Application).where(Application.keyed_by_id == account_id).values(keyed_by_id=None))
    db.session.execute(update(PhotoConsent).where(PhotoConsent.given_by_id == account_id).values(given_by_id=None))
    db.session.execute(update(PhotoConsent).where(PhotoConsent.withdrawn_by_id == account_id)
                       .values(withdrawn_by_id=None))
    db.session.delete(account)
