"""Photo consent: separate, optional, dated and withdrawable, per child and per service.

Each row is one period of consent: giving it creates a row, withdrawing it dates the row's
``withdrawn_at``; giving it again creates a new row. The rows of a child are its history, shown
to the parent and to staff. Consent is never a condition of a registration: nothing in the
booking path reads this table.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models.household import Child


class PhotoConsent(db.Model):
    """One period during which a guardian allowed the service to photograph the child."""

    __tablename__ = "photo_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("children.id", ondelete="CASCADE"), index=True)
    service_code: Mapped[str] = mapped_column(String(40), index=True)
    given_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    given_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))

    child: Mapped[Child] = relationship()

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None
