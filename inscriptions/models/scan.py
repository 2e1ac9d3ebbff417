"""Scan intake records: each uploaded stack of scanned pages and every page of it.

Nothing scanned is ever dropped: each page is stored (its PNG under
``UPLOAD_DIR/scans/<sha256>.png``, outside ``static``), with what the reader made of it
(:class:`inscriptions.paper.reader.PageReading` as JSON, crops excluded: they are regenerated
from the stored image when shown) and what became of it. When an agent confirms a document, the
machine-read values, the confirmed values, who confirmed and the registration batch are kept on
each of its pages: the scan is the registration's evidence.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models.account import Account


class ScanPageStatus(enum.StrEnum):
    """Where a scanned page stands."""

    OK = "ok"  # identified and read; waiting for an agent to confirm its document
    REVIEW = "review"  # identified, some boxes or fields need a look
    MANUAL = "manual"  # not identified or not aligned: in the manual queue
    DUPLICATE = "duplicate"  # the same page is already registered or pending elsewhere
    REGISTERED = "registered"  # its document was confirmed and registered
    REJECTED = "rejected"  # an agent set it aside, with a reason


# Pages still waiting for something (a confirmation or the manual queue).
PENDING_PAGE_STATUSES = (ScanPageStatus.OK.value, ScanPageStatus.REVIEW.value)


class ScanBatch(db.Model):
    """One upload: a scanner's PDF or a set of images, as a stack of pages."""

    __tablename__ = "scan_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    # Names of the uploaded files (comma-separated when several images were sent).
    filename: Mapped[str] = mapped_column(String(500), default="")
    # SHA-256 of the uploaded bytes (of all files in order): the same upload is recognised.
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | done
    # Reading by the background job: queued | reading | read | failed. Every page read is stored
    # at once (``pages_read`` counts them), so a failed or interrupted job resumes where it stopped.
    reading_status: Mapped[str] = mapped_column(String(20), default="read", server_default="read")
    pages_read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The uploaded files as stored (``UPLOAD_DIR/scans/uploads/<sha256>``): [{name, sha256, size, pages}].
    files: Mapped[list | None] = mapped_column(JSON)
    # Why the reading job stopped (the pages read so far stay stored; the agent can resume it).
    error: Mapped[str | None] = mapped_column(Text)

    pages: Mapped[list[ScanPage]] = relationship(
        back_populates="batch", order_by="ScanPage.index", cascade="all, delete-orphan"
    )


class ScanPage(db.Model):
    """One scanned page, its reading and its fate."""

    __tablename__ = "scan_pages"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("scan_batches.id", ondelete="CASCADE"), index=True)
    # Position of the page in the upload (0-based, across files).
    index: Mapped[int] = mapped_column(Integer)
    # SHA-256 of the stored PNG; the file is UPLOAD_DIR/scans/<image_sha256>.png.
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)
    reading: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True)
    # Why it is in the manual queue, a duplicate or rejected (a reader reason code or the agent's words).
    reason: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    token: Mapped[str | None] = mapped_column(String(10), index=True)
    page: Mapped[int | None] = mapped_column(Integer)
    total: Mapped[int | None] = mapped_column(Integer)
    form_version_id: Mapped[int | None] = mapped_column(ForeignKey("form_versions.id"))
    # The document this page belongs to: the print token (one document per token).
    document_key: Mapped[str | None] = mapped_column(String(40), index=True)
    # Registration batch (Registration.batch) created when the document was confirmed.
    registration_batch: Mapped[str | None] = mapped_column(String(32), index=True)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    machine_values: Mapped[dict | None] = mapped_column(JSON)
    confirmed_values: Mapped[dict | None] = mapped_column(JSON)

    batch: Mapped[ScanBatch] = relationship(back_populates="pages")
    confirmed_by: Mapped[Account | None] = relationship(foreign_keys=[confirmed_by_id])
