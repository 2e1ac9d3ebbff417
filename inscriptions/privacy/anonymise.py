"""Anonymising registrations and deleting a family's account (RGPD).

An anonymised registration keeps what statistics need — service, session, status and its
history of dates, channel, places, price, reference, dates — and loses everything that says who
it was: household, child, guardian, answers, price detail, mediation reason, the reasons written
in its history. Files given with it (uploads), its scanned pages and the web form it was sent
from (its draft) go too.

Deleting a household (:func:`delete_household`: the family deleting its account, the DPO's erasure
on request, :func:`erase_household`, or the purge of a paper-only household) reaches everything
about it: its people and accounts, drafts, uploads, every scanned page about it (confirmed or not,
with their images and cut-outs and the scanner's stacks they came in) and every print run's PDF
that holds it, through the register of files (:mod:`inscriptions.files`).

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
from sqlalchemy import delete, func, or_, select, update

from inscriptions import files
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
    Guardian,
    Household,
    HouseholdActivity,
    PhotoConsent,
    PrintJob,
    PrintToken,
    Registration,
    ScanBatch,
    ScanPage,
    ScanPageStatus,
    StaffRole,
    StatusChange,
    SubmissionKey,
    Upload,
)
from inscriptions.privacy.sealing import unsealed
from inscriptions.privacy.settings import PrivacySettings, add_months


@dataclass
class Removal:
    """What an anonymisation or a deletion removed (counts) and the files to delete once committed."""

    registrations: int = 0
    uploads: int = 0
    scan_pages: int = 0
    drafts: int = 0
    # Households deleted (paper-only ones by the purge, erasures).
    households: int = 0
    # Print runs' PDFs and scanners' stacks deleted because their retention had passed.
    expired_files: int = 0
    files: set[Path] = field(default_factory=set)

    def add(self, other: Removal) -> None:
        self.registrations += other.registrations
        self.uploads += other.uploads
        self.scan_pages += other.scan_pages
        self.drafts += other.drafts
        self.households += other.households
        self.expired_files += other.expired_files
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
    ends: dict[int, dt.datetime] = {}
    for reg in todo:
        if reg.household_id is not None:
            tokens_by_household.setdefault(reg.household_id, set()).update(_file_tokens(unsealed(reg.answers or {})))
            end = registration_end(reg)
            ends[reg.household_id] = max(end, ends.get(reg.household_id, end))
    batches = {r.batch for r in todo}
    _remember_ends(ends)
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
            kept |= _file_tokens(unsealed(answers or {}))
        removal.add(_delete_uploads(household_id, tokens - kept))
    done = _anonymised_batches(batches)
    _anonymise_applications(Application.batch.in_(done))
    removal.add(_delete_scans(done))
    # The web form they were sent from still holds every answer.
    if done:
        removal.drafts += _delete_draft_rows(Draft.submitted_batch.in_(done))
    db.session.flush()
    return removal


def _remember_ends(ends: dict[int, dt.datetime]) -> None:
    """Keep for each household the end of its latest registration anonymised: its own retention
    counts from it once no registration names it (:func:`household_last_activity`)."""
    for household_id, end in ends.items():
        row = db.session.get(HouseholdActivity, household_id)
        if row is None:
            db.session.add(HouseholdActivity(household_id=household_id, last_registration_end=end))
        elif row.last_registration_end < end:
            row.last_registration_end = end


def _delete_uploads(household_id: int, tokens: set[str] | None) -> Removal:
    """Delete the household's uploads (those of ``tokens``; None: every one) and their files."""
    removal = Removal()
    query = select(Upload).where(Upload.household_id == household_id)
    if tokens is not None:
        if not tokens:
            return removal
        query = query.where(Upload.token.in_(sorted(tokens)))
    paths = set()
    for upload in db.session.scalars(query):
        paths.add(_upload_root() / str(household_id) / upload.token)
        db.session.delete(upload)
        removal.uploads += 1
    files.forget(paths)
    removal.files |= paths
    return removal


def _delete_draft_rows(where: Any) -> int:
    """Delete the drafts matching ``where``; returns how many."""
    return db.session.execute(delete(Draft).where(where)).rowcount or 0


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
    if not done:
        return Removal()
    return delete_scan_pages(list(db.session.scalars(select(ScanPage).where(ScanPage.registration_batch.in_(done)))))


def delete_scan_pages(pages: list[ScanPage]) -> Removal:
    """Delete scanned pages with their images and cut-outs (unless another page shows the same
    image), and the batches left without pages with the scanner's files they were uploaded as
    (unless another batch was the same upload). Not committed; the files go after the commit."""
    from inscriptions.intake.store import batch_files, page_files

    removal = Removal()
    if not pages:
        return removal
    images: set[Path] = set()
    batch_ids = {p.batch_id for p in pages}
    for page in pages:
        images |= set(page_files(page))
        db.session.delete(page)
        removal.scan_pages += 1
    db.session.flush()
    # Images are stored once per content hash: keep those another page still uses.
    for other in db.session.scalars(select(ScanPage)):
        images -= set(page_files(other))
    stacks: set[Path] = set()
    for batch in db.session.scalars(select(ScanBatch).where(ScanBatch.id.in_(batch_ids))):
        left = db.session.scalar(select(func.count(ScanPage.id)).where(ScanPage.batch_id == batch.id))
        if not left:
            stacks |= set(batch_files(batch))
            db.session.delete(batch)
    db.session.flush()
    if stacks:
        for batch in db.session.scalars(select(ScanBatch)):
            stacks -= set(batch_files(batch))
    files.forget(images | stacks)
    removal.files |= images | stacks
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
    """Anonymise every registration of the household and delete it with all its people, accounts,
    drafts, uploads, scanned pages and every file about it (not committed; the files go after)."""
    household = db.session.get(Household, household_id)
    if household is None:
        return Removal()
    removal = Removal(households=1)
    # Every file the register links to the household: uploads, scanned pages and cut-outs, the
    # scanners' stacks they came in, print runs' PDFs (whole, when shared with other households).
    gone = files.erase_household(household_id)
    removal.files |= {g.path for g in gone}
    # Found before the registrations are anonymised: a confirmed page names its booking's batch.
    removal.add(_erase_scans(household_id, {g.name for g in gone if g.kind == files.SCAN_IMAGE},
                             {g.path for g in gone if g.kind == files.SCAN_UPLOAD}))
    _forget_print_runs(household_id, {g.path.name for g in gone if g.kind == files.PRINT})
    regs = list(db.session.scalars(select(Registration).where(Registration.household_id == household_id)))
    removal.add(anonymise(regs))
    removal.add(_delete_uploads(household_id, None))
    guardian_ids = [g.id for g in household.guardians]
    child_ids = [c.id for c in household.children]
    for acc in db.session.scalars(select(Account).where(Account.guardian_id.in_(guardian_ids))):
        removal.drafts += _delete_account_row(acc)
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


def household_scan_pages(household_id: int, images: set[str] = frozenset()) -> list[ScanPage]:
    """Every scanned page about the household, whatever its status: a form printed for it (its
    code), a form confirmed for it (its booking), or a page whose image the register links to it."""
    batches = select(Registration.batch).where(Registration.household_id == household_id)
    # A blank form confirmed for the household is its own too, and so are other copies of its pages.
    tokens = select(PrintToken.token).where(PrintToken.household_id == household_id).union(
        select(ScanPage.document_key).where(ScanPage.registration_batch.in_(batches),
                                            ScanPage.document_key.is_not(None)))
    digests = sorted(name.removeprefix("scans/").removesuffix(".png") for name in images)
    about = [ScanPage.document_key.in_(tokens), ScanPage.token.in_(tokens), ScanPage.registration_batch.in_(batches)]
    if digests:
        about.append(ScanPage.image_sha256.in_(digests))
    return list(db.session.scalars(select(ScanPage).where(or_(*about)).order_by(ScanPage.id)))


def _erase_scans(household_id: int, images: set[str], stacks: set[Path]) -> Removal:
    """Delete the household's scanned pages; the batches that keep other families' pages lose
    the name of the files they were uploaded as (an agent may have named them after the family),
    and so do those pages' readings."""
    from inscriptions.intake.store import batch_files

    pages = household_scan_pages(household_id, images)
    batch_ids = {p.batch_id for p in pages}
    removal = delete_scan_pages(pages)
    if stacks:
        batch_ids |= {b.id for b in db.session.scalars(select(ScanBatch)) if set(batch_files(b)) & stacks}
    for batch in db.session.scalars(select(ScanBatch).where(ScanBatch.id.in_(batch_ids))):
        batch.filename = ""
        batch.files = [{**info, "name": ""} for info in batch.files or []]
        for page in db.session.scalars(select(ScanPage).where(ScanPage.batch_id == batch.id)):
            if (page.reading or {}).get("source"):
                page.reading = {**page.reading, "source": ""}
    return removal


def _forget_print_runs(household_id: int | None, names: set[str]) -> None:
    """Print runs whose PDF is deleted lose it (they can be printed again); with ``household_id``,
    every run also forgets that it printed for this household."""
    from inscriptions.paper.batch import PRINTED_KEY

    for job in db.session.scalars(select(PrintJob).order_by(PrintJob.id)):
        params = dict(job.params or {})
        if household_id is not None:
            for key in (PRINTED_KEY, "household_ids"):
                if key in params and household_id in [int(h) for h in params[key] or []]:
                    params[key] = [int(h) for h in params[key] if int(h) != household_id]
            if params != (job.params or {}):
                job.params = params
        if job.file_name and job.file_name in names:
            job.file_name, job.sha256 = None, None


def _delete_account_row(account: Account) -> int:
    """Delete an account and what only it owns; rows that merely mention it forget it. Returns the
    number of its drafts deleted."""
    account_id = account.id
    drafts = _delete_draft_rows(Draft.account_id == account_id)
    db.session.execute(delete(ApiToken).where(ApiToken.account_id == account_id))
    # History lines keep their date and status, not the (deleted) person who made the change.
    db.session.execute(update(StatusChange).where(StatusChange.by_id == account_id).values(by_id=None))
    db.session.execute(update(Registration).where(Registration.keyed_by_id == account_id).values(keyed_by_id=None))
    db.session.execute(update(Application).where(Application.keyed_by_id == account_id).values(keyed_by_id=None))
    db.session.execute(update(PhotoConsent).where(PhotoConsent.given_by_id == account_id).values(given_by_id=None))
    db.session.execute(update(PhotoConsent).where(PhotoConsent.withdrawn_by_id == account_id)
                       .values(withdrawn_by_id=None))
    db.session.delete(account)
    return drafts


# -- erasure on request (staff) ------------------------------------------------------------------------

@dataclass
class ErasurePreview:
    """What erasing a household deletes, counted, for the confirmation page."""

    household_id: int
    guardians: list[str]
    children: list[str]
    accounts: int
    registrations: int
    to_cancel: int
    applications: int
    uploads: int
    drafts: int
    scan_pages: int
    print_runs: int
    files: int


def erasure_preview(household_id: int) -> ErasurePreview | None:
    """What :func:`erase_household` would delete (nothing is changed); None: no such household."""
    household = db.session.get(Household, household_id)
    if household is None:
        return None
    guardian_ids = [g.id for g in household.guardians]
    account_ids = list(db.session.scalars(select(Account.id).where(Account.guardian_id.in_(guardian_ids))))

    def count(query: Any) -> int:
        return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)

    linked = files.of_household(household_id)
    pages = household_scan_pages(household_id, {f.path for f in linked if f.kind == files.SCAN_IMAGE})
    return ErasurePreview(
        household_id=household.id,
        guardians=[g.full_name for g in household.guardians],
        children=[c.full_name for c in household.children],
        accounts=len(account_ids),
        registrations=count(select(Registration.id).where(Registration.household_id == household_id)),
        to_cancel=len(live_registrations(household_id)),
        applications=count(select(Application.id).where(Application.household_id == household_id)),
        uploads=count(select(Upload.id).where(Upload.household_id == household_id)),
        drafts=count(select(Draft.id).where(Draft.account_id.in_(account_ids))) if account_ids else 0,
        scan_pages=len(pages),
        print_runs=sum(1 for f in linked if f.kind == files.PRINT),
        files=len({f.path for f in linked}),
    )


@dataclass
class Erasure:
    """What an erasure on request did."""

    household_id: int
    cancelled: int
    removal: Removal


def erase_household(household_id: int, *, actor_id: int | None, reason: str, by: str = "staff") -> Erasure:
    """Erase a household on its request (right to erasure), committed, then delete its files.

    For families who cannot delete an account themselves, paper-only ones above all. Its
    registrations not over yet are cancelled first, each by the staff member (places go to the
    waiting list); then :func:`delete_household`. The request (``reason``) and the counts go to the
    audit log. Raises :class:`DeletionRefused` when there is no such household.
    """
    from inscriptions.audit import Action, log_access
    from inscriptions.models import Status
    from inscriptions.registrations.status import TransitionError, transition

    if db.session.get(Household, household_id) is None:
        raise DeletionRefused("this household no longer exists")
    cancelled = 0
    for reg_id in [r.id for r in live_registrations(household_id)]:
        # Each in its own short transaction, under the session's lock; the status is read again
        # there (the waiting list may have moved another of the family's registrations meanwhile).
        try:
            transition(reg_id, Status.CANCELLED, by_id=actor_id, reason="erasure of the household's data")
        except TransitionError:
            continue  # a status that cannot be cancelled: anonymised all the same
        cancelled += 1
    removal = delete_household(household_id)
    log_access(actor_id, Action.ERASE_HOUSEHOLD, household_id, {
        "by": by, "cancelled": cancelled, "anonymised": removal.registrations, "uploads": removal.uploads,
        "drafts": removal.drafts, "scan_pages": removal.scan_pages, "files": len(removal.files),
    }, reason)
    db.session.commit()
    removal.delete_files()
    return Erasure(household_id, cancelled, removal)


# -- what the purge deletes besides registrations ----------------------------------------------------

def expired_drafts(now: dt.datetime, days: int) -> list[Draft]:
    """Drafts (sent or not) not changed for ``days`` days."""
    return list(db.session.scalars(
        select(Draft).where(Draft.updated_at < now - dt.timedelta(days=days)).order_by(Draft.id)))


def delete_drafts(drafts: list[Draft]) -> Removal:
    """Delete drafts, and the uploads only they referred to (a file sent on a form never sent)."""
    removal = Removal()
    if not drafts:
        return removal
    households = dict(db.session.execute(
        select(Account.id, Guardian.household_id).join(Guardian, Guardian.id == Account.guardian_id)
        .where(Account.id.in_({d.account_id for d in drafts}))).all())
    tokens: dict[int, set[str]] = {}
    for draft in drafts:
        household_id = households.get(draft.account_id)
        if household_id is not None:
            tokens.setdefault(household_id, set()).update(_file_tokens(draft.state or {}))
    removal.drafts = _delete_draft_rows(Draft.id.in_([d.id for d in drafts]))
    db.session.flush()
    for household_id, candidates in tokens.items():
        if not candidates:
            continue
        kept: set[str] = set()
        answers = select(Registration.answers).where(Registration.household_id == household_id)
        for values in db.session.scalars(answers):
            kept |= _file_tokens(values or {})
        accounts = select(Account.id).join(Guardian, Guardian.id == Account.guardian_id).where(
            Guardian.household_id == household_id)
        for state in db.session.scalars(select(Draft.state).where(Draft.account_id.in_(accounts))):
            kept |= _file_tokens(state or {})
        removal.add(_delete_uploads(household_id, candidates - kept))
    return removal


def expired_scan_pages(now: dt.datetime, days: int) -> list[ScanPage]:
    """Scanned pages never registered (manual queue, rejected, duplicates, still waiting for a
    check) uploaded more than ``days`` days ago."""
    return list(db.session.scalars(
        select(ScanPage).join(ScanBatch, ScanBatch.id == ScanPage.batch_id)
        .where(ScanPage.status != ScanPageStatus.REGISTERED.value,
               ScanBatch.uploaded_at < now - dt.timedelta(days=days))
        .order_by(ScanPage.id)))


def delete_expired_files(now: dt.datetime, settings: PrivacySettings) -> Removal:
    """The files whose retention has passed (print runs' PDFs, scanners' stacks), taken off the
    register with the print runs that named them (not committed; deleted after the commit)."""
    gone = files.expired(now, {files.PRINT: dt.timedelta(days=settings.print_retention_days),
                               files.SCAN_UPLOAD: dt.timedelta(days=settings.scan_retention_days)})
    _forget_print_runs(None, {g.path.name for g in gone if g.kind == files.PRINT})
    return Removal(expired_files=len(gone), files={g.path for g in gone})


def household_last_activity(household: Household) -> dt.datetime:
    """When the household last had something going on: the end of its latest registration
    (anonymised ones included), its latest application, or its creation."""
    moments = [household.created_at]
    anonymised = db.session.get(HouseholdActivity, household.id)
    if anonymised is not None:
        moments.append(anonymised.last_registration_end)
    for reg in db.session.scalars(select(Registration).where(Registration.household_id == household.id)):
        moments.append(registration_end(reg))
    latest_application = db.session.scalar(
        select(func.max(Application.created_at)).where(Application.household_id == household.id))
    if latest_application is not None:
        moments.append(latest_application)
    return max(moments)


def expired_paper_households(now: dt.datetime, months: int) -> list[int]:
    """Households without any account whose last activity is more than ``months`` months old,
    with no application still waiting for a decision."""
    with_account = select(Guardian.household_id).join(Account, Account.guardian_id == Guardian.id)
    waiting = select(Application.household_id).where(Application.status == ApplicationStatus.PENDING,
                                                     Application.household_id.is_not(None))
    candidates = db.session.scalars(
        select(Household).where(Household.id.not_in(with_account), Household.id.not_in(waiting),
                                Household.created_at < add_months(now, -months))
        .order_by(Household.id))
    return [h.id for h in candidates if add_months(household_last_activity(h), months) < now]


def purge_leftovers(now: dt.datetime, settings: PrivacySettings, actor_id: int | None) -> Removal:
    """The purge's deletions besides registrations and accounts (not committed): drafts, scanned
    pages never registered, files past retention, and paper-only households past theirs (each
    written to the audit log)."""
    from inscriptions.audit import Action, log_access

    removal = delete_drafts(expired_drafts(now, settings.draft_retention_days))
    removal.add(delete_expired_files(now, settings))
    removal.add(delete_scan_pages(expired_scan_pages(now, settings.scan_retention_days)))
    for household_id in expired_paper_households(now, settings.paper_household_retention_months):
        deleted = delete_household(household_id)
        log_access(actor_id, Action.ERASE_HOUSEHOLD, household_id, {
            "by": "purge", "anonymised": deleted.registrations, "uploads": deleted.uploads,
            "scan_pages": deleted.scan_pages, "files": len(deleted.files),
            "retention_months": settings.paper_household_retention_months})
        removal.add(deleted)
    return removal
