"""What the database keeps of service definitions: frozen form versions and sessions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db


class FormVersion(db.Model):
    """A frozen copy of a service definition. Registrations point to the one they were made under."""

    __tablename__ = "form_versions"
    __table_args__ = (
        UniqueConstraint("service_code", "version"),
        UniqueConstraint("service_code", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_code: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow_naive)


class ServiceSession(db.Model):
    """A bookable slot of a service (pool lesson group, screening, camp week) with a capacity."""

    __tablename__ = "service_sessions"
    __table_args__ = (UniqueConstraint("service_code", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_code: Mapped[str] = mapped_column(String(40), index=True)
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    # The form version whose definition last set these values.
    form_version_id: Mapped[int] = mapped_column(ForeignKey("form_versions.id"))


class ReferenceCounter(db.Model):
    """Last number used for a reference prefix and year (``CAN-2026-000042``)."""

    __tablename__ = "reference_counters"

    prefix: Mapped[str] = mapped_column(String(5), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)
