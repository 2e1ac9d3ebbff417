"""The register of files the application writes under ``UPLOAD_DIR``, with their owners and retention.

Every file written there (a document sent with a form, a scanned page or cut-out, a scanner's
stack as uploaded, a print run's PDF) gets a :class:`StoredFile` row in the same transaction as
the row that refers to it, and one :class:`StoredFileHousehold` row per household whose data it
holds. The erasure of a household deletes every file linked to it, and the purge every file whose
``delete_after`` has passed: no file is out of reach (:mod:`inscriptions.files`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db


class StoredFile(db.Model):
    """One file under ``UPLOAD_DIR``: its path there, what it is, and until when it may be kept."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Relative to UPLOAD_DIR, with "/" separators: "12/<token>", "scans/<sha256>.png", "print/7-ab.pdf".
    path: Mapped[str] = mapped_column(String(500), unique=True)
    # upload | scan_image | scan_upload | print (inscriptions.files.KINDS)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    # The purge deletes the file after this moment (naive UTC); None: it goes with the rows that
    # use it (an upload with its registration, a scanned page with its page row) or its households.
    delete_after: Mapped[dt.datetime | None] = mapped_column(DateTime, index=True)

    owners: Mapped[list[StoredFileHousehold]] = relationship(
        back_populates="file", cascade="all, delete-orphan", passive_deletes=True)


class StoredFileHousehold(db.Model):
    """A household whose data a stored file holds (a print run or a scanner's stack holds several).

    The foreign key has no ``ON DELETE``: a household cannot be deleted while a file still names
    it, so a deletion that forgot its files fails instead of leaving them behind.
    """

    __tablename__ = "stored_file_households"

    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), primary_key=True, index=True)

    file: Mapped[StoredFile] = relationship(back_populates="owners")
