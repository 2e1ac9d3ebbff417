"""``inscriptions demo load``: demo households, log-ins and registrations, idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from inscriptions.demo import DEMO_PASSWORD, load_demo
from inscriptions.extensions import db
from inscriptions.models import Account, Child, FormVersion, Guardian, Household, Registration


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def snapshot() -> dict[str, int]:
    return {m.__name__: count(m) for m in (Household, Guardian, Child, Account, Registration, FormVersion)}


@pytest.mark.parametrize("today", [
    dt.datetime(2026, 9, 15, 8, 0, tzinfo=dt.UTC),  # the tests' usual clock
    dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC),  # the day the demo was written
])
def test_demo_loads_twice_without_duplicates(app: Any, frozen_clock: Any, outbox: list[Any],
                                             today: dt.datetime) -> None:
    frozen_clock(today)
    first = load_demo()
    assert not [line for line in first if "refused" in line], first
    after_first = snapshot()
    # Two holiday-centre applications of two weeks each: four registrations.
    assert after_first == {"Household": 3, "Guardian": 4, "Child": 4, "Account": 6, "Registration": 7,
                           "FormVersion": 4}

    second = load_demo()
    assert snapshot() == after_first
    assert [line for line in second if line.startswith("registration")] == [
        line for line in second if line.endswith("already present") and line.startswith("registration")
    ]
    assert "household Martin: already present" in second
    # Only the first run booked, so only it sent confirmations (three for the Durand family).
    assert len(outbox) == 3
    assert {tuple(m.to) for m in outbox} == {("famille.durand@example.fr",)}


def test_demo_content(app: Any) -> None:
    load_demo()
    martin = db.session.scalar(select(Account).filter_by(email="famille.martin@example.fr"))
    assert martin is not None and martin.check_password(DEMO_PASSWORD)
    household = martin.household
    assert household.quotient_familial == 620
    assert len(household.guardians) == 2
    assert sorted(c.first_name for c in household.children) == ["Hugo", "Léa"]
    town = app.extensions["inscriptions.town"]
    assert town.is_resident(household.city, household.postcode)

    durand = db.session.scalar(select(Account).filter_by(email="famille.durand@example.fr"))
    assert durand.check_password(DEMO_PASSWORD)
    assert durand.household.quotient_familial is None

    petit = db.session.scalar(select(Guardian).filter_by(last_name="Petit"))
    assert petit.email is None
    assert db.session.scalar(select(Account).filter_by(guardian_id=petit.id)) is None

    regs = {(r.household.display_name, r.service_code): r for r in db.session.scalars(select(Registration))}
    assert regs[("Durand", "cantine")].status == "accepted"
    assert regs[("Durand", "cantine")].channel == "web"
    assert regs[("Durand", "piscine")].status == "submitted"
    assert regs[("Durand", "piscine")].session.code == "sam-10h"
    assert regs[("Petit", "cantine")].channel == "counter"
    assert regs[("Petit", "cantine")].price == 1  # QF 380: first bracket

    weeks = sorted((r.household.display_name, r.session.code, r.status, r.price)
                   for r in db.session.scalars(select(Registration).filter_by(service_code="loisirs")))
    # A price per week: the Durands gave no QF (highest bracket), the Petits' QF 380 is the first.
    assert weeks == [("Durand", "juil-1", "accepted", 85), ("Durand", "juil-2", "accepted", 85),
                     ("Petit", "aout-1", "accepted", 25), ("Petit", "juil-3", "accepted", 25)]


def test_demo_command(app: Any, runner: Any) -> None:
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "log-in famille.martin@example.fr" in result.output
    assert "created" in result.output
