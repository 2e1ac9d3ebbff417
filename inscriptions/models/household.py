"""Families: a household, its one or two guardians and its children."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db


class Household(db.Model):
    """A family. It may have no e-mail at all (paper-only families keyed in by agents)."""

    __tablename__ = "households"
    __table_args__ = (CheckConstraint("quotient_familial >= 0", name="qf_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address_line1: Mapped[str] = mapped_column(String(200), default="")
    address_line2: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(5), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    quotient_familial: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive, onupdate=utcnow_naive)

    guardians: Mapped[list[Guardian]] = relationship(
        back_populates="household", order_by="Guardian.id", cascade="all, delete-orphan"
    )
    children: Mapped[list[Child]] = relationship(
        back_populates="household", order_by="Child.birth_date", cascade="all, delete-orphan"
    )

    @property
    def display_name(self) -> str:
        names = sorted({g.last_name for g in self.guardians})
        return " / ".join(names) or f"Foyer {self.id}"

    @property
    def has_address(self) -> bool:
        return bool(self.address_line1 and self.postcode and self.city)


class Guardian(db.Model):
    """A parent or legal guardian; ``email`` and ``phone`` are optional (paper families)."""

    __tablename__ = "guardians"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    # When the owner of ``email`` confirmed it by the e-mailed link (or by signing up with it).
    # Until then nothing about the household is sent there: anyone may type any address.
    email_confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)

    household: Mapped[Household] = relationship(back_populates="guardians")

    @property
    def email_confirmed(self) -> bool:
        return bool(self.email) and self.email_confirmed_at is not None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Child(db.Model):
    __tablename__ = "children"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    school: Mapped[str] = mapped_column(String(120), default="")
    class_name: Mapped[str] = mapped_column(String(40), default="")

    household: Mapped[Household] = relationship(back_populates="children")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@event.listens_for(Guardian.email, "set")
def _email_changed(target: Guardian, value: str | None, oldvalue: object, _initiator: object) -> None:
    # A new address is unconfirmed, whoever typed it and through whichever channel.
    if value != oldvalue:
        target.email_confirmed_at = None


class HouseholdActivity(db.Model):
    """When a household's latest registration ended, kept once its registrations are anonymised.

    An anonymised registration no longer names its household, yet a household without an account
    (a paper-only family) is deleted a set time after its last registration's end
    (:func:`inscriptions.privacy.anonymise.household_last_activity`): the date is kept here, in a
    row of its own that goes with the household.
    """

    __tablename__ = "household_activity"

    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), primary_key=True,
                                              autoincrement=False)
    last_registration_end: Mapped[dt.datetime] = mapped_column(DateTime)
