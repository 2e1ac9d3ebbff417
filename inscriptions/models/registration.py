"""Registrations, their status history, uploaded files and in-progress drafts."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models.account import Account
from inscriptions.models.household import Child, Guardian, Household
from inscriptions.models.service import FormVersion, ServiceSession


class Status(enum.StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    WAITLISTED = "waitlisted"
    # A place freed for a waiting-list entry, held for it until the offer's deadline.
    OFFERED = "offered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


# Statuses that hold (or wait for) a place; a participant has at most one such per service.
ACTIVE_STATUSES = (Status.SUBMITTED, Status.ACCEPTED, Status.WAITLISTED, Status.OFFERED)
# Statuses whose places count against a session's capacity (computed from rows, never a counter).
HOLDING_STATUSES = (Status.SUBMITTED, Status.ACCEPTED, Status.OFFERED)


class Registration(db.Model):
    __tablename__ = "registrations"
    __table_args__ = (
        # Every booking counts a session's places held (and whether anyone waits) under the
        # session's lock: this index reads only those rows, not the whole waiting list.
        Index("ix_registrations_session_id_status", "session_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    service_code: Mapped[str] = mapped_column(String(40), index=True)
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    # None once anonymised (retention purge, deleted account): the statistics stay, the family goes.
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), index=True)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("children.id"), index=True)
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("guardians.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("service_sessions.id"), index=True)
    places: Mapped[int] = mapped_column(Integer, default=1)
    answers: Mapped[dict] = mapped_column(JSON)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    price_unit: Mapped[str] = mapped_column(String(40), default="")
    price_detail: Mapped[list] = mapped_column(JSON, default=list)
    channel: Mapped[str] = mapped_column(String(10))
    keyed_by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    # Counter channels: the day the paper (or letter) reached the town, and why an agent keyed it.
    received_on: Mapped[dt.date | None] = mapped_column(Date)
    mediation_reason: Mapped[str] = mapped_column(Text, default="")
    # Siblings registered in one action share a batch.
    batch: Mapped[str] = mapped_column(String(32), index=True)
    # The application the allocator decided this registration from.
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    # When it last joined a waiting list: the list is ordered by it (then by id).
    waitlisted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # While ``offered``: the place is held until then, after which the next entry gets it.
    offer_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive, onupdate=utcnow_naive)
    # Set by the RGPD purge: answers and people removed; service, session, status, channel, dates kept.
    anonymised_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    form_version: Mapped[FormVersion] = relationship()
    household: Mapped[Household | None] = relationship()
    child: Mapped[Child | None] = relationship()
    guardian: Mapped[Guardian | None] = relationship()
    session: Mapped[ServiceSession | None] = relationship()
    keyed_by: Mapped[Account | None] = relationship()
    history: Mapped[list[StatusChange]] = relationship(
        back_populates="registration", order_by="StatusChange.id", cascade="all, delete-orphan"
    )

    @property
    def participant_name(self) -> str:
        if self.child is not None:
            return self.child.full_name
        if self.guardian is not None:
            return self.guardian.full_name
        if self.household is None:
            return "–"  # anonymised
        return self.household.display_name


class StatusChange(db.Model):
    """One line of a registration's history: who moved it, when, from what to what, and why."""

    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    reason: Mapped[str] = mapped_column(Text, default="")

    registration: Mapped[Registration] = relationship(back_populates="history")
    by: Mapped[Account | None] = relationship()


class Upload(db.Model):
    """A file given with a form (e.g. a medical certificate), stored outside the static folder."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)


class Draft(db.Model):
    """A registration in progress, kept in the database so no answer is lost between pages."""

    __tablename__ = "drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    service_code: Mapped[str] = mapped_column(String(40))
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))
    # {"participants": [child ids], "session": code|None, "shared": {...}, "each": {"<id>": {...}}}
    state: Mapped[dict] = mapped_column(JSON)
    # Set in the same transaction as the registrations it created: a replay finds it.
    submitted_batch: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive, onupdate=utcnow_naive)

    form_version: Mapped[FormVersion] = relationship()
