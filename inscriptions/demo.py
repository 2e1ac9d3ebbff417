"""Demonstration data for ``inscriptions demo load`` (and ``make run``).

Idempotent: households are found again by their guardian's name, registrations by
participant and service, so running it twice changes nothing. Registrations go through
:func:`~inscriptions.registrations.create.create_registrations`, the one creation path, with the
real clock: the demo services are open from September 2026 to early 2027.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from inscriptions import clock
from inscriptions.definitions.registry import registry, sync_all
from inscriptions.extensions import db
from inscriptions.models import ACTIVE_STATUSES, Account, Child, Guardian, Household, Registration
from inscriptions.registrations.create import (
    ParticipantInput,
    RegistrationInput,
    RegistrationRefused,
    create_registrations,
)

DEMO_PASSWORD = "Villebelle-2026"  # noqa: S105 - published demo log-in, never a real one


@dataclass(frozen=True)
class DemoGuardian:
    first_name: str
    last_name: str
    email: str | None = None
    phone: str | None = None
    account: bool = False


@dataclass(frozen=True)
class DemoHousehold:
    key: str
    guardians: tuple[DemoGuardian, ...]
    children: tuple[tuple[str, dt.date, str, str], ...]  # first name, birth date, school, class
    address: str
    postcode: str
    city: str
    quotient_familial: int | None


@dataclass(frozen=True)
class DemoBooking:
    household: str
    child: str | None
    service: str
    channel: str
    answers: Mapping[str, Any] = field(default_factory=dict)
    session: str | None = None
    # Several sessions in one application (e.g. weeks of the holiday centre), each a ranked list.
    wishes: tuple[tuple[str, ...], ...] = ()


HOUSEHOLDS = (
    DemoHousehold(
        key="Martin",
        guardians=(
            DemoGuardian("Sophie", "Martin", "famille.martin@example.fr", "06 12 34 56 78", account=True),
            DemoGuardian("Karim", "Martin", "karim.martin@example.fr", "06 98 76 54 32"),
        ),
        children=(
            ("Léa", dt.date(2019, 3, 14), "École Jules-Ferry", "CE1"),
            ("Hugo", dt.date(2017, 5, 22), "École Jules-Ferry", "CM1"),
        ),
        address="12 rue des Tilleuls",
        postcode="99990",
        city="Villebelle",
        quotient_familial=620,
    ),
    DemoHousehold(
        key="Durand",
        guardians=(DemoGuardian("Nadia", "Durand", "famille.durand@example.fr", "07 11 22 33 44", account=True),),
        children=(("Tom", dt.date(2016, 2, 10), "École Louise-Michel", "CM2"),),
        address="4 allée des Peupliers",
        postcode="99990",
        city="Villebelle",
        quotient_familial=None,
    ),
    # A paper-only family: no e-mail, no account; agents key in their forms at the counter.
    DemoHousehold(
        key="Petit",
        guardians=(DemoGuardian("Josiane", "Petit", None, "01 98 76 54 32"),),
        children=(("Inès", dt.date(2018, 9, 30), "École du Centre", "CE2"),),
        address="3 impasse du Moulin",
        postcode="99990",
        city="Villebelle",
        quotient_familial=380,
    ),
)

CANTEEN_ANSWERS = {
    "days": ["mon", "tue", "thu", "fri"],
    "diet": "standard",
    "allergy": False,
    "rules": True,
}

HOLIDAY_ANSWERS = {
    "lunch_diet": "standard",
    "leave_alone": False,
    "emergency_phone": "06 12 34 56 78",
    "rules": True,
}

BOOKINGS = (
    DemoBooking("Durand", "Tom", "cantine", "web", CANTEEN_ANSWERS),
    DemoBooking(
        "Durand", "Tom", "piscine", "web",
        {"level": "se_deplace", "specific_care": False, "rules": True}, session="sam-10h",
    ),
    # Keyed in from a paper form: the channel says so and "required: online" fields may be empty.
    DemoBooking("Petit", "Inès", "cantine", "counter", {**CANTEEN_ANSWERS, "diet": "sans_porc"}),
    # The holiday centre: several weeks in one application.
    DemoBooking(
        "Durand", "Tom", "loisirs", "web", {**HOLIDAY_ANSWERS, "leave_alone": True},
        wishes=(("juil-1",), ("juil-2",)),
    ),
    DemoBooking("Petit", "Inès", "loisirs", "counter", {**HOLIDAY_ANSWERS, "emergency_phone": "01 98 76 54 32"},
                wishes=(("juil-3",), ("aout-1",))),
)


# Staff log-ins, so the counter, the back office and the DPO's pages can be tried: (e-mail, role,
# service or None for the town-wide roles).
STAFF: tuple[tuple[str, str, str | None], ...] = (
    ("agent.cantine@villebelle.example", "agent", "cantine"),
    ("responsable.piscine@villebelle.example", "manager", "piscine"),
    ("dsi@villebelle.example", "admin", None),
    ("dpo@villebelle.example", "dpo", None),
)


def load_demo() -> list[str]:
    """Create the demo households, log-ins and registrations; return what was done, line by line."""
    lines = [f"service {v.service_code}: form version {v.version}" for v in sync_all()]
    households = {}
    for spec in HOUSEHOLDS:
        household, created = _ensure_household(spec)
        households[spec.key] = household
        lines.append(f"household {spec.key}: {'created' if created else 'already present'}")
        for guardian in spec.guardians:
            if guardian.account and guardian.email:
                lines.append(f"  log-in {guardian.email} / {DEMO_PASSWORD}")
    for booking in BOOKINGS:
        with _before_ranking(booking.service):
            lines.append(_ensure_booking(households[booking.household], booking))
    lines += _rank_and_decide()
    from inscriptions.permissions import grant_role

    for email, role, service in STAFF:
        _account, created, granted = grant_role(email, role, service, password=DEMO_PASSWORD)
        state = "created" if created else ("granted" if granted else "already present")
        lines.append(f"staff {email} ({role}{' ' + service if service else ''}): {state}")
    return lines


@contextmanager
def _before_ranking(service_code: str) -> Iterator[None]:
    """For a service ranked by a draw or points whose ranking date has passed, make the demo's
    applications as on the day before it (so they take part, as the families' would have);
    otherwise now. The engine's clock is put back as it was (frozen or not)."""
    loaded = registry().get(service_code)
    allocation = loaded.definition.allocation if loaded is not None else None
    if allocation is None or not allocation.uses_draw or allocation.draw_at is None:
        yield
        return
    ranking = clock.as_local_aware(allocation.draw_at)
    before = clock.frozen()
    if clock.now() < ranking:
        yield
        return
    clock.freeze(ranking - dt.timedelta(days=1))
    try:
        yield
    finally:
        clock.freeze(before)


def _rank_and_decide() -> list[str]:
    """Run the allocator of every service ranked by a draw or points: the draw is made (its seed
    then published) and the demo's applications decided, as the worker would."""
    from inscriptions.allocation.worker import drain

    lines = []
    for service in registry().all():
        if service.definition.allocation.uses_draw:
            decided = drain(service.code)
            lines.append(f"service {service.code}: {decided} application(s) ranked and decided")
    return lines


def _ensure_household(spec: DemoHousehold) -> tuple[Household, bool]:
    first = spec.guardians[0]
    existing = db.session.scalar(
        select(Guardian).filter_by(first_name=first.first_name, last_name=first.last_name)
    )
    if existing is not None:
        return existing.household, False
    household = Household(
        address_line1=spec.address,
        postcode=spec.postcode,
        city=spec.city,
        quotient_familial=spec.quotient_familial,
    )
    for g in spec.guardians:
        household.guardians.append(
            Guardian(first_name=g.first_name, last_name=g.last_name, email=g.email, phone=g.phone)
        )
    last_name = first.last_name
    for first_name, born, school, class_name in spec.children:
        household.children.append(
            Child(first_name=first_name, last_name=last_name, birth_date=born, school=school,
                  class_name=class_name)
        )
    db.session.add(household)
    db.session.flush()
    for g, row in zip(spec.guardians, household.guardians, strict=True):
        if g.email and g.account:
            row.email_confirmed_at = clock.utcnow_naive()  # confirmed by signing up
        if g.account and g.email:
            account = Account(email=g.email.lower(), guardian_id=row.id)
            account.set_password(DEMO_PASSWORD)
            db.session.add(account)
    db.session.commit()
    return household, True


def _ensure_booking(household: Household, booking: DemoBooking) -> str:
    child = next(c for c in household.children if c.first_name == booking.child) if booking.child else None
    who = child.full_name if child else household.display_name
    found = db.session.scalar(
        select(Registration).where(
            Registration.service_code == booking.service,
            Registration.household_id == household.id,
            Registration.child_id == (child.id if child else None),
            Registration.status.in_(ACTIVE_STATUSES),
        )
    )
    if found is not None:
        return f"registration {found.reference} ({who}, {booking.service}): already present"
    try:
        outcome = create_registrations(RegistrationInput(
            service_code=booking.service,
            household_id=household.id,
            participants=[ParticipantInput(child_id=child.id if child else None, answers=booking.answers)],
            channel=booking.channel,
            session_code=booking.session,
            wishes=booking.wishes,
        ))
    except RegistrationRefused as refused:
        details = [*refused.general, *(f"{k}: {v}" for e in refused.errors.values() for k, v in e.items())]
        return f"registration ({who}, {booking.service}) refused: {'; '.join(details)}"
    regs = db.session.scalars(select(Registration).where(Registration.id.in_(outcome.registration_ids)))
    refs = ", ".join(r.reference for r in regs)
    if not refs:  # ranked by a draw or points: decided when the ranking is made
        return f"application ({who}, {booking.service}, {booking.channel}): sent, {outcome.status}"
    return f"registration {refs} ({who}, {booking.service}, {booking.channel}): created, {outcome.status}"
