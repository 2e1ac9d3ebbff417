"""Photo consent per child and per service (where the service's definition asks for it).

Separate from any registration and optional: giving or withdrawing it never changes a booking.
Each change is dated and kept (see :class:`inscriptions.models.PhotoConsent`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from inscriptions.clock import utcnow_naive
from inscriptions.definitions.registry import registry
from inscriptions.extensions import db
from inscriptions.models import Child, PhotoConsent


@dataclass(frozen=True)
class ConsentService:
    """A service asking photo consent: its code, name and what the photos are for."""

    code: str
    name: str
    purpose: str


def consent_services() -> list[ConsentService]:
    """Services whose definition asks photo consent, in registry order."""
    found = []
    for service in registry().all():
        setting = service.definition.photo_consent
        if setting is not None:
            found.append(ConsentService(service.code, service.definition.name, setting.purpose))
    return found


def consent_service(code: str) -> ConsentService | None:
    return next((s for s in consent_services() if s.code == code), None)


def history(child_id: int, service_code: str | None = None) -> list[PhotoConsent]:
    """The child's consent periods, oldest first (all services, or one)."""
    query = select(PhotoConsent).where(PhotoConsent.child_id == child_id)
    if service_code is not None:
        query = query.where(PhotoConsent.service_code == service_code)
    return list(db.session.scalars(query.order_by(PhotoConsent.id)))


def current(child_id: int, service_code: str) -> PhotoConsent | None:
    """The consent in force for the child and service, or None."""
    return db.session.scalar(
        select(PhotoConsent).where(PhotoConsent.child_id == child_id, PhotoConsent.service_code == service_code,
                                   PhotoConsent.withdrawn_at.is_(None))
        .order_by(PhotoConsent.id.desc()).limit(1)
    )


def give(child: Child, service_code: str, by_id: int | None) -> PhotoConsent | None:
    """Record consent; None when it was already given (nothing changes). Not committed."""
    if current(child.id, service_code) is not None:
        return None
    consent = PhotoConsent(child_id=child.id, service_code=service_code, given_at=utcnow_naive(),
                           given_by_id=by_id)
    db.session.add(consent)
    db.session.flush()
    return consent


def withdraw(child: Child, service_code: str, by_id: int | None) -> PhotoConsent | None:
    """Date the withdrawal of the consent in force (None when there was none); not committed."""
    existing = current(child.id, service_code)
    if existing is None:
        return None
    existing.withdrawn_at = utcnow_naive()
    existing.withdrawn_by_id = by_id
    db.session.flush()
    return existing
