"""One-time submission keys: a replayed or double-clicked booking returns its first outcome."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db

SUBMISSION_KEY_MAX = 100


class SubmissionKey(db.Model):
    """A key a channel sent with a booking, saved in the booking's own transaction.

    The web form, the counter screen, the paper scan reader or an API client make one key per
    submission; the same key again (double click, network retry) finds this row and the batch it
    created instead of booking twice. A key belongs to one household.
    """

    __tablename__ = "submission_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(SUBMISSION_KEY_MAX), unique=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    service_code: Mapped[str] = mapped_column(String(40))
    batch: Mapped[str] = mapped_column(String(32))
    # SHA-256 of what the request asked (:func:`inscriptions.registrations.create.request_fingerprint`):
    # the same key with another request is refused. None for keys saved before it was recorded.
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
