"""Prices: quotient familial brackets, effort rate, tariffs, and a service's own price hook."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import minimal_definition, read_definition

from inscriptions.definitions.registry import registry
from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.plugin_api import HouseholdView, Price
from inscriptions.pricing import compute_price, places_taken

pytestmark = pytest.mark.usefixtures("app")


def household(qf: int | None) -> HouseholdView:
    return HouseholdView(id=1, quotient_familial=qf, is_resident=True, city="Villebelle", postcode="99990",
                         children_count=1)


def price(defn: ServiceDefinition, qf: int | None = None, answers: dict[str, Any] | None = None) -> Price:
    return compute_price(defn, None, household(qf), None, answers or {})


def definition(code: str, **changes: Any) -> ServiceDefinition:
    return ServiceDefinition.model_validate({**read_definition(code), **changes})


# The canteen's grid: up to 450 → 1.00, up to 800 → 2.40, up to 1200 → 3.60, above → 4.80.
@pytest.mark.parametrize(("qf", "amount"), [
    (0, "1.00"), (450, "1.00"), (451, "2.40"), (800, "2.40"), (801, "3.60"), (1200, "3.60"),
    (1201, "4.80"), (5000, "4.80"),
])
def test_qf_brackets_boundaries(qf: int, amount: str) -> None:
    result = price(definition("cantine"), qf)
    assert result.amount == Decimal(amount)
    assert result.unit == "repas"
    assert str(qf) in result.lines[0]


def test_qf_brackets_without_qf_is_the_highest_price() -> None:
    result = price(definition("cantine"), None)
    assert result.amount == Decimal("4.80")
    assert result.lines == ("Tarif sans quotient familial connu",)


def test_qf_brackets_without_qf_setting() -> None:
    pricing = {**read_definition("cantine")["pricing"], "without_qf": "3.00"}
    assert price(definition("cantine", pricing=pricing), None).amount == Decimal("3.00")
    assert price(definition("cantine", pricing=pricing), 300).amount == Decimal("1.00")


# The pool: 3 % of the QF, at least 30 €, at most 120 € per trimester.
@pytest.mark.parametrize(("qf", "amount"), [
    (0, "30.00"), (620, "30.00"), (1000, "30.00"), (1001, "30.03"), (1235, "37.05"), (2000, "60.00"),
    (4000, "120.00"), (4001, "120.00"), (9000, "120.00"), (None, "120.00"),
])
def test_effort_rate_is_clamped(qf: int | None, amount: str) -> None:
    result = price(definition("piscine"), qf)
    assert result.amount == Decimal(amount)
    assert result.unit == "trimestre"


def test_effort_rate_rounds_to_the_cent() -> None:
    pricing = {"kind": "effort_rate", "rate_percent": "0.36", "min": "2.60", "max": "4.50", "unit": "repas"}
    defn = ServiceDefinition.model_validate(minimal_definition(pricing=pricing))
    assert price(defn, 1000).amount == Decimal("3.60")
    assert price(defn, 1001).amount == Decimal("3.60")  # 3.6036
    assert price(defn, 1014).amount == Decimal("3.65")  # 3.6504
    assert price(defn, 100).amount == Decimal("2.60")
    assert price(defn, 1500).amount == Decimal("4.50")


@pytest.mark.parametrize(("children", "adults", "amount"), [
    (1, 0, "3.50"), (0, 1, "5.00"), (2, 1, "12.00"), (4, 2, "24.00"), (0, 0, "0.00"),
])
def test_cinema_tariffs(children: int, adults: int, amount: str) -> None:
    defn = definition("cinema")
    answers = {"child_seats": children, "adult_seats": adults}
    result = price(defn, 700, answers)
    assert result.amount == Decimal(amount)
    assert result.unit == "séance"
    assert len(result.lines) == (children > 0) + (adults > 0)
    assert places_taken(defn, answers) == children + adults


def test_fixed_and_free_prices() -> None:
    assert price(ServiceDefinition.model_validate(minimal_definition()), 300).amount == Decimal("10.00")
    free = ServiceDefinition.model_validate(minimal_definition(pricing={"kind": "free"}))
    assert price(free, 300).amount == Decimal("0.00")
    assert places_taken(free, {}) == 1


def test_price_hook_replaces_the_definition_price(
    plugins_dir: Callable[..., Path], use_plugins: Callable[[Path], None]
) -> None:
    hooks = '''
from decimal import Decimal
from inscriptions.plugin_api import Price, hookimpl

@hookimpl
def compute_price(service, household, participant, answers, default):
    if household.children_count >= 3:
        return Price(default.amount / 2, default.unit, default.lines + ("Réduction famille nombreuse",))
    return None
'''
    use_plugins(plugins_dir({"atelier": minimal_definition()}, hooks={"atelier": hooks}))
    service = registry().get("atelier")
    big = HouseholdView(1, 500, True, "Villebelle", "99990", children_count=3)
    small = HouseholdView(2, 500, True, "Villebelle", "99990", children_count=1)
    assert compute_price(service.definition, service.hooks, big, None, {}).amount == Decimal("5.00")
    assert compute_price(service.definition, service.hooks, small, None, {}).amount == Decimal("10.00")
