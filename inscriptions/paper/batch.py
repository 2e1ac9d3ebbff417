"""Mass printing from the back office: a :class:`PrintJob` row, a background job, a stored PDF.

A manager asks for the service's forms (prefilled for a selection of households, plus blank
ones) or for the letters owed to families without e-mail. :func:`request_print` records the job
(who, when, what) and enqueues :func:`run_print_job` through :mod:`inscriptions.jobs` after the
commit: inline in development and tests (the request waits), on an RQ worker in production.
The job writes progress (``done``/``total``) as it draws, then the PDF under
``UPLOAD_DIR/print/`` (never under ``static``): only staff allowed to print for the service
download it (:mod:`inscriptions.paper.views`). A failure is recorded on the row (``failed``,
``error``); nothing half-written is ever offered for download.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from inscriptions.clock import local_zone, now, utcnow_naive
from inscriptions.extensions import db
from inscriptions.jobs import enqueue
from inscriptions.models import PrintJob, Registration

log = logging.getLogger(__name__)

FORMS, LETTERS = "forms", "letters"
KINDS = (FORMS, LETTERS)
# Who gets a prefilled form.
PREVIOUS_YEAR, ALL, IDS, NONE = "previous_year", "all", "ids", "none"
SELECTIONS = (PREVIOUS_YEAR, ALL, IDS, NONE)
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE = (QUEUED, RUNNING)
MAX_BLANK = 2000
# School years start on 1 September (local time): "last year" for a re-enrolment campaign.
SCHOOL_YEAR_START_MONTH = 9
# Progress is written at most this often (seconds): one commit per document would slow big runs.
PROGRESS_EVERY = 1.0
JOB_PATH = "inscriptions.paper.batch:run_print_job"
# ``PrintJob.error`` when the selection matched nothing (the page says so in words).
EMPTY = "empty"
# ``PrintJob.params`` key of a finished job: the households whose data its PDF holds.
PRINTED_KEY = "printed_households"


class NothingToPrint(Exception):
    """The selection matched no household (or child of the right age), or no letter is owed."""


def print_dir() -> Path:
    """Where print job PDFs are kept: ``UPLOAD_DIR/print`` (never served statically)."""
    path = Path(current_app.config["UPLOAD_DIR"]) / "print"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_file(job: PrintJob) -> Path | None:
    """The finished PDF of ``job``, or None (not ready, failed, or the file was removed)."""
    if job.status != DONE or not job.file_name:
        return None
    path = print_dir() / job.file_name
    return path if path.is_file() else None


def previous_school_year(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """First and last day of the school year before the current one (1 September to 31 August)."""
    today = today or now().astimezone(local_zone()).date()
    start_year = today.year if today.month >= SCHOOL_YEAR_START_MONTH else today.year - 1
    first = dt.date(start_year - 1, SCHOOL_YEAR_START_MONTH, 1)
    return first, dt.date(start_year, SCHOOL_YEAR_START_MONTH, 1) - dt.timedelta(days=1)


def households_registered_last_year(service_code: str, today: dt.date | None = None) -> list[int]:
    """Households with a registration (any status) to ``service_code`` made in the previous school year."""
    first, last = previous_school_year(today)
    zone = local_zone()
    start = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
    return list(db.session.scalars(
        select(Registration.household_id).distinct()
        .where(Registration.service_code == service_code, Registration.household_id.is_not(None),
               Registration.created_at >= start, Registration.created_at < end)
        .order_by(Registration.household_id)
    ))


def household_ids_for(service_code: str, params: dict[str, Any]) -> list[int] | None:
    """The households a forms job prints for: None means every household."""
    selection = params.get("selection", ALL)
    if selection == ALL:
        return None
    if selection == PREVIOUS_YEAR:
        return households_registered_last_year(service_code)
    if selection == IDS:
        return [int(i) for i in params.get("household_ids") or []]
    return []


def request_print(kind: str, service_code: str, params: dict[str, Any], requested_by_id: int | None) -> PrintJob:
    """Record a print job (committed) and enqueue it; returns the row (refreshed after an inline run)."""
    if kind not in KINDS:
        raise ValueError(f"unknown print job kind {kind!r}")
    job = PrintJob(kind=kind, service_code=service_code, params=dict(params), requested_by_id=requested_by_id,
                   status=QUEUED, done=0, documents=0, pages=0, error="")
    db.session.add(job)
    db.session.commit()
    job_id = job.id
    enqueue(JOB_PATH, job_id)  # after the commit: a worker must find the row
    job = db.session.get(PrintJob, job_id)
    db.session.refresh(job)
    return job


class _Progress:
    """Writes ``done``/``total`` on the job row, at most every :data:`PROGRESS_EVERY` seconds."""

    def __init__(self, job: PrintJob):
        self.job = job
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        moment = time.monotonic()
        if done < total and moment - self.last < PROGRESS_EVERY:
            return
        self.last = moment
        self.job.done, self.job.total = done, total
        db.session.commit()


def run_print_job(job_id: int) -> None:
    """The background job: draw the PDF of print job ``job_id`` and record the outcome.

    Never raises for a failed print: the failure is recorded on the row (``failed`` and the
    error) for the page to show. A job already done, or running elsewhere for less than the job
    time-out, is left alone; a "running" job older than that lost its worker and runs again (RQ
    delivers it again after a crash).
    """
    job = db.session.get(PrintJob, job_id)
    if job is None or job.status == DONE or (job.status == RUNNING and not _stale(job)):
        return
    job.status, job.started_at, job.error = RUNNING, utcnow_naive(), ""
    job.done = 0
    db.session.commit()
    name = f"{job.id}-{secrets.token_hex(8)}.pdf"
    target = print_dir() / name
    partial = target.with_suffix(".part")
    try:
        documents, pages, households = _draw(job, partial)
        digest = hashlib.sha256()
        with partial.open("rb") as pdf:
            for block in iter(lambda: pdf.read(1 << 20), b""):
                digest.update(block)
        os.replace(partial, target)
    except NothingToPrint:
        db.session.rollback()
        partial.unlink(missing_ok=True)
        job = db.session.get(PrintJob, job_id)
        job.status, job.finished_at, job.error = FAILED, utcnow_naive(), EMPTY
        db.session.commit()
        return
    except Exception as exc:  # recorded for the page; the half-written file is dropped
        log.exception("print job %s failed", job_id)
        db.session.rollback()
        partial.unlink(missing_ok=True)
        job = db.session.get(PrintJob, job_id)
        job.status, job.finished_at = FAILED, utcnow_naive()
        # The exception's class and text: no personal data is drawn into error messages.
        job.error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        return
    job = db.session.get(PrintJob, job_id)
    job.status, job.finished_at = DONE, utcnow_naive()
    job.documents, job.pages, job.file_name, job.sha256 = documents, pages, name, digest.hexdigest()
    job.done = job.total = documents
    # Whose data the PDF holds: the download's audit line names them too.
    job.params = {**(job.params or {}), PRINTED_KEY: households}
    _log_print(job, households)
    _record_pdf(target, job, households)
    db.session.commit()


def _stale(job: PrintJob) -> bool:
    """A running job older than the job time-out: its worker died (RQ delivers it again)."""
    from inscriptions.jobs import DEFAULT_JOB_TIMEOUT

    limit = dt.timedelta(seconds=int(current_app.config.get("JOBS_TIMEOUT", DEFAULT_JOB_TIMEOUT)))
    return job.started_at is None or utcnow_naive() - job.started_at > limit


def _record_pdf(path: Path, job: PrintJob, households: list[int]) -> None:
    """The PDF in the register of files, with every household printed in it: erasing one of them
    deletes the PDF, and the purge deletes it after PRINT_RETENTION_DAYS (it can be printed again)."""
    from inscriptions import files
    from inscriptions.privacy.settings import privacy_settings

    keep = dt.timedelta(days=privacy_settings().print_retention_days)
    files.record(path, files.PRINT, households=households, delete_after=(job.finished_at or utcnow_naive()) + keep)


def printed_households(job: PrintJob) -> list[int]:
    """The households whose data a finished job's PDF holds."""
    return [int(h) for h in (job.params or {}).get(PRINTED_KEY) or []]


def _log_print(job: PrintJob, households: list[int]) -> None:
    """The job read every printed household's data on behalf of whoever asked for it."""
    from flask_babel import gettext as _

    from inscriptions.audit import Action, log_access

    log_access(job.requested_by_id, Action.EXPORT, None,
               {"print_job": job.id, "service": job.service_code, "kind": job.kind,
                "documents": job.documents}, _("Mass printing"), households=households)


def _draw(job: PrintJob, out: Path) -> tuple[int, int, list[int]]:
    """Draw the job's PDF into ``out``; returns (documents, pages, households printed for)."""
    progress = _Progress(job)
    params = dict(job.params or {})
    if job.kind == FORMS:
        from inscriptions.paper.render import count_documents, render_batch

        ids = household_ids_for(job.service_code, params)
        blank = int(params.get("blank") or 0)
        total = (count_documents(job.service_code, ids) if ids != [] else 0) + blank
        job.total = total
        db.session.commit()
        if total == 0:
            raise NothingToPrint
        result = render_batch(job.service_code, ids, out, blank=blank,
                              with_answers=bool(params.get("with_answers")), printed_by_id=job.requested_by_id,
                              progress=progress)
        return result.documents, result.pages, result.households
    from inscriptions.paper.letters import pending_letters, render_letters

    since_day = dt.date.fromisoformat(params["since"])
    since = dt.datetime.combine(since_day, dt.time(), local_zone()).astimezone(dt.UTC).replace(tzinfo=None)
    letters = [letter for letter in pending_letters(since)
               if letter.registrations[0].service_code == job.service_code]
    total = len(letters)
    job.total = total
    db.session.commit()
    if total == 0:
        raise NothingToPrint
    count = render_letters(letters, out, progress=lambda n: progress(n, total))
    return count, _pdf_pages(out), sorted({letter.household.id for letter in letters})


def _pdf_pages(path: Path) -> int:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return len(pdf)
    finally:
        pdf.close()


def recent_jobs(service_code: str, limit: int = 20) -> Sequence[PrintJob]:
    """The latest print jobs of a service, newest first."""
    return db.session.scalars(
        select(PrintJob).filter_by(service_code=service_code).order_by(PrintJob.id.desc()).limit(limit)
    ).all()
