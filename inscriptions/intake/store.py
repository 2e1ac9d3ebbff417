"""Storing an uploaded stack of scans: every page kept, read, and sorted (documents, manual queue).

Pages are read synchronously, so an upload is limited to :data:`MAX_PAGES` pages; bigger stacks
belong in a background job (:mod:`inscriptions.jobs`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import ScanBatch, ScanPage, ScanPageStatus
from inscriptions.models.scan import PENDING_PAGE_STATUSES
from inscriptions.paper.reader import DatabaseLookup, PageReading, UploadError, group_pages, read_page, read_upload

MAX_PAGES = 60
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
    """Store ``data`` under its SHA-256 (the same image is stored once); returns the hash."""
    digest = hashlib.sha256(data).hexdigest()
    target = scan_dir() / f"{digest}.png"
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return digest


def load_png(digest: str) -> bytes | None:
    """The stored PNG of hash ``digest``, or None."""
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        return None
    target = scan_dir() / f"{digest}.png"
    return target.read_bytes() if target.exists() else None


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


def ingest(files: Sequence[UploadedFile], uploaded_by_id: int | None) -> ScanBatch:
    """Read and store every page of ``files`` as one batch (committed); raises :class:`IntakeError`."""
    files = [f for f in files if f.data]
    if not files:
        raise IntakeError(_("Choose a file to upload."))
    images = []
    for f in files:
        try:
            images += read_upload(f.data, f.filename, first_index=len(images), max_pages=MAX_PAGES)
        except UploadError as exc:
            raise IntakeError(f"{f.filename}: {_upload_message(exc)}") from exc
        if len(images) > MAX_PAGES:
            raise IntakeError(_("At most %(n)s pages per upload: split the stack.", n=MAX_PAGES))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.data)
    lookup = DatabaseLookup()
    readings = [read_page(image, lookup=lookup) for image in images]
    group_pages(readings)  # marks second copies of a page within this upload as duplicates

    batch = ScanBatch(uploaded_by_id=uploaded_by_id, filename=", ".join(f.filename for f in files)[:500],
                      sha256=digest.hexdigest(), size=sum(len(f.data) for f in files), page_count=len(images))
    db.session.add(batch)
    for image, reading in zip(images, readings, strict=True):
        crop_files = {path: store_png(png) for path, png in reading.crops.items()}
        page = ScanPage(batch=batch, index=reading.index, image_sha256=store_png(image.png()),
                        reading=reading_json(reading, crop_files), status=reading.status,
                        reason=reading.reason or "", message=reading.message or "", token=reading.token,
                        page=reading.page, total=reading.total, form_version_id=reading.form_version_id,
                        document_key=reading.token if reading.identified else None)
        if reading.reason == "duplicate":
            page.status = ScanPageStatus.DUPLICATE.value
        elif reading.identified:
            _flag_earlier_copy(page)
        db.session.add(page)
    db.session.commit()
    return batch


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
    if earlier.status == ScanPageStatus.REGISTERED.value:
        page.message = _("This page was already scanned and its form registered (scan batch %(n)s): "
                         "it is kept but not registered again.", n=earlier.batch_id)
    else:
        page.message = _("This page was already scanned in batch %(n)s, which is waiting for a check: "
                         "it is kept but not used.", n=earlier.batch_id)
