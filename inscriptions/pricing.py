"""Prices from the definition (QF brackets, effort rate, tariffs), then the service's own hook."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _

from inscriptions.definitions import schema as s
from inscriptions.plugin_api import HouseholdView, ParticipantView, Price

CENT = Decimal("0.01")


def euros(amount: Decimal) -> str:
    return f"{format_decimal(amount, format='#,##0.00')} €"


def _definition_price(
    pricing: Any, qf: int | None, answers: Mapping[str, Any]
) -> Price:
    if isinstance(pricing, s.FreePricing):
        return Price(Decimal("0.00"), pricing.unit, (_("Free"),))
    if isinstance(pricing, s.FixedPricing):
        return Price(pricing.amount.quantize(CENT), pricing.unit, ())
    if isinstance(pricing, s.BracketPricing):
        if qf is None:
            amount = pricing.without_qf if pricing.without_qf is not None else max(
                b.price for b in pricing.brackets
            )
            return Price(amount.quantize(CENT), pricing.unit,
                         (_("Price without a known quotient familial"),))
        for bracket in pricing.brackets:
            if bracket.max_qf is None or qf <= bracket.max_qf:
                line = (_("Quotient familial %(qf)s: bracket up to %(max)s", qf=qf, max=bracket.max_qf)
                        if bracket.max_qf is not None
                        else _("Quotient familial %(qf)s: highest bracket", qf=qf))
                return Price(bracket.price.quantize(CENT), pricing.unit, (line,))
    if isinstance(pricing, s.EffortRatePricing):
        if qf is None:
            return Price(pricing.max.quantize(CENT), pricing.unit,
                         (_("Price without a known quotient familial"),))
        raw = (Decimal(qf) * pricing.rate_percent / 100).quantize(CENT, ROUND_HALF_UP)
        amount = min(max(raw, pricing.min), pricing.max).quantize(CENT)
        return Price(amount, pricing.unit, (
            _("%(rate)s%% of the quotient familial (%(qf)s), between %(min)s and %(max)s",
              rate=format_decimal(pricing.rate_percent), qf=qf,
              min=euros(pricing.min), max=euros(pricing.max)),
        ))
    if isinstance(pricing, s.TariffPricing):
        total = Decimal("0.00")
        lines = []
        for item in pricing.items:
            count = int(answers.get(item.field) or 0)
            if count:
                total += item.price * count
                lines.append(_("%(count)s × %(label)s at %(price)s", count=count, label=item.label,
                               price=euros(item.price)))
        return Price(total.quantize(CENT), pricing.unit, tuple(lines))
    raise TypeError(f"unknown pricing {pricing!r}")  # pragma: no cover - schema forbids it


def compute_price(
    defn: s.ServiceDefinition,
    hooks: Any,
    household: HouseholdView,
    participant: ParticipantView | None,
    answers: Mapping[str, Any],
) -> Price:
    """The price of one registration: from the definition, unless the service's hook replaces it."""
    default = _definition_price(defn.pricing, household.quotient_familial, answers)
    if hooks is None:
        return default
    custom = hooks.hook.compute_price(
        service=defn, household=household, participant=participant, answers=answers, default=default
    )
    return custom or default


def places_taken(defn: s.ServiceDefinition, answers: Mapping[str, Any]) -> int:
    """How many places one registration takes in its session."""
    if defn.places.sum_of:
        return sum(int(answers.get(name) or 0) for name in defn.places.sum_of)
    return defn.places.count or 1
