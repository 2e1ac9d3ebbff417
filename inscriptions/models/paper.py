"""The paper twin's records: frozen page layouts and the tokens printed in QR codes.

See ``docs/paper.md`` for the layout and token formats.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
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
