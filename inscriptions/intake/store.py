"""Storing an uploaded stack of scans: every page kept, read, and sorted (documents, manual queue).

The upload request only checks the files (type, size, page count: nothing is decoded), stores
them under ``UPLOAD_DIR/scans/uploads/<sha256>`` and creates the :class:`ScanBatch`; the pages
are read by a background job (:func:`read_batch_job`, through :mod:`inscriptions.jobs`: inline
in development and tests, an RQ worker in production), one page at a time, each page stored and
committed as soon as it is read (the batch page shows the progress). A page the reader fails on
goes to the manual queue with its image; a file that breaks half-way stops the job with the
pages read so far kept and the file still stored: the agent resumes the reading. Nothing is lost.
An upload holds at most :data:`MAX_PAGES` pages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from inscriptions import files
from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.jobs import enqueue
from inscriptions.models import ScanBatch, ScanPage, ScanPageStatus
from inscriptions.models.scan import PENDING_PAGE_STATUSES
from inscriptions.paper.reader import DatabaseLookup, PageReading, UploadError, count_pages, iter_upload, read_page
from inscriptions.paper.reader.upload import PageImage
from inscriptions.privacy.sealing import seal_bytes, unseal_bytes
from inscriptions.privacy.settings import privacy_settings

# A scanner's stack: the job reads it page by page (0.1-0.2 s per page), so the cap only bounds
# one batch's size (and the upload, see SCAN_UPLOAD_MB in docs/counter.md).
MAX_PAGES = 500
READ_JOB = "inscriptions.intake.store:read_batch_job"
QUEUED, READING, READ, FAILED = "queued", "reading", "read", "failed"
# Statuses that make another copy of the same page a duplicate.
CLAIMING_STATUSES = (*PENDING_PAGE_STATUSES, ScanPageStatus.REGISTERED.value)


@dataclass
class UploadedFile:
    """One file sent by the agent."""

    data: bytes
    filename: str


class IntakeError(Exception):
    """An upload refused as a whole (nothing stored); ``message`` is for people."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def scan_dir() -> Path:
    """Where page images and crops are kept: ``UPLOAD_DIR/scans`` (never served statically)."""
    path = Path(current_app.config["UPLOAD_DIR"]) / "scans"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_png(data: bytes) -> str:
    """Store ``data`` under its SHA-256 (the same image is stored once), encrypted: a page may
    show a health answer (:mod:`inscriptions.privacy.sealing`); returns the hash."""
    digest = hashlib.sha256(data).hexdigest()
    target = scan_dir() / f"{digest}.png"
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(seal_bytes(data))
        tmp.replace(target)
    return digest


def load_png(digest: str) -> bytes | None:
    """The stored PNG of hash ``digest``, or None."""
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        return None
    target = scan_dir() / f"{digest}.png"
    return unseal_bytes(target.read_bytes()) if target.exists() else None


def _upload_message(error: UploadError) -> str:
    messages = {
        "empty": _("The file is empty."),
        "too_large": _("The file is too large."),
        "unsupported": _("This kind of file cannot be read: send a PDF, JPEG, PNG or TIFF."),
        "corrupt": _("The file is damaged and cannot be read."),
        "encrypted": _("The PDF is protected by a password."),
        "too_many_pages": _("Too many pages in one upload."),
        "page_too_large": _("A page of the file is too large to be read."),
    }
    return messages.get(error.reason, _("The file cannot be read."))


def reading_json(reading: PageReading, crop_files: dict[str, str]) -> dict:
    """The reading as stored: crops replaced by the hashes of their stored PNG files."""
    data = reading.to_json()
    data["crops"] = {}
    data["crop_files"] = crop_files
    return data


def stored_reading(page: ScanPage) -> PageReading:
    """The :class:`PageReading` of a stored page (crops left out: see ``crop_files``)."""
    data = {k: v for k, v in (page.reading or {}).items() if k != "crop_files"}
    data["crops"] = {}
    return PageReading.from_json(data)


def upload_dir() -> Path:
    """Where uploaded scan files are kept until (and after) they are read: ``UPLOAD_DIR/scans/uploads``."""
    path = scan_dir() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _store_file(data: bytes, written: list[Path] | None = None) -> str:
    """Store an uploaded file under its SHA-256; a file this call created is added to ``written``."""
    digest = hashlib.sha256(data).hexdigest()
    target = upload_dir() / digest
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(seal_bytes(data))  # encrypted, as every page's image
        tmp.replace(target)
        if written is not None:
            written.append(target)
    return digest


def page_files(page: ScanPage) -> list[Path]:
    """The stored images of a page: the page itself and its cut-outs."""
    digests = [page.image_sha256, *((page.reading or {}).get("crop_files") or {}).values()]
    return [scan_dir() / f"{d}.png" for d in digests if isinstance(d, str) and len(d) == 64]


def batch_files(batch: ScanBatch) -> list[Path]:
    """The scanner's files of a batch, as uploaded."""
    return [upload_dir() / info["sha256"] for info in batch.files or []
            if isinstance(info, dict) and isinstance(info.get("sha256"), str) and len(info["sha256"]) == 64]


def link_pages(pages: Sequence[ScanPage], household_id: int | None) -> None:
    """Record that ``pages`` (their images, cut-outs and their batches' uploaded files) hold data
    about ``household_id``: erasing the household deletes them (not committed)."""
    if household_id is None or not pages:
        return
    paths = [path for page in pages for path in page_files(page)]
    batches = {page.batch_id for page in pages}
    for batch in db.session.scalars(select(ScanBatch).where(ScanBatch.id.in_(batches))):
        paths += batch_files(batch)
    files.link(paths, [household_id])


def ingest(uploads: Sequence[UploadedFile], uploaded_by_id: int | None) -> ScanBatch:
    """Check and store ``uploads`` as one batch (committed), then enqueue its reading.

    Raises :class:`IntakeError` (nothing stored) for a file that is not a usable scan or a
    stack of more than :data:`MAX_PAGES` pages. With the inline job backend the pages are read
    before this returns.
    """
    uploads = [f for f in uploads if f.data]
    if not uploads:
        raise IntakeError(_("Choose a file to upload."))
    counts = []
    for f in uploads:
        try:
            counts.append(count_pages(f.data, f.filename, max_pages=MAX_PAGES))
        except UploadError as exc:
            raise IntakeError(f"{f.filename}: {_upload_message(exc)}") from exc
        if sum(counts) > MAX_PAGES:
            raise IntakeError(_("At most %(n)s pages per upload: split the stack.", n=MAX_PAGES))
    digest = hashlib.sha256()
    for f in uploads:
        digest.update(f.data)
    written: list[Path] = []
    try:
        stored = [{"name": f.filename[:200], "sha256": _store_file(f.data, written), "size": len(f.data),
                   "pages": n} for f, n in zip(uploads, counts, strict=True)]
        batch = ScanBatch(uploaded_by_id=uploaded_by_id, filename=", ".join(f.filename for f in uploads)[:500],
                          sha256=digest.hexdigest(), size=sum(len(f.data) for f in uploads),
                          page_count=sum(counts), files=stored, reading_status=QUEUED, pages_read=0)
        db.session.add(batch)
        # In the register of files, with the batch: the purge deletes the stack after
        # SCAN_RETENTION_DAYS, and erasing a household whose pages it holds deletes it at once.
        keep_until = utcnow_naive() + dt.timedelta(days=privacy_settings().scan_retention_days)
        files.record_many([upload_dir() / info["sha256"] for info in stored], files.SCAN_UPLOAD,
                          delete_after=keep_until)
        db.session.commit()
    except BaseException:
        # No row will ever name a file written here: nothing could reach it again.
        db.session.rollback()
        for path in written:
            path.unlink(missing_ok=True)
        raise
    batch_id = batch.id
    enqueue(READ_JOB, batch_id)  # after the commit: the worker must find the batch
    return db.session.get(ScanBatch, batch_id)


def start_reading(batch: ScanBatch) -> None:
    """Enqueue the reading of ``batch`` again (after a failure): pages already stored are kept."""
    batch.reading_status, batch.error = QUEUED, None
    db.session.commit()
    enqueue(READ_JOB, batch.id)


def read_batch_job(batch_id: int) -> None:
    """The background job: read every page of batch ``batch_id`` not stored yet, one at a time.

    Each page is stored and committed as soon as it is read (progress: ``pages_read``). A page
    the reader fails on is stored in the manual queue with its image (reason ``read_error``). A
    file that cannot be decoded any further stops the job: status ``failed``, the error kept,
    the pages read so far and the file kept; running the job again resumes after them. Never
    raises for a bad scan.
    """
    batch = db.session.get(ScanBatch, batch_id)
    if batch is None or batch.reading_status == READ:
        return
    batch.reading_status, batch.error = READING, None
    db.session.commit()
    done = set(db.session.scalars(select(ScanPage.index).where(ScanPage.batch_id == batch_id)))
    lookup = DatabaseLookup()
    first = 0
    try:
        for info in batch.files or []:
            path = upload_dir() / info["sha256"]
            data = unseal_bytes(path.read_bytes())
            for image in iter_upload(data, info["name"], first_index=first, max_pages=MAX_PAGES, skip=done):
                _store_page(batch_id, image, lookup)
            first += int(info["pages"])
    except Exception as exc:  # the job stops; what was read stays, the file stays, the agent resumes
        current_app.logger.exception("reading scan batch %s failed", batch_id)
        db.session.rollback()
        batch = db.session.get(ScanBatch, batch_id)
        batch.reading_status = FAILED
        batch.error = _upload_message(exc) if isinstance(exc, UploadError) else f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        return
    batch = db.session.get(ScanBatch, batch_id)
    batch.reading_status = READ
    batch.pages_read = db.session.scalar(select(db.func.count(ScanPage.id)).where(ScanPage.batch_id == batch_id))
    db.session.commit()


def _read(image: PageImage, lookup: DatabaseLookup) -> PageReading:
    """The page's reading; a reader failure becomes a manual-queue reading (never lost)."""
    try:
        return read_page(image, lookup=lookup)
    except Exception:
        current_app.logger.exception("reading page %s failed", image.index)
        return PageReading(index=image.index, source=image.source, status="manual", reason="read_error",
                           message=_("The reader failed on this page: identify it by hand."))


def _store_page(batch_id: int, image: PageImage, lookup: DatabaseLookup) -> None:
    reading = _read(image, lookup)
    crop_files = {path: store_png(png) for path, png in reading.crops.items()}
    page = ScanPage(batch_id=batch_id, index=reading.index, image_sha256=store_png(image.png()),
                    reading=reading_json(reading, crop_files), status=reading.status,
                    reason=reading.reason or "", message=reading.message or "", token=reading.token,
                    page=reading.page, total=reading.total, form_version_id=reading.form_version_id,
                    document_key=reading.token if reading.identified else None)
    if reading.identified:
        _flag_earlier_copy(page)
    db.session.add(page)
    # In the register of files; a form printed for a family is theirs at once (and so is the
    # stack it came in): erasing the household deletes them even before anyone confirms the page.
    files.record_many(page_files(page), files.SCAN_IMAGE)
    link_pages([page], reading.household_id if reading.identified else None)
    batch = db.session.get(ScanBatch, batch_id)
    batch.pages_read = (batch.pages_read or 0) + 1
    db.session.commit()


def _flag_earlier_copy(page: ScanPage) -> None:
    """A page already registered or waiting in another batch is a duplicate (never registered twice)."""
    with db.session.no_autoflush:  # the new page is in the session already: do not find itself
        earlier = db.session.scalars(
            select(ScanPage).where(ScanPage.token == page.token, ScanPage.page == page.page,
                                   ScanPage.status.in_(CLAIMING_STATUSES))
            .order_by(ScanPage.id)
        ).first()
    if earlier is None:
        return
    page.status = ScanPageStatus.DUPLICATE.value
    page.reason = "duplicate"
    if earlier.batch_id == page.batch_id:
        page.message = _("This page is in this upload twice: the first copy is used.")
    elif earlier.status == ScanPageStatus.REGISTERED.value:
        page.message = _("This page was already scanned and its form registered (scan batch %(n)s): "
                         "it is kept but not registered again.", n=earlier.batch_id)
    else:
        page.message = _("This page was already scanned in batch %(n)s, which is waiting for a check: "
                         "it is kept but not used.", n=earlier.batch_id)
