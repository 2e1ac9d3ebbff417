"""The paper twin's records: frozen page layouts, the tokens printed in QR codes, print jobs.

See ``docs/paper.md`` for the layout and token formats.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models.account import Account
from inscriptions.models.service import FormVersion


class PaperLayout(db.Model):
    """The printed geometry of one form version, computed once and then never changed.

    A paper form printed months ago must be read with the geometry it was printed with, even if
    the layout code has changed since: the reader always uses this row, never a fresh computation.
    """

    __tablename__ = "paper_layouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"), unique=True)
    # The generator version (inscriptions.paper.layout.LAYOUT_VERSION) that computed it.
    layout_version: Mapped[int] = mapped_column(Integer)
    layout: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)

    form_version: Mapped[FormVersion] = relationship()


class PrintToken(db.Model):
    """One printed document (all its pages): what its QR code points to. Holds no personal data.

    ``household_id`` and ``child_id`` are set for a form prefilled for that family (and child);
    both are empty for a blank form. Deleting a household keeps the token (the printout still
    exists) but forgets whom it was for.
    """

    __tablename__ = "print_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(10), unique=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id", ondelete="SET NULL"), index=True)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("children.id", ondelete="SET NULL"))
    # Number of pages of the document (the "y" of "page x/y").
    pages: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    printed_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))

    form_version: Mapped[FormVersion] = relationship()


class PrintJob(db.Model):
    """One mass printing asked from the back office (forms or letters), run as a background job.

    The PDF is written under ``UPLOAD_DIR/print/`` (never served statically) and downloaded
    only by staff allowed to print for ``service_code``. ``params`` holds the selection as
    asked (JSON): ``selection`` (``previous_year`` | ``all`` | ``ids``), ``household_ids``,
    ``blank``, ``with_answers`` for forms; ``since`` (ISO local date) for letters.
    """

    __tablename__ = "print_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # forms | letters
    service_code: Mapped[str] = mapped_column(String(50), index=True)
    params: Mapped[dict] = mapped_column(JSON)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | done | failed
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    documents: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    # File name under UPLOAD_DIR/print (set when the PDF is complete), and its SHA-256.
    file_name: Mapped[str | None] = mapped_column(String(100))
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text, default="")

    requested_by: Mapped[Account | None] = relationship()
