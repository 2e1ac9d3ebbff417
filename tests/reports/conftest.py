"""Fixtures of the reports tests: bookings made through the one registration function (every
channel's path), then moved to the status a test needs. Staff accounts and log-ins (``staff``,
``login_as``) are the shared fixtures of tests/conftest.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.models import Household, Registration
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    application = make_app(WTF_CSRF_ENABLED=False)
    with application.app_context():
        yield application


@pytest.fixture
def book(app: Flask) -> Callable[..., list[Registration]]:
    """Book every child of ``household`` (or the household itself) into ``service``; optionally set a status."""

    def do_book(household: Household, service: str, answers: dict[str, Any], *, session: str | None = None,
                channel: str = "web", status: str | None = None,
                created_at: dt.datetime | None = None, whole_household: bool = False) -> list[Registration]:
        # A household service (the cinema) books the household itself, not its children.
        participants = ([ParticipantInput(answers=answers)] if whole_household else
                        [ParticipantInput(child_id=child.id, answers=answers) for child in household.children])
        outcome = create_registrations(RegistrationInput(
            service_code=service,
            household_id=household.id,
            participants=participants,
            channel=channel,
            session_code=session,
            received_on=dt.date(2026, 9, 14) if channel in ("paper", "mail") else None,
        ))
        regs = list(db.session.scalars(select(Registration).where(Registration.id.in_(outcome.registration_ids))))
        for reg in regs:
            if status is not None:
                reg.status = status
            if created_at is not None:
                reg.created_at = created_at
        db.session.commit()
        return regs

    return do_book


@pytest.fixture
def bulk(app: Flask) -> Callable[..., list[int]]:
    """Insert ``count`` registrations of ``service`` directly (large data sets, fast), one child each.

    ``answers(i)`` gives the i-th registration's (clean) answers; households hold ten children each.
    Returns the registration ids.
    """
    from inscriptions.definitions.registry import current_version, registry
    from inscriptions.models import Child, Guardian, ServiceSession

    def do_bulk(service_code: str, count: int, answers: Callable[[int], dict[str, Any]], *,
                session: str | None = None, status: str = "accepted", prefix: str = "BLK") -> list[int]:
        version = current_version(registry().get(service_code))
        session_id = None
        if session is not None:
            session_id = db.session.scalar(
                select(ServiceSession.id).filter_by(service_code=service_code, code=session))
        regs = []
        household = None
        for i in range(count):
            if i % 10 == 0:
                household = Household(postcode="99990", city="Villebelle")
                household.guardians.append(Guardian(first_name="Alex", last_name=f"Famille{i // 10:04d}"))
                db.session.add(household)
            child = Child(first_name=f"Enfant{i:05d}", last_name=f"Famille{i // 10:04d}",
                          birth_date=dt.date(2017, 1, 1), school="École Jules-Ferry", class_name="CE2")
            household.children.append(child)
            regs.append(Registration(
                reference=f"{prefix}-2026-{i:06d}", service_code=service_code, form_version_id=version.id,
                household=household, child=child, session_id=session_id, places=1, answers=answers(i),
                price=0, price_unit="", price_detail=[], channel="web", batch=f"b{i}", status=status,
            ))
        db.session.add_all(regs)
        db.session.commit()
        return [r.id for r in regs]

    return do_bulk
